"""Seeded benchmark data for benchmarks/run.py: one PRED / LABEL pair per dataset.

    python benchmarks/datagen.py                        # everything, full size (~42 GB), into benchmarks/data/
    python benchmarks/datagen.py --only npy csv         # some datasets
    python benchmarks/datagen.py --scale 0.001 /tmp/d   # a tiny copy (1,000-row sets), for a quick run

Datasets (rows at --scale 1):

    npy              1,000,000 x 768 float32, two .npy files (~3.1 GB each)
    parquet_fsl      1,000,000 x 768 float32, column ``emb`` fixed_size_list<float32, 768>, int64 ``id``,
                     32,768-row row groups, pyarrow's default (snappy) compression
    parquet_list     the same rows as ``list<float32>`` (what pandas and Polars write)
    parquet_fsl_2m   2,000,000 rows, otherwise as parquet_fsl (for "memory does not grow with rows")
    parquet_list_2m  2,000,000 rows, otherwise as parquet_list
    parquet_pair     1,000,000 x 768 float32, ONE file (pairs.parquet) with columns ``pred`` and ``label``
                     fixed_size_list<float32, 768> and int64 ``id``, 32,768-row row groups (a one-file pair)
    csv              50,000 x 384 float32, a wide CSV with header d0..d383 (pyarrow.csv.write_csv)

LABEL = PRED + 0.14 * N(0, 1) noise, so row cosines are about 0.99. Rows are made in slices of
32,768, each from its own seeded generator, so every 768-d dataset holds the same vectors (the
1M sets are the first 1M rows of the 2M sets) and the generator stays well under 1 GB. The mean
cosine, computed in float64 from the float32 values written, goes into each dataset's meta.json
(``mean_cos``), for run.py to check every contender against.

A dataset whose meta.json and files exist with the same parameters is skipped; with other
parameters (e.g. another --scale) it is written again. Files are written under a temporary name
and renamed when complete, so an interrupted run leaves nothing that looks finished.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

SEED = 20240505
NOISE = 0.14
SLICE_ROWS = 32_768  # also the Parquet row-group size
DEFAULT_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Spec:
    name: str
    fmt: str  # npy | parquet | csv
    rows: int  # at scale 1
    dim: int
    column: str = ""  # parquet: fsl | list

    def files(self) -> dict[str, str]:
        if self.fmt == "parquet_pair":
            return {"pair": "pairs.parquet"}
        ext = {"npy": "npy", "parquet": "parquet", "csv": "csv"}[self.fmt]
        return {"pred": f"pred.{ext}", "label": f"label.{ext}"}


SPECS: dict[str, Spec] = {
    s.name: s
    for s in (
        Spec("npy", "npy", 1_000_000, 768),
        Spec("parquet_fsl", "parquet", 1_000_000, 768, "fsl"),
        Spec("parquet_list", "parquet", 1_000_000, 768, "list"),
        Spec("parquet_fsl_2m", "parquet", 2_000_000, 768, "fsl"),
        Spec("parquet_list_2m", "parquet", 2_000_000, 768, "list"),
        Spec("csv", "csv", 50_000, 384),
        Spec("parquet_pair", "parquet_pair", 1_000_000, 768, "fsl"),
    )
}


def scaled_rows(spec: Spec, scale: float) -> int:
    return max(1, round(spec.rows * scale))


def slices(rows: int, dim: int, seed: int = SEED) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(start, pred, label) float32 slices of SLICE_ROWS rows (the last one shorter).

    Slice k draws PRED from generator (seed, dim, k, 0) and the noise from (seed, dim, k, 1), so a
    shorter run is a prefix of a longer one.
    """
    for k, start in enumerate(range(0, rows, SLICE_ROWS)):
        n = min(SLICE_ROWS, rows - start)
        pred = np.random.default_rng([seed, dim, k, 0]).standard_normal((n, dim), dtype=np.float32)
        noise = np.random.default_rng([seed, dim, k, 1]).standard_normal((n, dim), dtype=np.float32)
        noise *= np.float32(NOISE)
        noise += pred  # noise is now LABEL
        yield start, pred, noise


def row_cos_sum(pred: np.ndarray, label: np.ndarray) -> float:
    """Sum of the row cosines, in float64."""
    a = pred.astype(np.float64)
    b = label.astype(np.float64)
    cos = np.einsum("ij,ij->i", a, b) / np.sqrt(np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", b, b))
    return math.fsum(cos.tolist())


def _emb_column(x: np.ndarray, column: str) -> pa.Array:
    flat = pa.array(x.reshape(-1))
    n, dim = x.shape
    if column == "fsl":
        return pa.FixedSizeListArray.from_arrays(flat, dim)
    offsets = pa.array(np.arange(0, n * dim + 1, dim, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, flat)


def _write(spec: Spec, rows: int, tmp: dict[str, Path]) -> float:
    """Write both files under their temporary names; return the mean cosine."""
    cos_sums: list[float] = []
    if spec.fmt == "npy":
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
            "fortran_order": False,
            "shape": (rows, spec.dim),
        }
        with open(tmp["pred"], "wb") as fp, open(tmp["label"], "wb") as fl:
            for f in (fp, fl):
                np.lib.format.write_array_header_1_0(f, header)
            for _, pred, label in slices(rows, spec.dim):
                fp.write(pred.data)
                fl.write(label.data)
                cos_sums.append(row_cos_sum(pred, label))
    elif spec.fmt == "parquet":
        emb_type = pa.list_(pa.float32(), spec.dim) if spec.column == "fsl" else pa.list_(pa.float32())
        schema = pa.schema([("id", pa.int64()), ("emb", emb_type)])
        with pq.ParquetWriter(tmp["pred"], schema) as wp, pq.ParquetWriter(tmp["label"], schema) as wl:
            for start, pred, label in slices(rows, spec.dim):
                ids = pa.array(np.arange(start, start + len(pred), dtype=np.int64))
                for w, x in ((wp, pred), (wl, label)):
                    w.write_table(
                        pa.table({"id": ids, "emb": _emb_column(x, spec.column)}, schema=schema),
                        row_group_size=SLICE_ROWS,
                    )
                cos_sums.append(row_cos_sum(pred, label))
    elif spec.fmt == "parquet_pair":
        emb_type = pa.list_(pa.float32(), spec.dim)
        schema = pa.schema([("id", pa.int64()), ("pred", emb_type), ("label", emb_type)])
        with pq.ParquetWriter(tmp["pair"], schema) as w:
            for start, pred, label in slices(rows, spec.dim):
                ids = pa.array(np.arange(start, start + len(pred), dtype=np.int64))
                columns = {"id": ids, "pred": _emb_column(pred, "fsl"), "label": _emb_column(label, "fsl")}
                w.write_table(pa.table(columns, schema=schema), row_group_size=SLICE_ROWS)
                cos_sums.append(row_cos_sum(pred, label))
    elif spec.fmt == "csv":
        names = [f"d{i}" for i in range(spec.dim)]
        schema = pa.schema([(c, pa.float32()) for c in names])
        with pacsv.CSVWriter(tmp["pred"], schema) as wp, pacsv.CSVWriter(tmp["label"], schema) as wl:
            for _, pred, label in slices(rows, spec.dim):
                for w, x in ((wp, pred), (wl, label)):
                    w.write_table(pa.Table.from_arrays([pa.array(x[:, i]) for i in range(spec.dim)], schema=schema))
                cos_sums.append(row_cos_sum(pred, label))
    else:  # pragma: no cover
        raise ValueError(spec.fmt)
    return math.fsum(cos_sums) / rows


def generate(spec: Spec, out_root: Path, scale: float = 1.0) -> dict[str, object]:
    """Write one dataset into out_root/<name>/ unless it is already there; return its meta."""
    out = out_root / spec.name
    rows = scaled_rows(spec, scale)
    want = {
        "name": spec.name,
        "format": spec.fmt,
        "column": spec.column or None,
        "rows": rows,
        "dim": spec.dim,
        "dtype": "float32",
        "seed": SEED,
        "noise": NOISE,
        "row_group_rows": SLICE_ROWS if spec.fmt.startswith("parquet") else None,
        "files": spec.files(),
    }
    meta_path = out / "meta.json"
    final = {side: out / fname for side, fname in spec.files().items()}
    if meta_path.exists() and all(p.exists() for p in final.values()):
        have = json.loads(meta_path.read_text())
        if {k: have.get(k) for k in want} == want:
            print(f"{spec.name}: present, skipped ({out})", file=sys.stderr)
            return have
        print(f"{spec.name}: present with other parameters, writing it again", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    tmp = {side: p.with_name(p.name + ".partial") for side, p in final.items()}
    t0 = time.perf_counter()
    print(f"{spec.name}: writing {rows:,} x {spec.dim} into {out} ...", file=sys.stderr, flush=True)
    try:
        mean_cos = _write(spec, rows, tmp)
    except BaseException:
        for p in tmp.values():
            p.unlink(missing_ok=True)
        raise
    for side, p in tmp.items():
        os.replace(p, final[side])
    meta = {
        **want,
        "mean_cos": mean_cos,
        "bytes": {side: p.stat().st_size for side, p in final.items()},
        "spec": asdict(spec),
        "scale": scale,
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    size = sum(meta["bytes"].values()) / 1e9
    print(
        f"{spec.name}: done in {time.perf_counter() - t0:.1f} s, {size:.2f} GB, mean cos {mean_cos:.9f}",
        file=sys.stderr,
        flush=True,
    )
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "out", nargs="?", type=Path, default=DEFAULT_DIR, help=f"directory to write into (default: {DEFAULT_DIR})"
    )
    ap.add_argument(
        "--only",
        nargs="+",
        choices=list(SPECS),
        metavar="NAME",
        help=f"datasets to make (default: all of {', '.join(SPECS)})",
    )
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--scale", type=float, default=None, help="multiply every dataset's row count (default 1)")
    size.add_argument(
        "--rows",
        type=int,
        default=None,
        help="rows of the 1M datasets; the others scale with it (same as --scale ROWS/1e6)",
    )
    a = ap.parse_args(argv)
    scale = a.rows / 1_000_000 if a.rows is not None else (a.scale if a.scale is not None else 1.0)
    if scale <= 0:
        ap.error("the scale must be positive")
    for name in a.only or list(SPECS):
        generate(SPECS[name], a.out, scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
