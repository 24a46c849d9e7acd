"""Whole-process wall time and peak RSS of cosloss and its baselines, on the datasets of datagen.py.

    python benchmarks/datagen.py                       # once: ~42 GB into benchmarks/data/
    python benchmarks/run.py --runs 5 --json benchmarks/results/run.json
    python benchmarks/run.py --only npy csv --runs 3
    python benchmarks/run.py --from-json benchmarks/results/run.json --markdown
    python benchmarks/run.py --from-json benchmarks/results/run.json --update-doc docs/performance.md

Every contender runs as a child process; the wall time is taken around it and its peak RSS is
ru_maxrss from os.wait4 (KiB on Linux; shown in MiB). Before each contender the dataset's files
are read once with ``cat`` (untimed), so the timed runs find them in the page cache.

Contenders, by dataset (the reference, which the "x ref" column divides by, comes first):

    npy      cat A B > /dev/null; cosloss score A B --json -q (and the same under taskset -c 0); NumPy:
             np.load both, einsum
    parquet  DuckDB: avg(list_cosine_similarity(a.emb, b.emb)) over read_parquet(A, file_row_number
             = true) JOIN read_parquet(B, ...) USING (file_row_number) (its fastest form, the reference),
             and over read_parquet(A) POSITIONAL JOIN read_parquet(B); cosloss, and cosloss under
             taskset -c 0; NumPy: pyarrow.parquet.read_table both, einsum (when two copies
             of the pair fit in 60% of RAM: here the 1M sets, not the 2M ones); cat
    parquet_pair  one file with columns pred and label: DuckDB avg(list_cosine_similarity(pred, label));
             cosloss score PAIRS --pred-col pred --label-col label, and under taskset -c 0; cat
    csv      DuckDB: the same over list_value(*COLUMNS('^d\\d+$')) of read_csv(A) and read_csv(B);
             cosloss; NumPy: np.loadtxt both, einsum; cat
    startup  python -c pass; cosloss --help; cosloss score sample_data/preds.npy sample_data/labels.npy

Each contender that prints a mean cosine is checked against cosloss's ``cos.mean`` and against the
mean that datagen.py computed in float64 (meta.json); a difference above --tolerance is a WARNING
line under the table (and in the JSON), so a fast but wrong contender shows. A non-zero exit is a
WARNING too, and any WARNING makes run.py's exit status 1. DuckDB contenders are left out (with a
note) when the duckdb package is not installed (it is in the project's ``bench`` extra).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata, util
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_DATA = HERE / "data"
DATASETS = [
    "startup",
    "csv",
    "npy",
    "parquet_fsl",
    "parquet_pair",
    "parquet_list",
    "parquet_fsl_2m",
    "parquet_list_2m",
]
CONTENDER_KEYS = ["python", "cosloss", "cat", "numpy", "duckdb", "pyarrow"]
DOC_START = "<!-- benchmark results: start (benchmarks/run.py --update-doc) -->"
DOC_END = "<!-- benchmark results: end -->"

# Child scripts (python -c SCRIPT ARGS...): what a user would write to get the mean row cosine.
EINSUM_COS = (
    "cos = np.einsum('ij,ij->i', a, b) / np.sqrt(np.einsum('ij,ij->i', a, a) * np.einsum('ij,ij->i', b, b))\n"
    "print(float(cos.mean()))\n"
)
NUMPY_NPY = "import sys\nimport numpy as np\na = np.load(sys.argv[1])\nb = np.load(sys.argv[2])\n" + EINSUM_COS
NUMPY_CSV = (
    "import sys\nimport numpy as np\n"
    "a = np.loadtxt(sys.argv[1], delimiter=',', skiprows=1, dtype=np.float32)\n"
    "b = np.loadtxt(sys.argv[2], delimiter=',', skiprows=1, dtype=np.float32)\n" + EINSUM_COS
)
NUMPY_PARQUET = (
    "import sys\nimport pyarrow.parquet as pq\n"
    "def load(path):\n"
    "    col = pq.read_table(path, columns=['emb']).column('emb').combine_chunks()\n"
    "    return col.flatten().to_numpy().reshape(len(col), -1)\n"
    "import numpy as np\na = load(sys.argv[1])\nb = load(sys.argv[2])\n" + EINSUM_COS
)
# The decode floor: pyarrow alone reading every vector column as cosloss reads it (batches, no
# pre-buffering, one thread per column), all columns at once, no math. What cosloss cannot beat on
# Parquet, whatever it does with the numbers.
PYARROW_DECODE = (
    "import sys, threading\nimport pyarrow.parquet as pq\n"
    "def decode(path, column):\n"
    "    f = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)\n"
    "    for _ in f.iter_batches(batch_size=1365, columns=[column], use_threads=False):\n"
    "        pass\n"
    "jobs = [a.rsplit('::', 1) for a in sys.argv[1:]]\n"
    "threads = [threading.Thread(target=decode, args=(p, c)) for p, c in jobs]\n"
    "[t.start() for t in threads]\n"
    "[t.join() for t in threads]\n"
)
# (DuckDB draws a progress bar on stdout for queries over 2 s; it is turned off, not timed.)
DUCKDB = (
    "import sys\nimport duckdb\n"
    "con = duckdb.connect()\n"
    "con.execute('SET enable_progress_bar = false')\n"
    "print(con.execute(sys.argv[1]).fetchone()[0])\n"
)


def sql_str(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def duckdb_join_sql(a: Path, b: Path) -> str:
    """DuckDB's fastest form here: a hash join on each file's row number (both sides decode in
    parallel, where POSITIONAL JOIN scans them in step)."""
    return (
        f"SELECT avg(list_cosine_similarity(a.emb, b.emb)) "
        f"FROM read_parquet({sql_str(a)}, file_row_number = true) a "
        f"JOIN read_parquet({sql_str(b)}, file_row_number = true) b USING (file_row_number)"
    )


def duckdb_pair_sql(path: Path) -> str:
    return f"SELECT avg(list_cosine_similarity(pred, label)) FROM read_parquet({sql_str(path)})"


def one_core(c: Contender) -> Contender:
    """The same contender on one core (taskset -c 0), beside the run on every core."""
    return Contender(c.key, c.label + " [taskset -c 0]", ["taskset", "-c", "0", *c.argv], c.result, c.stdout_devnull)


def duckdb_sql(fmt: str, a: Path, b: Path) -> str:
    if fmt == "parquet":
        # Parquet keeps no fixed-size list type: DuckDB reads fixed_size_list<float, 768> and
        # list<float> columns alike as FLOAT[] (a LIST), so list_cosine_similarity fits both.
        return (
            f"SELECT avg(list_cosine_similarity(a.emb, b.emb)) "
            f"FROM read_parquet({sql_str(a)}) a POSITIONAL JOIN read_parquet({sql_str(b)}) b"
        )
    vec = "list_value(*COLUMNS('^d\\d+$')) AS v"
    return (
        f"SELECT avg(list_cosine_similarity(a.v, b.v)) "
        f"FROM (SELECT {vec} FROM read_csv({sql_str(a)})) a "
        f"POSITIONAL JOIN (SELECT {vec} FROM read_csv({sql_str(b)})) b"
    )


@dataclass
class Contender:
    key: str  # one of CONTENDER_KEYS
    label: str
    argv: list[str]
    result: str  # how stdout gives the mean cosine: cosloss-json | float | none
    stdout_devnull: bool = False


@dataclass
class Dataset:
    name: str
    title: str
    files: list[Path]
    meta: dict[str, object]
    contenders: list[Contender] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def cosloss_exe() -> str:
    exe = Path(sys.executable).parent / "cosloss"
    if not exe.exists():
        found = shutil.which("cosloss")
        if found is None:
            sys.exit(f"run.py: no cosloss next to {sys.executable} nor on PATH")
        return found
    return str(exe)


def mem_total() -> int:
    """Bytes of RAM (sysconf)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def have_duckdb() -> bool:
    return util.find_spec("duckdb") is not None


def describe(meta: dict[str, object], nbytes: int) -> str:
    col = {"fsl": " fixed_size_list", "list": " list"}.get(str(meta.get("column")), "")
    return f"{meta['rows']:,} x {meta['dim']} {meta['dtype']}{col} {meta['format']}, pair {nbytes / 1e9:.2f} GB"


def build(name: str, data: Path, py: str, cosloss: str, duck: bool) -> Dataset:
    if name == "startup":
        preds, labels = REPO / "sample_data" / "preds.npy", REPO / "sample_data" / "labels.npy"
        return Dataset(
            name,
            "startup (sample_data: 64 x 8)",
            [],
            {},
            [
                Contender("python", "python -c pass", [py, "-c", "pass"], "none"),
                Contender("cosloss", "cosloss --help", [cosloss, "--help"], "none"),
                Contender(
                    "cosloss",
                    "cosloss score sample_data/preds.npy sample_data/labels.npy",
                    [cosloss, "score", str(preds), str(labels)],
                    "none",
                ),
            ],
        )
    meta_path = data / name / "meta.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} is missing: run benchmarks/datagen.py --only {name} {data}")
    meta = json.loads(meta_path.read_text())
    if meta["format"] == "parquet_pair":
        pair = data / name / meta["files"]["pair"]
        ds = Dataset(name, f"{name}: {describe(meta, pair.stat().st_size)}, one file", [pair], meta)
        cos = Contender(
            "cosloss",
            "cosloss score PAIRS --pred-col pred --label-col label --json -q",
            [cosloss, "score", str(pair), "--pred-col", "pred", "--label-col", "label", "--json", "-q"],
            "cosloss-json",
        )
        ds.contenders = [
            Contender("duckdb", "duckdb (python)", [py, "-c", DUCKDB, duckdb_pair_sql(pair)], "float"),
            cos,
            one_core(cos),
            Contender("cat", "cat PAIRS > /dev/null", ["cat", str(pair)], "none", stdout_devnull=True),
            Contender(
                "pyarrow",
                "pyarrow decode only (both columns, 2 threads)",
                [py, "-c", PYARROW_DECODE, f"{pair}::pred", f"{pair}::label"],
                "none",
            ),
        ]
        if not duck:
            ds.contenders = [c for c in ds.contenders if c.key != "duckdb"]
            ds.notes.append("duckdb left out: the duckdb package is not installed (pip install -e '.[bench]')")
        return ds
    a, b = (data / name / meta["files"][side] for side in ("pred", "label"))
    files = [a, b]
    fmt = meta["format"]
    ds = Dataset(name, f"{name}: {describe(meta, a.stat().st_size + b.stat().st_size)}", files, meta)
    cos = Contender(
        "cosloss", "cosloss score A B --json -q", [cosloss, "score", str(a), str(b), "--json", "-q"], "cosloss-json"
    )
    cat = Contender("cat", "cat A B > /dev/null", ["cat", str(a), str(b)], "none", stdout_devnull=True)
    duckc = Contender("duckdb", "duckdb (python)", [py, "-c", DUCKDB, duckdb_sql(fmt, a, b)], "float")
    if fmt == "npy":
        ds.contenders = [
            cat,
            cos,
            one_core(cos),
            Contender("numpy", "numpy: np.load + einsum", [py, "-c", NUMPY_NPY, str(a), str(b)], "float"),
        ]
    elif fmt == "parquet":
        duck_join = Contender(
            "duckdb", "duckdb hash join on file_row_number", [py, "-c", DUCKDB, duckdb_join_sql(a, b)], "float"
        )
        duckc.label = "duckdb POSITIONAL JOIN"
        ds.contenders = [duck_join, duckc, cos, one_core(cos)]
        # read_table, then combine_chunks: two copies of the decoded pair at the peak.
        need = 2 * 2 * int(meta["rows"]) * int(meta["dim"]) * 4
        if need <= 0.6 * mem_total():
            ds.contenders.append(
                Contender("numpy", "numpy: pq.read_table + einsum", [py, "-c", NUMPY_PARQUET, str(a), str(b)], "float")
            )
        else:
            ds.notes.append(
                f"numpy (pq.read_table + einsum) left out: it would need ~{need / 1e9:.0f} GB of RAM "
                f"(two copies of the pair), more than 60% of this machine's"
            )
        ds.contenders.append(cat)
        ds.contenders.append(
            Contender(
                "pyarrow",
                "pyarrow decode only (both files, 2 threads)",
                [py, "-c", PYARROW_DECODE, f"{a}::emb", f"{b}::emb"],
                "none",
            )
        )
    elif fmt == "csv":
        ds.contenders = [
            duckc,
            cos,
            Contender("numpy", "numpy: np.loadtxt + einsum", [py, "-c", NUMPY_CSV, str(a), str(b)], "float"),
            cat,
        ]
    else:
        raise ValueError(f"{meta_path}: unknown format {fmt!r}")
    if not duck:
        ds.contenders = [c for c in ds.contenders if c.key != "duckdb"]
        ds.notes.append("duckdb left out: the duckdb package is not installed (pip install -e '.[bench]')")
    return ds


def reference_key(ds: Dataset) -> str:
    if ds.name == "startup":
        return "python"
    return "cat" if ds.meta.get("format") == "npy" else "duckdb"


def warm(files: list[Path]) -> None:
    if files:
        subprocess.run(["cat", *map(str, files)], stdout=subprocess.DEVNULL, check=True)


def run_once(c: Contender, timeout: float) -> dict[str, object]:
    """One run in a child process: wall seconds, ru_maxrss (KiB), exit code, stdout's result."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        timed_out = threading.Event()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            c.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL if c.stdout_devnull else out, stderr=err
        )

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    run: dict[str, object] = {
        "wall_s": wall,
        "maxrss_kib": usage.ru_maxrss,
        "exit": code,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "result": None,
    }
    if timed_out.is_set():
        run["error"] = f"killed after the {timeout:g} s timeout"
    elif code != 0:
        run["error"] = f"exit {code}: {stderr.strip()[-500:]}"
    elif c.result != "none":
        try:
            run["result"] = (
                json.loads(stdout)["cos"]["mean"]
                if c.result == "cosloss-json"
                else float(stdout.strip().splitlines()[-1])
            )
        except (ValueError, KeyError, IndexError, TypeError) as e:
            run["error"] = f"could not read a mean cosine from its output ({e}): {stdout.strip()[-200:]!r}"
    return run


def summarise(runs: list[dict[str, object]]) -> dict[str, object]:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"ok_runs": 0}
    walls = [float(r["wall_s"]) for r in ok]
    rss = [int(r["maxrss_kib"]) for r in ok]
    results = [r["result"] for r in ok if r["result"] is not None]
    return {
        "ok_runs": len(ok),
        "wall_median_s": statistics.median(walls),
        "wall_min_s": min(walls),
        "wall_max_s": max(walls),
        "rss_median_mib": statistics.median(rss) / 1024,
        # user + system CPU of the child: steadier than wall time on a shared machine
        "cpu_median_s": statistics.median(float(r.get("user_s", 0)) + float(r.get("sys_s", 0)) for r in ok),
        "result": results[0] if results else None,
        "results_agree": len({float(x) for x in results}) <= 1,
    }


def check(name: str, rec: dict[str, object], tol: float) -> list[str]:
    """WARNING lines: failed runs, and results off cosloss's or datagen's mean cosine."""
    warnings: list[str] = []
    contenders: list[dict[str, object]] = rec["contenders"]
    truth = rec.get("meta", {}).get("mean_cos")
    cos_ref = next(
        (c["summary"].get("result") for c in contenders if c["key"] == "cosloss" and c["result"] == "cosloss-json"),
        None,
    )
    for c in contenders:
        label = c["label"]
        for i, r in enumerate(c["runs"], 1):
            if "error" in r:
                warnings.append(f"WARNING: {name}: {label}, run {i}: {r['error']}")
        s: dict[str, object] = c["summary"]
        x = s.get("result")
        if x is None:
            continue
        if not s.get("results_agree", True):
            warnings.append(f"WARNING: {name}: {label} printed different results in different runs")
        for what, ref in (
            ("cosloss's cos.mean", cos_ref if c["key"] != "cosloss" else None),
            ("datagen's float64 mean cos", truth),
        ):
            if ref is not None and abs(float(x) - float(ref)) > tol:
                warnings.append(
                    f"WARNING: {name}: {label} printed {float(x):.9f}, {what} is {float(ref):.9f} "
                    f"(|diff| {abs(float(x) - float(ref)):.2e} > {tol:g})"
                )
    return warnings


def git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def code_state() -> dict[str, object]:
    """The commit, and a hash of cosine_cli/'s sources as they are on disk (the install is editable)."""
    h = hashlib.sha1()
    for f in sorted((REPO / "cosine_cli").rglob("*.py")):
        h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes() + b"\0")
    return {"commit": git("rev-parse", "--short", "HEAD"), "cosine_cli_sha1": h.hexdigest()[:12]}


def machine_info() -> dict[str, object]:
    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass

    dirty = git("status", "--porcelain", "--", "cosine_cli")
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(mem_kib / 1024**2, 1) if mem_kib else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": version("numpy"),
        "pyarrow": version("pyarrow"),
        "duckdb": version("duckdb"),
        "cosloss": version("cosine-cli"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "cosine_cli_modified": bool(dirty) if dirty is not None else None,
    }


# ---------------------------------------------------------------- tables

COLUMNS = ["contender", "median s", "min s", "max s", "cpu s", "peak RSS MiB", "x ref", "mean cos"]


def rows_of(rec: dict[str, object]) -> list[list[str]]:
    contenders: list[dict[str, object]] = rec["contenders"]
    ref = rec["reference"]
    # The reference is the first contender with the reference key (DuckDB's fastest form comes first).
    ref_i = next((i for i, c in enumerate(contenders) if c["key"] == ref), None)
    ref_s = None if ref_i is None else contenders[ref_i]["summary"].get("wall_median_s")
    out = []
    for i, c in enumerate(contenders):
        s: dict[str, object] = c["summary"]
        if not s.get("ok_runs"):
            out.append([str(c["label"]), "failed", "", "", "", "", "", ""])
            continue
        med = float(s["wall_median_s"])
        ratio = "" if not ref_s else ("1.00 (ref)" if i == ref_i else f"{med / float(ref_s):.2f}")
        res = s.get("result")
        out.append(
            [
                str(c["label"]),
                f"{med:.2f}",
                f"{float(s['wall_min_s']):.2f}",
                f"{float(s['wall_max_s']):.2f}",
                "" if s.get("cpu_median_s") is None else f"{float(s['cpu_median_s']):.2f}",
                f"{float(s['rss_median_mib']):.0f}",
                ratio,
                "" if res is None else f"{float(res):.7f}",
            ]
        )
    return out


def notes(rec: dict[str, object], floor_note: bool = True) -> list[str]:
    out = list(rec.get("notes", []))
    floor = rec.get("rss_floor_mib")
    if floor and floor_note:
        out.append(
            f"peak RSS reads at least {floor:.0f} MiB, the harness's own (Linux carries the high-water "
            "mark of the forking process across exec)"
        )
    return out


def text_table(rec: dict[str, object]) -> str:
    rows = rows_of(rec)
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    runs = max((len(c["runs"]) for c in rec["contenders"]), default=0)
    lines = [f"== {rec['title']} (median of {runs} runs; x ref: {rec['reference']}) ==", fmt.format(*COLUMNS)]
    lines += [fmt.format(*r) for r in rows]
    lines += [f"note: {n}" for n in notes(rec)]
    return "\n".join(lines)


def markdown(results: dict[str, object]) -> str:
    m: dict[str, object] = results["machine"]
    modified = " (with uncommitted changes to cosine_cli/)" if m.get("cosine_cli_modified") else ""
    first = next(iter(results["datasets"].values()), {}).get("code") or {}
    sources = f", cosine_cli/ sources `{first['cosine_cli_sha1']}`" if first.get("cosine_cli_sha1") else ""
    lines = [
        f"Measured {m['date']} on commit `{m['commit']}`{modified}{sources}, `--runs {results['runs']}`.",
        "",
        f"* Machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_gib']} GiB RAM, {m['os']}",
        f"* Python {m['python']}, NumPy {m['numpy']}, pyarrow {m['pyarrow']}, DuckDB {m['duckdb']}, "
        f"cosloss {m['cosloss']}",
    ]
    if results.get("merged"):
        lines.append(f"* {results['merged']}")
    floor = max((rec.get("rss_floor_mib") or 0 for rec in results["datasets"].values()), default=0)
    if floor:
        lines.append(
            f"* Peak RSS reads at least {floor:.0f} MiB, the harness's own: Linux carries the high-water "
            "mark of the forking process across exec (so `cat` and `python -c pass` show that floor)"
        )
    lines.append("")
    for name, rec in results["datasets"].items():
        code = rec.get("code") or {}
        at = (
            f", cosine_cli/ sources `{code['cosine_cli_sha1']}` at `{code['commit']}`"
            if code.get("cosine_cli_sha1", first.get("cosine_cli_sha1")) != first.get("cosine_cli_sha1")
            else ""
        )
        lines.append(f"**{rec['title']}** (x ref: {rec['reference']}{at})")
        lines.append("")
        lines.append("| " + " | ".join(COLUMNS) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|")
        for r in rows_of(rec):
            lines.append("| " + " | ".join(r) + " |")
        lines.append("")
        for n in notes(rec, floor_note=False):
            lines.append(f"_{name}: {n}_")
            lines.append("")
    warnings = [w for rec in results["datasets"].values() for w in rec.get("warnings", [])]
    if warnings:
        lines += ["Warnings:", ""] + [f"* {w}" for w in warnings] + [""]
    return "\n".join(lines).rstrip() + "\n"


def update_doc(path: Path, md: str) -> None:
    text = path.read_text()
    start, end = text.find(DOC_START), text.find(DOC_END)
    if start < 0 or end < start:
        sys.exit(f"run.py: {path} has no '{DOC_START}' ... '{DOC_END}' section to replace")
    path.write_text(text[: start + len(DOC_START)] + "\n\n" + md + "\n" + text[end:])


# ---------------------------------------------------------------- main


def run_dataset(ds: Dataset, runs: int, keys: set[str], timeout: float, tol: float) -> dict[str, object]:
    before = code_state()
    rec: dict[str, object] = {
        "title": ds.title,
        "meta": ds.meta,
        "reference": reference_key(ds),
        "notes": ds.notes,
        "code": before,
        "contenders": [],
    }
    for c in ds.contenders:
        if c.key not in keys:
            continue
        warm(ds.files)
        done: list[dict[str, object]] = []
        for i in range(runs):
            code = code_state()["cosine_cli_sha1"] if c.key == "cosloss" else None
            r = run_once(c, timeout)
            if code is not None:
                r["cosine_cli_sha1"] = code
            done.append(r)
            status = r.get("error") or (f"{r['result']:.9f}" if r["result"] is not None else "ok")
            print(
                f"  {ds.name}: {c.label} [{i + 1}/{runs}] {float(r['wall_s']):.2f} s, "
                f"{int(r['maxrss_kib']) / 1024:.0f} MiB, {status}",
                file=sys.stderr,
                flush=True,
            )
        rec["contenders"].append(
            {
                "key": c.key,
                "label": c.label,
                "argv": c.argv,
                "result": c.result,
                "runs": done,
                "summary": summarise(done),
            }
        )
    rec["warnings"] = check(ds.name, rec, tol)
    # The install is editable: someone editing cosine_cli/ meanwhile changes what later runs measure.
    after = code_state()
    if after["cosine_cli_sha1"] != before["cosine_cli_sha1"]:
        rec["code_after"] = after
    seen: dict[object, list[str]] = {}
    for c in rec["contenders"]:
        for i, r in enumerate(c["runs"], 1):
            if "cosine_cli_sha1" in r:
                seen.setdefault(r["cosine_cli_sha1"], []).append(f"{c['label']} run {i}")
    if len(seen) > 1:
        versions = "; ".join(f"{h}: {', '.join(where)}" for h, where in seen.items())
        rec["warnings"].append(
            f"WARNING: {ds.name}: cosine_cli/ changed between cosloss runs, which mix versions ({versions})"
        )
    elif seen and set(seen) != {before["cosine_cli_sha1"]}:
        (h,) = seen
        rec["notes"].append(f"cosloss ran with cosine_cli/ at {h}, not {before['cosine_cli_sha1']} as at the start")
    # Linux keeps a process's RSS high-water mark across exec, and a child starts as a copy of (or,
    # with vfork, sharing) this process: no child's ru_maxrss can read below this process's peak.
    rec["rss_floor_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"datagen.py's directory (default {DEFAULT_DATA})")
    ap.add_argument(
        "--only",
        nargs="+",
        choices=DATASETS,
        metavar="NAME",
        help=f"datasets to run, in this order (default: {' '.join(DATASETS)})",
    )
    ap.add_argument(
        "--contenders",
        nargs="+",
        choices=CONTENDER_KEYS,
        metavar="KEY",
        default=CONTENDER_KEYS,
        help=f"contenders to run (default: all of {' '.join(CONTENDER_KEYS)})",
    )
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each contender (default 5)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds before a run is killed (default 1800)")
    ap.add_argument(
        "--tolerance", type=float, default=1e-5, help="largest accepted |difference| of mean cosines (default 1e-5)"
    )
    ap.add_argument("--json", type=Path, metavar="OUT", help="write the raw results (every run) to OUT")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables (with the machine) at the end")
    ap.add_argument(
        "--update-doc",
        type=Path,
        metavar="MD",
        help=f"replace the section between '{DOC_START}' and '{DOC_END}' in MD with the Markdown",
    )
    ap.add_argument("--from-json", type=Path, metavar="IN", help="print the tables of an earlier --json; run nothing")
    a = ap.parse_args(argv)
    if a.runs < 1:
        ap.error("--runs must be at least 1")

    if a.from_json:
        results = json.loads(a.from_json.read_text())
    else:
        py, cosloss, duck = sys.executable, cosloss_exe(), have_duckdb()
        names = a.only or DATASETS
        datasets = []
        for name in names:  # every dataset must be there before anything is timed
            try:
                datasets.append(build(name, a.data, py, cosloss, duck))
            except FileNotFoundError as e:
                sys.exit(f"run.py: {e}")
        results = {
            "machine": machine_info(),
            "runs": a.runs,
            "tolerance": a.tolerance,
            "argv": sys.argv,
            "datasets": {},
        }

        def save() -> None:
            if a.json:
                a.json.parent.mkdir(parents=True, exist_ok=True)
                a.json.write_text(json.dumps(results, indent=1) + "\n")

        # A SIGTERM ends the run like Ctrl-C: the child is killed, and what was measured is saved.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        for ds in datasets:
            rec = run_dataset(ds, a.runs, set(a.contenders), a.timeout, a.tolerance)
            results["datasets"][ds.name] = rec
            save()
            if not a.markdown:
                print(text_table(rec))
                for w in rec["warnings"]:
                    print(w)
                print(flush=True)
    if a.markdown or a.update_doc:
        md = markdown(results)
        if a.markdown:
            print(md, end="")
        if a.update_doc:
            update_doc(a.update_doc, md)
    elif a.from_json:
        for rec in results["datasets"].values():
            print(text_table(rec))
            for w in rec.get("warnings", []):
                print(w)
            print()
    warned = any(rec.get("warnings") for rec in results["datasets"].values())
    return 1 if warned and not a.from_json else 0


if __name__ == "__main__":
    sys.exit(main())
