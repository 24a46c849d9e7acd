"""Inputs that often break tools and must work here (issue: nothing breaks it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cosine_cli import score
from cosine_cli.cli import cli


def _score_json(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(cli, ["score", *args, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _pair(tmp_path: Path, a: np.ndarray, b: np.ndarray, names: tuple[str, str] = ("a.npy", "b.npy")) -> list[str]:
    np.save(tmp_path / names[0], a)
    np.save(tmp_path / names[1], b)
    return [str(tmp_path / names[0]), str(tmp_path / names[1])]


def test_float16(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((50, 16)).astype(np.float16), rng.standard_normal((50, 16)).astype(np.float16)
    expected = score(a.astype(np.float64), b.astype(np.float64)).loss
    assert _score_json(*_pair(tmp_path, a, b))["loss"] == pytest.approx(expected, abs=1e-6)


def test_single_row_and_dimension_one(tmp_path: Path) -> None:
    assert _score_json(*_pair(tmp_path, np.array([[3.0, 4.0]]), np.array([[4.0, 3.0]])))["loss"] == -0.96
    summary = _score_json(*_pair(tmp_path, np.array([[2.0], [-1.0], [0.0]]), np.array([[3.0], [5.0], [1.0]])))
    assert summary["loss"] == pytest.approx(0.0) and summary["zero_vectors"] == 1


def test_dimension_65536(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 65536)).astype(np.float32)
    summary = _score_json(*_pair(tmp_path, a, a), "--chunk-size", "1")
    assert summary["loss"] == pytest.approx(-1.0, abs=1e-6) and summary["rows"] == 3


def test_paths_with_spaces_and_non_ascii(tmp_path: Path) -> None:
    d = tmp_path / "dir with spaces ü"
    d.mkdir()
    args = _pair(d, np.eye(3), np.eye(3), ("prédictions 1.npy", "étiquettes – 2.npy"))
    assert _score_json(*args)["loss"] == -1.0
    result = CliRunner().invoke(cli, ["score", args[0], str(d / "manquant ü.npy")])
    assert result.exit_code == 3 and "manquant ü.npy" in result.stderr


@pytest.mark.slow  # a 640 MB (sparse) file
def test_file_larger_than_the_memory_it_may_use(tmp_path: Path) -> None:
    # A sparse .npy of ~640 MB (all zero vectors, the slowest path) is scored in
    # chunks: the process never holds more than a small part of it.
    n, d = 208_000, 768
    path = tmp_path / "sparse.npy"
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (n, d)})
        fh.truncate(fh.tell() + n * d * 4)
    # The child reports its own high-water mark (VmHWM): ru_maxrss from wait4
    # would also count this pytest process, whose memory the child briefly
    # shares between vfork and exec.
    code = (
        "import sys; from cosine_cli.cli import main; sys.argv = ['cosloss', 'score', "
        f"{str(path)!r}, {str(path)!r}, '--json']\n"
        "try:\n    main()\nfinally:\n"
        "    sys.stderr.write(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')))"
    )
    out = tmp_path / "out.json"
    with open(out, "w") as stdout:
        proc = subprocess.run([sys.executable, "-c", code], stdout=stdout, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(out.read_text())
    assert summary["rows"] == n and summary["zero_vectors"] == n and summary["loss"] == 0.0
    peak_mib = int(proc.stderr.split()[-2]) / 1024  # "VmHWM:   59324 kB"
    assert peak_mib < 250, f"peak RSS {peak_mib:.0f} MiB for a {path.stat().st_size >> 20} MiB file"
