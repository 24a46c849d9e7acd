"""Presenting a ScoreResult: a rich table on a terminal, plain text or JSON otherwise.

Writers only format; they compute nothing. Consoles are made per call, never
at import time, so the stream and width are the ones in force when writing.
"""

from __future__ import annotations

import json
import math
from typing import Any, TextIO

from .pipeline import ScoreResult

__all__ = ["make_console", "summary_rows", "write_json", "write_summary", "format_float"]


def format_float(x: float | None) -> str:
    """Shortest text that reads back as the same float (``repr``); None for missing."""
    if x is None:
        return "null"
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    return repr(float(x))


def summary_rows(result: ScoreResult) -> list[tuple[str, str]]:
    d = result.to_dict()
    cos = d["cos"]
    rows = [
        ("loss", format_float(d["loss"]) if result.loss is not None else "(per vector: reduction none)"),
        ("loss_kind", d["loss_kind"]),
        ("reduction", d["reduction"]),
        ("compat", d["compat"]),
        ("rows", str(d["rows"])),
        ("skipped", str(d["skipped"])),
        ("zero_vectors", str(d["zero_vectors"])),
        ("cos.mean", format_float(cos["mean"])),
        ("cos.std", format_float(cos["std"])),
        ("cos.min", format_float(cos["min"])),
        ("cos.max", format_float(cos["max"])),
    ]
    if d["weights"] is not None:
        rows.append(("weights.sum", format_float(d["weights"]["sum"])))
        rows.append(("weights.nonzero", str(d["weights"]["nonzero"])))
    if result.loss is not None and math.isnan(result.loss):
        rows[0] = ("loss", "nan")
    return rows


def make_console(file: TextIO, *, width: int | None = None) -> Any:
    from rich.console import Console

    return Console(file=file, width=width, highlight=False, soft_wrap=False)


def write_summary(result: ScoreResult, file: TextIO) -> None:
    """A rich table when ``file`` is a terminal, else aligned ``key  value`` lines."""
    console = make_console(file)
    rows = summary_rows(result)
    if console.is_terminal:
        from rich.table import Table

        pred = result.inputs["pred"]["path"]
        label = result.inputs["label"]["path"]
        table = Table(title=f"cosloss: {pred} vs {label}", show_header=False, title_justify="left")
        table.add_column("metric", style="bold")
        table.add_column("value", justify="right")
        for key, value in rows:
            table.add_row(key, value)
        console.print(table)
        return
    width = max(len(k) for k, _ in rows)
    file.write("".join(f"{k:<{width}}  {v}\n" for k, v in rows))


def write_json(result: ScoreResult, file: TextIO) -> None:
    file.write(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
