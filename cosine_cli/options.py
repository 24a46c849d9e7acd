"""The input options of ``cosloss score`` (and ``inspect``), grouped in one decorator.

Spelled out here without importing pyarrow or NumPy, so that ``--help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from .formats import FORMAT_NAMES

__all__ = ["FORMAT_CHOICES", "input_options", "input_kwargs"]

F = TypeVar("F", bound=Callable[..., Any])

FORMAT_CHOICES = FORMAT_NAMES  # the registry (cosine_cli.formats imports nothing heavy)
#: cosine_cli.encodings.ENCODINGS, spelled out so that --help imports no NumPy (a test keeps them equal)
ENCODING_CHOICES = ("int8", "uint8", "binary", "ubinary", "bfloat16")

_OPTIONS = [
    click.option(
        "--pred-col",
        metavar="COL",
        help="PRED's vector column, a glob of number columns (one a dimension, in file order), or the "
        "array of an archive (.npz). Default: the only vector column; in a wide table the numbered "
        "columns (e0, e1, ...).",
    ),
    click.option("--label-col", metavar="COL", help="LABEL's vector column or array (same rules as --pred-col)."),
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
    click.option(
        "--key", metavar="NAME", hidden=True, help="Archives: one array for both sides (use --pred-col / --label-col)."
    ),
    click.option(
        "--delimiter",
        metavar="CHAR",
        help="CSV delimiter ('\\t' or 'tab' for tabs). Default: detected from the first line.",
    ),
    click.option(
        "--header/--no-header",
        default=None,
        help="CSV: the first line is (or is not) a header. Default: a header unless the first line is all "
        "numbers (as np.savetxt writes); columns without one are f0, f1, ...",
    ),
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
    click.option(
        "--target-col",
        metavar="COL",
        help="A target a vector from column COL of PRED, LABEL or the --targets file (--loss embedding / mse; "
        "the summary's correlation).",
    ),
    click.option(
        "--group-col",
        metavar="COL",
        help="Statistics per value of column COL of PRED or LABEL (a language, a task): the summary's by_group.",
    ),
    click.option(
        "--pred-encoding",
        type=click.Choice(ENCODING_CHOICES),
        help="PRED holds quantised codes (sentence-transformers quantize_embeddings): int8 / uint8 (with "
        "--ranges), binary / ubinary (packed bits, with --dim), or bfloat16 stored as 16-bit integers.",
    ),
    click.option("--label-encoding", type=click.Choice(ENCODING_CHOICES), help="LABEL's codes (see --pred-encoding)."),
    click.option(
        "--ranges",
        metavar="FILE",
        help="int8 / uint8 codes: the (2, dim) array of per-dimension minimum and maximum they were made with.",
    ),
    click.option(
        "--dim",
        type=click.IntRange(min=1),
        metavar="D",
        help="binary / ubinary codes: the vector width before packing.",
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
        for k in (
            "pred_col",
            "label_col",
            "columns",
            "key",
            "id_col",
            "weight_col",
            "pred_format",
            "label_format",
            "pred_encoding",
            "label_encoding",
            "ranges",
            "dim",
            "target_col",
            "group_col",
        )
    }
    out["delimiter"] = delimiter
    header = params.pop("header", None)
    if header is not None:
        out["header"] = header
    out["join_on_id"] = params.pop("join_on_id", False)
    return {k: v for k, v in out.items() if v not in (None, False) or k == "header"}
