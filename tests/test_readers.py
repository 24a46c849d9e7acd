"""One dataset in every container gives the same per-vector values (through the CLI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from cosine_cli.cli import cli
from cosine_cli.errors import InputError
from cosine_cli.readers.arrow_convert import to_matrix

from .containers import containers_fixture  # noqa: F401 - provides the "containers" fixture

CONTAINERS_F32 = [
    "npy",
    "npz",
    "parquet_fsl",
    "parquet_list",
    "parquet_large_list",
    "parquet_wide",
    "parquet_dir",
    "parquet_glob",
    "arrow_file",
    "arrow_stream",
]
CONTAINERS_F64 = CONTAINERS_F32 + [
    "csv_wide",
    "tsv_wide",
    "csv_semicolon",
    "csv_text",
    "csv_numpy_repr",
    "csv_gzip",
    "csv_text_bz2",
    "csv_no_header",
    "parquet_json_strings",
]


def per_vector(args: list[str], stdin: bytes | None = None) -> str:
    result = CliRunner().invoke(cli, ["score", *args, "--reduction", "none"], input=stdin)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def reference(d: Path) -> str:
    out = per_vector([str(d / "pred.npy"), str(d / "label.npy")])
    assert len(out.splitlines()) == 23
    return out


@pytest.mark.parametrize(
    ("dtype", "name"),
    [("float32", n) for n in CONTAINERS_F32]
    + [("float64", n) for n in CONTAINERS_F64]
    + [("float16", n) for n in ("parquet_fsl", "parquet_list", "arrow_file", "npz")],
)
def test_every_container_gives_the_same_values(containers, dtype: str, name: str) -> None:
    d, files = containers[dtype]
    path, extra = files[name]
    assert per_vector([str(d / "pred.npy"), path, *extra]) == reference(d)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_file_pair(containers, dtype: str) -> None:
    d, _ = containers[dtype]
    out = per_vector([str(d / "pair.parquet"), "--pred-col", "pred", "--label-col", "label"])
    assert out == reference(d)


@pytest.mark.parametrize("name", ["npy", "parquet_fsl", "arrow_stream", "arrow_file", "csv_text", "csv_gzip"])
def test_stdin(containers, name: str) -> None:
    d, files = containers["float64"]
    path, extra = files[name]
    data = Path(path).read_bytes()
    assert per_vector([str(d / "pred.npy"), "-", *extra], stdin=data) == reference(d)
    # and on the PRED side, with the format given
    assert per_vector(
        ["-", str(d / "label.npy"), "--pred-format", "npy"], stdin=(d / "pred.npy").read_bytes()
    ) == reference(d)


def test_chunk_size_does_not_change_values(containers) -> None:
    d, files = containers["float32"]
    for chunk in ("1", "4", "1000"):
        out = per_vector([str(d / "pred.npy"), files["parquet_list"][0], "--chunk-size", chunk])
        assert out == reference(d)


# -- the converter ---------------------------------------------------------------------------------


def test_fixed_size_list_is_a_zero_copy_view_honouring_the_offset() -> None:
    values = np.arange(12, dtype=np.float32)
    arr = pa.FixedSizeListArray.from_arrays(pa.array(values), 3).slice(1, 2)
    m = to_matrix([arr], source="x", column="v")
    np.testing.assert_array_equal(m, [[3, 4, 5], [6, 7, 8]])
    assert not m.flags.owndata


def test_list_slice_and_integers_become_float64() -> None:
    arr = pa.array([[1, 2], [3, 4], [5, 6]], pa.list_(pa.int16())).slice(1)
    m = to_matrix([arr], source="x", column="v")
    assert m.dtype == np.float64
    np.testing.assert_array_equal(m, [[3, 4], [5, 6]])


def test_ragged_list_names_row_and_both_lengths() -> None:
    arr = pa.array([[1.0, 2.0], [3.0, 4.0], [5.0]], pa.list_(pa.float64()))
    with pytest.raises(InputError, match=r"row 12.*length 1 but earlier vectors have length 2"):
        to_matrix([arr], source="x", column="v", offset=10)


@pytest.mark.parametrize(
    "arr",
    [
        pa.array([[1.0, 2.0], None, [3.0, 4.0]], pa.list_(pa.float32())),
        pa.array([[1.0, 2.0], None, [3.0, 4.0]], pa.list_(pa.float32(), 2)),
    ],
)
def test_null_vector_is_an_error_or_nan_under_skip(arr: pa.Array) -> None:
    with pytest.raises(InputError, match=r"row 1: column 'v': null vector"):
        to_matrix([arr], source="x", column="v")
    m = to_matrix([arr], source="x", column="v", skip_nulls=True)
    assert np.isnan(m[1]).all() and np.isfinite(m[[0, 2]]).all()


@pytest.mark.parametrize("typ", [pa.list_(pa.float64()), pa.large_list(pa.float64()), pa.list_(pa.float64(), 2)])
def test_null_element(typ: pa.DataType) -> None:
    arr = pa.array([[1.0, 2.0], [3.0, None]], typ)
    with pytest.raises(InputError, match=r"row 1: column 'v': null element"):
        to_matrix([arr], source="x", column="v")
    m = to_matrix([arr], source="x", column="v", skip_nulls=True)
    assert np.isnan(m[1]).all() and (m[0] == [1, 2]).all()


def test_text_vectors_both_styles() -> None:
    arr = pa.array(["[0.5, -1]", "  2 3e1 ", "[1e-3,4]"])
    np.testing.assert_array_equal(to_matrix([arr], source="x", column="v"), [[0.5, -1], [2, 30], [1e-3, 4]])


def test_text_that_is_not_a_vector() -> None:
    with pytest.raises(InputError, match=r"row 1: column 'v': text 'hello world' is not a vector"):
        to_matrix([pa.array(["[1, 2]", "hello world"])], source="x", column="v")


def test_wide_columns_in_order() -> None:
    cols = [pa.array([1.0, 2.0]), pa.array([3, 4], pa.int8()), pa.array(["5", " 6"])]
    m = to_matrix(cols, source="x", column="e*", names=["a", "b", "c"])
    np.testing.assert_array_equal(m, [[1, 3, 5], [2, 4, 6]])
    with pytest.raises(InputError, match=r"row 0: column 'c': cell 'x' is not a number"):
        to_matrix([pa.array([1.0]), pa.array(["x"])], source="x", column="e*", names=["b", "c"])


def test_dictionary_encoded_text_vectors() -> None:
    arr = pa.array(["[1, 2]", "[3, 4]", "[1, 2]"]).dictionary_encode()
    np.testing.assert_array_equal(to_matrix([arr], source="x", column="v"), [[1, 2], [3, 4], [1, 2]])


def test_dictionary_text_column_in_an_arrow_file(tmp_path: Path) -> None:
    import pyarrow.feather as feather

    from cosine_cli import score

    t = pa.table({"v": pa.array(["[1, 2]", "[3, 4]"]).dictionary_encode()})
    feather.write_feather(t, tmp_path / "d.arrow")
    assert score(str(tmp_path / "d.arrow"), [[1.0, 2.0], [3.0, 4.0]], reduction="sum").loss == -2.0
