"""Write a ~3 GB Parquet pair (two ~1.5 GB files, 768-d float32, one row group each, as pandas
or a single ``write_table`` writes them) for the peak-memory check in the README.

    python benchmarks/big_parquet_pair.py benchmarks/data 500000
    /usr/bin/time -v cosloss score benchmarks/data/pred.parquet benchmarks/data/label.parquet
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def main(out: str, rows: int, dim: int = 768) -> None:
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, as_list in (("pred", False), ("label", True)):
        values = np.empty(rows * dim, dtype=np.float32)
        step = 1 << 24
        for i in range(0, values.size, step):
            values[i : i + step] = rng.standard_normal(min(step, values.size - i), dtype=np.float32)
        if as_list:  # list<float>: what pandas and Polars write by default
            col = pa.ListArray.from_arrays(
                pa.array(np.arange(0, rows * dim + 1, dim, dtype=np.int32)), pa.array(values)
            )
        else:  # fixed_size_list<float, 768>: LanceDB, HF datasets with a length
            col = pa.FixedSizeListArray.from_arrays(pa.array(values), dim)
        table = pa.table({"id": np.arange(rows), "emb": col})
        pq.write_table(table, d / f"{name}.parquet", compression="snappy", row_group_size=1 << 20)
        del table, col, values


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
