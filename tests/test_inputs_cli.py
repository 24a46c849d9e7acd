"""Ids, joins, weight columns, inspect, and the input errors (exit codes and one-line messages)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cosine_cli import score
from cosine_cli.cli import cli

from .containers import as_list, dataset, fsl


def run(*args: str, stdin: bytes | None = None):  # noqa: ANN201
    return CliRunner().invoke(cli, list(args), input=stdin)


def one_line_error(result, code: int = 3) -> str:  # noqa: ANN001
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[-1]


@pytest.fixture
def shuffled(tmp_path: Path) -> dict[str, Path]:
    """pred in id order, label (and its weights) in a shuffled order."""
    p, t = dataset("float32")
    n = len(p)
    w = np.linspace(0.5, 2.0, n)
    order = np.random.default_rng(3).permutation(n)
    ids = np.array([f"doc-{i}" for i in range(n)])
    pq.write_table(pa.table({"id": ids, "emb": fsl(p)}), tmp_path / "pred.parquet", row_group_size=4)
    pq.write_table(
        pa.table({"id": ids[order], "emb": as_list(t[order]), "w": w[order]}),
        tmp_path / "label_shuffled.parquet",
        row_group_size=5,
    )
    pq.write_table(pa.table({"id": ids, "emb": as_list(t), "w": w}), tmp_path / "label.parquet")
    np.save(tmp_path / "pred.npy", p)
    np.save(tmp_path / "label.npy", t)
    np.save(tmp_path / "w.npy", w)
    return {"dir": tmp_path, "order": order}  # type: ignore[dict-item]


def test_ids_match_row_by_row(shuffled) -> None:
    d = shuffled["dir"]
    res = run("score", str(d / "pred.parquet"), str(d / "label.parquet"), "--id-col", "id")
    assert res.exit_code == 0, res.stderr


def test_id_mismatch_names_the_row_and_both_ids(shuffled) -> None:
    d, order = shuffled["dir"], shuffled["order"]
    res = run("score", str(d / "pred.parquet"), str(d / "label_shuffled.parquet"), "--id-col", "id")
    line = one_line_error(res)
    first = int(np.flatnonzero(order != np.arange(len(order)))[0])
    assert f"row {first}" in line
    assert f"'doc-{first}'" in line and f"'doc-{order[first]}'" in line
    assert "--join-on-id" in line


def test_join_on_id_pairs_shuffled_rows(shuffled) -> None:
    d = shuffled["dir"]
    ref = run("score", str(d / "pred.npy"), str(d / "label.npy"), "--weights", str(d / "w.npy"), "--reduction", "none")
    joined = run(
        "score",
        str(d / "pred.parquet"),
        str(d / "label_shuffled.parquet"),
        "--id-col",
        "id",
        "--join-on-id",
        "--weight-col",
        "w",
        "--reduction",
        "none",
    )
    assert joined.exit_code == 0, joined.stderr
    assert joined.stdout == ref.stdout


def test_ids_ride_along_on_scored_chunks(shuffled) -> None:
    d = shuffled["dir"]
    seen: list[object] = []
    score(str(d / "pred.parquet"), str(d / "label.parquet"), id_col="id", sinks=[lambda c: seen.extend(c.ids)])
    assert seen == [f"doc-{i}" for i in range(len(seen))] and len(seen) == 23


def test_join_duplicate_and_missing_ids(tmp_path: Path) -> None:
    v = fsl(np.eye(3, dtype=np.float32))
    pq.write_table(pa.table({"id": [1, 2, 2], "emb": v}), tmp_path / "dup.parquet")
    pq.write_table(pa.table({"id": [1, 2, 3], "emb": v}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"id": [1, 4, 5], "emb": v}), tmp_path / "b.parquet")
    line = one_line_error(
        run("score", str(tmp_path / "dup.parquet"), str(tmp_path / "a.parquet"), "--id-col", "id", "--join-on-id")
    )
    assert "1 ids occur more than once" in line and "2" in line
    line = one_line_error(
        run("score", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"), "--id-col", "id", "--join-on-id")
    )
    assert "2 ids of" in line and "not in" in line


@pytest.mark.parametrize("kind", ["npy", "parquet", "csv", "weight_col"])
def test_weights_in_every_format(shuffled, kind: str) -> None:
    d = shuffled["dir"]
    w = np.load(d / "w.npy")
    ref = run("score", str(d / "pred.npy"), str(d / "label.npy"), "--weights", str(d / "w.npy"), "--json")
    if kind == "parquet":
        pq.write_table(pa.table({"weight": w}), d / "w.parquet")
        extra = ["--weights", str(d / "w.parquet")]
    elif kind == "csv":
        (d / "w.csv").write_text("id,weight\n" + "".join(f"{i},{x!r}\n" for i, x in enumerate(w.tolist())))
        extra = ["--weights", str(d / "w.csv"), "--weight-col", "weight"]
    elif kind == "weight_col":
        extra = ["--weight-col", "w"]
    else:
        extra = ["--weights", str(d / "w.npy")]
    res = run("score", str(d / "pred.npy"), str(d / "label.parquet"), *extra, "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["loss"] == json.loads(ref.stdout)["loss"]


def test_one_file_pair_with_weight_and_id_columns(tmp_path: Path) -> None:
    p, t = dataset("float64")
    w = np.arange(len(p), dtype=np.float64)
    pq.write_table(
        pa.table({"id": np.arange(len(p)), "pred": fsl(p), "label": fsl(t), "w": w}), tmp_path / "pairs.parquet"
    )
    got = score(
        str(tmp_path / "pairs.parquet"),
        pred_col="pred",
        label_col="label",
        weight_col="w",
        id_col="id",
        reduction="sum",
    )
    want = score(p, t, weights=w, reduction="sum")
    assert got.loss == want.loss


def test_inspect(shuffled) -> None:
    d = shuffled["dir"]
    res = run("inspect", str(d / "label_shuffled.parquet"))
    assert res.exit_code == 0, res.stderr
    assert "format:      parquet" in res.stdout and "rows:        23" in res.stdout
    assert "emb  dim 5  float32" in res.stdout and "row groups:  5" in res.stdout
    info = json.loads(run("inspect", str(d / "pred.parquet"), "--json").stdout)
    assert info["rows"] == 23 and info["row_groups"] == 6
    assert info["vector_columns"] == [
        {"name": "emb", "dim": 5, "dtype": "float32", "type": "fixed_size_list<element: float>[5]"}
    ]
    assert [c["name"] for c in info["other_columns"]] == ["id"]


def test_inspect_csv_counts_rows(tmp_path: Path) -> None:
    (tmp_path / "v.csv").write_text("id,e0,e1\na,1,2\nb,3,4\n")
    info = json.loads(run("inspect", str(tmp_path / "v.csv"), "--json").stdout)
    assert info["format"] == "csv" and info["rows"] == 2
    assert info["vector_columns"][0]["dim"] == 2


# -- errors ------------------------------------------------------------------------------------------


def test_different_dims_before_scoring(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.ones((4, 3)))
    pq.write_table(pa.table({"emb": fsl(np.ones((4, 5)))}), tmp_path / "b.parquet")
    line = one_line_error(run("score", str(tmp_path / "a.npy"), str(tmp_path / "b.parquet")))
    assert "dimension 3" in line and "5" in line


def test_different_row_counts_from_metadata(tmp_path: Path) -> None:
    pq.write_table(pa.table({"emb": fsl(np.ones((4, 3)))}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"emb": as_list(np.ones((6, 3)))}), tmp_path / "b.parquet")
    line = one_line_error(run("score", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")))
    assert "4 rows vs 6" in line


def test_different_row_counts_while_streaming(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x,y\n1,2\n3,4\n5,6\n")
    np.save(tmp_path / "b.npy", np.ones((2, 2)))
    line = one_line_error(run("score", str(tmp_path / "a.csv"), str(tmp_path / "b.npy")))
    assert "3" in line and "2" in line and "rows" in line


def test_ragged_list_column(tmp_path: Path) -> None:
    pq.write_table(pa.table({"emb": pa.array([[1.0, 2.0]] * 5 + [[1.0, 2.0, 3.0]])}), tmp_path / "r.parquet")
    np.save(tmp_path / "b.npy", np.ones((6, 2)))
    line = one_line_error(run("score", str(tmp_path / "r.parquet"), str(tmp_path / "b.npy")))
    assert "row 5" in line and "length 3" in line and "length 2" in line


def test_null_vector_error_and_skip(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"emb": pa.array([[1.0, 2.0], None, [0.5, 1.0]], pa.list_(pa.float32(), 2))}), tmp_path / "n.parquet"
    )
    np.save(tmp_path / "b.npy", np.ones((3, 2), dtype=np.float32))
    line = one_line_error(run("score", str(tmp_path / "n.parquet"), str(tmp_path / "b.npy")))
    assert "row 1" in line and "null vector" in line
    ok = run("score", str(tmp_path / "n.parquet"), str(tmp_path / "b.npy"), "--nan-policy", "skip", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["skipped"] == 1


def test_csv_cell_not_a_number_names_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("e0,e1\n1,2\n3,oops\n")
    np.save(tmp_path / "b.npy", np.ones((2, 2)))
    line = one_line_error(run("score", str(tmp_path / "a.csv"), str(tmp_path / "b.npy")))
    assert "line 3" in line and "'e1'" in line and "'oops' is not a number" in line


def _wide_csv(path: Path, m: np.ndarray, cell: tuple[int, int, str] | None = None) -> None:
    rows = [[repr(float(x)) for x in row] for row in m]
    if cell is not None:
        rows[cell[0]][cell[1]] = cell[2]
    path.write_text("\n".join([",".join(f"d{j}" for j in range(m.shape[1]))] + [",".join(r) for r in rows]) + "\n")


@pytest.mark.parametrize("stdin", [False, True])
def test_csv_bad_cell_far_into_the_file_names_its_line(tmp_path: Path, stdin: bool) -> None:
    # Number columns are parsed by pyarrow (which does not say where a bad cell is); past the
    # first blocks the reader goes on as text from the first unread row, and names the line.
    m = np.random.default_rng(3).standard_normal((6000, 16))
    _wide_csv(tmp_path / "a.csv", m, (5432, 7, "n0pe"))
    np.save(tmp_path / "b.npy", m)
    args = ["score", "-" if stdin else str(tmp_path / "a.csv"), str(tmp_path / "b.npy")]
    line = one_line_error(run(*args, stdin=(tmp_path / "a.csv").read_bytes() if stdin else None))
    assert "row 5432 (line 5434)" in line and "'d7'" in line and "'n0pe' is not a number" in line


def test_csv_numbers_pyarrow_refuses_are_read_as_text_from_there(tmp_path: Path) -> None:
    # A no-break space before a number: pyarrow's float parser refuses it, the text path trims it.
    # The blank line early on must not make the text path hand a row out twice.
    m = np.random.default_rng(4).standard_normal((12000, 8))
    _wide_csv(tmp_path / "a.csv", m, (11000, 2, "\u00a0" + repr(float(m[11000, 2]))))
    text = (tmp_path / "a.csv").read_text(encoding="utf-8").split("\n")
    text.insert(12, "")
    (tmp_path / "a.csv").write_text("\n".join(text), encoding="utf-8")
    np.save(tmp_path / "b.npy", m)
    res = run("score", str(tmp_path / "a.csv"), str(tmp_path / "b.npy"), "--json", "--reduction", "sum")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["rows"] == 12000 and out["loss"] == pytest.approx(-12000, abs=1e-9)


def test_inspect_csv_reads_cells_as_text_not_as_the_first_block_guesses(tmp_path: Path) -> None:
    # Integers for a whole first block, then a fraction: counting rows must not infer int64.
    rows = [f"{i},{i % 7},{i % 5}" for i in range(200_000)] + ["0.5,1,2"]  # > one 1 MiB block
    (tmp_path / "a.csv").write_text("w,d0,d1\n" + "\n".join(rows) + "\n")
    res = run("inspect", str(tmp_path / "a.csv"), "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["rows"] == 200_001


def test_join_on_id_with_npy_weights_of_many_chunks(tmp_path: Path) -> None:
    # The .npy reader hands out reused buffers; the join must copy what it keeps.
    rng = np.random.default_rng(5)
    n = 200_000
    p, t, w = rng.standard_normal((n, 3)), rng.standard_normal((n, 3)), rng.random(n)
    order = rng.permutation(n)
    pq.write_table(pa.table({"id": np.arange(n), "emb": fsl(p)}), tmp_path / "p.parquet")
    pq.write_table(pa.table({"id": order, "emb": fsl(t[order])}), tmp_path / "t.parquet")
    np.save(tmp_path / "w.npy", w)  # a weights file follows PRED's rows
    res = run(
        "score",
        str(tmp_path / "p.parquet"),
        str(tmp_path / "t.parquet"),
        "--id-col",
        "id",
        "--join-on-id",
        "--weights",
        str(tmp_path / "w.npy"),
        "--reduction",
        "sum",
        "--json",
    )
    assert res.exit_code == 0, res.stderr
    want = score(p, t, weights=w, reduction="sum").loss
    assert json.loads(res.stdout)["loss"] == pytest.approx(want, rel=1e-12)


def test_csv_nan_is_a_number_and_empty_is_missing(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("d0,d1\n1,nan\n1,1\n1,2\n")
    (tmp_path / "e.csv").write_text("d0,d1\n1,\n1,1\n1,2\n")
    np.save(tmp_path / "b.npy", np.ones((3, 2)))
    nan = one_line_error(run("score", str(tmp_path / "a.csv"), str(tmp_path / "b.npy")))
    assert "NaN or inf" in nan
    empty = one_line_error(run("score", str(tmp_path / "e.csv"), str(tmp_path / "b.npy")))
    assert "row 0 (line 2)" in empty and "empty or null cell" in empty
    res = run("score", str(tmp_path / "a.csv"), str(tmp_path / "b.npy"), "--nan-policy", "skip", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["skipped"] == 1


def test_string_that_is_not_a_vector(tmp_path: Path) -> None:
    pq.write_table(pa.table({"emb": ["[1, 2]", "[3, 4]", "n/a"]}), tmp_path / "s.parquet")
    np.save(tmp_path / "b.npy", np.ones((3, 2)))
    line = one_line_error(run("score", str(tmp_path / "s.parquet"), str(tmp_path / "b.npy")))
    assert "row 2" in line and "'n/a' is not a vector" in line


def test_several_vector_columns_is_a_usage_error(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": fsl(np.ones((2, 2))), "b": fsl(np.ones((2, 2)))}), tmp_path / "two.parquet")
    res = run("score", str(tmp_path / "two.parquet"), str(tmp_path / "two.parquet"))
    assert res.exit_code == 2 and "a, b" in res.stderr and "--pred-col" in res.stderr
    res = run("score", str(tmp_path / "two.parquet"), "--pred-col", "a", "--label-col", "nope")
    assert res.exit_code == 2 and "no column 'nope'" in res.stderr


def test_label_is_optional_only_with_both_columns(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.ones((2, 2)))
    assert run("score", str(tmp_path / "a.npy")).exit_code == 2


def test_columns_glob_and_csv_ids_against_parquet_ids(tmp_path: Path) -> None:
    p, t = dataset("float64")
    pq.write_table(
        pa.table({"id": np.arange(len(p)), **{f"emb_{j}": p[:, j] for j in range(p.shape[1])}}),
        tmp_path / "wide.parquet",
    )
    lines = ["id,vec"] + [f'{i},"{" ".join(repr(float(x)) for x in row)}"' for i, row in enumerate(t)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    got = run(
        "score",
        str(tmp_path / "wide.parquet"),
        str(tmp_path / "t.csv"),
        "--columns",
        "emb_*",
        "--label-col",
        "vec",
        "--id-col",
        "id",
        "--json",
    )
    assert got.exit_code == 0, got.stderr
    assert json.loads(got.stdout)["loss"] == score(p, t).loss


def test_stdin_twice_is_a_usage_error() -> None:
    assert run("score", "-", "-").exit_code == 2


def test_weight_col_missing(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.ones((2, 2)))
    pq.write_table(pa.table({"emb": fsl(np.ones((2, 2)))}), tmp_path / "b.parquet")
    res = run("score", str(tmp_path / "a.npy"), str(tmp_path / "b.parquet"), "--weight-col", "w")
    assert res.exit_code == 2 and "no such column in" in res.stderr
    res = run("score", str(tmp_path / "a.npy"), str(tmp_path / "a.npy"), "--weight-col", "w")
    assert res.exit_code == 2 and "array files" in res.stderr


def test_a_corrupt_length_on_stdin_is_one_clear_line(tmp_path: Path) -> None:
    # Found by fuzzing: an Arrow stream whose message length asks for 34 GB. From a file pyarrow
    # says so; from a pipe Python's read allocates first, and the MemoryError must not read as
    # "try a smaller --chunk-size" nor leave a SystemError about exported buffers on stderr.
    from .test_fuzz import SEEDS, mutations

    _, make = SEEDS["arrows"]
    data = mutations(make(), np.random.default_rng(7), 98)[97]
    (tmp_path / "good.arrows").write_bytes(make())
    line = one_line_error(run("score", "-", str(tmp_path / "good.arrows"), stdin=data))
    # Whether the kernel lets Python allocate 34 GB (overcommit) decides which of the two it is.
    assert line.startswith("Error: -: cannot be read") and ("corrupt" in line or "Expected to be able" in line)


@pytest.mark.slow  # MB-sized messages through a real pipe to a process
@pytest.mark.parametrize("fmt", ["arrows", "npy", "csv"])
def test_a_real_pipe_delivers_big_messages_in_pieces(tmp_path: Path, fmt: str) -> None:
    # A pipe hands over at most its buffer (64 KiB) a read; an Arrow message of 2 MB must still
    # arrive whole (CliRunner's in-memory stdin never reads short, so this needs a process).
    import subprocess
    import sys

    m = np.random.default_rng(8).standard_normal((4000, 128)).astype(np.float32)
    np.save(tmp_path / "b.npy", m)
    src = tmp_path / f"a.{fmt}"
    if fmt == "arrows":
        table = pa.table({"emb": fsl(m)})
        with pa.ipc.new_stream(str(src), table.schema) as w:
            w.write_table(table)
    elif fmt == "npy":
        np.save(src, m)
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(pa.table({f"d{j}": m[:, j] for j in range(m.shape[1])}), src)
    done = subprocess.run(
        [sys.executable, "-m", "cosine_cli", "score", "-", str(tmp_path / "b.npy"), "--json"],
        input=src.read_bytes(),
        capture_output=True,
        timeout=120,
    )  # through a pipe
    assert done.returncode == 0, done.stderr.decode()
    out = json.loads(done.stdout)
    assert out["rows"] == 4000 and out["loss"] == pytest.approx(-1.0, abs=1e-6)


@pytest.mark.parametrize("args", [["-", "-"], ["-", "LABEL", "--weights", "-"], ["PRED", "-", "--weights", "-"]])
def test_standard_input_serves_one_input_only(sample: Path, args: list[str]) -> None:
    real = [
        str(sample / "preds.npy") if a == "PRED" else str(sample / "labels.npy") if a == "LABEL" else a for a in args
    ]
    result = run("score", *real, stdin=(sample / "preds.npy").read_bytes())
    assert result.exit_code == 2 and "standard input" in result.stderr


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_a_failed_run_leaves_no_file_that_reads_as_whole_on_stdout(tmp_path: Path, fmt: str) -> None:
    # Per-vector rows streamed to stdout cannot be taken back, but the footer that would make the
    # partial Parquet or Arrow file read as whole must not follow them.
    import io

    m = np.random.default_rng(9).standard_normal((3000, 4))
    bad = m.copy()
    bad[2500, 0] = np.nan
    np.save(tmp_path / "p.npy", m)
    np.save(tmp_path / "t.npy", bad)
    result = CliRunner().invoke(
        cli,
        [
            "score",
            str(tmp_path / "p.npy"),
            str(tmp_path / "t.npy"),
            "-o",
            "-",
            "--output-format",
            fmt,
            "--chunk-size",
            "100",
        ],
    )
    assert result.exit_code == 3 and "row 2500" in result.stderr
    with pytest.raises((pa.ArrowInvalid, OSError)):
        if fmt == "parquet":
            pq.read_table(io.BytesIO(result.stdout_bytes))
        else:
            pa.ipc.open_file(io.BytesIO(result.stdout_bytes)).read_all()
    ok = CliRunner().invoke(
        cli,
        [
            "score",
            str(tmp_path / "p.npy"),
            str(tmp_path / "p.npy"),
            "-o",
            "-",
            "--output-format",
            fmt,
            "--chunk-size",
            "100",
        ],
    )
    assert ok.exit_code == 0
    table = (
        pq.read_table(io.BytesIO(ok.stdout_bytes))
        if fmt == "parquet"
        else pa.ipc.open_file(io.BytesIO(ok.stdout_bytes)).read_all()
    )
    assert table.num_rows == 3000
