"""Faults from outside: a closed stdout, SIGINT and SIGTERM mid-run (real processes)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

COSLOSS = [sys.executable, "-m", "cosine_cli"]


@pytest.fixture(scope="module")
def long_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    d = tmp_path_factory.mktemp("long")
    rng = np.random.default_rng(0)
    np.save(d / "a.npy", rng.standard_normal((200_000, 8)))
    np.save(d / "b.npy", rng.standard_normal((200_000, 8)))
    return str(d / "a.npy"), str(d / "b.npy")


def test_closed_stdout_is_quiet(long_pair: tuple[str, str]) -> None:
    proc = subprocess.Popen([*COSLOSS, "score", *long_pair, "--reduction", "none", "--chunk-size", "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141
    assert float(first)
    assert "Traceback" not in err and "Error" not in err


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                   (signal.SIGTERM, 143, "terminated")])
def test_signals_exit_with_their_codes(long_pair: tuple[str, str], sig: int, code: int, word: str) -> None:
    proc = subprocess.Popen([*COSLOSS, "score", *long_pair, "--chunk-size", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)  # past start-up: the run takes far longer at one row a chunk
    assert proc.poll() is None
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    assert out == b""
    assert word in err.decode() and "Traceback" not in err.decode()
