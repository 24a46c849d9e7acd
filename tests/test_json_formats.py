"""JSON Lines, JSON documents, the OpenAI envelopes and pandas' array-cell CSV (issue 11).

The fixtures were written by the real tools (tests/fixtures/json/make_fixtures.py); each holds
the same float32 vectors as source_pred.npy, so each scores to the float64 reference loss.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cosine_cli.cli import cli
from cosine_cli.errors import InputError
from cosine_cli.readers import jsonl
from cosine_cli.readers.base64vec import decode_base64_float32

FIXTURES = Path(__file__).parent / "fixtures" / "json"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
LABEL = str(FIXTURES / "source_label.npy")

TOOL_FILES = [
    "duckdb_lines.json",
    "duckdb_array.json",
    "polars.ndjson",
    "polars_array.json",
    "pandas_records.jsonl",
    "pandas_records.jsonl.gz",
    "hf_nested.jsonl",
    "openai_embeddings.jsonl",
    "openai_embeddings_base64.jsonl",
    "openai_embeddings.jsonl.gz",
    "openai_list.json",
    "openai_list_base64.json",
    "pandas_array_cells.csv",
]


def run(*args: str, stdin: bytes | None = None):  # noqa: ANN201
    return CliRunner().invoke(cli, list(args), input=stdin)


def loss_of(result) -> float:  # noqa: ANN001
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return float(json.loads(result.stdout)["loss"])


def one_line_error(result, code: int = 3) -> str:  # noqa: ANN001
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def pred_col(name: str) -> list[str]:
    return ["--pred-col", "meta.embedding"] if name.startswith("hf_nested") else []


@pytest.mark.parametrize("name", TOOL_FILES)
def test_each_tool_file_gives_the_reference_loss(name: str) -> None:
    res = run("score", str(FIXTURES / name), LABEL, "--json")
    assert loss_of(res) == pytest.approx(EXPECTED["loss"], abs=1e-6)
    assert json.loads(res.stdout)["rows"] == EXPECTED["rows"]


def test_nested_field_is_found_without_options_and_by_its_dotted_path() -> None:
    path = str(FIXTURES / "hf_nested.jsonl")
    for extra in ([], ["--pred-col", "meta.embedding"]):
        assert loss_of(run("score", path, LABEL, "--json", *extra)) == pytest.approx(EXPECTED["loss"], abs=1e-6)


@pytest.mark.parametrize("name", ["batch_output_shuffled.jsonl", "batch_output_base64_shuffled.jsonl"])
def test_shuffled_batch_output_joins_on_custom_id(name: str) -> None:
    res = run(
        "score",
        str(FIXTURES / name),
        str(FIXTURES / "batch_labels.jsonl"),
        "--id-col",
        "custom_id",
        "--join-on-id",
        "--json",
    )
    assert loss_of(res) == pytest.approx(EXPECTED["loss"], abs=1e-6)


def test_shuffled_batch_output_by_position_is_refused_by_the_id_check() -> None:
    res = run(
        "score",
        str(FIXTURES / "batch_output_shuffled.jsonl"),
        str(FIXTURES / "batch_labels.jsonl"),
        "--id-col",
        "custom_id",
    )
    assert "--join-on-id" in one_line_error(res)


def _batch_errors(*extra: str):  # noqa: ANN202
    return run(
        "score",
        str(FIXTURES / "batch_output_errors.jsonl"),
        str(FIXTURES / "batch_labels.jsonl"),
        "--id-col",
        "custom_id",
        "--join-on-id",
        "--json",
        *extra,
    )


def test_a_failed_batch_line_is_an_input_error_naming_the_line_and_why() -> None:
    line = one_line_error(_batch_errors())
    assert "row 3 (line 4; the request failed: server_error: The server had an error)" in line


def test_a_non_200_batch_line_is_named_with_its_status() -> None:
    path = FIXTURES / "batch_output_errors.jsonl"
    lines = path.read_text().splitlines()
    ok = [x for i, x in enumerate(lines) if i != 3]  # only the status-400 line (now line 9) is bad
    res = run("score", "-", str(FIXTURES / "batch_labels.jsonl"), "--id-col", "custom_id", "--join-on-id",
              stdin=("\n".join(ok) + "\n").encode())  # fmt: skip
    assert "(line 9; the response has status 400: Invalid input)" in one_line_error(res)


def test_failed_batch_lines_are_left_out_and_counted_under_skip() -> None:
    res = _batch_errors("--nan-policy", "skip")
    p, t = np.load(FIXTURES / "source_pred.npy"), np.load(FIXTURES / "source_label.npy")
    keep = np.setdiff1d(np.arange(len(p)), [3, 9])
    a, b = p[keep].astype(np.float64), t[keep].astype(np.float64)
    expected = -float(np.mean((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))
    assert loss_of(res) == pytest.approx(expected, abs=1e-6)
    assert json.loads(res.stdout)["skipped"] == 2


def test_a_missing_embedding_names_the_line(tmp_path: Path) -> None:
    rows = [{"id": 0, "embedding": [1.0, 2.0]}, {"id": 1}, {"id": 2, "embedding": [1.0, 0.0]}]
    f = tmp_path / "gap.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    np.save(tmp_path / "t.npy", np.ones((3, 2), np.float32))
    line = one_line_error(run("score", str(f), str(tmp_path / "t.npy")))
    assert "row 1 (line 2)" in line and "null vector" in line


def test_a_too_large_document_is_refused_with_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonl, "MAX_DOCUMENT_BYTES", 1000)
    line = one_line_error(run("score", str(FIXTURES / "openai_list.json"), LABEL))
    assert "single JSON document larger than" in line and "JSON Lines" in line
    # JSON Lines of any size stream: the same limit does not apply to them
    assert loss_of(run("score", str(FIXTURES / "openai_embeddings.jsonl"), LABEL, "--json")) == pytest.approx(
        EXPECTED["loss"], abs=1e-6
    )


def test_too_large_document_from_a_pipe_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonl, "MAX_DOCUMENT_BYTES", 1000)
    line = one_line_error(run("score", "-", LABEL, stdin=(FIXTURES / "duckdb_array.json").read_bytes()))
    assert "single JSON document larger than" in line


@pytest.mark.parametrize("name", ["pandas_records.jsonl", "openai_embeddings_base64.jsonl", "openai_list.json"])
def test_json_from_standard_input(name: str) -> None:
    res = run("score", "-", LABEL, "--json", stdin=(FIXTURES / name).read_bytes())
    assert loss_of(res) == pytest.approx(EXPECTED["loss"], abs=1e-6)


def test_gzip_json_lines_from_standard_input_with_the_format_named() -> None:
    data = (FIXTURES / "pandas_records.jsonl.gz").read_bytes()
    res = run("score", "-", LABEL, "--pred-format", "json", "--json", stdin=data)
    assert loss_of(res) == pytest.approx(EXPECTED["loss"], abs=1e-6)


@pytest.mark.parametrize("codec", ["gzip", "bz2", "zstd"])
def test_compressed_json_lines_from_standard_input_without_options(codec: str) -> None:
    # the format of a compressed pipe is sniffed from what it decompresses to (it was taken for CSV)
    import bz2
    import gzip

    import pyarrow as pa

    plain = (FIXTURES / "pandas_records.jsonl").read_bytes()
    data = {
        "gzip": gzip.compress,
        "bz2": bz2.compress,
        "zstd": lambda b: pa.compress(b, "zstd", asbytes=True),
    }[codec](plain)
    res = run("score", "-", LABEL, "--json", stdin=data)
    assert loss_of(res) == pytest.approx(EXPECTED["loss"], abs=1e-6)
    assert json.loads(res.stdout)["inputs"]["pred"]["format"] == "json"


def test_json_is_never_parsed_as_csv(tmp_path: Path) -> None:
    # without an extension, and broken after its first line: a JSON error, not a CSV one
    f = tmp_path / "vectors"
    f.write_bytes((FIXTURES / "pandas_records.jsonl").read_bytes()[:300] + b"\n{oops\n")
    line = one_line_error(run("score", str(f), LABEL))
    assert "JSON" in line and "CSV" not in line
    good = tmp_path / "noext"
    good.write_bytes((FIXTURES / "pandas_records.jsonl").read_bytes())
    assert loss_of(run("score", str(good), LABEL, "--json")) == pytest.approx(EXPECTED["loss"], abs=1e-6)
    info = json.loads(run("inspect", str(good), "--json").stdout)
    assert info["format"] == "json"


@pytest.mark.parametrize(
    ("name", "vector", "dtype", "others"),
    [
        ("pandas_records.jsonl", "emb", "float64", ["id"]),
        ("duckdb_array.json", "emb", "float64", ["id"]),
        ("hf_nested.jsonl", "meta.embedding", "float64", ["id", "meta.source"]),
        ("openai_embeddings_base64.jsonl", "embedding", "float32", ["index"]),
        ("openai_list.json", "embedding", "float64", ["index"]),
        ("batch_output_base64_shuffled.jsonl", "embedding", "float32", ["id", "custom_id"]),
    ],
)
def test_inspect_describes_json(name: str, vector: str, dtype: str, others: list[str]) -> None:
    res = run("inspect", str(FIXTURES / name), "--json")
    assert res.exit_code == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["format"] == "json" and info["rows"] == EXPECTED["rows"]
    assert [(v["name"], v["dim"], v["dtype"]) for v in info["vector_columns"]] == [(vector, EXPECTED["dim"], dtype)]
    assert [c["name"] for c in info["other_columns"]] == others


def test_inspect_pandas_array_cells_csv_sees_the_whole_vector(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")  # the cells are written by pandas itself

    rng = np.random.default_rng(1)
    v = rng.standard_normal((40, 384)).astype(np.float32)  # NumPy's repr: ~60 lines a cell
    pd.DataFrame({"emb": list(v)}).to_csv(tmp_path / "a.csv")
    np.save(tmp_path / "t.npy", v)
    info = json.loads(run("inspect", str(tmp_path / "a.csv"), "--json").stdout)
    assert info["rows"] == 40 and info["vector_columns"][0]["dim"] == 384
    assert loss_of(run("score", str(tmp_path / "a.csv"), str(tmp_path / "t.npy"), "--json")) == pytest.approx(
        -1.0, abs=1e-6
    )


def test_list_response_with_bad_indices_is_refused(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "openai_list.json").read_text())
    doc["data"][0]["index"] = doc["data"][1]["index"]
    f = tmp_path / "dup.json"
    f.write_text(json.dumps(doc, indent=1))
    assert "indices are not 0..n-1" in one_line_error(run("score", str(f), LABEL))


def test_list_response_rows_are_in_index_order() -> None:
    res = run("score", str(FIXTURES / "openai_list.json"), LABEL, "--reduction", "none")  # a loss a line
    assert res.exit_code == 0, res.stderr
    p, t = np.load(FIXTURES / "source_pred.npy").astype(np.float64), np.load(LABEL).astype(np.float64)
    expected = -(p * t).sum(1) / np.linalg.norm(p, axis=1) / np.linalg.norm(t, axis=1)
    assert np.allclose([float(x) for x in res.stdout.split()], expected, atol=1e-6)


def test_batch_line_with_several_embeddings_is_refused(tmp_path: Path) -> None:
    line = json.loads((FIXTURES / "batch_output_shuffled.jsonl").read_text().splitlines()[0])
    data = line["response"]["body"]["data"]
    data.append(dict(data[0], index=1))
    f = tmp_path / "two.jsonl"
    f.write_text(json.dumps(line) + "\n")
    assert "holds 2 embeddings" in one_line_error(run("score", str(f), LABEL))


def test_long_lines_get_a_block_that_holds_them(tmp_path: Path) -> None:
    v = np.random.default_rng(2).standard_normal((30, 60_000)).astype(np.float32)  # ~1 MB lines
    f = tmp_path / "long.jsonl"
    f.write_text("".join(json.dumps({"e": r.tolist()}) + "\n" for r in v))
    np.save(tmp_path / "t.npy", v)
    assert loss_of(run("score", str(f), str(tmp_path / "t.npy"), "--json")) == pytest.approx(-1.0, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    dim=st.integers(1, 40),
    rows=st.integers(1, 6),
    nulls=st.lists(st.booleans(), min_size=6, max_size=6),
    seed=st.integers(0, 2**31),
)
def test_base64_decoding_matches_numpy(dim: int, rows: int, nulls: list[bool], seed: int) -> None:
    v = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    cells = [None if nulls[i] else base64.b64encode(v[i].astype("<f4").tobytes()).decode() for i in range(rows)]
    out = decode_base64_float32(pa.array(cells, pa.string()), source="x", column="embedding")
    for i, cell in enumerate(cells):
        if cell is None:
            assert not out[i].is_valid
        else:
            assert np.array_equal(np.asarray(out[i].values, dtype=np.float32), v[i])


def test_base64_garbage_is_an_input_error_naming_the_row() -> None:
    good = base64.b64encode(np.ones(4, "<f4").tobytes()).decode()
    with pytest.raises(InputError, match="row 1"):
        decode_base64_float32(pa.array([good, "!" * len(good)]), source="x", column="embedding")


def test_pandas_csv_of_summarised_arrays_says_why(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")  # the cells are written by pandas itself

    pd.DataFrame({"emb": list(np.ones((3, 1536), np.float32))}).to_csv(tmp_path / "a.csv")
    np.save(tmp_path / "t.npy", np.ones((3, 1536), np.float32))
    line = one_line_error(run("score", str(tmp_path / "a.csv"), str(tmp_path / "t.npy")))
    assert "NumPy summarised the array" in line and "threshold=sys.maxsize" in line


def test_lines_are_named_past_blank_lines(tmp_path: Path) -> None:
    f = tmp_path / "blank.jsonl"
    f.write_text('\n{"e": [1.0, 2.0]}\n\n  \n{"e": [1.0, 0.0]}\n{"x": 1}\n')
    np.save(tmp_path / "t.npy", np.ones((3, 2), np.float32))
    assert "row 2 (line 6)" in one_line_error(run("score", str(f), str(tmp_path / "t.npy")))
    # from a pipe, once a blank line has gone by the line is not known: only the row is named
    line = one_line_error(run("score", "-", str(tmp_path / "t.npy"), stdin=f.read_bytes()))
    assert "row 2" in line and "line" not in line.split(":")[1]


def test_a_compressed_binary_pipe_is_refused_with_the_fix() -> None:
    import gzip

    data = gzip.compress((Path(__file__).parent.parent / "sample_data" / "preds.npy").read_bytes())
    line = one_line_error(run("score", "-", LABEL, stdin=data))
    assert "is npy compressed with gzip" in line and "gzip -dc" in line
