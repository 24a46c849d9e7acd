"""The summary as GitHub-flavoured Markdown, for ``$GITHUB_STEP_SUMMARY`` or a PR comment."""

from __future__ import annotations

import math
from typing import Any

from ..report import QUANTILE_KEYS, gate_rows, histogram_rows

__all__ = ["mermaid_histogram", "render_markdown", "slice_tables"]

_SLICES = (("by_dim", "dim"), ("by_group", "group"), ("by_candidate", "candidate"))
_SLICE_COLUMNS = ("rows", "loss", "cos.mean", "cos.min", "cos.p01", "cos.p50", "cos.max")


def _num(x: Any) -> str:
    return "null" if x is None else f"`{x!r}`"


def render_markdown(d: dict[str, Any]) -> str:
    """Markdown for a JSON summary ``d`` (with its gates and baseline when present)."""
    pred, label = d["inputs"]["pred"]["path"], d["inputs"]["label"]["path"]
    cos = d["cos"]
    lines = [f"## cosloss: `{pred}` vs `{label}`", ""]
    gates = gate_rows(d)
    if gates:
        failed = sum(v == "FAIL" for *_, v in gates)
        verdict = f"❌ {failed} of {len(gates)} gates failed" if failed else f"✅ all {len(gates)} gates passed"
        lines += [f"**{verdict}**", ""]
    lines += [
        "| metric | value |",
        "|---|---|",
        f"| loss ({d['loss_kind']}, {d['reduction']}, compat {d['compat']}) | {_num(d['loss'])} |",
        f"| rows | {d['rows']} |",
        f"| skipped | {d['skipped']} |",
        f"| zero_vectors | {d['zero_vectors']} |",
    ]
    lines += [f"| cos.{k} | {_num(cos.get(k))} |" for k in ("mean", "std", "min", "max", *QUANTILE_KEYS)]
    if d.get("weights"):
        lines += [f"| weights.sum | {_num(d['weights']['sum'])} |", f"| weights.nonzero | {d['weights']['nonzero']} |"]
    if gates:
        lines += ["", "### Gates", "", "| gate | value | required | verdict |", "|---|---|---|---|"]
        lines += [
            f"| `{expr}` | `{value}` | `{threshold}` | {'✅ pass' if verdict == 'pass' else '❌ FAIL'} |"
            for expr, value, threshold, verdict in gates
        ]
    base = d.get("baseline")
    if base:
        lines += [
            "",
            "### Baseline",
            "",
            "| | loss |",
            "|---|---|",
            f"| baseline (`{base['path']}`) | {_num(base['loss'])} |",
            f"| this run | {_num(base['current'])} |",
            f"| delta | {_num(base['delta'])} |",
            f"| tolerance | `{base['tolerance']}` (allowed delta {_num(base['allowed'])}) |",
        ]
    hist = histogram_rows(d["histogram"], width=30)
    if hist:
        lw = max(len(label) for label, _, _ in hist)
        lines += ["", "### cos histogram", "", "```text"]
        lines += [f"{label:<{lw}}  {count:>9}  {bar}".rstrip() for label, bar, count in hist]
        lines += ["```"]
        lines += ["", *mermaid_histogram(d["histogram"])]
    worst = d.get("worst") or []
    if worst:
        key = "id" if "id" in worst[0] else "row"
        lines += ["", f"### {len(worst)} worst vectors", "", f"| {key} | cos | loss |", "|---|---|---|"]
        lines += [f"| {w[key]} | {_num(w['cos'])} | {_num(w['loss'])} |" for w in worst]
    lines += slice_tables(d)
    return "\n".join(lines) + "\n"


def mermaid_histogram(hist: dict[str, Any]) -> list[str]:
    """A Mermaid ``xychart-beta`` bar chart (GitHub renders it in a job summary), one bar per bin,
    each bar the bin's exact count; x labels are the bins' lower edges. Empty when no bins."""
    edges, counts = hist.get("edges") or [], hist.get("counts") or []
    if not counts or len(edges) != len(counts) + 1:
        return []
    step = min(hi - lo for lo, hi in zip(edges, edges[1:], strict=False)) or 1.0
    digits = max(2, min(7, math.ceil(-math.log10(step)) + 1))  # enough to tell neighbouring bins apart
    labels = ", ".join(f'"{e:.{digits}f}"' for e in edges[:-1])
    bars = ", ".join(str(int(c)) for c in counts)
    return [
        "```mermaid",
        "xychart-beta",
        '    title "cos distribution (vectors per bin)"',
        f'    x-axis "cos (bin start)" [{labels}]',
        f'    y-axis "vectors" 0 --> {max(int(c) for c in counts) or 1}',
        f"    bar [{bars}]",
        "```",
    ]


def _cell(text: Any) -> str:
    """A table cell from data: pipes and newlines would break the row."""
    return str(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _dotted(entry: Any, name: str) -> Any:
    for part in name.split("."):
        entry = entry.get(part) if isinstance(entry, dict) else None
    return entry


def slice_tables(d: dict[str, Any]) -> list[str]:
    """Per-dim / per-group / per-candidate tables, for the keys the summary holds."""
    lines: list[str] = []
    for key, noun in _SLICES:
        slices = d.get(key)
        if not isinstance(slices, dict) or not slices:
            continue
        cols = [c for c in _SLICE_COLUMNS if any(_dotted(v, c) is not None for v in slices.values())]
        lines += ["", f"### Per {noun}", "", "| " + " | ".join([noun, *cols]) + " |", "|---" * (len(cols) + 1) + "|"]
        for name, entry in slices.items():
            cells = [f"`{_cell(name)}`", *(_num(_dotted(entry, c)) for c in cols)]
            lines.append("| " + " | ".join(cells) + " |")
    return lines
