"""Wall time and per-worker peak memory of --engine dask on a large local Parquet pair.

    python benchmarks/dask_scale.py generate /tmp/cosloss-4m --rows 4000000 --dim 384
    python benchmarks/dask_scale.py run /tmp/cosloss-4m --workers 1 2

Data goes where you say (never into the repository). Each run starts a fresh
LocalCluster, so a worker's peak RSS (ru_maxrss) is the peak of that run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def generate(out: str, rows: int, dim: int, files: int, row_group: int) -> None:
    rng = np.random.default_rng(0)
    per_file = rows // files
    for side in ("pred", "label"):
        os.makedirs(f"{out}/{side}", exist_ok=True)
        for k in range(files):
            schema = pa.schema([("emb", pa.list_(pa.float32(), dim))])
            with pq.ParquetWriter(f"{out}/{side}/part-{k:03d}.parquet", schema) as w:
                for start in range(0, per_file, row_group):
                    n = min(row_group, per_file - start)
                    flat = pa.array(rng.standard_normal(n * dim, dtype=np.float32))
                    w.write_table(pa.table({"emb": pa.FixedSizeListArray.from_arrays(flat, dim)}))
    print(json.dumps({"generated": out, "rows": per_file * files, "dim": dim}))


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(data: str, workers: int, task_rows: int | None) -> dict[str, object]:
    from distributed import Client, LocalCluster

    from cosine_cli import score

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
        ) as cluster,
        Client(cluster) as client,
    ):
        idle = client.run(_peak_rss_mib)
        t0 = time.perf_counter()
        result = score(f"{data}/pred", f"{data}/label", engine="dask", scheduler=client, rows_per_task=task_rows)
        wall = time.perf_counter() - t0
        peak = client.run(_peak_rss_mib)
    return {
        "workers": workers,
        "wall_s": round(wall, 2),
        "tasks": result.extra["engine"]["tasks"],
        "rows": result.stats.rows,
        "loss": result.loss,
        "worker_idle_rss_mib": sorted(round(v) for v in idle.values()),
        "worker_peak_rss_mib": sorted(round(v) for v in peak.values()),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("out")
    g.add_argument("--rows", type=int, default=4_000_000)
    g.add_argument("--dim", type=int, default=384)
    g.add_argument("--files", type=int, default=8)
    g.add_argument("--row-group", type=int, default=100_000)
    r = sub.add_parser("run")
    r.add_argument("data")
    r.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    r.add_argument("--task-rows", type=int)
    a = ap.parse_args()
    if a.cmd == "generate":
        generate(a.out, a.rows, a.dim, a.files, a.row_group)
    else:
        for n in a.workers:
            print(json.dumps(run(a.data, n, a.task_rows)), flush=True)


if __name__ == "__main__":
    main()
