"""--engine dask on a two-process LocalCluster: the same summary as the local engine, also after a worker dies."""

from __future__ import annotations

import json
import math
import os
import pickle
import sys
import uuid
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cosine_cli import Accumulator, InputError, score
from cosine_cli.cli import cli

sys.path.insert(0, str(Path(__file__).parent))
from test_remote import new_bucket, put_npy, put_parquet_parts, s3fs, vectors  # noqa: E402

# slow: a LocalCluster of worker processes (and an S3 server) for every test
pytestmark = pytest.mark.slow

# The fault injector below runs in the workers: ship this module by value, not by import name.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def same_summary(got: dict[str, Any], want: dict[str, Any]) -> None:
    """The issue's bar: loss and mean/std to 1e-12 relative; counts, min and max equal."""
    for key in ("rows", "skipped", "zero_vectors", "nonfinite", "reduction", "loss_kind", "compat"):
        assert got[key] == want[key], key
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-12, abs=0)
    assert got["cos"]["min"] == want["cos"]["min"] and got["cos"]["max"] == want["cos"]["max"]
    for key in ("mean", "std"):
        assert got["cos"][key] == pytest.approx(want["cos"][key], rel=1e-12, abs=0)
    assert got["weights"] == (None if want["weights"] is None else pytest.approx(want["weights"], rel=1e-12))


@pytest.fixture(scope="module")
def local_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, np.ndarray, np.ndarray]:
    """Row groups that line up only here and there between the two sides, across several files."""
    base = tmp_path_factory.mktemp("ds")
    fs = pafs.LocalFileSystem()
    p, t = vectors(3000, 12, 10), vectors(3000, 12, 11)
    t[17] = 0.0  # a zero vector
    put_parquet_parts(fs, f"{base}/pred", p, [[400, 400, 200], [1000], [250, 250, 500]])
    put_parquet_parts(fs, f"{base}/label", t, [[700, 800], [500, 1000]], fixed=False)
    return f"{base}/pred", f"{base}/label", p, t


def test_accumulator_pickles_and_merges() -> None:
    a = score(np.eye(3), np.ones((3, 3))).stats
    b = pickle.loads(pickle.dumps(a))
    # The quantile sketch holds arrays (no elementwise ==): compare the pickled states.
    assert isinstance(b, Accumulator) and pickle.dumps(b) == pickle.dumps(a)
    assert b.rows == 3 and b.cos_quantiles() == a.cos_quantiles()


def test_dask_equals_local_on_a_multi_file_dataset(dask_client: Any, local_dataset: tuple) -> None:
    pred, label, p, t = local_dataset
    want = score(p, t).to_dict()
    for rows_per_task in (1, 600, 10_000):  # one task per row group boundary ... one task in all
        got = score(pred, label, engine="dask", scheduler=dask_client, rows_per_task=rows_per_task).to_dict()
        same_summary(got, want)
        assert got["engine"]["name"] == "dask"
    assert score(pred, label, engine="dask", scheduler=dask_client, rows_per_task=1).to_dict()["engine"]["tasks"] == 9
    local = score(pred, label).to_dict()  # the local engine on the same files
    same_summary(local, want)


def test_dask_reductions_and_scalar_weight(dask_client: Any, local_dataset: tuple) -> None:
    pred, label, p, t = local_dataset
    for kw in (
        {"reduction": "sum", "loss": "distance"},
        {"weights": 0.5, "reduction": "mean_with_sample_weight"},
        {"weights": 2.0, "reduction": "sum_by_nonzero_weights", "compat": "exact"},
    ):
        want = score(p, t, **kw).to_dict()
        got = score(pred, label, engine="dask", scheduler=dask_client, rows_per_task=700, **kw).to_dict()
        same_summary(got, want)


def test_dask_on_s3_parquet_and_npy(dask_client: Any, s3_server: dict[str, Any], tmp_path: Path) -> None:
    bucket = new_bucket(s3_server)
    fs = s3fs(s3_server)
    p, t = vectors(2000, 10, 20), vectors(2000, 10, 21)
    w = np.random.default_rng(22).uniform(0, 2, 2000)
    put_parquet_parts(fs, f"{bucket}/pred", p, [[500, 500], [600], [400]])
    put_parquet_parts(fs, f"{bucket}/label", t, [[1000], [1000]])
    put_npy(fs, f"{bucket}/p.npy", p)
    put_npy(fs, f"{bucket}/l.npy", t)
    put_npy(fs, f"{bucket}/w.npy", w)
    want = score(p, t).to_dict()
    got = score(
        f"s3://{bucket}/pred/",
        f"s3://{bucket}/label",
        engine="dask",
        scheduler=dask_client,
        storage_options=s3_server,
        rows_per_task=300,
    ).to_dict()
    same_summary(got, want)
    assert got["engine"]["tasks"] == 3  # (0, 1000) ends on a shared boundary; 1600 is past 2 x 300
    got = score(
        f"s3://{bucket}/p.npy",
        f"s3://{bucket}/l.npy",
        weights=f"s3://{bucket}/w.npy",
        engine="dask",
        scheduler=dask_client,
        storage_options=s3_server,
        rows_per_task=333,
        output_dir=f"s3://{bucket}/out",
    ).to_dict()
    same_summary(got, score(p, t, weights=w).to_dict())
    assert got["engine"]["tasks"] == 7
    parts = [i.path for i in fs.get_file_info(pafs.FileSelector(f"{bucket}/out")) if i.type == pafs.FileType.File]
    assert sorted(parts) == [f"{bucket}/out/part-{i:05d}.parquet" for i in range(7)]
    table = pq.read_table(f"{bucket}/out", filesystem=fs).sort_by("row")
    assert table.column_names == ["row", "cos", "loss", "weight"]
    assert np.array_equal(table["row"].to_numpy(), np.arange(2000))
    assert np.array_equal(table["weight"].to_numpy(), w)
    np.testing.assert_allclose(table["loss"].to_numpy(), score(p, t, reduction="none").losses, rtol=1e-12)


def test_cli_dask_engine_json(dask_client: Any, local_dataset: tuple, runner: CliRunner) -> None:
    pred, label, p, t = local_dataset
    address = dask_client.scheduler.address
    result = runner.invoke(
        cli, ["score", pred, label, "--engine", "dask", "--scheduler", address, "--task-rows", "1000", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    same_summary(json.loads(result.stdout), score(p, t).to_dict())
    result = runner.invoke(
        cli, ["score", pred, label, "--engine", "dask", "--scheduler", address, "--reduction", "none"]
    )
    assert result.exit_code == 2 and "--engine dask" in result.stderr


def test_cli_dask_output_dir_and_columns(
    dask_client: Any, local_dataset: tuple, runner: CliRunner, tmp_path: Path
) -> None:
    pred, label, p, t = local_dataset
    address = dask_client.scheduler.address
    out = tmp_path / "per-vector"
    result = runner.invoke(
        cli,
        [
            "score",
            pred,
            label,
            "--engine",
            "dask",
            "--scheduler",
            address,
            "--task-rows",
            "1000",
            "--pred-col",
            "emb",
            "--label-col",
            "emb",
            "-o",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == json.loads(result.stdout)["engine"]["tasks"] >= 2
    table = pq.read_table(out).sort_by("row")
    assert table.column("row").to_pylist() == list(range(3000))
    np.testing.assert_allclose(table.column("loss").to_numpy(), score(p, t, reduction="none").losses, atol=1e-12)
    for bad, why in (
        (["-o", "-"], "not -"),
        (["-o", str(tmp_path / "x.csv")], "Parquet parts only"),
        (["--pred-col", "nope"], "nope"),
        (["--id-col", "nope"], "nope"),
        (["--id-col", "id", "--join-on-id"], "--join-on-id"),
    ):
        result = runner.invoke(cli, ["score", pred, label, "--engine", "dask", "--scheduler", address, *bad])
        assert result.exit_code in (2, 3) and why in result.stderr, result.stderr


def test_dask_data_errors_name_the_global_row(dask_client: Any, tmp_path: Path) -> None:
    p, t = vectors(100, 4, 30).astype(np.float64), vectors(100, 4, 31).astype(np.float64)
    p[87, 2] = math.nan
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", t)
    with pytest.raises(InputError, match="row 87"):
        score(str(tmp_path / "p.npy"), str(tmp_path / "t.npy"), engine="dask", scheduler=dask_client, rows_per_task=10)
    np.save(tmp_path / "short.npy", t[:99])
    with pytest.raises(InputError, match="has 99 rows"):
        score(str(tmp_path / "p.npy"), str(tmp_path / "short.npy"), engine="dask", scheduler=dask_client)


# -- a worker that dies mid-run ---------------------------------------------------------------------


def _install_fault(marker: str) -> None:
    """In a worker: the first task to run anywhere kills its own worker process (exactly once)."""
    import cosine_cli.engines.dask_engine as engine

    original = engine.__dict__.setdefault("_original_score_range", engine._score_range)

    def faulty(task: Any) -> Any:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return original(task)
        os._exit(1)  # the nanny sees the process die; the scheduler reschedules its tasks

    engine._score_range = faulty


def _remove_fault() -> None:
    import cosine_cli.engines.dask_engine as engine

    engine._score_range = engine.__dict__.pop("_original_score_range", engine._score_range)


def test_a_killed_worker_is_retried_and_the_result_is_exact(
    dask_client: Any, local_dataset: tuple, tmp_path: Path
) -> None:
    pred, label, p, t = local_dataset
    marker = str(tmp_path / f"killed-{uuid.uuid4().hex}")
    before = set(dask_client.scheduler_info()["workers"])
    dask_client.run(_install_fault, marker)
    try:
        got = score(pred, label, engine="dask", scheduler=dask_client, rows_per_task=600).to_dict()
    finally:
        dask_client.run(_remove_fault)
    assert os.path.exists(marker)  # a worker did die
    dask_client.wait_for_workers(2, timeout=30)
    assert set(dask_client.scheduler_info()["workers"]) != before  # and was replaced
    same_summary(got, score(p, t).to_dict())


def test_scheduler_from_environment_and_own_local_cluster(
    dask_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p, t = vectors(500, 6, 40), vectors(500, 6, 41)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "t.npy", t)
    want = score(p, t).to_dict()
    args = [
        "score",
        str(tmp_path / "p.npy"),
        str(tmp_path / "t.npy"),
        "--engine",
        "dask",
        "--json",
        "--task-rows",
        "120",
    ]
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", dask_client.scheduler.address)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    same_summary(got, want)
    assert got["engine"] == {"name": "dask", "tasks": 5, "scheduler": dask_client.scheduler.address}
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
    result = CliRunner().invoke(cli, [*args, "--workers", "1"])  # starts and stops its own LocalCluster
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    same_summary(got, want)
    assert got["engine"]["scheduler"] != dask_client.scheduler.address
