"""A run interrupted mid-way (SIGINT, SIGTERM) exits 130 / 143 and leaves no output or temporary file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .waiting import wait_for

# slow: a 300 000-row pair scored one row a chunk in a real process
pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"), pytest.mark.slow]


@pytest.fixture(scope="module")
def big_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300_000, 4)).astype(np.float32)
    np.save(d / "a.npy", a)
    np.save(d / "b.npy", a + np.float32(0.01))
    return d / "a.npy", d / "b.npy"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_leaves_nothing_behind(big_pair: tuple[Path, Path], tmp_path: Path, sig: int, code: int) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # --chunk-size 1 over 300 000 rows takes many seconds: the run is surely still going when the
    # temporary file has appeared and the signal arrives.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cosine_cli",
            "score",
            str(big_pair[0]),
            str(big_pair[1]),
            "--chunk-size",
            "1",
            "-o",
            str(out_dir / "out.parquet"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:

        def temporary_output_has_data() -> bool:
            # some chunks written: the signal lands mid-run, with a partial file to remove
            return any(entry.stat().st_size > 0 for entry in out_dir.iterdir())

        wait_for(temporary_output_has_data, "the temporary output holding written rows", process=proc)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, stderr
    assert stdout == b""
    assert stderr.decode().strip() in ("cosloss: interrupted", "cosloss: terminated")
    assert os.listdir(out_dir) == []
