"""Issue 12's evaluations on the engines: the local thread pool of row ranges (engines/parallel.py) and
Dask (engines/dask_engine.py) give the serial path's summary (--targets / --target-col with
--loss embedding and mse, correlation, --dims, --group-col, --diff, several candidates)."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cosine_cli import score
from cosine_cli.correlation import SpearmanAccumulator
from cosine_cli.engines import parallel

N, D = 203, 16

#: per-vector values, counts and sketch results: the same whatever the ranges
_EXACT = re.compile(r"^(min|max|p\d\d|rows|skipped|zero_vectors|nonfinite|nonzero|histogram|worst|row|count)$")


@pytest.fixture(autouse=True)
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranges of two chunks (no byte minimum), so that these small inputs are cut into many."""
    monkeypatch.setattr(parallel, "RANGE_CHUNKS", 2)
    monkeypatch.setattr(parallel, "MIN_RANGE_BYTES", 0)
    monkeypatch.setattr(parallel, "MAX_RANGE_BYTES", 0)


def _same(got: Any, want: Any, key: str = "", exact: bool = False) -> None:
    """Sums merged per range round differently in the last bits (1e-12 relative); every count,
    extreme, quantile, histogram bin and worst vector is exactly the serial one."""
    exact = exact or bool(_EXACT.match(key))
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), (key, got, want)
        for k in want:
            _same(got[k], want[k], k, exact)
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (key, got, want)
        for g, w in zip(got, want, strict=True):
            _same(g, w, key, exact)
    elif isinstance(want, float) and not exact:
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15), key
    else:
        assert got == want, key


def _summary(result: Any) -> dict[str, Any]:
    d = result.to_dict()
    d.pop("engine", None)
    d["inputs"].pop("notes", None)
    return d  # type: ignore[no-any-return]


def _fsl(x: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Any]:
    rng = np.random.default_rng(12)
    p = rng.normal(size=(N, D)).astype(np.float32)
    lab = (p + 0.4 * rng.normal(size=(N, D))).astype(np.float32)
    y = rng.choice([-1.0, 1.0], N)
    s = np.round(rng.uniform(0, 1, N), 1)  # ties, for Spearman's average ranks
    lang = rng.choice(["de", "en", "fr"], N)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "l.npy", lab)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "s.npy", s)
    table = pa.table({"pred": _fsl(p), "label": _fsl(lab), "y": y, "s": s, "lang": lang})
    pq.write_table(table, tmp_path / "pairs.parquet", row_group_size=20)
    q = (p + 0.1 * rng.normal(size=(N, D))).astype(np.float32)  # a second candidate
    np.save(tmp_path / "q.npy", q)
    for name, x, group_rows in (("p", p, 20), ("q", q, 30), ("l", lab, 25)):  # row groups not aligned
        pq.write_table(pa.table({"emb": _fsl(x)}), tmp_path / f"{name}.parquet", row_group_size=group_rows)
    return {"dir": tmp_path, "pairs": str(tmp_path / "pairs.parquet")}


def _runs(files: dict[str, Any], layout: str) -> list[tuple[list[str], dict[str, Any]]]:
    """(positional args, keywords) of every evaluation, for one input layout."""
    d = files["dir"]
    if layout == "npy":
        args = [str(d / "p.npy"), str(d / "l.npy")]
        return [
            (args, {"targets": str(d / "y.npy"), "loss": "embedding", "margin": 0.1}),
            (args, {"targets": str(d / "s.npy"), "loss": "mse"}),
            (args, {"targets": str(d / "s.npy")}),  # correlation only
            (args, {"dims": "4,8,16"}),
            (args, {"diff": True}),
            (args, {"targets": str(d / "y.npy"), "loss": "embedding", "dims": "8", "diff": True}),
        ]
    cols = {"pred_col": "pred", "label_col": "label"}
    args = [files["pairs"]]
    return [
        (args, {**cols, "target_col": "y", "loss": "embedding", "margin": 0.25}),
        (args, {**cols, "target_col": "s", "loss": "mse"}),
        (args, {**cols, "dims": [4, 8]}),
        (args, {**cols, "group_col": "lang"}),
        (args, {**cols, "diff": True}),
        (args, {**cols, "target_col": "s", "loss": "mse", "group_col": "lang", "dims": "8", "diff": True}),
    ]


@pytest.mark.parametrize("layout", ["npy", "parquet"])
@pytest.mark.parametrize("chunk_size", [7, None])
def test_threads_change_no_evaluation(files: dict[str, Any], layout: str, chunk_size: int | None) -> None:
    for args, kwargs in _runs(files, layout):
        kw = {**kwargs, "chunk_size": chunk_size, "worst": 3}
        serial = score(*args, threads=1, **kw)
        threaded = score(*args, threads=4, **kw)
        if chunk_size is not None:  # default chunks hold every row here: one range, the serial path
            assert threaded.extra["engine"]["ranges"] > 1, kwargs
        want = _summary(serial)
        assert {"correlation", "by_dim", "by_group", "diff"} & want.keys(), kwargs
        _same(_summary(threaded), want)


@pytest.mark.parametrize("ext", ["npy", "parquet"])
@pytest.mark.parametrize("chunk_size", [7, None])
def test_threads_change_no_candidate(files: dict[str, Any], ext: str, chunk_size: int | None) -> None:
    d = files["dir"]
    pred = {"base": str(d / f"p.{ext}"), "fine": str(d / f"q.{ext}")}
    for extra in ({}, {"targets": str(d / "s.npy"), "loss": "mse", "dims": "8"}):
        kw = {"chunk_size": chunk_size, "worst": 3, **extra}
        serial = score(pred, str(d / f"l.{ext}"), threads=1, **kw)
        threaded = score(pred, str(d / f"l.{ext}"), threads=4, **kw)
        if chunk_size is not None:
            assert threaded.extra["engine"]["ranges"] > 1
        want = _summary(serial)
        assert set(want["by_candidate"]) == {"base", "fine"}
        _same(_summary(threaded), want)


def test_a_range_error_names_the_global_row(files: dict[str, Any], tmp_path: Path) -> None:
    """A target a loss refuses, in a later range, is named by its row in the whole input."""
    from cosine_cli.errors import InputError

    d = files["dir"]
    y = np.load(d / "y.npy")
    y[150] = 0.5  # embedding targets are +1 or -1
    np.save(tmp_path / "bad.npy", y)
    errors = []
    for threads in (1, 4):
        with pytest.raises(InputError) as info:
            score(
                str(d / "p.npy"),
                str(d / "l.npy"),
                targets=str(tmp_path / "bad.npy"),
                loss="embedding",
                chunk_size=7,
                threads=threads,
            )
        errors.append(str(info.value))
    assert errors[0] == errors[1] and "150" in errors[0]


def test_spearman_pickles_its_spilled_pairs(tmp_path: Path) -> None:
    """A Dask task's Spearman pairs travel as arrays: a worker's spill file is not the client's."""
    acc = SpearmanAccumulator(memory_budget=64, spill_dir=str(tmp_path))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=100), rng.normal(size=100)
    for i in range(0, 100, 10):
        acc.update(x[i : i + 10], y[i : i + 10])
    assert acc.spilled_rows > 0
    back = pickle.loads(pickle.dumps(acc))
    assert back.spilled_rows == 0 or back._spill is not acc._spill
    np.testing.assert_array_equal(back.column(0), x)
    assert back.result() == acc.result()


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["npy", "parquet"])
def test_dask_gives_the_local_summary(files: dict[str, Any], layout: str, dask_client: Any) -> None:
    for args, kwargs in _runs(files, layout):
        kw = {**kwargs, "worst": 3}
        if len(args) == 1:  # one file holding both sides: Dask reads PRED and LABEL as two paths
            args = [args[0], args[0]]
        local = score(*args, threads=1, **kw)
        on_dask = score(*args, engine="dask", scheduler=dask_client, rows_per_task=40, **kw)
        assert on_dask.extra["engine"]["tasks"] > 1
        want = _summary(local)
        assert {"correlation", "by_dim", "by_group", "diff"} & want.keys(), kwargs
        _same(_summary(on_dask), want)


@pytest.mark.slow
def test_dask_names_the_global_row_of_a_bad_target(files: dict[str, Any], tmp_path: Path, dask_client: Any) -> None:
    from cosine_cli.errors import InputError

    d = files["dir"]
    y = np.load(d / "y.npy")
    y[150] = 0.5
    np.save(tmp_path / "bad.npy", y)
    messages = []
    for engine in ("local", "dask"):
        with pytest.raises(InputError) as info:
            score(
                str(d / "p.npy"),
                str(d / "l.npy"),
                targets=str(tmp_path / "bad.npy"),
                loss="embedding",
                engine=engine,
                **({"scheduler": dask_client, "rows_per_task": 40} if engine == "dask" else {}),
            )
        messages.append(str(info.value))
    assert messages[0] == messages[1] and "150" in messages[0]


def test_dask_refuses_targets_given_as_an_array(files: dict[str, Any]) -> None:
    from cosine_cli.errors import UsageProblem

    d = files["dir"]
    with pytest.raises(UsageProblem, match="targets"):
        score(str(d / "p.npy"), str(d / "l.npy"), targets=np.load(d / "s.npy"), engine="dask")


@pytest.mark.slow
def test_cli_dask_evaluations_and_gates(files: dict[str, Any], dask_client: Any) -> None:
    import json

    from click.testing import CliRunner

    from cosine_cli.cli import cli

    d = files["dir"]
    common = ["score", str(d / "p.npy"), str(d / "l.npy"), "--targets", str(d / "s.npy"), "--loss", "mse"]
    common += ["--dims", "4,8", "--diff", "--json"]
    address = dask_client.scheduler.address
    local = CliRunner().invoke(cli, common)
    gate = ["--gate", "by_dim.4.cos.mean >= 2"]  # cos <= 1: the gate fails on the Dask summary's number
    on_dask = CliRunner().invoke(cli, [*common, "--engine", "dask", "--scheduler", address, "--task-rows", "40"])
    failed = CliRunner().invoke(cli, [*common, *gate, "--engine", "dask", "--scheduler", address])
    assert local.exit_code == 0 and on_dask.exit_code == 0, (local.stderr, on_dask.stderr)
    want, got = json.loads(local.stdout), json.loads(on_dask.stdout)
    for summary in (want, got):
        summary.pop("engine", None)
        summary["inputs"].pop("notes", None)
    _same(got, want)
    assert failed.exit_code == 1, failed.stderr


def test_a_candidate_nan_names_the_global_row(files: dict[str, Any], tmp_path: Path) -> None:
    from cosine_cli.errors import InputError

    d = files["dir"]
    q = np.load(d / "q.npy")
    q[170, 3] = np.nan
    np.save(tmp_path / "q_nan.npy", q)
    pred = {"base": str(d / "p.npy"), "fine": str(tmp_path / "q_nan.npy")}
    messages = []
    for threads in (1, 4):
        with pytest.raises(InputError) as info:
            score(pred, str(d / "l.npy"), chunk_size=7, threads=threads)
        messages.append(str(info.value))
    assert messages[0] == messages[1] and "170" in messages[0]


@pytest.mark.slow
@pytest.mark.parametrize("ext", ["npy", "parquet"])
def test_dask_gives_the_local_candidates(files: dict[str, Any], ext: str, dask_client: Any) -> None:
    d = files["dir"]
    pred = {"base": str(d / f"p.{ext}"), "fine": str(d / f"q.{ext}")}
    for extra in ({}, {"targets": str(d / "s.npy"), "loss": "mse", "dims": "8", "diff": True}):
        kw = {"worst": 3, **extra}
        local = score(pred, str(d / f"l.{ext}"), threads=1, **kw)
        on_dask = score(pred, str(d / f"l.{ext}"), engine="dask", scheduler=dask_client, rows_per_task=40, **kw)
        assert on_dask.extra["engine"]["tasks"] > 1
        want = _summary(local)
        assert set(want["by_candidate"]) == {"base", "fine"}
        _same(_summary(on_dask), want)


@pytest.mark.slow
def test_cli_dask_candidates(files: dict[str, Any], dask_client: Any) -> None:
    import json

    from click.testing import CliRunner

    from cosine_cli.cli import cli

    d = files["dir"]
    common = ["score", str(d / "p.npy"), "fine=" + str(d / "q.npy"), "--label", str(d / "l.npy"), "--json"]
    local = CliRunner().invoke(cli, common)
    address = dask_client.scheduler.address
    on_dask = CliRunner().invoke(cli, [*common, "--engine", "dask", "--scheduler", address, "--task-rows", "40"])
    assert local.exit_code == 0 and on_dask.exit_code == 0, (local.stderr, on_dask.stderr)
    want, got = json.loads(local.stdout), json.loads(on_dask.stdout)
    for summary in (want, got):
        summary.pop("engine", None)
        summary["inputs"].pop("notes", None)
    assert "fine" in got["by_candidate"] and len(got["by_candidate"]) == 2
    _same(got, want)
