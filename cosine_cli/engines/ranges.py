"""Row ranges that a worker can score on its own: planning only (the readers read).

:func:`plan_ranges` cuts the pair's common row space at row-group starts that both sides share,
so that no task decodes a row group another task decodes too (where the sides allow it).
"""

from __future__ import annotations

__all__ = ["plan_ranges"]


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
