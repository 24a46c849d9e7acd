"""The summary as GitHub-flavoured Markdown, for ``$GITHUB_STEP_SUMMARY`` or a PR comment."""

from __future__ import annotations

import os
from typing import Any

from ..report import QUANTILE_KEYS, gate_rows, histogram_rows

__all__ = ["render_markdown", "write_markdown"]


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
    worst = d.get("worst") or []
    if worst:
        key = "id" if "id" in worst[0] else "row"
        lines += ["", f"### {len(worst)} worst vectors", "", f"| {key} | cos | loss |", "|---|---|---|"]
        lines += [f"| {w[key]} | {_num(w['cos'])} | {_num(w['loss'])} |" for w in worst]
    return "\n".join(lines) + "\n"


def write_markdown(d: dict[str, Any], path: str) -> None:
    """Write (or, for the file ``$GITHUB_STEP_SUMMARY`` names, append: other steps write there too)."""
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY") or ""
    append = bool(summary_file) and os.path.abspath(summary_file) == os.path.abspath(path)
    with open(path, "a" if append else "w", encoding="utf-8") as f:
        f.write(render_markdown(d))
