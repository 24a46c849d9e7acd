"""Per-vector outputs (-o): every format reads back to the values of --reduction none; atomic files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cosine_cli import ScoredChunk
from cosine_cli.cli import cli
from cosine_cli.writers import VectorWriter

PRED, LABEL, WEIGHTS = "sample_data/preds.npy", "sample_data/labels.npy", "sample_data/weights.npy"
FORMATS = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl", "arrow": ".arrow", "npy": ".npy"}


def read_back(path: Path | str, fmt: str) -> dict[str, np.ndarray]:
    if fmt == "parquet":
        table = pq.read_table(path)
    elif fmt == "csv":
        table = pcsv.read_csv(path)
    elif fmt == "arrow":
        table = pa.ipc.open_file(path).read_all()
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
        return {k: np.array([r[k] for r in rows], dtype=float) for k in rows[0]}
    else:
        x = np.load(path, allow_pickle=False)
        return {k: x[k] for k in x.dtype.names}
    return {k: table.column(k).to_numpy() for k in table.column_names}


def reduction_none(*args: str) -> np.ndarray:
    r = CliRunner().invoke(cli, ["score", PRED, LABEL, "--reduction", "none", *args])
    assert r.exit_code == 0, r.stderr
    return np.array([float(x) for x in r.stdout.split()])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("weighted", [False, True])
def test_every_format_reads_back_as_reduction_none(in_repo: Path, tmp_path: Path, fmt: str, weighted: bool) -> None:
    extra = ["--weights", WEIGHTS] if weighted else []
    out = tmp_path / f"out{FORMATS[fmt]}"
    r = CliRunner().invoke(cli, ["score", PRED, LABEL, "-o", str(out), "--chunk-size", "7", *extra])
    assert r.exit_code == 0, r.stderr
    got = read_back(out, fmt)
    assert list(got) == ["row", "cos", "loss", *(["weight"] if weighted else [])]
    np.testing.assert_array_equal(got["row"], np.arange(64))
    loss = got["loss"] * got["weight"] if weighted else got["loss"]
    np.testing.assert_array_equal(loss, reduction_none(*extra))
    np.testing.assert_array_equal(got["cos"], -got["loss"])
    assert os.listdir(tmp_path) == [out.name]  # no temporary file left beside it


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_to_stdout(in_repo: Path, fmt: str, tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["score", PRED, LABEL, "-o", "-", "--output-format", fmt, "--json"])
    assert r.exit_code == 0, r.stderr
    path = tmp_path / f"x{FORMATS[fmt]}"
    path.write_bytes(r.stdout_bytes)
    np.testing.assert_array_equal(read_back(path, fmt)["loss"], reduction_none())
    assert json.loads(r.stderr)["rows"] == 64  # the summary moved to stderr


def test_ids_go_in_an_id_column(tmp_path: Path) -> None:
    cos = np.array([0.5, 1.0])
    chunk = ScoredChunk(0, cos, -cos, np.zeros(2, bool), np.zeros(2, bool), ids=["a", 'b"\n'])
    for fmt in ("parquet", "jsonl"):
        w = VectorWriter(str(tmp_path / f"x.{fmt}"), fmt)
        w(chunk)
        w.close()
    assert pq.read_table(tmp_path / "x.parquet").column("id").to_pylist() == ["a", 'b"\n']
    lines = (tmp_path / "x.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", 'b"\n']


def test_string_ids_cannot_go_into_npy(tmp_path: Path) -> None:
    from cosine_cli import UsageProblem

    cos = np.array([0.5])
    w = VectorWriter(str(tmp_path / "x.npy"), "npy")
    with pytest.raises(UsageProblem):
        w(ScoredChunk(0, cos, -cos, np.zeros(1, bool), np.zeros(1, bool), ids=["a"]))
    w.abort()
    assert os.listdir(tmp_path) == []


def test_an_input_path_is_refused(in_repo: Path, tmp_path: Path) -> None:
    before = Path(LABEL).read_bytes()
    for target in (LABEL, f"sample_data/../{LABEL}"):
        r = CliRunner().invoke(cli, ["score", PRED, LABEL, "-o", target, "--output-format", "npy"])
        assert r.exit_code == 2 and "one of the inputs" in r.stderr
    link = tmp_path / "link.npy"
    os.link(LABEL, link)
    r = CliRunner().invoke(cli, ["score", PRED, str(link), "-o", LABEL, "--output-format", "npy"])
    assert r.exit_code == 2
    assert Path(LABEL).read_bytes() == before


def test_a_failed_run_leaves_no_file(in_repo: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones((10, 8)))  # 10 rows against 64: a data error after writing began
    out = tmp_path / "out.parquet"
    r = CliRunner().invoke(cli, ["score", PRED, str(bad), "-o", str(out)])
    assert r.exit_code == 3
    assert sorted(os.listdir(tmp_path)) == ["bad.npy"]


def test_unknown_extension_and_conflicts_are_usage_errors(in_repo: Path, tmp_path: Path) -> None:
    for args in (["-o", str(tmp_path / "x.txt")], ["--output-format", "csv"], ["-o", "-", "--reduction", "none"]):
        r = CliRunner().invoke(cli, ["score", PRED, LABEL, *args])
        assert r.exit_code == 2, (args, r.stderr)
    assert os.listdir(tmp_path) == []


def test_quiet_keeps_results_only(in_repo: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["score", PRED, LABEL, "--reduction", "none", "-q"])
    assert r.exit_code == 0 and r.stderr == "" and len(r.stdout.split()) == 64
    r = CliRunner().invoke(cli, ["score", PRED, LABEL, "-o", "-", "-q"])
    assert r.exit_code == 0 and r.stderr == "" and len(r.stdout.splitlines()) == 64
    r = CliRunner().invoke(cli, ["score", PRED, LABEL, "-q", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["rows"] == 64  # the summary on stdout is a result
