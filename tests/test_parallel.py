"""The local engine on a thread pool of row ranges (engines/parallel.py) gives the serial path's results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cosine_cli import score
from cosine_cli.cli import cli
from cosine_cli.engines import parallel

N, D = 203, 6


@pytest.fixture(autouse=True)
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranges of two chunks (no byte minimum), so that these small inputs are cut into many."""
    monkeypatch.setattr(parallel, "RANGE_CHUNKS", 2)
    monkeypatch.setattr(parallel, "MIN_RANGE_BYTES", 0)
    monkeypatch.setattr(parallel, "MAX_RANGE_BYTES", 0)


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((N, D)).astype(np.float32)
    b = (a + 0.5 * rng.standard_normal((N, D))).astype(np.float32)
    b[5] = 0.0  # a zero vector
    w = rng.uniform(0, 2, N)
    return a, b, w


def _fsl(x: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])


def _write_parquet_parts(directory: Path, x: np.ndarray, cuts: list[int], group_rows: int, ids: bool = True) -> None:
    directory.mkdir()
    for i, (s, e) in enumerate(zip([0, *cuts], [*cuts, len(x)], strict=True)):
        columns: dict[str, Any] = {"emb": _fsl(x[s:e])}
        if ids:
            columns["id"] = pa.array(np.arange(s, e, dtype=np.int64))
        pq.write_table(pa.table(columns), directory / f"part-{i}.parquet", row_group_size=group_rows)


def _summary(result: Any) -> dict[str, Any]:
    d = result.to_dict()
    d.pop("engine", None)
    return d  # type: ignore[no-any-return]


def _same(result: Any, serial: Any, layout: str) -> None:
    """Bit for bit, for every layout: the Accumulator folds its sums a block of arriving vectors at
    a time (accumulate.BLOCK), whatever the chunks or the ranges were, so the pool (in range order)
    and the serial path fold the same blocks."""
    assert _summary(result) == _summary(serial)


def _inputs(tmp_path: Path, layout: str) -> tuple[list[Any], dict[str, Any]]:
    """(positional args, keywords) of cosine_cli.score for one input layout."""
    a, b, w = _data()
    if layout == "npy":
        np.save(tmp_path / "a.npy", a)
        np.save(tmp_path / "b.npy", b)
        np.save(tmp_path / "w.npy", w)
        return [str(tmp_path / "a.npy"), str(tmp_path / "b.npy")], {"weights": str(tmp_path / "w.npy")}
    if layout == "parquet":  # several files a side, row groups not aligned between the sides
        _write_parquet_parts(tmp_path / "p", a, [70, 150], 16)
        _write_parquet_parts(tmp_path / "l", b, [101], 23)
        return [str(tmp_path / "p"), str(tmp_path / "l")], {"id_col": "id"}
    if layout == "pair":  # one file, both columns, weights and ids in it too
        table = pa.table({"id": np.arange(N), "pred": _fsl(a), "label": _fsl(b), "w": w})
        pq.write_table(table, tmp_path / "pairs.parquet", row_group_size=20)
        return [str(tmp_path / "pairs.parquet")], {
            "pred_col": "pred",
            "label_col": "label",
            "weight_col": "w",
            "id_col": "id",
        }
    raise AssertionError(layout)


@pytest.mark.parametrize("layout", ["npy", "parquet", "pair"])
@pytest.mark.parametrize("chunk_size", [1, 7, None])
def test_threads_change_nothing(tmp_path: Path, layout: str, chunk_size: int | None) -> None:
    args, kwargs = _inputs(tmp_path, layout)
    kwargs.update(chunk_size=chunk_size, worst=5)
    serial = score(*args, threads=1, reduction="none", **kwargs)
    assert "engine" not in serial.extra
    for threads in (None, 2, 4):
        result = score(*args, threads=threads, reduction="none", **kwargs)
        if chunk_size is not None:  # default chunks hold every row here: one range, the serial path
            assert result.extra["engine"]["ranges"] > 1
        _same(result, serial, layout)
        assert result.losses is not None and serial.losses is not None
        np.testing.assert_array_equal(result.losses, serial.losses)
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight"):
        kw = {**kwargs, "reduction": reduction}
        _same(score(*args, threads=3, **kw), score(*args, threads=1, **kw), layout)


def test_the_float64_truth(tmp_path: Path) -> None:
    a, b, _ = _data()
    args, _ = _inputs(tmp_path, "npy")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    den = np.sqrt(np.maximum((a64 * a64).sum(1), 1e-12) * np.maximum((b64 * b64).sum(1), 1e-12))
    expected = -np.mean((a64 * b64).sum(1) / den)
    result = score(*args, threads=4, chunk_size=3)
    assert result.extra["engine"]["ranges"] > 1
    assert result.loss == pytest.approx(expected, rel=1e-6)  # float32 dot products


@pytest.mark.parametrize("layout", ["npy", "pair"])
def test_cli_outputs_in_order(tmp_path: Path, layout: str) -> None:
    args, kwargs = _inputs(tmp_path, layout)
    flags = [f"--{k.replace('_', '-')}" for k in kwargs]
    options = [x for flag, v in zip(flags, kwargs.values(), strict=True) for x in (flag, v)]
    if layout == "npy":
        options = ["--weights", kwargs["weights"]]
    runner = CliRunner()
    outs = {}
    for threads in ("1", "4"):
        out = tmp_path / f"per-vector-{threads}.csv"
        result = runner.invoke(
            cli,
            [
                "score",
                *args,
                *options,
                "--chunk-size",
                "7",
                "--threads",
                threads,
                "--reduction",
                "none",
                "-o",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.stderr
        outs[threads] = (result.stdout, out.read_text())
    assert outs["1"] == outs["4"]
    lines = outs["4"][0].splitlines()
    assert len(lines) == N


def test_json_summary_names_the_threads(tmp_path: Path) -> None:
    args, _ = _inputs(tmp_path, "npy")
    runner = CliRunner()
    one = runner.invoke(cli, ["score", *args, "--chunk-size", "5", "--threads", "1", "--json"])
    many = runner.invoke(cli, ["score", *args, "--chunk-size", "5", "--threads", "3", "--json"])
    assert one.exit_code == many.exit_code == 0, one.stderr + many.stderr
    s1, s3 = json.loads(one.stdout), json.loads(many.stdout)
    assert s3.pop("engine")["threads"] == 3 and "engine" not in s1
    assert s1 == s3


def test_threads_is_for_the_local_engine(tmp_path: Path) -> None:
    args, _ = _inputs(tmp_path, "npy")
    result = CliRunner().invoke(cli, ["score", *args, "--engine", "dask", "--threads", "2"])
    assert result.exit_code == 2 and "--threads" in result.stderr
    result = CliRunner().invoke(cli, ["score", *args, "--threads", "0"])
    assert result.exit_code == 2


def test_error_names_the_global_row(tmp_path: Path) -> None:
    a, b, _ = _data()
    b[150, 2] = np.nan
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    for threads in ("1", "4"):
        result = CliRunner().invoke(
            cli, ["score", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--chunk-size", "4", "--threads", threads]
        )
        assert result.exit_code == 3
        assert "row 150" in result.stderr and "b.npy" in result.stderr, result.stderr


def test_parquet_null_names_the_global_row(tmp_path: Path) -> None:
    a, b, _ = _data()
    rows = [list(map(float, r)) for r in a]
    rows[120] = None  # type: ignore[call-overload]
    pq.write_table(
        pa.table({"emb": pa.array(rows, pa.list_(pa.float32(), D))}), tmp_path / "a.parquet", row_group_size=10
    )
    pq.write_table(pa.table({"emb": _fsl(b)}), tmp_path / "b.parquet", row_group_size=10)
    errors = set()
    for threads in ("1", "4"):
        result = CliRunner().invoke(
            cli,
            [
                "score",
                str(tmp_path / "a.parquet"),
                str(tmp_path / "b.parquet"),
                "--chunk-size",
                "4",
                "--threads",
                threads,
            ],
        )
        assert result.exit_code == 3
        errors.add(result.stderr)
    assert len(errors) == 1 and "120" in errors.pop()


def test_serial_path_for_inputs_without_row_ranges(tmp_path: Path) -> None:
    a, b, _ = _data()
    np.savetxt(tmp_path / "a.csv", a, delimiter=",")
    np.save(tmp_path / "b.npy", b)
    result = score(str(tmp_path / "a.csv"), str(tmp_path / "b.npy"), threads=4, chunk_size=3)
    assert "engine" not in result.extra
    assert result.stats.rows == N


@pytest.mark.slow
@pytest.mark.parametrize("threads", ["1", "2", "4"])
def test_npy_pair_peak_memory(tmp_path: Path, threads: str) -> None:
    # A 1.2 GB .npy pair (400k x 768 float32) in well under 300 MB, whatever the thread count.
    n, d = 400_000, 768
    rng = np.random.default_rng(3)
    for name, seed in (("a.npy", 0), ("b.npy", 1)):
        with open(tmp_path / name, "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (n, d)})
            block = np.random.default_rng(seed).standard_normal((10_000, d), dtype=np.float32)
            for _ in range(n // 10_000):
                fh.write(block.data)
    del rng
    code = (
        "import sys; from cosine_cli.cli import main; sys.argv = ['cosloss', 'score', "
        f"{str(tmp_path / 'a.npy')!r}, {str(tmp_path / 'b.npy')!r}, '--json', '--threads', {threads!r}]\n"
        "try:\n    main()\nfinally:\n"
        "    sys.stderr.write(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')))"
    )
    out = tmp_path / "out.json"
    with open(out, "w") as stdout:
        proc = subprocess.run([sys.executable, "-c", code], stdout=stdout, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(out.read_text())
    assert summary["rows"] == n
    if threads != "1":
        assert summary["engine"]["threads"] == int(threads)
    peak_mib = int(proc.stderr.split()[-2]) / 1024
    assert peak_mib < 300, f"peak RSS {peak_mib:.0f} MiB with --threads {threads}"
