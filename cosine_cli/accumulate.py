"""Mergeable running statistics, and the Keras/TF1 reductions computed from them.

An :class:`Accumulator` takes scored chunks one at a time and keeps only
running float64 sums (compensated), counts and extremes, so:

* memory does not grow with the number of vectors;
* the result does not depend on how the vectors were chunked (no mean of
  per-chunk means anywhere);
* two accumulators built on different parts of the data merge into the one
  that a single pass would have built (for a distributed engine).

NumPy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from .sketch import QUANTILES, CosSketch, WorstK

__all__ = ["BLOCK", "REDUCTIONS", "ScoredChunk", "Accumulator", "CompensatedSum", "reduce_loss"]

#: Reduction names, as Keras 3 and TF1 spell them (see README: Reductions).
REDUCTIONS: Final[tuple[str, ...]] = (
    "sum_over_batch_size",
    "mean",
    "sum",
    "mean_with_sample_weight",
    "sum_by_nonzero_weights",
    "none",
)


@dataclass
class ScoredChunk:
    """The per-vector results of one chunk, in C order of the loss shape."""

    start: int  #: flat index (in the loss shape) of the first vector here
    cos: NDArray[np.float64]  #: cosine similarity per vector
    loss: NDArray[np.float64]  #: unweighted loss per vector
    zero: NDArray[np.bool_]  #: either vector is a zero vector
    skipped: NDArray[np.bool_]  #: left out of every reduction (--nan-policy skip)
    weight: NDArray[np.float64] | None = None  #: the weight of each vector, broadcast
    #: each vector's part of the weights "as passed" (Keras 3 divides by their sum):
    #: a per-row weight over T vectors gives each of them w / T
    weight_share: NDArray[np.float64] | None = None
    #: the ids of these vectors (from --id-col), any array-like of len(self); None: use row numbers
    ids: Any = None

    def __len__(self) -> int:
        return int(self.cos.shape[0])

    @property
    def weighted_loss(self) -> NDArray[np.float64]:
        """The loss times its weight, as Keras's ``reduction="none"`` returns it."""
        return self.loss if self.weight is None else self.loss * self.weight


@dataclass
class CompensatedSum:
    """Neumaier's compensated sum of float64 chunk sums: chunking changes nothing
    measurable, even over 10^9 values."""

    total: float = 0.0
    compensation: float = 0.0

    def add(self, x: float) -> None:
        t = self.total + x
        if not math.isfinite(t):
            self.total, self.compensation = t, 0.0
            return
        if abs(self.total) >= abs(x):
            self.compensation += (self.total - t) + x
        else:
            self.compensation += (x - t) + self.total
        self.total = t

    def merge(self, other: CompensatedSum) -> None:
        self.add(other.total)
        self.add(other.compensation)

    @property
    def value(self) -> float:
        return self.total + self.compensation


_EMPTY: Final = ScoredChunk(0, np.empty(0), np.empty(0), np.empty(0, bool), np.empty(0, bool))


def _chunk_sum(x: NDArray[np.float64]) -> float:
    # np.sum is pairwise within a chunk; CompensatedSum takes it from there. A sum that overflows
    # is inf (the summary says null), not a RuntimeWarning printed into the output.
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sum(x, dtype=np.float64))


#: Vectors per block: :class:`Accumulator` folds its float sums a block at a time (see there).
BLOCK: Final = 1 << 16

#: The statistics an :class:`Accumulator` reads its staged vectors into before they are looked at.
_STATS: Final = frozenset(
    (
        "rows",
        "skipped",
        "zero_vectors",
        "nonfinite",
        "weighted",
        "nonzero_weights",
        "sum_weighted_loss",
        "sum_weight_share",
        "sum_cos",
        "cos_m2",
        "cos_min",
        "cos_max",
        "sketch",
        "worst",
    )
)


_FIELDS: Final = ("cos", "loss", "zero", "skipped", "weight", "weight_share", "ids")


def _concat(chunks: list[ScoredChunk]) -> ScoredChunk:
    """Staged chunks (consecutive arrivals, consecutive rows when a worst list is kept) as one."""
    if len(chunks) == 1:
        return chunks[0]

    def cat(name: str) -> Any:
        parts = [getattr(c, name) for c in chunks]
        return None if parts[0] is None else np.concatenate(parts)

    return ScoredChunk(chunks[0].start, *(cat(f) for f in _FIELDS))


def _owning(chunk: ScoredChunk) -> ScoredChunk:
    """The chunk with arrays of its own: a staged chunk outlives the caller's loop iteration, and a
    weight may be a reader's reused buffer (an .npy stream) or a caller's array that is refilled
    for the next chunk (score_chunks, Accumulator.update). About 40 bytes a vector, copied once:
    about 1% of what reading a 768-d float32 vector costs."""
    return ScoredChunk(
        chunk.start,
        chunk.cos.copy(),
        chunk.loss.copy(),
        chunk.zero.copy(),
        chunk.skipped.copy(),
        None if chunk.weight is None else chunk.weight.copy(),
        None if chunk.weight_share is None else chunk.weight_share.copy(),
        None if chunk.ids is None else np.array(chunk.ids),  # WorstK takes them as np.asarray would
    )


def _split(chunk: ScoredChunk, n: int) -> tuple[ScoredChunk, ScoredChunk]:
    def cut(x: Any) -> tuple[Any, Any]:
        return (None, None) if x is None else (x[:n], x[n:])

    parts = [cut(getattr(chunk, f)) for f in _FIELDS]
    head = ScoredChunk(chunk.start, *(p[0] for p in parts))
    tail = ScoredChunk(chunk.start + n, *(p[1] for p in parts))
    return head, tail


@dataclass
class Accumulator:
    """Running statistics of scored vectors; see the module docstring.

    The float sums are taken a block of ``block`` arriving vectors at a time, whatever the chunks
    were: chunks are staged (copied: ~40 bytes a vector) until a block is full, then folded as one,
    the worst list too (exact whatever the blocks: ties go to the lower row). So the
    statistics are the same to the last bit whatever the chunk size, the thread count or where a
    parallel engine cut its ranges (they all hand the vectors over in the same order), and the
    per-chunk cost is a list append: with two pool threads scoring, the thread folding their chunks
    no longer competes with them for the interpreter. Reading any statistic folds what is staged
    first (``__getattribute__``), so no caller can forget to.
    """

    rows: int = 0  #: vectors taken into the reductions
    skipped: int = 0  #: vectors left out (non-finite, under --nan-policy skip)
    zero_vectors: int = 0  #: vectors where the prediction or the label is all zeros
    nonfinite: int = 0  #: NaN losses taken in (--nan-policy propagate)
    weighted: bool = False
    nonzero_weights: int = 0
    sum_weighted_loss: CompensatedSum = field(default_factory=CompensatedSum)
    sum_weight_share: CompensatedSum = field(default_factory=CompensatedSum)
    sum_cos: CompensatedSum = field(default_factory=CompensatedSum)
    #: Chan et al.'s pairwise-mergeable sum of squared deviations of cos
    cos_m2: float = 0.0
    cos_min: float = math.inf
    cos_max: float = -math.inf
    #: quantiles and the histogram of the finite cosines (bounded memory, mergeable)
    sketch: CosSketch = field(default_factory=CosSketch)
    #: the K vectors with the highest loss (K = 0: none kept)
    worst: WorstK = field(default_factory=WorstK)
    #: vectors per block (GroupedAccumulator keeps a small one: it holds one block per group)
    block: int = field(default_factory=lambda: BLOCK, repr=False, compare=False)
    _staged: list[ScoredChunk] = field(default_factory=list, repr=False, compare=False)
    _nstaged: int = field(default=0, repr=False, compare=False)

    def __getattribute__(self, name: str) -> Any:
        if name in _STATS and object.__getattribute__(self, "_nstaged"):
            object.__getattribute__(self, "_flush")()
        return object.__getattribute__(self, name)

    def update(self, chunk: ScoredChunk) -> None:
        """Take one chunk's vectors (staged; see the class)."""
        chunk = _owning(chunk)
        k = object.__getattribute__(self, "worst").k
        while len(chunk):
            room = self.block - self._nstaged
            if len(chunk) > room:
                head, chunk = _split(chunk, room)
            else:
                head, chunk = chunk, _EMPTY
            staged = self._staged
            if staged and (
                # weighted and unweighted chunks, chunks with and without ids, never share a block
                (head.weight is None) != (staged[0].weight is None)
                or (head.ids is None) != (staged[0].ids is None)
                # the worst list numbers a block's rows from its first: they must follow on
                or (k > 0 and head.start != staged[-1].start + len(staged[-1]))
            ):
                self._flush()
            self._staged.append(head)
            self._nstaged += len(head)
            if self._nstaged >= self.block:
                self._flush()

    def _flush(self) -> None:
        staged = object.__getattribute__(self, "_staged")
        if not staged:
            return
        self._staged, self._nstaged = [], 0
        self._fold(_concat(staged))

    def _fold(self, chunk: ScoredChunk) -> None:
        keep = ~chunk.skipped
        n_skip = int(len(chunk) - np.count_nonzero(keep))
        self.worst.update(chunk.start, chunk.cos, chunk.loss, keep if n_skip else None, chunk.ids)
        self.skipped += n_skip
        cos = chunk.cos if n_skip == 0 else chunk.cos[keep]
        n = int(cos.shape[0])
        self.zero_vectors += int(np.count_nonzero(chunk.zero & keep))
        if n == 0:
            return
        self.sketch.update(cos)
        wl = chunk.weighted_loss if n_skip == 0 else chunk.weighted_loss[keep]
        self.sum_weighted_loss.add(_chunk_sum(wl))
        if chunk.weight is not None:
            self.weighted = True
            w = chunk.weight if n_skip == 0 else chunk.weight[keep]
            self.nonzero_weights += int(np.count_nonzero(w))
            share = chunk.weight_share if chunk.weight_share is not None else chunk.weight
            self.sum_weight_share.add(_chunk_sum(share if n_skip == 0 else share[keep]))
        nan = int(np.count_nonzero(np.isnan(cos)))
        self.nonfinite += nan
        if nan:
            self.sum_cos.add(math.nan)
            self.cos_m2 = math.nan
            self.cos_min = self.cos_max = math.nan
            self.rows += n
            return
        chunk_sum = _chunk_sum(cos)
        chunk_mean = chunk_sum / n
        chunk_m2 = float(np.sum(np.square(cos - chunk_mean)))
        self._merge_moments(n, chunk_mean, chunk_m2)
        self.sum_cos.add(chunk_sum)
        self.cos_min = min(self.cos_min, float(cos.min()))
        self.cos_max = max(self.cos_max, float(cos.max()))
        self.rows += n

    def _merge_moments(self, n_b: int, mean_b: float, m2_b: float) -> None:
        n_a = self.rows - self.nonfinite
        if n_a <= 0 or math.isnan(self.cos_m2):
            self.cos_m2 = m2_b if n_a <= 0 else self.cos_m2
            return
        mean_a = self.sum_cos.value / n_a
        delta = mean_b - mean_a
        self.cos_m2 += m2_b + delta * delta * n_a * n_b / (n_a + n_b)

    def merge(self, other: Accumulator) -> Accumulator:
        """Fold ``other`` (built on other vectors) into this one and return it."""
        self._flush()
        other._flush()
        if other.rows - other.nonfinite > 0 and not math.isnan(other.cos_m2):
            self._merge_moments(other.rows - other.nonfinite, other.cos_mean, other.cos_m2)
        elif math.isnan(other.cos_m2):
            self.cos_m2 = math.nan
        self.rows += other.rows
        self.skipped += other.skipped
        self.zero_vectors += other.zero_vectors
        self.nonfinite += other.nonfinite
        self.weighted = self.weighted or other.weighted
        self.nonzero_weights += other.nonzero_weights
        self.sum_weighted_loss.merge(other.sum_weighted_loss)
        self.sum_weight_share.merge(other.sum_weight_share)
        self.sum_cos.merge(other.sum_cos)
        self.sketch.merge(other.sketch)
        self.worst.merge(other.worst)
        if self.nonfinite:
            self.cos_min = self.cos_max = math.nan
        else:
            self.cos_min = min(self.cos_min, other.cos_min)
            self.cos_max = max(self.cos_max, other.cos_max)
        return self

    @property
    def cos_mean(self) -> float:
        return self.sum_cos.value / self.rows if self.rows else math.nan

    def cos_quantiles(self) -> dict[str, float | None]:
        """p01 .. p99 of cos, each within 1e-6 of numpy.quantile; None when empty or NaN was seen."""
        if self.nonfinite or not self.rows:
            return {name: None for name in QUANTILES}
        return self.sketch.quantiles(QUANTILES, self.cos_min, self.cos_max)

    @property
    def cos_std(self) -> float:
        """Population standard deviation of cos (as numpy.std)."""
        return math.sqrt(max(self.cos_m2, 0.0) / self.rows) if self.rows else math.nan


def _div_no_nan(num: float, den: float) -> float:
    """num / den, and 0 for a divisor of 0, as Keras's divide_no_nan and TF1's _safe_div."""
    return 0.0 if den == 0 else num / den


def reduce_loss(acc: Accumulator, reduction: str, *, scalar_weight: float | None = None) -> float | None:
    """The reduced loss of everything ``acc`` has seen (None for ``"none"``).

    ``scalar_weight`` is the single weight given for every vector, if that is how
    weights were passed: Keras 3's ``mean_with_sample_weight`` then divides by
    that one number, and TF1's ``sum_by_nonzero_weights`` counts every vector
    (or none, for 0).
    """
    total = acc.sum_weighted_loss.value
    if reduction in ("sum_over_batch_size", "mean"):
        return _div_no_nan(total, acc.rows)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight":
        if scalar_weight is not None:
            return _div_no_nan(total, scalar_weight)
        return _div_no_nan(total, acc.sum_weight_share.value if acc.weighted else acc.rows)
    if reduction == "sum_by_nonzero_weights":
        if scalar_weight is not None:
            return _div_no_nan(total, acc.rows if scalar_weight != 0 else 0)
        return _div_no_nan(total, acc.nonzero_weights if acc.weighted else acc.rows)
    if reduction == "none":
        return None
    raise ValueError(f"unknown reduction {reduction!r}; expected one of {', '.join(REDUCTIONS)}")
