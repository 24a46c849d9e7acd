"""Presenting a run's Summary: a rich table on a terminal, plain text or JSON otherwise.

Writers only format; they compute nothing, and read the one :class:`~cosine_cli.summary.Summary`
(a ``ScoreResult`` is turned into one first). Consoles are made per call, never at import
time, so the stream and width are the ones in force when writing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, TextIO

from .pipeline import ScoreResult
from .summary import Summary

__all__ = ["make_console", "summary_rows", "write_json", "write_summary", "format_float", "histogram_rows"]

QUANTILE_KEYS = ("p01", "p05", "p10", "p50", "p90", "p95", "p99")
_BLOCKS = " ▏▎▍▌▋▊▉█"


def histogram_rows(hist: Mapping[str, list[Any]], width: int = 40) -> list[tuple[str, str, int]]:
    """(bin label, bar, count) per histogram bin; bars in eighths of a character, longest = width."""
    edges, counts = hist.get("edges", []), hist.get("counts", [])
    if not counts:
        return []
    step = min(hi - lo for lo, hi in zip(edges, edges[1:], strict=False)) or 1.0
    digits = max(4, min(7, math.ceil(-math.log10(step)) + 1))
    top = max(counts) or 1
    out = []
    for lo, hi, c in zip(edges, edges[1:], counts, strict=False):
        eighths = round(8 * width * c / top)
        bar = "█" * (eighths // 8) + (_BLOCKS[eighths % 8] if eighths % 8 else "")
        if c and not bar:
            bar = _BLOCKS[1]  # a hit bin is never drawn empty
        out.append((f"[{lo: .{digits}f}, {hi: .{digits}f})", bar, int(c)))
    return out


def gate_rows(d: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(gate, value, threshold, verdict) for every gate and the baseline check (a Summary's raw
    values, so an inf reads inf here while JSON says null)."""
    results = getattr(d, "gate_results", ())
    if results:
        return [
            (
                r.expr,
                "null" if r.value is None else repr(r.value),
                f"{r.op} {r.threshold!r}",
                "pass" if r.passed else "FAIL",
            )
            for r in results
        ]
    return [
        (
            g["expr"],
            "null" if g["value"] is None else repr(g["value"]),
            f"{g['op']} {g['threshold']!r}",
            "pass" if g["passed"] else "FAIL",
        )
        for g in d.get("gates", [])
    ]


def format_float(x: float | None) -> str:
    """Shortest text that reads back as the same float (``repr``); None for missing."""
    if x is None:
        return "null"
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    return repr(float(x))


def as_summary(summary: Summary | ScoreResult) -> Summary:
    return summary if isinstance(summary, Summary) else Summary.of_result(summary)


def summary_rows(summary: Summary | ScoreResult) -> list[tuple[str, str]]:
    d = as_summary(summary)
    cos = d["cos"]
    # the raw loss: NaN and inf are shown as such here (JSON can only say null)
    loss = d.loss if d.loss is not None else d["loss"]
    rows = [
        ("loss", format_float(loss) if d["reduction"] != "none" else "(per vector: reduction none)"),
        ("loss_kind", d["loss_kind"]),
        ("reduction", d["reduction"]),
        ("compat", d["compat"]),
        *_input_rows(d.get("inputs") or {}),
        ("rows", str(d["rows"])),
        ("skipped", str(d["skipped"])),
        ("zero_vectors", str(d["zero_vectors"])),
        ("cos.mean", format_float(cos["mean"])),
        ("cos.std", format_float(cos["std"])),
        ("cos.min", format_float(cos["min"])),
        ("cos.max", format_float(cos["max"])),
        *((f"cos.{q}", format_float(cos.get(q))) for q in QUANTILE_KEYS),
    ]
    if d["weights"] is not None:
        rows.append(("weights.sum", format_float(d["weights"]["sum"])))
        rows.append(("weights.nonzero", str(d["weights"]["nonzero"])))
    corr = d.get("correlation")
    if corr:
        rows += [(f"correlation.{k}", format_float(corr.get(k))) for k in ("pearson", "spearman")]
    if d.get("diff"):
        diff, ratio = d["diff"], d.get("norm_ratio") or {}
        rows += [
            ("diff.max_abs", format_float(diff.get("max_abs"))),
            ("diff.rel_l2.mean", format_float((diff.get("rel_l2") or {}).get("mean"))),
            ("diff.rel_l2.max", format_float((diff.get("rel_l2") or {}).get("max"))),
            *((f"norm_ratio.{k}", format_float(ratio.get(k))) for k in ("mean", "min", "max")),
        ]
    base = d.get("baseline")
    if base:
        rows += [
            ("baseline.loss", format_float(base["loss"])),
            ("baseline.delta", format_float(base["delta"])),
            ("baseline.allowed", format_float(base["allowed"])),
        ]
    for i, w in enumerate(d.get("worst") or [], 1):
        where = f"id {w['id']!r}" if "id" in w else f"row {w['row']}"
        rows.append((f"worst.{i}", f"{where}: cos {format_float(w['cos'])}, loss {format_float(w['loss'])}"))
    return rows


def _input_rows(inputs: Any) -> list[tuple[str, str]]:
    """Per side, what was read: format, column(s) or array, dimension and dtype (never silent)."""
    rows = []
    for side in ("pred", "label"):
        info = inputs.get(side)
        if not isinstance(info, dict):
            continue
        columns = info.get("columns") or ([info["column"]] if info.get("column") else [])
        used = ""
        if columns:
            used = f", column {columns[0]}" if len(columns) == 1 else f", columns {columns[0]}..{columns[-1]}"
        rows.append(
            (side, f"{info.get('path')} ({info.get('format')}{used}, dim {info.get('dim')}, {info.get('dtype')})")
        )
    return rows


SLICES: Final = (("by_dim", "dim"), ("by_group", "group"), ("by_candidate", "candidate"))
SLICE_COLUMNS: Final = ("rows", "loss", "cos.mean", "cos.min", "cos.p01", "cos.p50", "cos.max")


def _dotted(entry: Any, name: str) -> Any:
    for part in name.split("."):
        entry = entry.get(part) if isinstance(entry, Mapping) else None
    return entry


def slice_tables(d: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """Per dim / group / candidate: (noun, header, rows of cells) for each slice key the summary holds."""
    out = []
    for key, noun in SLICES:
        slices = d.get(key)
        if not isinstance(slices, Mapping) or not slices:
            continue
        rows = []
        for name, entry in slices.items():
            cells = [str(name)]
            for c in SLICE_COLUMNS:
                v = _dotted(entry, c)
                cells.append(str(v) if isinstance(v, int) and not isinstance(v, bool) else format_float(v))
            rows.append(cells)
        out.append((noun, [noun, *SLICE_COLUMNS], rows))
    return out


def make_console(file: TextIO, *, width: int | None = None) -> Any:
    from rich.console import Console

    return Console(file=file, width=width, highlight=False, soft_wrap=False)


def write_summary(summary: Summary | ScoreResult, file: TextIO) -> None:
    """A rich table when ``file`` is a terminal, else aligned ``key  value`` lines; then the
    histogram of cos and the gates, if any."""
    console = make_console(file)
    d = as_summary(summary)
    rows = summary_rows(d)
    hist, gates = histogram_rows(d["histogram"]), gate_rows(d)
    if console.is_terminal:
        from rich.table import Table

        pred = d["inputs"]["pred"]["path"]
        label = d["inputs"]["label"]["path"]
        table = Table(title=f"cosloss: {pred} vs {label}", show_header=False, title_justify="left")
        table.add_column("metric", style="bold")
        table.add_column("value", justify="right")
        for key, value in rows:
            table.add_row(key, value)
        console.print(table)
        if hist:
            h = Table(title="cos histogram", show_header=False, title_justify="left", box=None)
            h.add_column("bin", style="dim")
            h.add_column("bar", style="cyan")
            h.add_column("count", justify="right")
            for label, bar, count in hist:
                h.add_row(label, bar, str(count))
            console.print(h)
        if gates:
            g = Table(title="gates", title_justify="left")
            for col in ("gate", "value", "threshold", "verdict"):
                g.add_column(col)
            for expr, value, threshold, verdict in gates:
                style = "green" if verdict == "pass" else "bold red"
                g.add_row(expr, value, threshold, f"[{style}]{verdict}[/]")
            console.print(g)
        for noun, header, cells in slice_tables(d):
            t = Table(title=f"per {noun}", title_justify="left")
            for col in header:
                t.add_column(col, justify="left" if col == noun else "right")
            for row in cells:
                t.add_row(*row)
            console.print(t)
        return
    width = max(len(k) for k, _ in rows)
    text = "".join(f"{k:<{width}}  {v}\n" for k, v in rows)
    if hist:
        lw = max(len(label) for label, _, _ in hist)
        text += "\ncos histogram\n" + "".join(
            f"  {label:<{lw}}  {count:>9}  {bar}".rstrip() + "\n" for label, bar, count in hist
        )
    if gates:
        text += "\ngates\n" + "".join(
            f"  {verdict:<4}  {expr}: value {value}, required {threshold}\n"
            for expr, value, threshold, verdict in gates
        )
    for noun, header, cells in slice_tables(d):
        widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
        text += f"\nper {noun}\n" + "".join(
            "  "
            + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            + "\n"
            for r in [header, *cells]
        )
    file.write(text)


def write_json(summary: Summary | ScoreResult, file: TextIO) -> None:
    """The summary as one JSON object; non-finite numbers are null (never an error)."""
    file.write(as_summary(summary).to_json() + "\n")
