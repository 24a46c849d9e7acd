"""The named per-row columns a score reads, declared once.

The CLI's column options, the library's keyword arguments, the id join, the pipeline's aligned
streams and the Dask tasks all read :data:`ROLES`: a role is a column the run needs one value
(or one vector) a row of, found in PRED, LABEL, the one-file pair, or a file of its own. Adding a
per-row input (a target score, a group) is one entry here and its use in the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Role", "ROLES", "OPTION_FLAGS", "flag"]

Kind = Literal["vector", "scalar", "id"]


@dataclass(frozen=True)
class Role:
    """One per-row column: its name in the pipeline, its kind, and the options that choose it."""

    name: str  #: the key of its stream in the pipeline ("pred", "label", "weight", ...)
    kind: Kind
    column_option: str | None  #: the InputOptions field naming its column (``pred_col``)
    file_option: str | None = None  #: the score() keyword giving a file of its own (``weights``)
    description: str = ""


ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        Role("pred", "vector", "pred_col", None, "the predictions"),
        Role("label", "vector", "label_col", None, "the labels (the reference)"),
        Role("weight", "scalar", "weight_col", "weights", "a sample weight a vector"),
        Role("id", "id", "id_col", None, "an id a row, checked (or joined on) across inputs"),
        Role("target", "scalar", "target_col", "targets", "a target a vector (--loss embedding / mse, correlations)"),
        Role("group", "id", "group_col", None, "a group a vector (by_group: a language, a task, a class)"),
    )
}

#: The CLI flag of every library option a message may name (library messages say ``{pred_col}``;
#: the CLI renders them with these, the library with the keyword names).
OPTION_FLAGS: dict[str, str] = {
    "pred_col": "--pred-col",
    "label_col": "--label-col",
    "columns": "--columns",
    "weight_col": "--weight-col",
    "id_col": "--id-col",
    "join_on_id": "--join-on-id",
    "weights": "--weights",
    "weight": "--weight",
    "pred_format": "--pred-format",
    "label_format": "--label-format",
    "header": "--header / --no-header",
    "delimiter": "--delimiter",
    "key": "--key",
    "engine": "--engine",
    "reduction": "--reduction",
    "loss": "--loss",
    "pred_encoding": "--pred-encoding",
    "label_encoding": "--label-encoding",
    "ranges": "--ranges",
    "dim": "--dim",
    "targets": "--targets",
    "target_col": "--target-col",
    "group_col": "--group-col",
    "margin": "--margin",
    "dims": "--dims",
    "diff": "--diff",
    "candidates": "CAND...",
}


def flag(option: str) -> str:
    """How the command line spells a library option (``pred_col`` -> ``--pred-col``)."""
    return OPTION_FLAGS.get(option, "--" + option.replace("_", "-"))
