"""One input layer: the same file gives the same summary by path, by file:// URI and through Dask,
with every column option; the registry is the one source of format names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cosine_cli import formats
from cosine_cli.cli import cli, inspect, score


def _without_paths(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary with the inputs' paths (and the engine block) taken out."""
    out = json.loads(json.dumps(summary))
    out.pop("engine", None)
    for side in ("pred", "label", "weights"):
        if isinstance(out["inputs"].get(side), dict):
            out["inputs"][side].pop("path", None)
    return out


@pytest.fixture
def pair_file(tmp_path: Path) -> Path:
    """One Parquet file holding both sides, an id, a weight and a list<string> beside them."""
    rng = np.random.default_rng(7)
    n, dim = 600, 16
    p = rng.standard_normal((n, dim)).astype(np.float32)
    t = (p + 0.3 * rng.standard_normal((n, dim))).astype(np.float32)
    table = pa.table(
        {
            "doc": [f"d{i}" for i in range(n)],
            "pred": pa.FixedSizeListArray.from_arrays(pa.array(p.reshape(-1)), dim),
            "label": pa.ListArray.from_arrays(pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int32)), t.reshape(-1)),
            "w": rng.uniform(0, 2, n),
            "tags": [["a", "b"]] * n,
        }
    )
    path = tmp_path / "pairs.parquet"
    pq.write_table(table, path, row_group_size=100)
    return path


def _run(runner: CliRunner, *args: str) -> dict[str, Any]:
    result = runner.invoke(cli, ["score", *args, "--json"])
    assert result.exit_code == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


COLUMNS = ["--pred-col", "pred", "--label-col", "label", "--id-col", "doc", "--weight-col", "w"]


def test_same_summary_by_path_and_by_file_uri(runner: CliRunner, pair_file: Path) -> None:
    by_path = _run(runner, str(pair_file), *COLUMNS)
    by_uri = _run(runner, f"file://{pair_file}", *COLUMNS)
    assert _without_paths(by_uri) == _without_paths(by_path)
    pred = by_path["inputs"]["pred"]
    assert (pred["format"], pred["column"], pred["dim"], pred["dtype"]) == ("parquet", "pred", 16, "float32")
    assert by_path["inputs"]["label"]["column"] == "label"
    assert by_path["weights"] is not None


@pytest.mark.slow
def test_same_summary_through_dask(runner: CliRunner, pair_file: Path, dask_client: Any) -> None:
    local = _run(runner, str(pair_file), str(pair_file), *COLUMNS)
    address = dask_client.scheduler.address
    dask = _run(
        runner,
        str(pair_file),
        str(pair_file),
        *COLUMNS,
        "--engine",
        "dask",
        "--scheduler",
        address,
        "--task-rows",
        "150",
    )
    assert dask["engine"]["tasks"] >= 2
    got, want = _without_paths(dask), _without_paths(local)
    assert got["loss"] == pytest.approx(want.pop("loss"), rel=1e-12)
    got.pop("loss")
    for key in ("mean", "std"):
        assert got["cos"].pop(key) == pytest.approx(want["cos"].pop(key), rel=1e-12)
    assert got["weights"].pop("sum") == pytest.approx(want["weights"].pop("sum"), rel=1e-12)
    assert got == want


def test_format_choices_are_the_registry() -> None:
    names = set(formats.FORMAT_NAMES)
    for command, option in ((score, "pred_format"), (score, "label_format"), (inspect, "fmt")):
        param = next(p for p in command.params if p.name == option)
        assert set(param.type.choices) == names  # type: ignore[attr-defined]


def test_every_format_opener_and_lister_resolves() -> None:
    for f in formats.FORMATS.values():
        assert callable(f.load())
        if f.members:
            assert f.load_lister() is not None, f.name
        for ext in f.extensions:
            assert formats.by_extension("x" + ext) is f


def test_a_file_uri_takes_every_column_option(runner: CliRunner, pair_file: Path) -> None:
    # list<string> beside the vectors no longer makes "2 list columns" by URI
    summary = _run(runner, f"file://{pair_file}", f"file://{pair_file}", "--pred-col", "pred", "--label-col", "label")
    assert summary["rows"] == 600


def test_readme_format_table_is_the_registry() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- formats:start -->\n", 1)[1].split("\n<!-- formats:end -->", 1)[0]
    assert block == formats.formats_markdown()
