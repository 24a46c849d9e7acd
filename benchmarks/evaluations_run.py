"""Whole-process cost of the issue-12 evaluations against one plain run, on the benchmark data.

    python benchmarks/datagen.py --only npy          # once: the 1M x 768 .npy pair
    python benchmarks/evaluations_run.py [--runs 3] [--data benchmarks/data] [--only dims candidates groups]

Each case is run ``--runs`` times, alternating with the plain run it is compared with (the machine
may be shared: alternating keeps both under the same load); medians of wall time, and the ratio:

* ``--dims 64,128,256,768`` on the .npy pair (the issue's target: at most 1.5x a plain run);
* three candidates ``a=PRED b=LABEL c=PRED --label LABEL`` (at most 2.2x: LABEL is read once);
* ``--group-col lang`` with 10 groups on a 200,000 x 768 Parquet pair written here from the first
  rows of the .npy pair (at most 1.3x).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
GROUP_ROWS = 200_000
CASES = ("dims", "candidates", "groups")


def cosloss() -> str:
    exe = Path(sys.executable).parent / "cosloss"
    return str(exe) if exe.exists() else "cosloss"


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run (its output thrown away; a failure stops the script)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def group_pair(data: Path) -> tuple[Path, Path]:
    """A Parquet pair with a ``lang`` column of 10 values, from the .npy pair's first rows."""
    out = data / "evaluations_groups"
    pred, label = out / "pred.parquet", out / "label.parquet"
    if pred.exists() and label.exists():
        return pred, label
    out.mkdir(parents=True, exist_ok=True)
    langs = np.array(["ar", "de", "en", "es", "fr", "hi", "ja", "pt", "ru", "zh"])
    lang = pa.array(langs[np.random.default_rng(0).integers(0, 10, GROUP_ROWS)])
    for name, target in (("pred", pred), ("label", label)):
        x = np.load(data / "npy" / f"{name}.npy", mmap_mode="r")[:GROUP_ROWS]
        emb = pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(x).reshape(-1)), x.shape[1])
        tmp = target.with_suffix(".partial")
        pq.write_table(pa.table({"emb": emb, "lang": lang}), tmp, row_group_size=32_768)
        tmp.rename(target)
    return pred, label


def compare(name: str, plain: list[str], case: list[str], runs: int, target: float) -> None:
    base, this = [], []
    for _ in range(runs):
        base.append(timed(plain))
        this.append(timed(case))
    b = statistics.median(w for w, _ in base)
    t = statistics.median(w for w, _ in this)
    verdict = "met" if t / b <= target else "NOT met"
    print(
        f"{name}: {t:.2f} s vs plain {b:.2f} s = {t / b:.2f}x (target {target}x: {verdict}); "
        f"cpu {statistics.median(c for _, c in this):.2f} s vs {statistics.median(c for _, c in base):.2f} s",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=HERE / "data")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", nargs="+", choices=CASES, default=list(CASES), help="the cases to time")
    a = ap.parse_args()
    exe = cosloss()
    p, lab = str(a.data / "npy" / "pred.npy"), str(a.data / "npy" / "label.npy")
    if not Path(p).exists():
        sys.exit(f"{p} is missing: run python benchmarks/datagen.py --only npy")
    plain = [exe, "score", p, lab, "--json", "-q"]
    if "dims" in a.only:
        compare("--dims 64,128,256,768", plain, [*plain, "--dims", "64,128,256,768"], a.runs, 1.5)
    if "candidates" in a.only:
        three = [exe, "score", f"a={p}", f"b={lab}", f"c={p}", "--label", lab, "--json", "-q"]
        compare("three candidates", plain, three, a.runs, 2.2)
    if "groups" in a.only:
        gp, gl = (str(x) for x in group_pair(a.data))
        plain_g = [exe, "score", gp, gl, "--pred-col", "emb", "--label-col", "emb", "--json", "-q"]
        compare("--group-col lang (10 groups)", plain_g, [*plain_g, "--group-col", "lang"], a.runs, 1.3)


if __name__ == "__main__":
    main()
