"""Ids (``--id-col``) in the pipeline: their chunk streams, and the row-by-row check.

The id streams are re-cut with the vectors (``pipeline.aligned``), so each
scored chunk carries exactly its rows' ids on ``ScoredChunk.ids``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError, UsageProblem
from .readers.base import Source

__all__ = ["add_id_streams", "chunk_ids"]


def add_id_streams(
    streams: list[Any], names: list[str], ids: tuple[Source | None, Source | None], layout: Any, rows: int
) -> list[int]:
    """Append the id streams to ``streams``; returns their positions (pred's first)."""
    at = []
    for src in ids:
        if src is None:
            continue
        if len(layout.loss_shape) != 1 or layout.chunk_axis != 0:
            raise UsageProblem("--id-col needs one vector a row (a 2-D input with the vectors along the last axis)")
        at.append(len(streams))
        streams.append((src.chunks(rows, 0), 0))
        names.append(src.name)
    return at


#: how to pair rows that are out of order, for one PRED and for several candidates
JOIN_HINT = "use --join-on-id to pair them by id"
SORT_HINT = "several candidates are paired by position: write them in the reference's row order"


def chunk_ids(parts: tuple[Any, ...], id_at: list[int], names: list[str], offset: int, hint: str = JOIN_HINT) -> Any:
    """This chunk's ids; with two id columns, the first row where they differ is an error."""
    a = parts[id_at[0]]
    if len(id_at) == 2:
        b = parts[id_at[1]]
        if a.dtype != b.dtype and (a.dtype.kind in "OSU" or b.dtype.kind in "OSU"):
            a_cmp, b_cmp = a.astype(str), b.astype(str)
        else:
            a_cmp, b_cmp = a, b
        differ = np.asarray(a_cmp != b_cmp, dtype=bool)
        if differ.any():
            i = int(np.flatnonzero(differ)[0])
            raise InputError(
                f"id {a[i]!r} in {names[id_at[0]]} but {b[i]!r} in {names[id_at[1]]}; rows are paired "
                f"by position ({hint})",
                source=names[id_at[1]],
                row=offset + i,
            )
    return a
