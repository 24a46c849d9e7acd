"""Statistics per group (``--group-col``): one Accumulator per distinct group value.

A chunk is split by its group column with one ``np.unique`` (the inverse gives each vector its
group) and one stable sort of that inverse: each group's vectors are a slice of the sort order,
in row order, so the only Python loop is over the groups present in the chunk.

Memory per group is an Accumulator's: a few counters, the cosine sketch (only the bins hit: at
most min(rows, 2**21) bins of 16 bytes, plus up to 8 MiB of pending bin numbers) and the worst K.
:data:`MAX_GROUPS` bounds the number of groups; more is an InputError naming the count (a
``--group-col`` that is really an id column would otherwise build an accumulator per row).

NumPy only.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .accumulate import Accumulator, ScoredChunk
from .errors import InputError
from .sketch import WorstK
from .slice_stats import stats_dict

__all__ = ["MAX_GROUPS", "GroupedAccumulator"]

#: The most distinct group values a run may have.
MAX_GROUPS: Final = 1000
#: vectors per block of each group's Accumulator (see GroupedAccumulator._group)
GROUP_BLOCK: Final = 2048


def _key(value: Any) -> Hashable:
    """A group value as a plain Python value (NumPy scalars unwrapped, bytes decoded)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    return value  # type: ignore[no-any-return]


def _check_present(g: NDArray[Any], offset: int, source: str | None, column: str | None) -> None:
    """A missing group value (None, NaN) has no slice to go to: refuse it, naming the row."""
    if g.dtype.kind == "f":
        missing = np.isnan(g)
    elif g.dtype == object:
        missing = np.fromiter((v is None or (isinstance(v, float) and v != v) for v in g), bool, g.shape[0])
    else:
        return
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise InputError("has no group value (null or NaN)", source=source, row=offset + i, column=column)


def _take(chunk: ScoredChunk, idx: NDArray[np.intp]) -> ScoredChunk:
    return ScoredChunk(
        start=chunk.start,
        cos=chunk.cos[idx],
        loss=chunk.loss[idx],
        zero=chunk.zero[idx],
        skipped=chunk.skipped[idx],
        weight=None if chunk.weight is None else chunk.weight[idx],
        weight_share=None if chunk.weight_share is None else chunk.weight_share[idx],
    )


class GroupedAccumulator:
    """An Accumulator per group value, and the worst K vectors of each group; mergeable."""

    def __init__(
        self,
        worst: int = 0,
        *,
        max_groups: int = MAX_GROUPS,
        source: str | None = None,
        column: str | None = None,
    ) -> None:
        self.k = worst
        self.max_groups = max_groups
        self.source = source  #: named in errors: the file the group column comes from
        self.column = column  #: named in errors: the group column
        self.groups: dict[Hashable, Accumulator] = {}
        self.worst: dict[Hashable, WorstK] = {}

    def _group(self, key: Hashable) -> Accumulator:
        acc = self.groups.get(key)
        if acc is None:
            # the per-group Accumulator keeps no worst list: its chunks are slices whose row numbers
            # are not start + position; self.worst keeps them with the real rows
            # small blocks: each group holds up to one block of staged vectors (at most
            # MAX_GROUPS x GROUP_BLOCK x ~40 bytes, 80 MB, in all)
            acc = self.groups[key] = Accumulator(block=GROUP_BLOCK)
            self.worst[key] = WorstK(self.k)
        return acc

    def _check_count(self, new: int) -> None:
        if len(self.groups) + new > self.max_groups:
            raise InputError(
                f"has more than {self.max_groups} distinct group values ({len(self.groups) + new} so far); "
                "--group-col takes a column with few values (a language, a task, a class)",
                source=self.source,
                column=self.column,
            )

    def update(self, chunk: ScoredChunk, group: ArrayLike) -> None:
        """Fold ``chunk`` in, vector i into the group ``group[i]`` (one value per vector of the chunk)."""
        g = np.asarray(group)
        if g.ndim != 1 or g.shape[0] != len(chunk):
            raise ValueError(f"{g.shape} group values for {len(chunk)} vectors")
        if len(chunk) == 0:
            return
        _check_present(g, chunk.start, self.source, self.column)
        try:
            values, inverse = np.unique(g, return_inverse=True)
        except TypeError:  # an object column mixing types that do not compare (1 and "a")
            raise InputError(
                "group values of mixed types cannot be told apart", source=self.source, column=self.column
            ) from None
        keys = [_key(v) for v in values]
        self._check_count(sum(1 for k in keys if k not in self.groups))
        if len(keys) == 1:
            self._fold(keys[0], chunk, None)
            return
        # a stable sort keeps each group's vectors in row order (ties in WorstK go to the lower row);
        # on 16-bit codes NumPy's stable sort is a radix sort, O(n)
        codes = inverse.reshape(-1)
        if len(keys) <= np.iinfo(np.int16).max:
            codes = codes.astype(np.int16)
        order = np.argsort(codes, kind="stable")
        bounds = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=len(keys)))))
        for j, key in enumerate(keys):
            self._fold(key, chunk, order[bounds[j] : bounds[j + 1]])

    def _fold(self, key: Hashable, chunk: ScoredChunk, idx: NDArray[np.intp] | None) -> None:
        self._group(key).update(chunk if idx is None else _take(chunk, idx))
        if self.k:
            self._update_worst(key, chunk, np.arange(len(chunk)) if idx is None else idx)

    def _update_worst(self, key: Hashable, chunk: ScoredChunk, idx: NDArray[np.intp]) -> None:
        part = WorstK(self.k)
        ids = None if chunk.ids is None else np.asarray(chunk.ids)[idx]
        part.update(0, chunk.cos[idx], chunk.loss[idx], ~chunk.skipped[idx], ids)
        part.rows = chunk.start + idx[part.rows].astype(np.int64)  # positions in the slice -> rows of the input
        self.worst[key].merge(part)

    def merge(self, other: GroupedAccumulator) -> GroupedAccumulator:
        """Fold ``other`` (built on other vectors) into this one and return it."""
        self._check_count(sum(1 for k in other.groups if k not in self.groups))
        for key, acc in other.groups.items():
            self._group(key).merge(acc)
            self.worst[key].merge(other.worst[key])
        return self

    def to_dict(self, reduction: str, *, scalar_weight: float | None = None) -> dict[str, dict[str, Any]]:
        """``{"de": {...}, "en": {...}}``: per group the top-level summary's statistics keys (see summary.py),
        groups in sorted order of their names. A JSON key is ``str(value)``."""
        out = {}
        for key in sorted(self.groups, key=str):
            acc = self.groups[key]
            out[str(key)] = stats_dict(acc, reduction, scalar_weight=scalar_weight, worst=self.worst[key])
        return out
