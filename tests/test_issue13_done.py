"""Regression tests for the input findings of issue 13 fixed before this file (8, 10, 11, 16-18, 20).

Each fails on the code before the fixes (commit 90d7c37). They import nothing newer than the
command line, so they can be run against that commit's package too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cosine_cli.cli import cli


def _loss(*args: str) -> float:
    result = CliRunner().invoke(cli, ["score", *args, "--json"])
    assert result.exit_code == 0, result.stderr
    return float(json.loads(result.stdout)["loss"])


def _reference(pred: np.ndarray, label: np.ndarray, weights: np.ndarray | None = None) -> float:
    p, q = pred.astype(np.float64), label.astype(np.float64)
    cos = (p * q).sum(1) / (np.linalg.norm(p, axis=1) * np.linalg.norm(q, axis=1))
    if weights is None:
        return float(-cos.mean())
    return float(-(cos * weights).sum() / len(cos))


# -- 8: a numbered wide-CSV column whose first cell is not a number is still a dimension ----------


def test_8_wide_csv_first_cell_not_a_number_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("e0,e1,e2\n0.1,#DIV/0!,0.3\n0.4,0.5,0.6\n")
    result = CliRunner().invoke(cli, ["score", str(path), str(path)])
    assert result.exit_code == 3, result.output  # before: exit 0, e1 left out of the vector
    assert "#DIV/0!" in result.stderr and result.stderr.count("\n") == 1


# -- 10: integers beyond 2^53 score like the same values in .npy ---------------------------------


BIG = np.array([[2**60 + 1, 3, -(2**55)], [7, 2**62, 1], [2**53 + 1, 2**53 + 3, 5]], dtype=np.int64)
LABEL = np.array([[1.0, 2.0, 3.0], [3.0, -1.0, 0.5], [0.25, 1.0, 1.0]])


@pytest.mark.parametrize("kind", ["list<int64>", "list<uint64>", "wide int64"])
def test_10_large_integers_in_parquet_and_arrow(tmp_path: Path, kind: str) -> None:
    np.save(tmp_path / "label.npy", LABEL)
    values = np.abs(BIG).astype(np.uint64) if kind == "list<uint64>" else BIG
    np.save(tmp_path / "pred.npy", values)
    if kind == "wide int64":
        table = pa.table({f"e{i}": pa.array(values[:, i]) for i in range(3)})
    else:
        table = pa.table({"emb": pa.array(values.tolist(), pa.list_(pa.from_numpy_dtype(values.dtype)))})
    pq.write_table(table, tmp_path / "pred.parquet")
    with pa.OSFile(str(tmp_path / "pred.arrow"), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(table)
    want = _loss(str(tmp_path / "pred.npy"), str(tmp_path / "label.npy"))
    assert want == pytest.approx(_reference(values.astype(np.float64), LABEL), abs=1e-12)
    for name in ("pred.parquet", "pred.arrow"):
        assert _loss(str(tmp_path / name), str(tmp_path / "label.npy")) == pytest.approx(want, abs=1e-12)
        inspected = CliRunner().invoke(cli, ["inspect", str(tmp_path / name)])
        assert inspected.exit_code == 0, inspected.stderr  # before: an ArrowInvalid traceback


def test_10_large_integer_weight_column(tmp_path: Path) -> None:
    weights = np.array([2**60, 2**54 + 1, 3], dtype=np.int64)
    table = pa.table(
        {
            "p": pa.array(LABEL[::-1].tolist(), pa.list_(pa.float64())),
            "l": pa.array(LABEL.tolist(), pa.list_(pa.float64())),
            "w": pa.array(weights),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    got = _loss(str(tmp_path / "t.parquet"), "--pred-col", "p", "--label-col", "l", "--weight-col", "w")
    want = _reference(LABEL[::-1], LABEL, weights.astype(np.float64))
    assert got == pytest.approx(want, rel=1e-12)


# -- 11: a .npy header with a dimension >= 2^63 ----------------------------------------------------


@pytest.mark.parametrize("command", ["score", "inspect"])
def test_11_npy_dimension_beyond_int64(tmp_path: Path, command: str) -> None:
    path = tmp_path / "hostile.npy"
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': (4, {2**63}), }}"
    header += " " * (-(len(header) + 11) % 64) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())
    args = [command, str(path)] + ([str(path)] if command == "score" else [])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3, repr(result.exception)  # before: an OverflowError traceback
    assert result.stderr.count("\n") == 1 and "hostile.npy" in result.stderr


# -- 16: wide tables linear in their column count ------------------------------------------------


@pytest.mark.slow  # a 40,000-column CSV (about 1 MB) scored and inspected
def test_16_forty_thousand_wide_columns_in_seconds(tmp_path: Path) -> None:
    dim = 40_000
    rows = np.random.default_rng(16).standard_normal((3, dim)).round(3)
    path = tmp_path / "wide.csv"
    header = ",".join(f"e{i}" for i in range(dim))
    path.write_text(header + "\n" + "\n".join(",".join(repr(float(v)) for v in r) for r in rows) + "\n")
    start = time.monotonic()
    assert _loss(str(path), str(path)) == pytest.approx(-1.0, abs=1e-12)
    took = time.monotonic() - start
    assert took < 30, f"{took:.1f} s for 3 x {dim} (before: quadratic, about 78 s for 100,000)"
    pq.write_table(pa.table({f"e{i}": rows[:, i] for i in range(dim)}), tmp_path / "wide.parquet")
    start = time.monotonic()
    assert _loss(str(tmp_path / "wide.parquet"), str(path)) == pytest.approx(-1.0, abs=1e-12)
    assert time.monotonic() - start < 30


# -- 17: a one-row text vector of 95 MB reads -----------------------------------------------------


@pytest.mark.slow  # a 95 MB CSV
def test_17_large_one_row_text_vector(tmp_path: Path) -> None:
    values = np.random.default_rng(17).standard_normal(5_000_000).round(15)
    path = tmp_path / "one.csv"
    with open(path, "w") as f:
        f.write('emb\n"[' + ", ".join(repr(float(v)) for v in values) + ']"\n')
    assert path.stat().st_size > 95_000_000
    np.save(tmp_path / "one.npy", values.reshape(1, -1))
    start = time.monotonic()
    got = _loss(str(path), str(tmp_path / "one.npy"))
    assert got == pytest.approx(-1.0, abs=1e-9)  # before: refused, naming options it does not have
    assert time.monotonic() - start < 120


# -- 18: Parquet parts opened one at a time -------------------------------------------------------


@pytest.mark.slow  # 1,100 Parquet parts, twice, in a child under ulimit -n 1024
def test_18_many_parquet_parts_under_the_usual_descriptor_limit(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    rng = np.random.default_rng(18)
    for i in range(1100):
        emb = rng.standard_normal((2, 3))
        pq.write_table(pa.table({"emb": pa.array(emb.tolist(), pa.list_(pa.float64()))}), parts / f"p{i:04d}.parquet")
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))\n"
        "from cosine_cli.cli import main\n"
        "sys.argv = ['cosloss'] + sys.argv[1:]\n"
        "main()\n"
    )
    for args in (["score", str(parts), str(parts), "--json"], ["inspect", str(parts)]):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr  # before: "Too many open files"
    summary = json.loads(
        subprocess.run(
            [sys.executable, "-c", code, "score", str(parts), str(parts), "--json"], capture_output=True, text=True
        ).stdout
    )
    assert summary["rows"] == 2200 and summary["loss"] == pytest.approx(-1.0, abs=1e-12)


# -- 20: .npy format 3.0; 'line 1:' ---------------------------------------------------------------


def test_20_npy_format_3(tmp_path: Path) -> None:
    rows = np.arange(12, dtype=np.float32).reshape(4, 3) + 1
    path = tmp_path / "v3.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array(f, rows, version=(3, 0))
    assert path.read_bytes()[6:8] == b"\x03\x00"
    assert _loss(str(path), str(path)) == pytest.approx(-1.0, abs=1e-12)


def test_20_csv_header_error_says_line_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"a,\xff\xfeb\n1,2\n")
    result = CliRunner().invoke(cli, ["score", str(path), str(path)])
    assert result.exit_code == 3
    assert "line 1:" in result.stderr and "row line" not in result.stderr
