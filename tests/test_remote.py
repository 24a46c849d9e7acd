"""URIs and object storage: a real S3-compatible server on loopback (moto's server mode), no mock client."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cosine_cli import InputError, UsageProblem, score
from cosine_cli.cli import cli
from cosine_cli.engines.ranges import plan_ranges
from cosine_cli.readers import open_input
from cosine_cli.remote import (
    LocalFiles,
    atomic_output,
    is_local,
    list_dataset,
    parse_storage_options,
    resolve,
    s3_options_from_env,
)


def s3fs(options: dict[str, Any]) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(**options, allow_bucket_creation=True)


def new_bucket(options: dict[str, Any]) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3fs(options).create_dir(name)
    return name


def put_npy(fs: pafs.FileSystem, path: str, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    with fs.open_output_stream(path) as out:
        out.write(buf.getvalue())


def vectors(rows: int, dim: int, seed: int, dtype: Any = np.float32) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, dim)).astype(dtype)


def put_parquet_parts(
    fs: pafs.FileSystem, base: str, array: np.ndarray, files: list[list[int]], fixed: bool = True
) -> None:
    """Write ``array`` as files of row groups with the given row counts (column "emb")."""
    start = 0
    dim = array.shape[1]
    if isinstance(fs, pafs.LocalFileSystem):
        fs.create_dir(base, recursive=True)
    for k, groups in enumerate(files):
        n = sum(groups)
        flat = pa.array(array[start : start + n].reshape(-1))
        col = (
            pa.FixedSizeListArray.from_arrays(flat, dim)
            if fixed
            else pa.ListArray.from_arrays(pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int32)), flat)
        )
        table = pa.table({"id": np.arange(start, start + n), "emb": col})
        with fs.open_output_stream(f"{base}/part-{k:03d}.parquet") as out, pq.ParquetWriter(out, table.schema) as w:
            first = 0
            for g in groups:
                w.write_table(table.slice(first, g))
                first += g
        start += n
    assert start == array.shape[0]


# -- options and paths -------------------------------------------------------------------------------


def test_storage_options_are_typed() -> None:
    assert parse_storage_options(
        ["region=eu-west-1", "anonymous=true", "connect-timeout=2.5", "endpoint_override=localhost:9000"]
    ) == {"region": "eu-west-1", "anonymous": True, "connect_timeout": 2.5, "endpoint_override": "localhost:9000"}
    with pytest.raises(UsageProblem, match="KEY=VALUE"):
        parse_storage_options(["region"])
    with pytest.raises(UsageProblem, match="true or false"):
        parse_storage_options(["anonymous=maybe"])


def test_s3_options_from_the_aws_variables() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_NO_SIGN_REQUEST": "YES",
    }
    assert s3_options_from_env(env) == {
        "endpoint_override": "127.0.0.1:9000",
        "scheme": "http",
        "region": "eu-west-3",
        "access_key": "k",
        "secret_key": "s",
        "anonymous": True,
    }
    env["AWS_ENDPOINT_URL_S3"] = "https://s3.example:443"
    env["AWS_REGION"] = "ap-south-1"
    got = s3_options_from_env(env)
    assert got["endpoint_override"] == "s3.example:443" and got["scheme"] == "https" and got["region"] == "ap-south-1"


def test_resolve_local_paths_and_file_uris(tmp_path: Path) -> None:
    fs, path = resolve(str(tmp_path / "x.npy"))
    # a plain path: pyarrow's LocalFileSystem, made on first use (a local .npy run never imports pyarrow)
    assert isinstance(fs, LocalFiles) and isinstance(fs.real(), pafs.LocalFileSystem)
    assert path == str(tmp_path / "x.npy") and is_local(fs)
    fs, path = resolve(f"file://{tmp_path}/x.npy")
    assert isinstance(fs, pafs.LocalFileSystem) and path == f"{tmp_path}/x.npy"
    with pytest.raises(UsageProblem, match="not used for file://"):
        resolve(f"file://{tmp_path}/x.npy", {"region": "x"})


def test_local_dataset_listing_order_and_filters(tmp_path: Path) -> None:
    for name in (
        "b/part-1.parquet",
        "a/part-2.parquet",
        "a/part-10.parquet",
        "_tmp/x.parquet",
        "_SUCCESS",
        "notes.txt",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    _, files = list_dataset(str(tmp_path))
    assert [f[len(str(tmp_path)) + 1 :] for f in files] == ["a/part-10.parquet", "a/part-2.parquet", "b/part-1.parquet"]
    _, files = list_dataset(str(tmp_path / "a" / "part-1*.parquet"))
    assert [Path(f).name for f in files] == ["part-10.parquet"]
    with pytest.raises(InputError, match="matches no file"):
        list_dataset(str(tmp_path / "zzz*"))
    with pytest.raises(InputError, match="no such file"):
        list_dataset(str(tmp_path / "missing"))


def test_plan_ranges_cut_only_where_both_sides_can() -> None:
    assert plan_ranges(None, None, 10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert plan_ranges([0, 5, 10], [0, 5, 10], 10, 1) == [(0, 5), (5, 10)]
    # row groups that never line up: cut at the union past twice the target
    assert plan_ranges([0, 3, 6, 9], [0, 4, 8, 9], 9, 2) == [(0, 4), (4, 8), (8, 9)]
    assert plan_ranges([0, 0], [0, 0], 0, 5) == [(0, 0)]


def test_atomic_output_local(tmp_path: Path) -> None:
    fs = pafs.LocalFileSystem()
    target = str(tmp_path / "out" / "r.bin")
    with pytest.raises(RuntimeError), atomic_output(fs, target) as out:
        out.write(b"partial")
        raise RuntimeError
    assert not Path(target).exists() and list((tmp_path / "out").iterdir()) == []
    with atomic_output(fs, target) as out:
        out.write(b"done")
    assert Path(target).read_bytes() == b"done"


# -- a real S3 server ----------------------------------------------------------------------------------


@pytest.mark.slow  # a real S3 server (moto)
def test_npy_pair_in_s3_scores_as_local(s3_server: dict[str, Any], tmp_path: Path) -> None:
    bucket = new_bucket(s3_server)
    fs = s3fs(s3_server)
    p, t = vectors(1000, 16, 1), vectors(1000, 16, 2)
    put_npy(fs, f"{bucket}/p.npy", p)
    put_npy(fs, f"{bucket}/l.npy", t)
    got = score(f"s3://{bucket}/p.npy", f"s3://{bucket}/l.npy", storage_options=s3_server, chunk_size=77)
    want = score(p, t)
    assert got.loss == pytest.approx(want.loss, rel=1e-12)
    assert got.stats.rows == 1000 and got.stats.cos_min == want.stats.cos_min
    assert got.inputs["pred"]["path"] == f"s3://{bucket}/p.npy"


@pytest.mark.slow  # a real S3 server (moto)
def test_cli_reads_s3_from_environment_and_storage_options(
    s3_server: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket(s3_server)
    fs = s3fs(s3_server)
    put_npy(fs, f"{bucket}/p.npy", np.array([[1.0, 0.0], [1.0, 1.0]], np.float32))
    put_npy(fs, f"{bucket}/l.npy", np.array([[0.0, 1.0], [1.0, 1.0]], np.float32))
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{s3_server['endpoint_override']}")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    runner = CliRunner()
    result = runner.invoke(cli, ["score", f"s3://{bucket}/p.npy", f"s3://{bucket}/l.npy", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["loss"] == -0.5
    # an explicit option wins over the environment: a wrong port fails as a data error, one line
    result = runner.invoke(
        cli,
        [
            "score",
            f"s3://{bucket}/p.npy",
            f"s3://{bucket}/l.npy",
            "--storage-option",
            "endpoint_override=127.0.0.1:1",
            "--storage-option",
            "connect_timeout=0.5",
            "--storage-option",
            "request_timeout=0.5",
        ],
    )
    assert result.exit_code == 3 and result.stdout == "" and result.stderr.count("\n") == 1
    result = runner.invoke(cli, ["score", f"s3://{bucket}/missing.npy", f"s3://{bucket}/l.npy"])
    assert result.exit_code == 3 and "missing.npy" in result.stderr
    result = runner.invoke(cli, ["score", "a.npy", "b.npy", "--storage-option", "nonsense"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.stderr


@pytest.mark.slow  # a real S3 server (moto)
def test_parquet_dataset_in_s3_scores_as_arrays(s3_server: dict[str, Any]) -> None:
    bucket = new_bucket(s3_server)
    fs = s3fs(s3_server)
    p, t = vectors(700, 8, 3), vectors(700, 8, 4)
    put_parquet_parts(fs, f"{bucket}/pred", p, [[100, 150], [200], [50, 200]])
    put_parquet_parts(fs, f"{bucket}/label", t, [[300, 300], [100]], fixed=False)
    opened = open_input(f"s3://{bucket}/label/", storage_options=s3_server)
    reader = opened.reader
    assert reader.num_rows == 700 and "emb" in reader.schema.names and reader.boundaries() == [0, 300, 600, 700]
    opened.close()
    got = score(f"s3://{bucket}/pred", f"s3://{bucket}/label/", storage_options=s3_server, chunk_size=64)
    want = score(p, t)
    assert got.loss == pytest.approx(want.loss, rel=1e-12)
    assert (got.stats.rows, got.stats.cos_min, got.stats.cos_max) == (700, want.stats.cos_min, want.stats.cos_max)
    assert got.inputs["pred"]["format"] == "parquet"


@pytest.mark.slow  # a real S3 server (moto)
def test_atomic_output_on_s3_is_copy_then_delete(s3_server: dict[str, Any]) -> None:
    bucket = new_bucket(s3_server)
    fs = s3fs(s3_server)
    with atomic_output(fs, f"{bucket}/out/result.json") as out:
        out.write(b"{}")
    listing = fs.get_file_info(pafs.FileSelector(f"{bucket}/out", recursive=True))
    assert [i.path for i in listing if i.type == pafs.FileType.File] == [f"{bucket}/out/result.json"]


def test_a_local_npy_run_does_not_import_pyarrow(tmp_path: Path) -> None:
    # start-up is a tenth of the whole run on a page-cached 6 GB pair: pyarrow is not needed there
    import subprocess
    import sys

    np.save(tmp_path / "a.npy", np.eye(3, dtype=np.float32))
    code = (
        "import sys; from cosine_cli.cli import cli\n"
        f"cli(['score', {str(tmp_path / 'a.npy')!r}, {str(tmp_path / 'a.npy')!r}, '--json'], standalone_mode=False)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyarrow'), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert '"loss"' in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "[]"
