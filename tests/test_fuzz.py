"""Fuzz every registered reader with random and mutated bytes (bounded: fixed seeds and counts).

Whatever the bytes, cosloss must end with a documented exit code (0 when the
mutation happened to leave a valid file, 3 for bad input) and never a traceback.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cosine_cli.cli import cli
from cosine_cli.readers import FORMATS

ROWS = np.linspace(-1, 1, 24, dtype=np.float32).reshape(8, 3)
FIXTURES = Path(__file__).parent / "fixtures"


def _npy() -> bytes:
    buf = io.BytesIO()
    np.save(buf, ROWS)
    return buf.getvalue()


def _arrow_table() -> object:
    import pyarrow as pa

    return pa.table({"emb": pa.array(ROWS.tolist(), pa.list_(pa.float32(), 3))})


def _parquet() -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(_arrow_table(), sink, row_group_size=3)  # type: ignore[arg-type]
    return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]


def _ipc(stream: bool, compression: str | None = None) -> Callable[[], bytes]:
    def make() -> bytes:
        import pyarrow as pa

        table = _arrow_table()
        sink = pa.BufferOutputStream()
        opener = pa.ipc.new_stream if stream else pa.ipc.new_file
        options = pa.ipc.IpcWriteOptions(compression=compression)  # type: ignore[attr-defined]
        with opener(sink, table.schema, options=options) as writer:  # type: ignore[attr-defined]
            writer.write_table(table, max_chunksize=3)
        return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]

    return make


def _csv() -> bytes:
    return ("a,b,c\n" + "\n".join(",".join(repr(float(v)) for v in r) for r in ROWS)).encode()


# format name in the registry -> (file suffix, seed bytes)
SEEDS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "npy": (".npy", _npy),
    "parquet": (".parquet", _parquet),
    "arrow": (".arrow", _ipc(stream=False)),
    "arrows": (".arrows", _ipc(stream=True)),
    "csv": (".csv", _csv),
}


def _jsonl() -> bytes:
    return "".join(json.dumps({"id": i, "emb": r.tolist()}) + "\n" for i, r in enumerate(ROWS)).encode()


def _json_document() -> bytes:
    return json.dumps([{"id": i, "emb": r.tolist()} for i, r in enumerate(ROWS)]).encode()


def _openai_list() -> bytes:
    data = [{"object": "embedding", "index": i, "embedding": r.tolist()} for i, r in enumerate(ROWS)]
    return json.dumps({"object": "list", "data": data, "model": "m"}).encode()


def _openai_batch() -> bytes:
    lines = []
    for i, r in enumerate(ROWS):
        body = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": r.tolist()}]}
        lines.append({"id": f"b{i}", "custom_id": f"r{i}", "response": {"status_code": 200, "body": body}})
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def _safetensors() -> bytes:
    header = json.dumps({"emb": {"dtype": "F32", "shape": list(ROWS.shape), "data_offsets": [0, ROWS.nbytes]}})
    padded = header.encode() + b" " * (-len(header) % 8)
    return struct.pack("<Q", len(padded)) + padded + ROWS.tobytes()


def _hdf5() -> bytes:
    h5py = pytest.importorskip("h5py")
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_dataset("emb", data=ROWS)
    return buf.getvalue()


# The formats of the formats issue: name -> (file suffix, seed bytes); a mutated file is scored
# against itself (its rows always pair up), exit 2 allowed (a mutation can hide the chosen member).
NEW_SEEDS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "jsonl": (".jsonl", _jsonl),
    "json-document": (".json", _json_document),
    "openai-list": (".json", _openai_list),
    "openai-batch": (".jsonl", _openai_batch),
    "safetensors": (".safetensors", _safetensors),
    "hdf5": (".h5", _hdf5),
    # compressed IPC: the batch-size guard reads the metadata and the buffers' length prefixes
    "arrow-zstd": (".arrow", _ipc(stream=False, compression="zstd")),
    "arrows-lz4": (".arrows", _ipc(stream=True, compression="lz4")),
}

#: the files of a save_to_disk folder a mutation is applied to, one at a time
HF_FILES = ("data-00000-of-00002.arrow", "state.json", "dataset_info.json")


def _campaign(name: str) -> tuple[np.random.Generator, int]:
    # CI runs a fixed, small campaign; COSLOSS_FUZZ_COUNT / COSLOSS_FUZZ_SEED run a longer one.
    rng = np.random.default_rng(sum(map(ord, name)) + int(os.environ.get("COSLOSS_FUZZ_SEED", "0")))
    return rng, int(os.environ.get("COSLOSS_FUZZ_COUNT", "60"))


def _check(result: object, what: object) -> None:
    exc = result.exception  # type: ignore[attr-defined]
    code, stderr = result.exit_code, result.stderr  # type: ignore[attr-defined]
    assert exc is None or isinstance(exc, SystemExit), (what, repr(exc))
    assert code in (0, 2, 3), (what, code, stderr)
    assert "Traceback" not in stderr, (what, stderr)
    if code == 3:
        assert stderr.count("\n") == 1, (what, stderr)
    if code == 2:
        assert stderr.strip().splitlines()[-1].startswith("Error:"), (what, stderr)


#: what a JSON value may be replaced with: numbers beyond float64 and int64, wrong types, deep nests
HOSTILE_JSON = (
    b"1e999", b"-1e999", b"NaN", b"Infinity", b"null", b'"x"', b"[]", b"{}", b"true", b"-0",
    b"123456789012345678901234567890", b"1" * 5000, b"[" * 100_000 + b"]" * 100_000, b'"\\ud800"',
    b'"AAAA"', b"[1,2]", b"[[0.5]]",
)  # fmt: skip


def json_mutations(seed: bytes, rng: np.random.Generator, count: int) -> list[bytes]:
    """The seed with one value (a number, or a bracketed list) replaced by a hostile one."""
    import re

    spans = [m.span() for m in re.finditer(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\[[^\[\]]*\]", seed)]
    out = []
    for _ in range(count):
        a, b = spans[int(rng.integers(len(spans)))]
        out.append(seed[:a] + HOSTILE_JSON[int(rng.integers(len(HOSTILE_JSON)))] + seed[b:])
    return out


def mutations(seed: bytes, rng: np.random.Generator, count: int) -> list[bytes]:
    out = [b"", rng.bytes(64), seed[:1], seed[: len(seed) // 2]]
    while len(out) < count:
        data = bytearray(seed)
        kind = rng.integers(4)
        if kind == 0:  # flip bits
            for i in rng.integers(0, len(data), size=rng.integers(1, 8)):
                data[i] ^= 1 << int(rng.integers(8))
        elif kind == 1:  # overwrite a run with random bytes
            i = int(rng.integers(len(data)))
            data[i : i + 16] = rng.bytes(16)
        elif kind == 2:  # truncate
            data = data[: int(rng.integers(len(data)))]
        else:  # insert junk
            i = int(rng.integers(len(data)))
            data[i:i] = rng.bytes(int(rng.integers(1, 32)))
        out.append(bytes(data))
    return out


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_fuzz_reader(fmt: str, tmp_path: Path) -> None:
    if fmt not in FORMATS:
        pytest.skip(f"{fmt} is not supported yet")
    suffix, make = SEEDS[fmt]
    good = tmp_path / f"good{suffix}"
    good.write_bytes(make())
    runner = CliRunner()
    assert runner.invoke(cli, ["score", str(good), str(good)]).exit_code == 0
    # CI runs a fixed, small campaign; COSLOSS_FUZZ_COUNT / COSLOSS_FUZZ_SEED run a longer one.
    rng = np.random.default_rng(sum(map(ord, fmt)) + int(os.environ.get("COSLOSS_FUZZ_SEED", "0")))
    for i, data in enumerate(mutations(make(), rng, int(os.environ.get("COSLOSS_FUZZ_COUNT", "60")))):
        bad = tmp_path / f"m{i}{suffix}"
        bad.write_bytes(data)
        result = runner.invoke(cli, ["score", str(bad), str(good)])
        assert result.exception is None or isinstance(result.exception, SystemExit), (i, repr(result.exception))
        assert result.exit_code in (0, 3), (i, result.exit_code, result.stderr)
        assert "Traceback" not in result.stderr
        if result.exit_code == 3:
            assert result.stderr.count("\n") == 1, (i, result.stderr)


@pytest.mark.parametrize("fmt", sorted(NEW_SEEDS))
def test_fuzz_new_formats(fmt: str, tmp_path: Path) -> None:
    suffix, make = NEW_SEEDS[fmt]
    seed = make()
    good = tmp_path / f"good{suffix}"
    good.write_bytes(seed)
    runner = CliRunner()
    ok = runner.invoke(cli, ["score", str(good), str(good)])
    assert ok.exit_code == 0, ok.stderr
    rng, count = _campaign(fmt)
    cases = mutations(seed, rng, count)
    if suffix in (".json", ".jsonl"):
        cases += json_mutations(seed, rng, count)
    for i, data in enumerate(cases):
        bad = tmp_path / f"m{i}{suffix}"
        bad.write_bytes(data)
        _check(runner.invoke(cli, ["score", str(bad), str(bad)]), (i, data[:200]))
        bad.unlink()


def test_fuzz_save_to_disk_folder(tmp_path: Path) -> None:
    source = FIXTURES / "binary" / "hf_folder"
    args = ["--pred-col", "pred", "--label-col", "label"]
    runner = CliRunner()
    assert runner.invoke(cli, ["score", str(source), *args]).exit_code == 0
    rng, count = _campaign("hf")
    for name in HF_FILES:
        for i, data in enumerate(mutations((source / name).read_bytes(), rng, max(count // len(HF_FILES), 4))):
            folder = tmp_path / f"{name}-{i}"
            shutil.copytree(source, folder)
            (folder / name).write_bytes(data)
            _check(runner.invoke(cli, ["score", str(folder), *args]), (name, i, data[:200]))
            shutil.rmtree(folder)
