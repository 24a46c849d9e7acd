"""``cosloss compare A.json B.json``: two JSON summaries side by side, with B - A for every statistic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TextIO

from .gates import METRICS, lookup, read_summary
from .summary import to_json

__all__ = ["compare_rows", "write_compare"]


def compare_rows(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per statistic either summary has: name, a, b, delta (b - a, None when one is missing)."""
    rows = []
    for name in METRICS:
        va, vb = lookup(a, name), lookup(b, name)
        if va is None and vb is None:
            continue
        delta = vb - va if va is not None and vb is not None else None
        rows.append({"name": name, "a": va, "b": vb, "delta": delta})
    return rows


def _fmt(x: Any) -> str:
    return "null" if x is None else repr(x)


def _fmt_delta(x: Any) -> str:
    if x is None:
        return "-"
    return ("+" if x > 0 else "") + _fmt(x)


def write_compare(a_path: str, b_path: str, file: TextIO, *, as_json: bool = False) -> None:
    a, b = read_summary(a_path), read_summary(b_path)
    rows = compare_rows(a, b)
    if as_json:
        # an inf or NaN (a summary may hold them, or a difference give them) is null, as in --json
        file.write(to_json({"a": a_path, "b": b_path, "rows": rows}) + "\n")
        return
    from .report import make_console

    console = make_console(file)
    if console.is_terminal:
        from rich.table import Table

        table = Table(title=f"cosloss compare: A = {a_path}, B = {b_path}", title_justify="left")
        for col, justify in (("metric", "left"), ("A", "right"), ("B", "right"), ("B - A", "right")):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for r in rows:
            table.add_row(r["name"], _fmt(r["a"]), _fmt(r["b"]), _fmt_delta(r["delta"]))
        console.print(table)
        return
    cells = [("metric", "A", "B", "B - A")] + [
        (r["name"], _fmt(r["a"]), _fmt(r["b"]), _fmt_delta(r["delta"])) for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    file.write(f"A = {a_path}\nB = {b_path}\n\n")
    for c in cells:
        file.write(f"{c[0]:<{widths[0]}}  {c[1]:>{widths[1]}}  {c[2]:>{widths[2]}}  {c[3]:>{widths[3]}}\n")
