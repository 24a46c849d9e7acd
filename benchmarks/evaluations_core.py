"""Time the evaluation cores of issue 12 against the plain computation they sit beside.

    python benchmarks/evaluations_core.py [--rows 100000] [--dim 768] [--repeat 5] [--dims 64,128,256,768]

* Matryoshka: ``matryoshka_rows`` at 64,128,256,768 vs one ``core.cosine_rows`` on the full vectors
  (the issue's target: at most 1.5x).
* Groups: ``GroupedAccumulator.update`` with 10 groups vs one ``Accumulator.update`` (target 1.3x
  for the whole run; here the accumulator step alone, and that step plus the cosine).

Each figure is the best of ``--repeat`` runs (the machine is shared); float32 input.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from cosine_cli.accumulate import Accumulator, ScoredChunk
from cosine_cli.core import cosine_rows, loss_from_cos
from cosine_cli.groups import GroupedAccumulator
from cosine_cli.matryoshka import matryoshka_rows, parse_dims


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dims", default="64,128,256,768")
    ap.add_argument("--chunk", type=int, default=8192, help="rows per chunk for the accumulator timings")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((args.rows, args.dim), dtype=np.float32)
    b = (a + 0.3 * rng.standard_normal((args.rows, args.dim), dtype=np.float32)).astype(np.float32)
    dims = [d for d in parse_dims(args.dims) if d <= args.dim]

    plain = best(lambda: cosine_rows(a, b), args.repeat)
    matry = best(lambda: matryoshka_rows(a, b, dims), args.repeat)
    print(f"cosine_rows {args.rows}x{args.dim} float32: {plain * 1e3:.1f} ms")
    print(f"matryoshka_rows dims {dims}: {matry * 1e3:.1f} ms = {matry / plain:.2f}x")

    cos = cosine_rows(a, b).cos
    groups = rng.choice(np.array([f"g{i}" for i in range(10)]), args.rows)
    chunks = []
    for s in range(0, args.rows, args.chunk):
        c = cos[s : s + args.chunk]
        chunks.append(ScoredChunk(s, c, loss_from_cos(c), c == 0, np.zeros(c.shape[0], dtype=bool)))

    def plain_acc() -> None:
        acc = Accumulator()
        for ch in chunks:
            acc.update(ch)

    def grouped() -> None:
        acc = Accumulator()
        g = GroupedAccumulator()
        for ch in chunks:
            acc.update(ch)
            g.update(ch, groups[ch.start : ch.start + len(ch)])

    t_acc = best(plain_acc, args.repeat)
    t_grp = best(grouped, args.repeat)
    print(f"Accumulator.update, {len(chunks)} chunks of {args.chunk}: {t_acc * 1e3:.1f} ms")
    print(
        f"Accumulator + GroupedAccumulator (10 groups): {t_grp * 1e3:.1f} ms = "
        f"{t_grp / t_acc:.2f}x the accumulator step, "
        f"{(plain + t_grp) / (plain + t_acc):.2f}x cosine + accumulator"
    )


if __name__ == "__main__":
    main()
