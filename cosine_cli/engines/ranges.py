"""Row ranges that a worker can score on its own: planning only (the readers read).

:func:`plan_ranges` cuts the pair's common row space at row-group starts that both sides share,
so that no task decodes a row group another task decodes too (where the sides allow it).
:func:`plan_inputs` does it for opened inputs, and :func:`in_global_rows` renames the row of an
error raised inside a range; both engines (Dask, the local thread pool) use them.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError

__all__ = ["plan_ranges", "plan_inputs", "boundaries", "merge_boundaries", "in_global_rows"]


def boundaries(src: Any) -> list[int] | None:
    """Where a source's row groups start (None: it may be cut anywhere, as a ``.npy`` file)."""
    reader = getattr(src, "reader", src)
    bounds = getattr(reader, "boundaries", None)
    return bounds() if callable(bounds) else None


def merge_boundaries(a: list[int] | None, b: list[int] | None) -> list[int] | None:
    """The row-group starts of two inputs read together (pred and its weights): cut at either's."""
    if a is None or b is None:
        return a if b is None else b
    return sorted(set(a) | set(b))


def plan_inputs(pred: Any, label: Any, weights: Any, rows: int, target: int) -> list[tuple[int, int]]:
    """Row ranges of about ``target`` rows for opened pred, label and weights sources."""
    pb = merge_boundaries(boundaries(pred), boundaries(weights) if weights is not None else None)
    return plan_ranges(pb, boundaries(label), rows, target)


def in_global_rows(exc: InputError, offset: int) -> InputError:
    """``exc``, raised while scoring a range whose first vector is ``offset``, with its row
    counted from the start of the inputs (as the serial path names it)."""
    if isinstance(exc.row, int) or (isinstance(exc.row, str) and exc.row.isdigit()):
        return InputError(exc.detail, source=exc.source, row=int(exc.row) + offset, column=exc.column)
    return exc


def plan_ranges(a: list[int] | None, b: list[int] | None, total: int, target: int) -> list[tuple[int, int]]:
    """Row ranges [start, stop) covering ``total`` rows, cut only where both sides may be cut.

    ``a`` and ``b`` are each side's row-group starts (None: anywhere). A range
    ends at the first boundary shared by both sides past ``target`` rows; when
    the sides' row groups never line up it ends at the first boundary of either
    past ``2 * target`` (a task then decodes part of a row group it does not
    score, at most once per edge).

    >>> plan_ranges([0, 3, 6], [0, 2, 4, 6], 6, 2)
    [(0, 4), (4, 6)]
    >>> plan_ranges([0, 2, 4, 6], [0, 4, 6], 6, 1)
    [(0, 4), (4, 6)]
    >>> plan_ranges([0, 2, 4, 6], None, 6, 3)
    [(0, 4), (4, 6)]
    """
    if a is None and b is None:
        return [(s, min(s + target, total)) for s in range(0, total, target)] or [(0, 0)]
    cuts = sorted(set(a or []) | set(b or []) | {total})
    common = set(cuts) if a is None or b is None else set(a) & set(b)
    common.add(total)
    ranges, start = [], 0
    for cut in cuts:
        n = cut - start
        if n > 0 and (cut == total or (cut in common and n >= target) or n >= 2 * target):
            ranges.append((start, cut))
            start = cut
    return ranges or [(0, 0)]
