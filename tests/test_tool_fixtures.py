"""Issue 10: files written by NumPy, pandas, polars, DuckDB and Hugging Face ``datasets`` with their
own APIs (tests/fixtures/tools/, made by make_fixtures.py there) give the reference number or a clear
refusal, never a wrong number with exit 0.

The references in expected.json are float64 NumPy values computed from the arrays the script wrote.
Every pair is 40 x 8 with one flipped row (row 0, cos -1), so dropping a row, pairing rows out of
order or taking metadata columns as dimensions all move the loss and ``cos.min`` well past 1e-6.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from cosine_cli.cli import cli

FIXTURES = Path(__file__).parent / "fixtures" / "tools"
EXPECTED: dict[str, dict[str, Any]] = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))["pairs"]
TOLERANCE = 1e-6

WIDE = sorted(name for name, pair in EXPECTED.items() if pair["case"] == 2)
JSON_LINES = sorted(name for name, pair in EXPECTED.items() if pair["case"] == 3) + ["hf_json"]
#: case 1: text tables without a header line (np.savetxt, and pandas / polars asked for none)
NO_HEADER = sorted(name for name, pair in EXPECTED.items() if pair["case"] == 1 and not pair["header"])
#: text tables with a real header line: these must keep working
WITH_HEADER = sorted(name for name, pair in EXPECTED.items() if pair["case"] == 1 and pair["header"])
#: the number columns beside e0..e7 in each wide table (pandas' CSV also has its unnamed index)
METADATA = {"wide_extra_csv": ["weight_x", "doc_idx"]}
DEFAULT_METADATA = ["doc_id", "label", "score"]


def fx(relative: str) -> str:
    return str(FIXTURES / relative)


def fixture_args(args: list[str]) -> list[str]:
    """Command-line arguments with the fixture paths (the ones holding a '/') made absolute."""
    return [fx(arg) if "/" in arg else arg for arg in args]


def score(runner: CliRunner, *args: str, stdin: bytes | None = None) -> Result:
    return runner.invoke(cli, ["score", *args], input=stdin)


def summary_of(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def assert_reference(summary: dict[str, Any], ref: dict[str, Any]) -> None:
    assert summary["rows"] == ref["rows"]
    assert summary["loss"] == pytest.approx(ref["loss"], abs=TOLERANCE)
    assert summary["cos"]["min"] == pytest.approx(ref["cos_min"], abs=TOLERANCE)


def assert_refused(result: Result, *named: str) -> None:
    """A clear refusal: usage (2) or input (3) error, nothing on stdout, no traceback, naming ``named``."""
    assert result.exit_code in (2, 3), (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    for word in named:
        assert word in result.stderr, (word, result.stderr)


def used_columns(side: dict[str, Any]) -> str:
    """The column(s) a side reports as used, as text (the key may be ``column`` or ``columns``)."""
    value = side["columns"] if "columns" in side else side["column"]
    return json.dumps(value)


def reference_or_refusal(result: Result, ref: dict[str, Any], reason: str) -> None:
    """Either a refusal (exit 2 or 3) whose message mentions ``reason`` (any case), or the reference
    number: never a wrong number with exit 0."""
    if result.exit_code != 0:
        assert_refused(result)
        assert reason in result.stderr.lower(), result.stderr
        return
    summary = summary_of(result)
    assert_reference(summary, ref)
    assert summary["inputs"]["pred"]["dim"] == ref["dim"]


# -- the fixtures themselves ---------------------------------------------------------------------------


def keras_reference(pred: np.ndarray, label: np.ndarray) -> tuple[float, float]:
    p = pred.astype(np.float64)
    q = label.astype(np.float64)
    cos = (p * q).sum(axis=1) / np.sqrt((p * p).sum(axis=1) * (q * q).sum(axis=1))
    return float(np.mean(-cos)), float(cos.min())


def parquet_vectors(path: str) -> np.ndarray:
    table = pq.read_table(path)
    if "embedding" in table.column_names:
        return np.array(table.column("embedding").to_pylist(), dtype=np.float64)
    return np.column_stack([table.column(f"e{i}").to_numpy() for i in range(8)])


@pytest.mark.parametrize(
    ("name", "load"),
    [
        ("savetxt_csv", lambda path: np.loadtxt(path, delimiter=",")),
        ("savetxt_txt", np.loadtxt),
        ("wide_pandas_parquet", parquet_vectors),
        ("wide_polars_parquet", parquet_vectors),
        ("wide_duckdb_parquet", parquet_vectors),
        ("hf_parquet", parquet_vectors),
    ],
)
def test_expected_json_matches_the_fixture_files(name: str, load: Any) -> None:
    ref = EXPECTED[name]
    pred, label = load(fx(ref["pred"])), load(fx(ref["label"]))
    assert pred.shape == label.shape == (ref["rows"], ref["dim"])
    loss, cos_min = keras_reference(pred, label)
    assert loss == pytest.approx(ref["loss"], abs=1e-9)
    assert cos_min == pytest.approx(ref["cos_min"], abs=1e-9)


def test_expected_json_matches_the_npz_and_hive_fixtures() -> None:
    with np.load(fx("npz/pair.npz")) as pair:
        loss, _ = keras_reference(pair["preds"], pair["labels"])
    assert loss == pytest.approx(EXPECTED["npz_pair"]["loss"], abs=1e-9)
    pred = pq.read_table(fx("hive/pred")).sort_by("id")
    label = pq.read_table(fx("hive/label.parquet"))
    assert label.column("id").to_pylist() == list(range(40))
    loss, _ = keras_reference(
        np.array(pred.column("embedding").to_pylist()), np.array(label.column("embedding").to_pylist())
    )
    assert loss == pytest.approx(EXPECTED["hive_vs_row_order"]["loss"], abs=1e-9)


# -- case 1: np.savetxt writes no header -------------------------------------------------------------


@pytest.mark.parametrize("name", NO_HEADER)
def test_savetxt_has_no_header_every_row_is_scored_with_a_note(runner: CliRunner, name: str) -> None:
    ref = EXPECTED[name]
    result = score(runner, fx(ref["pred"]), fx(ref["label"]), "--json")
    assert_reference(summary_of(result), ref)
    assert "header" in result.stderr.lower()  # the note that the first line was read as data


@pytest.mark.parametrize("name", NO_HEADER)
def test_savetxt_gate_sees_the_bad_first_row(runner: CliRunner, name: str) -> None:
    ref = EXPECTED[name]
    result = score(runner, fx(ref["pred"]), fx(ref["label"]), "--gate", "cos.min >= -0.5", "-q")
    assert result.exit_code == 1, result.stderr


@pytest.mark.parametrize("name", NO_HEADER)
def test_header_flag_forces_the_first_line_as_header(runner: CliRunner, name: str) -> None:
    ref = EXPECTED[name]
    summary = summary_of(score(runner, fx(ref["pred"]), fx(ref["label"]), "--header", "--json"))
    assert_reference(summary, ref["with_header"])


@pytest.mark.parametrize("name", WITH_HEADER)
def test_a_real_header_line_is_still_a_header(runner: CliRunner, name: str) -> None:
    ref = EXPECTED[name]
    result = score(runner, fx(ref["pred"]), fx(ref["label"]), "--json")
    assert_reference(summary_of(result), ref)


def test_inspect_savetxt_counts_every_row_and_names_no_column_after_a_number(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["inspect", fx("savetxt/pred.csv"), "--json"])
    assert result.exit_code == 0, result.stderr
    described = json.loads(result.stdout)
    assert described["rows"] == 40
    assert "3.651694357395172119e-01" not in result.stdout


# -- case 2: wide tables with metadata beside the numbered dimensions --------------------------------


@pytest.mark.parametrize("name", WIDE)
def test_wide_table_is_refused_or_only_the_numbered_group_is_used(runner: CliRunner, name: str) -> None:
    ref = EXPECTED[name]
    result = score(runner, fx(ref["pred"]), fx(ref["label"]), "--json")
    metadata = METADATA.get(name, DEFAULT_METADATA)
    if result.exit_code != 0:
        assert_refused(result, "e0", *metadata)  # the message lists both groups
        return
    summary = summary_of(result)
    assert_reference(summary, ref)
    for side in ("pred", "label"):
        described = summary["inputs"][side]
        assert described["dim"] == 8
        columns = used_columns(described)
        assert "e0" in columns and "e7" in columns
        assert not any(column in columns for column in metadata), columns


@pytest.mark.parametrize("name", WIDE)
def test_wide_table_with_the_dimension_glob_gives_the_reference(runner: CliRunner, name: str) -> None:
    ref = EXPECTED[name]
    assert_reference(summary_of(score(runner, fx(ref["pred"]), fx(ref["label"]), "--columns", "e*", "--json")), ref)


@pytest.mark.parametrize("name", WIDE)
def test_inspect_never_mixes_metadata_into_the_dimensions(runner: CliRunner, name: str) -> None:
    result = runner.invoke(cli, ["inspect", fx(EXPECTED[name]["pred"]), "--json"])
    assert result.exit_code == 0, result.stderr
    for vector in json.loads(result.stdout)["vector_columns"]:
        columns = vector.get("columns", [vector["name"]])
        numbered = [bool(re.fullmatch(r"e\d+", column)) for column in columns]
        assert all(numbered) or not any(numbered), columns


# -- case 3: JSON Lines are never parsed as CSV -------------------------------------------------------


@pytest.mark.parametrize("name", JSON_LINES)
def test_json_lines_given_as_csv_are_refused_or_read_as_json(runner: CliRunner, name: str) -> None:
    ref = EXPECTED[name]
    args = [fx(ref["pred"]), fx(ref["label"]), "--pred-format", "csv", "--label-format", "csv", "--json"]
    reference_or_refusal(score(runner, *args), ref, reason="json")


@pytest.mark.parametrize("name", JSON_LINES)
def test_json_lines_on_stdin_are_refused_or_read_as_json(runner: CliRunner, name: str) -> None:
    ref = EXPECTED[name]
    stdin = (FIXTURES / ref["pred"]).read_bytes()
    # LABEL: a Parquet file of the same labels, read right today; a refusal must say that stdin is JSON
    # (a row-count mismatch from a first line taken as a CSV header is not it)
    result = score(runner, "-", fx("hf/label.parquet"), "--json", stdin=stdin)
    reference_or_refusal(result, ref, reason="json")


@pytest.mark.parametrize("name", JSON_LINES)
def test_json_lines_by_name_are_refused_or_read_as_json(runner: CliRunner, name: str) -> None:
    ref = EXPECTED[name]
    reference_or_refusal(score(runner, fx(ref["pred"]), fx(ref["label"]), "--json"), ref, reason="json")


# -- case 4: .npz members per side; the same array on both sides -------------------------------------


def test_npz_members_are_chosen_per_side(runner: CliRunner) -> None:
    ref = EXPECTED["npz_pair"]
    result = score(
        runner, fx("npz/pair.npz"), fx("npz/pair.npz"), "--pred-col", "preds", "--label-col", "labels", "--json"
    )
    assert_reference(summary_of(result), ref)
    assert "warning" not in result.stderr.lower()


def test_npz_with_two_members_and_no_choice_names_the_per_side_options(runner: CliRunner) -> None:
    result = score(runner, fx("npz/pair.npz"), fx("npz/pair.npz"))
    assert_refused(result, "--pred-col", "--label-col")


@pytest.mark.parametrize(
    "args",
    [
        ["npz/pair.npz", "npz/pair.npz", "--key", "preds"],
        ["npz/pair.npz", "npz/pair.npz", "--pred-col", "preds", "--label-col", "preds"],
        ["npz/x.npy", "npz/x.npy"],
    ],
    ids=["npz-key", "npz-same-member", "npy"],
)
def test_the_same_file_and_member_on_both_sides_is_a_warning(runner: CliRunner, args: list[str]) -> None:
    paths = fixture_args(args)
    result = score(runner, *paths, "--json")
    summary = summary_of(result)
    assert summary["loss"] == pytest.approx(-1.0, abs=TOLERANCE)  # a perfect score that says nothing
    assert "warning" in result.stderr.lower()


# -- case 5: a Hive-partitioned dataset against a file in row order ----------------------------------


def test_hive_dataset_paired_by_position_warns_naming_the_id_options(runner: CliRunner) -> None:
    result = score(runner, fx("hive/pred"), fx("hive/label.parquet"), "--json")
    assert "--id-col" in result.stderr and "--join-on-id" in result.stderr, result.stderr


def test_two_datasets_partitioned_alike_pair_by_position_without_a_warning(runner: CliRunner) -> None:
    ref = EXPECTED["hive_vs_hive"]
    result = score(runner, fx(ref["pred"]), fx(ref["label"]), "--json")
    assert_reference(summary_of(result), ref)
    assert "--join-on-id" not in result.stderr


def test_hive_dataset_joined_on_id_gives_the_reference(runner: CliRunner) -> None:
    ref = EXPECTED["hive_vs_row_order"]
    result = score(runner, fx("hive/pred"), fx("hive/label.parquet"), "--id-col", "id", "--join-on-id", "--json")
    assert_reference(summary_of(result), ref)


# -- Hugging Face datasets ------------------------------------------------------------------------------


def test_hf_parquet_gives_the_reference(runner: CliRunner) -> None:
    ref = EXPECTED["hf_parquet"]
    assert_reference(summary_of(score(runner, fx(ref["pred"]), fx(ref["label"]), "--json")), ref)


# -- what was inferred is shown: format, column(s), dimension, dtype per side ------------------------


@pytest.mark.parametrize(
    ("args", "format_", "columns", "dtype"),
    [
        (["npz/pair.npz", "npz/pair.npz", "--pred-col", "preds", "--label-col", "labels"], "npz",
         ("preds", "labels"), "float32"),
        (["hf/pred.parquet", "hf/label.parquet"], "parquet", ("embedding", "embedding"), "float64"),
        (["hive/pred", "hive/label.parquet", "--id-col", "id", "--join-on-id"], "parquet",
         ("embedding", "embedding"), "float32"),
        (["wide/polars_pred.parquet", "wide/polars_label.parquet", "--columns", "e*"], "parquet", ("e0", "e0"),
         "float32"),
    ],
    ids=["npz", "hf-parquet", "hive", "wide-glob"],
)  # fmt: skip
def test_json_inputs_describe_each_side(
    runner: CliRunner, args: list[str], format_: str, columns: tuple[str, str], dtype: str
) -> None:
    paths = fixture_args(args)
    inputs = summary_of(score(runner, *paths, "--json"))["inputs"]
    for side, column in zip(("pred", "label"), columns, strict=True):
        described = inputs[side]
        assert {"format", "dim", "dtype"} <= described.keys(), described
        assert "column" in described or "columns" in described, described
        assert described["format"] == format_
        assert column in used_columns(described)
        assert described["dim"] == 8
        assert described["dtype"] == dtype


def test_text_summary_shows_format_column_dimension_and_dtype(runner: CliRunner) -> None:
    result = score(runner, fx("hf/pred.parquet"), fx("hf/label.parquet"))
    assert result.exit_code == 0, result.stderr
    text = result.stdout + result.stderr
    for shown in ("parquet", "embedding", "float64", "dim"):
        assert shown in text, shown
