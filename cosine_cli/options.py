"""The input options of ``cosloss score`` (and ``inspect``), grouped in one decorator.

Spelled out here without importing pyarrow or NumPy, so that ``--help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["FORMAT_CHOICES", "input_options", "input_kwargs"]

F = TypeVar("F", bound=Callable[..., Any])

FORMAT_CHOICES = ("npy", "npz", "parquet", "csv", "tsv", "arrow", "arrows", "json")

_OPTIONS = [
    click.option(
        "--pred-col",
        metavar="COL",
        help="PRED's vector column, or a glob of number columns (one a dimension, in file order). "
        "Default: the file's only vector column.",
    ),
    click.option("--label-col", metavar="COL", help="LABEL's vector column (same rules as --pred-col)."),
    click.option(
        "--columns",
        metavar="GLOB",
        help="Wide tables: the number columns holding the vector on both sides, e.g. 'emb_*'.",
    ),
    click.option(
        "--pred-format",
        type=click.Choice(FORMAT_CHOICES),
        metavar="FORMAT",
        help="PRED's format when its name or first bytes do not say it (e.g. for -). "
        f"One of {', '.join(FORMAT_CHOICES)}.",
    ),
    click.option(
        "--label-format",
        type=click.Choice(FORMAT_CHOICES),
        metavar="FORMAT",
        help="LABEL's format (see --pred-format).",
    ),
    click.option("--key", metavar="NAME", help=".npz files: the array to read (default: the only one)."),
    click.option(
        "--delimiter",
        metavar="CHAR",
        help="CSV delimiter ('\\t' or 'tab' for tabs). Default: detected from the first line.",
    ),
    click.option("--no-header", is_flag=True, help="CSV files have no header line (columns are f0, f1, ...)."),
    click.option(
        "--id-col",
        metavar="COL",
        help="Carry ids along; when both inputs have COL, rows must have the same id (the first mismatch is an error).",
    ),
    click.option(
        "--join-on-id",
        is_flag=True,
        help="Pair rows by --id-col instead of by position (loads both inputs into memory).",
    ),
    click.option(
        "--weight-col", metavar="COL", help="Sample weights from column COL of PRED, LABEL or the --weights file."
    ),
]


def input_options(f: F) -> F:
    """Add every input option to a command."""
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


def input_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """The library's keyword arguments for the input options Click parsed (only those set)."""
    delimiter = params.pop("delimiter", None)
    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(delimiter, delimiter)
        if len(delimiter) != 1:
            raise click.BadParameter("the delimiter is one character", param_hint="--delimiter")
    out = {
        k: params.pop(k)
        for k in ("pred_col", "label_col", "columns", "key", "id_col", "weight_col", "pred_format", "label_format")
    }
    out["delimiter"] = delimiter
    out["header"] = not params.pop("no_header", False)
    out["join_on_id"] = params.pop("join_on_id", False)
    return {k: v for k, v in out.items() if v not in (None, False) or k == "header" and v is False}
