"""Binary containers and encodings (issue 11): safetensors, HDF5, save_to_disk folders, Lance,
quantised embeddings. The fixtures in tests/fixtures/binary/ were written by the real tools
(safetensors, torch, h5py, datasets, pylance, sentence-transformers; see make_fixtures.py);
every expected loss here is recomputed in float64 NumPy from the fixture's float source."""

from __future__ import annotations

import importlib.util
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cosine_cli
from cosine_cli.cli import cli
from cosine_cli.encodings import DecodedSource, bfloat16_to_float32, decode
from cosine_cli.errors import InputError, UsageProblem
from cosine_cli.readers.base import ArraySource
from cosine_cli.readers.safetensors import MAX_HEADER_SIZE, members, open_safetensors

FIX = Path(__file__).parent / "fixtures" / "binary"
try:
    import h5py  # noqa: F401 - the optional hdf5 extra

    HAVE_H5PY = True
except ImportError:
    HAVE_H5PY = False
needs_h5py = pytest.mark.skipif(not HAVE_H5PY, reason="h5py (the hdf5 extra) is not installed")
TOL = 1e-6


def reference_loss(pred: np.ndarray, label: np.ndarray) -> float:
    """Keras CosineSimilarity, sum_over_batch_size, in float64: -mean(cos), a zero vector's cos 0."""
    p, t = pred.astype(np.float64), label.astype(np.float64)
    norms = np.linalg.norm(p, axis=1) * np.linalg.norm(t, axis=1)
    cos = np.divide((p * t).sum(axis=1), norms, out=np.zeros(len(p)), where=norms > 0)
    return float(-cos.mean())


def bf16_round(x: np.ndarray) -> np.ndarray:
    """float32 to bfloat16 and back, round to nearest even (torch's rule), in NumPy."""
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return rounded.astype(np.uint32).view(np.float32)


SOURCE = np.load(FIX / "source.npy")
PRED = np.load(FIX / "pred.npy")
RANGES = np.load(FIX / "ranges.npy").astype(np.float64)


def dequantised(codes: np.ndarray, offset: int) -> np.ndarray:
    """The documented decoding: the exact inverse of q = (x - min) / ((max - min) / 255) (- 128)."""
    return RANGES[0] + (codes.astype(np.float64) + offset) * ((RANGES[1] - RANGES[0]) / 255)


def signs(packed: np.ndarray, dim: int) -> np.ndarray:
    return np.unpackbits(packed, axis=-1, count=dim).astype(np.float64) * 2 - 1


def run(*args: str):  # noqa: ANN201
    return CliRunner().invoke(cli, ["score", *args, "--json"])


def cli_loss(*args: str) -> float:
    result = run(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return float(json.loads(result.stdout)["loss"])


# -- every container, scored against its float source -------------------------------------------

F32_LOSS = reference_loss(PRED, SOURCE)

FILE_CASES = {
    "safetensors F32": ([str(FIX / "f32.safetensors"), str(FIX / "source.npy")], F32_LOSS),
    "safetensors BF16": (
        [str(FIX / "bf16.safetensors"), str(FIX / "source.npy")],
        reference_loss(bf16_round(PRED), SOURCE),
    ),
    "safetensors two tensors": (
        [str(FIX / "pair.safetensors"), "--pred-col", "pred", "--label-col", "label"],
        F32_LOSS,
    ),
    "safetensors member per side": (
        [str(FIX / "pair.safetensors"), str(FIX / "pair.safetensors"), "--pred-col", "pred", "--label-col", "label"],
        F32_LOSS,
    ),
    "HDF5 one dataset": ([str(FIX / "one.h5"), str(FIX / "source.npy")], F32_LOSS),
    "HDF5 ann-benchmarks": ([str(FIX / "ann.h5"), "--pred-col", "test", "--label-col", "train"], F32_LOSS),
    "HDF5 dataset per side": (
        [str(FIX / "ann.h5"), str(FIX / "one.h5"), "--pred-col", "test"],
        reference_loss(PRED, PRED),
    ),
    "save_to_disk folder": ([str(FIX / "hf_folder"), "--pred-col", "pred", "--label-col", "label"], F32_LOSS),
}


@pytest.mark.parametrize("case", FILE_CASES, ids=list(FILE_CASES))
def test_container_gives_the_float64_reference_loss(case: str) -> None:
    args, expected = FILE_CASES[case]
    if "HDF5" in case and not HAVE_H5PY:
        pytest.skip("h5py (the hdf5 extra) is not installed")
    assert abs(cli_loss(*args) - expected) < TOL


@pytest.mark.skipif(importlib.util.find_spec("lance") is None, reason="pylance (the lance extra) is not installed")
def test_lance_dataset_gives_the_reference_loss() -> None:
    # In a child process: importing lance registers a fork hook that warns (an error under
    # filterwarnings) in every later test that forks.
    args = [str(FIX / "pair.lance"), "--pred-col", "pred", "--label-col", "label", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "cosine_cli", "score", *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert abs(json.loads(done.stdout)["loss"] - F32_LOSS) < TOL


@pytest.mark.parametrize(
    ("tensor", "as_float"),
    [
        ("f16", PRED.astype(np.float16)),
        ("f64", PRED.astype(np.float64)),
        ("i16", np.round(PRED * 1000).astype(np.int16)),
        ("u8", np.clip(np.round(PRED * 20 + 128), 0, 255).astype(np.uint8)),
    ],
)
def test_safetensors_dtypes(tensor: str, as_float: np.ndarray) -> None:
    src = open_safetensors(FIX / "dtypes.safetensors", tensor)
    try:
        assert src.dtype == as_float.dtype
        got = np.concatenate([c.copy() for c in src.chunks(7)])
    finally:
        src.close()
    np.testing.assert_array_equal(got, as_float)
    result = cosine_cli.score(ArraySource(got), ArraySource(SOURCE))
    assert abs(result.loss - reference_loss(as_float, SOURCE)) < TOL


def test_bf16_tensor_decodes_exactly_as_torch_rounded_it() -> None:
    src = open_safetensors(FIX / "bf16.safetensors")
    try:
        assert src.dtype == np.float32
        got = np.concatenate([c.copy() for c in src.chunks(10)])
        np.testing.assert_array_equal(src.read_rows(3, 9), got[3:9])
    finally:
        src.close()
    np.testing.assert_array_equal(got, bf16_round(PRED))


def test_rows_are_read_by_seeking_not_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    src = open_safetensors(FIX / "pair.safetensors", "label")
    reads: list[int] = []
    real = src._f.readinto  # noqa: SLF001

    def counting(view):  # noqa: ANN001, ANN202
        reads.append(len(view))
        return real(view)

    monkeypatch.setattr(src._f, "readinto", counting)  # noqa: SLF001
    try:
        np.testing.assert_array_equal(src.read_rows(60, 62), SOURCE[60:62])
        assert reads == [2 * 24 * 4]
        first = next(iter(src.chunks(5)))
        np.testing.assert_array_equal(first, SOURCE[:5])
        assert reads[-1] == 5 * 24 * 4
    finally:
        src.close()


def test_vectors_along_axis_0() -> None:
    src = open_safetensors(FIX / "pair.safetensors", "pred")
    try:
        got = np.concatenate([c.copy() for c in src.chunks(5, axis=1)], axis=1)
    finally:
        src.close()
    np.testing.assert_array_equal(got, PRED)


def test_members_lists_tensors_in_file_order() -> None:
    infos = members(FIX / "pair.safetensors")
    assert sorted(t.name for t in infos) == ["ids", "label", "pred"]
    assert [t.begin for t in infos] == sorted(t.begin for t in infos)
    assert {t.name: (t.dtype, t.shape) for t in infos}["ids"] == ("I64", (64,))


def test_several_tensors_without_a_choice_is_refused_with_the_list() -> None:
    result = CliRunner().invoke(cli, ["score", str(FIX / "pair.safetensors"), str(FIX / "source.npy")])
    assert result.exit_code == 2
    assert "holds 3 tensors" in result.stderr and "--pred-col" in result.stderr
    assert "label F32 [64, 24]" in result.stderr


@needs_h5py
def test_ann_benchmarks_file_needs_a_dataset_name() -> None:
    result = CliRunner().invoke(cli, ["score", str(FIX / "ann.h5"), str(FIX / "source.npy")])
    assert result.exit_code == 2
    assert "4 2-D datasets" in result.stderr and "train float32 [64, 24]" in result.stderr


def test_hdf5_without_h5py_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    result = CliRunner().invoke(cli, ["score", str(FIX / "one.h5"), str(FIX / "source.npy")])
    assert result.exit_code == 2
    assert "pip install 'cosine-cli[hdf5]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_hf_folder_reads_parts_in_state_order(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "ds"
    shutil.copytree(FIX / "hf_folder", folder)
    state = json.loads((folder / "state.json").read_text())
    assert len(state["_data_files"]) == 2
    # swap the parts' order in state.json: the rows must follow it
    state["_data_files"].reverse()
    (folder / "state.json").write_text(json.dumps(state))
    from cosine_cli.readers.hf_folder import HfFolderReader
    from cosine_cli.readers.table import IdView

    reader = HfFolderReader(str(folder))
    try:
        assert reader.num_rows == 64
        ids = np.concatenate(list(IdView(reader, ["id"], "id").chunks(100)))
    finally:
        reader.close()
    half = 32
    np.testing.assert_array_equal(ids, np.r_[np.arange(half, 64), np.arange(half)])


def test_hf_folder_with_a_missing_part_is_an_input_error(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "ds"
    shutil.copytree(FIX / "hf_folder", folder)
    (folder / "data-00001-of-00002.arrow").unlink()
    result = CliRunner().invoke(cli, ["score", str(folder), "--pred-col", "pred", "--label-col", "label"])
    assert result.exit_code == 3
    assert result.stderr.strip().count("\n") == 0
    assert "data-00001-of-00002.arrow, which is missing" in result.stderr


# -- quantised embeddings ------------------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "offset"), [("int8", 128), ("uint8", 0)])
def test_int_codes_with_ranges_give_the_reference_of_their_dequantised_vectors(encoding: str, offset: int) -> None:
    codes = np.load(FIX / f"{encoding}.npy")
    expected = reference_loss(dequantised(codes, offset), SOURCE)
    result = cosine_cli.score(
        str(FIX / f"{encoding}.npy"), str(FIX / "source.npy"), pred_encoding=encoding, ranges=str(FIX / "ranges.npy")
    )
    assert abs(result.loss - expected) < TOL
    # and the decoded vectors are the quantiser's bins: within one step of the source, at or below it
    step = (RANGES[1] - RANGES[0]) / 255
    err = SOURCE - dequantised(codes, offset)
    assert (err >= -1e-6 * step).all() and (err <= step * (1 + 1e-6)).all()


@pytest.mark.parametrize("encoding", ["binary", "ubinary"])
def test_packed_bits_unpacked_to_signs_and_trimmed(encoding: str) -> None:
    packed = np.load(FIX / f"{encoding}_d20.npy")
    assert packed.shape == (64, 3)
    source = np.load(FIX / "source_d20.npy")
    as_u8 = packed.astype(np.uint8) if encoding == "ubinary" else (packed.astype(np.int16) + 128).astype(np.uint8)
    expected = reference_loss(signs(as_u8, 20), source)
    result = cosine_cli.score(
        str(FIX / f"{encoding}_d20.npy"), str(FIX / "source_d20.npy"), pred_encoding=encoding, dim=20
    )
    assert abs(result.loss - expected) < TOL
    # the sign vector is the bits of x > 0
    np.testing.assert_array_equal(signs(as_u8, 20) > 0, source > 0)


def test_raw_bfloat16_codes() -> None:
    expected = reference_loss(bf16_round(PRED), SOURCE)
    result = cosine_cli.score(str(FIX / "bf16_raw.npy"), str(FIX / "source.npy"), pred_encoding="bfloat16")
    assert abs(result.loss - expected) < TOL


def test_encoding_on_the_label_side_and_cli_options_reach_the_decoder() -> None:
    codes = np.load(FIX / "uint8.npy")
    expected = reference_loss(SOURCE, dequantised(codes, 0))
    result = cosine_cli.score(
        str(FIX / "source.npy"), str(FIX / "uint8.npy"), label_encoding="uint8", ranges=str(FIX / "ranges.npy")
    )
    assert abs(result.loss - expected) < TOL


def test_decoded_source_checks_its_options() -> None:
    codes = ArraySource(np.load(FIX / "int8.npy"))
    with pytest.raises(UsageProblem, match="needs --ranges"):
        DecodedSource(codes, "int8")
    with pytest.raises(UsageProblem, match=r"needs \(2, 24\)"):
        DecodedSource(codes, "int8", np.zeros((2, 20)))
    with pytest.raises(UsageProblem, match="does not fit 3 packed bytes"):
        DecodedSource(ArraySource(np.load(FIX / "ubinary_d20.npy")), "ubinary", dim=30)
    with pytest.raises(InputError, match="expects uint8 codes"):
        DecodedSource(ArraySource(SOURCE), "ubinary")
    with pytest.raises(UsageProblem, match="unknown encoding"):
        DecodedSource(codes, "int4")


def test_decode_is_exact_on_hand_values() -> None:
    ranges = np.array([[-1.0, 0.0], [1.0, 2.55]])
    # step (2/255, 0.01): code 0 -> min, 255 -> max
    got = decode(np.array([[0, 255], [255, 100]], dtype=np.uint8), "uint8", ranges)
    np.testing.assert_allclose(got, [[-1.0, 2.55], [1.0, 1.0]], rtol=0, atol=1e-12)
    got = decode(np.array([[-128, 127]], dtype=np.int8), "int8", ranges)
    np.testing.assert_allclose(got, [[-1.0, 2.55]], rtol=0, atol=1e-12)
    bits = decode(np.array([[0b10100000]], dtype=np.uint8), "ubinary", dim=3)
    np.testing.assert_array_equal(bits, [[1.0, -1.0, 1.0]])
    one = np.array([0x3F80, 0xC000, 0x0000], dtype=np.uint16)  # 1.0, -2.0, 0.0 in bfloat16
    np.testing.assert_array_equal(bfloat16_to_float32(one), [1.0, -2.0, 0.0])


# -- malformed safetensors headers: exit 3, one line --------------------------------------------


def _write(path: Path, header: bytes | dict, data: bytes = b"", n: int | None = None) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if n is None else n) + raw + data)
    return path


T = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
DATA = np.arange(4, dtype="<f4").tobytes()

MALFORMED = {
    "huge N": (lambda p: _write(p, b'{"a":1}', n=MAX_HEADER_SIZE + 1), "exceeds the format's limit"),
    "N past the end": (lambda p: _write(p, b"{}", n=1000), "runs past the end"),
    "too small": (lambda p: p.write_bytes(b"\x02\x00\x00"), "header too small"),
    "not JSON": (lambda p: _write(p, b"{not json"), "invalid JSON"),
    "not UTF-8": (lambda p: _write(p, b'{"\xff": 1}'), "invalid UTF-8"),
    "no brace": (lambda p: _write(p, b' {"a": 1}'), "does not start with '{'"),
    "offsets out of bounds": (
        lambda p: _write(p, {"a": {**T, "data_offsets": [0, 32]}, "__metadata__": {}}, DATA),
        "span 32 bytes",
    ),
    "offsets past the data": (
        lambda p: _write(p, {"a": {**T, "shape": [4, 2], "data_offsets": [0, 32]}}, DATA),
        "the file holds 16",
    ),
    "overlapping": (
        lambda p: _write(p, {"a": T, "b": {**T, "data_offsets": [8, 24]}}, DATA + DATA),
        "overlaps the previous tensor",
    ),
    "gap": (lambda p: _write(p, {"a": {**T, "data_offsets": [4, 20]}}, b"\0" * 4 + DATA), "leaves a gap"),
    "wrong size": (lambda p: _write(p, {"a": {**T, "shape": [3, 2]}}, DATA), "needs 24"),
    "trailing bytes": (lambda p: _write(p, {"a": T}, DATA + b"xx"), "incomplete or truncated"),
    "duplicate key": (lambda p: _write(p, b'{"a": 1, "a": 2}'), "duplicate key"),
    "bad dtype": (lambda p: _write(p, {"a": {**T, "dtype": "F99"}}, DATA), "unknown dtype"),
    "bad metadata": (lambda p: _write(p, {"__metadata__": {"k": 1}, "a": T}, DATA), "strings to strings"),
    "negative shape": (lambda p: _write(p, {"a": {**T, "shape": [-2, -2]}}, DATA), "non-negative"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_safetensors_is_exit_3_one_line(tmp_path: Path, case: str) -> None:
    make, message = MALFORMED[case]
    path = tmp_path / "bad.safetensors"
    make(path)
    result = CliRunner().invoke(cli, ["score", str(path), str(FIX / "source.npy")])
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert message in lines[0] and "bad.safetensors" in lines[0]


def test_a_hand_written_valid_file_reads(tmp_path: Path) -> None:
    path = _write(tmp_path / "ok.safetensors", {"__metadata__": {"k": "v"}, "a": T}, DATA)
    src = open_safetensors(path)
    try:
        np.testing.assert_array_equal(next(iter(src.chunks(10))), np.arange(4, dtype=np.float32).reshape(2, 2))
    finally:
        src.close()


def test_safetensors_is_sniffed_without_its_extension(tmp_path: Path) -> None:
    path = tmp_path / "embeddings.bin"
    path.write_bytes((FIX / "f32.safetensors").read_bytes())
    assert abs(cli_loss(str(path), str(FIX / "source.npy")) - F32_LOSS) < TOL


def test_inspect_lists_tensors_and_datasets() -> None:
    result = CliRunner().invoke(cli, ["inspect", str(FIX / "pair.safetensors"), "--json"])
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["format"] == "safetensors" and info["rows"] == 64
    assert [(v["name"], v["dim"], v["dtype"]) for v in info["vector_columns"]] == [
        ("label", 24, "float32"),
        ("pred", 24, "float32"),
    ]
    assert info["other_columns"] == [{"name": "ids", "type": "int64 [64]"}]
    if HAVE_H5PY:
        result = CliRunner().invoke(cli, ["inspect", str(FIX / "ann.h5"), "--json"])
        names = [v["name"] for v in json.loads(result.stdout)["vector_columns"]]
        assert names == ["distances", "neighbors", "test", "train"]


def test_binary_containers_from_stdin_are_refused_with_the_reason() -> None:
    data = (FIX / "one.h5").read_bytes()
    result = CliRunner().invoke(cli, ["score", "-", str(FIX / "source.npy")], input=data)
    assert result.exit_code == 2
    assert "cannot be read from standard input" in result.stderr


# -- properties: any file the real library writes reads back; any mangled header is an input error --

_NP_DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64", "uint16", "uint32"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shapes=st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=3), min_size=1, max_size=4),
    dtypes=st.lists(st.sampled_from(_NP_DTYPES), min_size=4, max_size=4),
    rows=st.integers(1, 4),
)
def test_files_written_by_safetensors_read_back(tmp_path: Path, shapes, dtypes, rows) -> None:  # noqa: ANN001
    numpy_api = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(0)
    tensors = {f"t{i}": (rng.standard_normal(shape) * 50).astype(dtypes[i]) for i, shape in enumerate(shapes)}
    path = tmp_path / "prop.safetensors"
    numpy_api.save_file(tensors, str(path))
    assert sorted(t.name for t in members(path)) == sorted(tensors)
    for key, want in tensors.items():
        src = open_safetensors(path, key)
        try:
            assert src.shape == want.shape
            got = [c.copy() for c in src.chunks(rows)]
        finally:
            src.close()
        np.testing.assert_array_equal(np.concatenate(got) if got else np.empty((0, *want.shape[1:])), want)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(0, 200), value=st.integers(0, 255))
def test_a_mangled_byte_is_an_input_error_or_reads(tmp_path: Path, position: int, value: int) -> None:
    data = bytearray((FIX / "pair.safetensors").read_bytes())
    data[position % len(data)] = value
    path = tmp_path / "mangled.safetensors"
    path.write_bytes(bytes(data))
    try:
        src = open_safetensors(path, "pred")
    except (InputError, UsageProblem):
        return
    try:
        for _ in src.chunks(16):
            pass
    finally:
        src.close()


@pytest.mark.parametrize(
    ("fixture", "col", "expected"),
    [
        ("f32.safetensors", None, F32_LOSS),
        ("pair.safetensors", "pred", F32_LOSS),  # stored after "ids" and "label": those bytes are skipped
        ("bf16.safetensors", None, reference_loss(bf16_round(PRED), SOURCE)),
    ],
)
def test_safetensors_streams_from_stdin(fixture: str, col: str | None, expected: float) -> None:
    args = ["score", "-", str(FIX / "source.npy"), "--json", *(["--pred-col", col] if col else [])]
    result = CliRunner().invoke(cli, args, input=(FIX / fixture).read_bytes())
    assert result.exit_code == 0, result.stderr
    assert abs(json.loads(result.stdout)["loss"] - expected) < TOL


def test_safetensors_cut_short_on_stdin_is_exit_3() -> None:
    data = (FIX / "pair.safetensors").read_bytes()[:3000]
    result = CliRunner().invoke(cli, ["score", "-", str(FIX / "source.npy"), "--pred-col", "pred"], input=data)
    assert result.exit_code == 3 and result.stdout == ""
    assert "truncated" in result.stderr and len(result.stderr.strip().splitlines()) == 1
