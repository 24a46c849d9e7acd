"""Fuzz every registered reader with random and mutated bytes (bounded: fixed seeds and counts).

Whatever the bytes, cosloss must end with a documented exit code (0 when the
mutation happened to leave a valid file, 3 for bad input) and never a traceback.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cosine_cli.cli import cli
from cosine_cli.readers import FORMATS

ROWS = np.linspace(-1, 1, 24, dtype=np.float32).reshape(8, 3)


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


def _ipc(stream: bool) -> Callable[[], bytes]:
    def make() -> bytes:
        import pyarrow as pa

        table = _arrow_table()
        sink = pa.BufferOutputStream()
        opener = pa.ipc.new_stream if stream else pa.ipc.new_file
        with opener(sink, table.schema) as writer:  # type: ignore[attr-defined]
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
