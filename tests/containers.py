"""One dataset written in every container cosloss reads (see tests/test_readers.py).

A helper module, not a conftest, so that it merges beside other branches' conftest.py."""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

ROWS, DIM = 23, 5


def dataset(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    p = rng.normal(size=(ROWS, DIM)).astype(dtype)
    t = (p + rng.normal(scale=0.5, size=(ROWS, DIM))).astype(dtype)
    t[3] = 0  # a zero vector
    return p, t


def fsl(m: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(m.reshape(-1)), m.shape[1])


def as_list(m: np.ndarray, large: bool = False) -> pa.Array:
    offsets = pa.array(np.arange(0, m.size + 1, m.shape[1]), pa.int64() if large else pa.int32())
    cls = pa.LargeListArray if large else pa.ListArray
    return cls.from_arrays(offsets, pa.array(m.reshape(-1)))


def wide_table(m: np.ndarray) -> pa.Table:
    return pa.table({f"emb_{j}": m[:, j] for j in range(m.shape[1])})


def csv_wide(m: np.ndarray, delim: str = ",", header: bool = True) -> str:
    lines = [delim.join(f"emb_{j}" for j in range(m.shape[1]))] if header else []
    lines += [delim.join(repr(float(x)) for x in row) for row in m]
    return "\n".join(lines) + "\n"


def csv_text(m: np.ndarray, numpy_style: bool = False) -> str:
    if numpy_style:
        cells = [" ".join(repr(float(x)) for x in row) for row in m]
    else:
        cells = ["[" + ", ".join(repr(float(x)) for x in row) + "]" for row in m]
    return "id,vector\n" + "".join(f'{i},"{c}"\n' for i, c in enumerate(cells))


def write_ipc_stream(path: Path, table: pa.Table, batch: int = 7) -> None:
    with pa.OSFile(str(path), "wb") as sink, ipc.new_stream(sink, table.schema) as w:
        for b in table.to_batches(max_chunksize=batch):
            w.write_batch(b)


def write_containers(d: Path, dtype: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (label path, extra CLI args); the label side is written in each container and scored
    against the .npy prediction."""
    p, t = dataset(dtype)
    np.save(d / "pred.npy", p)
    np.save(d / "label.npy", t)
    out: dict[str, tuple[str, list[str]]] = {"npy": (str(d / "label.npy"), [])}
    np.savez(d / "label.npz", other=np.zeros(3), label=t)
    out["npz"] = (str(d / "label.npz"), ["--key", "label"])
    ids = pa.array(np.arange(ROWS))
    for name, col in (("fsl", fsl(t)), ("list", as_list(t)), ("large_list", as_list(t, large=True))):
        pq.write_table(pa.table({"id": ids, "emb": col}), d / f"label_{name}.parquet", row_group_size=6)
        out[f"parquet_{name}"] = (str(d / f"label_{name}.parquet"), [])
    pq.write_table(wide_table(t), d / "label_wide.parquet", row_group_size=10)
    out["parquet_wide"] = (str(d / "label_wide.parquet"), ["--label-col", "emb_*"])
    parts = d / "label_parts"
    parts.mkdir()
    for k, start in enumerate(range(0, ROWS, 8)):  # part-10 sorts after part-2 only as text: use zero padding
        pq.write_table(pa.table({"emb": fsl(t[start : start + 8])}), parts / f"part-{k:03d}.parquet")
    out["parquet_dir"] = (str(parts), [])
    out["parquet_glob"] = (str(parts / "part-*.parquet"), [])
    table = pa.table({"id": ids, "emb": fsl(t)})
    feather.write_feather(table, d / "label.arrow", chunksize=9)
    out["arrow_file"] = (str(d / "label.arrow"), [])
    write_ipc_stream(d / "label.arrows", table)
    out["arrow_stream"] = (str(d / "label.arrows"), [])
    pair = pa.table({"id": ids, "pred": fsl(p), "label": as_list(t)})
    pq.write_table(pair, d / "pair.parquet", row_group_size=5)
    if dtype == "float64":  # text round-trips float64 exactly (repr)
        (d / "label.csv").write_text(csv_wide(t))
        out["csv_wide"] = (str(d / "label.csv"), [])
        (d / "label.tsv").write_text(csv_wide(t, "\t"))
        out["tsv_wide"] = (str(d / "label.tsv"), [])
        (d / "label_semicolon.csv").write_text(csv_wide(t, ";"))
        out["csv_semicolon"] = (str(d / "label_semicolon.csv"), [])
        (d / "label_text.csv").write_text(csv_text(t))
        out["csv_text"] = (str(d / "label_text.csv"), [])
        (d / "label_repr.csv").write_text(csv_text(t, numpy_style=True))
        out["csv_numpy_repr"] = (str(d / "label_repr.csv"), [])
        with gzip.open(d / "label.csv.gz", "wt") as f:
            f.write(csv_wide(t))
        out["csv_gzip"] = (str(d / "label.csv.gz"), [])
        with bz2.open(d / "label_text.csv.bz2", "wt") as f:
            f.write(csv_text(t))
        out["csv_text_bz2"] = (str(d / "label_text.csv.bz2"), [])
        (d / "label_nohdr.csv").write_text(csv_wide(t, header=False))
        out["csv_no_header"] = (str(d / "label_nohdr.csv"), ["--no-header"])
        strings = ["[" + ", ".join(repr(float(x)) for x in row) + "]" for row in t]
        pq.write_table(pa.table({"emb": pa.array(strings)}), d / "label_jsonstr.parquet")
        out["parquet_json_strings"] = (str(d / "label_jsonstr.parquet"), [])
    return out


@pytest.fixture(scope="session", name="containers")
def containers_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[Path, dict[str, tuple[str, list[str]]]]]:
    result = {}
    for dtype in ("float16", "float32", "float64"):
        d = tmp_path_factory.mktemp(dtype)
        result[dtype] = (d, write_containers(d, dtype))
    return result
