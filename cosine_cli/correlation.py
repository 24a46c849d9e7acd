"""Pearson and Spearman correlation between cos and a gold score, streamed and mergeable.

* :class:`PearsonAccumulator` keeps the count, the two means and the co-moments
  (sum of (x - mean_x)**2, (y - mean_y)**2 and (x - mean_x)(y - mean_y)), each chunk taken in two
  passes and merged by Chan, Golub and LeVeque's pairwise update: no raw sums of squares, so no
  cancellation when the cosines sit near 1. 72 bytes whatever the row count.
* :class:`SpearmanAccumulator` needs every pair (a rank is global): it keeps (cos, target) as two
  float64, 16 bytes a row, in memory up to ``memory_budget`` bytes and in an anonymous temporary
  file beyond. :meth:`SpearmanAccumulator.result` ranks both columns (average ranks for ties) and
  takes Pearson's r of the ranks, which is scipy's ``spearmanr``; that step holds about 32 bytes
  a row in memory (one column, its ranks, the sort order). Merging concatenates.

Both follow scipy's definitions (``pearsonr``, ``spearmanr``) and return None where scipy returns
NaN or raises: fewer than 2 pairs, a constant column, or a NaN/inf seen (NaN propagates).

NumPy only.
"""

from __future__ import annotations

import math
import tempfile
import weakref
from dataclasses import dataclass, field
from typing import IO, Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["DEFAULT_SPEARMAN_BUDGET", "Correlations", "PearsonAccumulator", "SpearmanAccumulator", "average_ranks"]

#: Bytes of (cos, target) pairs a SpearmanAccumulator keeps in memory before spilling to disk
#: (16 bytes a row: 256 MiB is 16.7 million rows).
DEFAULT_SPEARMAN_BUDGET: Final = 256 << 20
_COPY_ROWS: Final = 1 << 20  # rows per piece when copying a spill file

FloatArray = NDArray[np.float64]


def _pairs(x: ArrayLike, y: ArrayLike, keep: NDArray[np.bool_] | None) -> tuple[FloatArray, FloatArray]:
    xs = np.asarray(x, dtype=np.float64).reshape(-1)
    ys = np.asarray(y, dtype=np.float64).reshape(-1)
    if xs.shape != ys.shape:
        raise ValueError(f"{xs.shape[0]} cosines and {ys.shape[0]} targets")
    if keep is not None:
        xs, ys = xs[keep], ys[keep]
    return xs, ys


@dataclass
class PearsonAccumulator:
    """Streamed Pearson correlation; see the module docstring."""

    n: int = 0
    mean_x: float = 0.0
    mean_y: float = 0.0
    m2_x: float = 0.0  #: sum of (x - mean_x)**2
    m2_y: float = 0.0
    c_xy: float = 0.0  #: sum of (x - mean_x)(y - mean_y)
    nonfinite: int = 0  #: pairs with NaN or inf (the result is then None)
    #: the first value of each column and whether every later one equals it: scipy treats a constant
    #: column exactly (x == x[0]), which m2 == 0 cannot tell (the mean of 0.1, 0.1, 0.1 is not 0.1)
    first_x: float = math.nan
    first_y: float = math.nan
    constant_x: bool = True
    constant_y: bool = True

    def update(self, x: ArrayLike, y: ArrayLike, keep: NDArray[np.bool_] | None = None) -> None:
        """Take the pairs (x[i], y[i]) where ``keep`` (default: all)."""
        xs, ys = _pairs(x, y, keep)
        finite = np.isfinite(xs) & np.isfinite(ys)
        if not finite.all():
            self.nonfinite += int(xs.shape[0] - np.count_nonzero(finite))
            xs, ys = xs[finite], ys[finite]
        if xs.shape[0] == 0:
            return
        mx, my = float(np.mean(xs)), float(np.mean(ys))
        dx, dy = xs - mx, ys - my
        part = PearsonAccumulator(
            n=int(xs.shape[0]),
            mean_x=mx,
            mean_y=my,
            m2_x=float(np.dot(dx, dx)),
            m2_y=float(np.dot(dy, dy)),
            c_xy=float(np.dot(dx, dy)),
            first_x=float(xs[0]),
            first_y=float(ys[0]),
            constant_x=bool(np.all(xs == xs[0])),
            constant_y=bool(np.all(ys == ys[0])),
        )
        self.merge(part)

    def merge(self, other: PearsonAccumulator) -> PearsonAccumulator:
        """Fold ``other`` (built on other pairs) into this one and return it."""
        self.nonfinite += other.nonfinite
        if other.n == 0:
            return self
        if self.n == 0:
            self.n, self.mean_x, self.mean_y = other.n, other.mean_x, other.mean_y
            self.m2_x, self.m2_y, self.c_xy = other.m2_x, other.m2_y, other.c_xy
            self.first_x, self.first_y = other.first_x, other.first_y
            self.constant_x, self.constant_y = other.constant_x, other.constant_y
            return self
        n = self.n + other.n
        dx = other.mean_x - self.mean_x
        dy = other.mean_y - self.mean_y
        f = self.n * other.n / n
        self.m2_x += other.m2_x + dx * dx * f
        self.m2_y += other.m2_y + dy * dy * f
        self.c_xy += other.c_xy + dx * dy * f
        self.mean_x += dx * other.n / n
        self.mean_y += dy * other.n / n
        self.constant_x = self.constant_x and other.constant_x and self.first_x == other.first_x
        self.constant_y = self.constant_y and other.constant_y and self.first_y == other.first_y
        self.n = n
        return self

    def result(self) -> float | None:
        """Pearson's r (scipy.stats.pearsonr's statistic), or None where it is undefined."""
        if self.nonfinite or self.n < 2 or self.constant_x or self.constant_y:
            return None
        # the two square roots apart: their product cannot overflow where m2_x * m2_y would
        r = self.c_xy / (math.sqrt(self.m2_x) * math.sqrt(self.m2_y))
        return max(-1.0, min(1.0, r)) if math.isfinite(r) else None


def average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks, ties given the mean of the ranks they span (scipy.stats.rankdata, method="average").

    Examples
    --------
    >>> average_ranks(np.array([10.0, 20.0, 10.0, 5.0])).tolist()
    [2.5, 4.0, 2.5, 1.0]
    """
    n = values.shape[0]
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.empty(n, dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, n))
    # a run of c equal values from 0-based position s holds ranks s+1 .. s+c: mean s + (c + 1) / 2
    run_rank = starts + (counts + 1) / 2.0
    ranks = np.empty(n)
    ranks[order] = np.repeat(run_rank, counts)
    return ranks


def _rank_deviations(column: FloatArray) -> FloatArray:
    """Ranks minus their mean; the mean of average ranks is exactly (n + 1) / 2."""
    ranks = average_ranks(column)
    ranks -= (column.shape[0] + 1) / 2.0
    return ranks


@dataclass
class SpearmanAccumulator:
    """Every (cos, target) pair, 16 bytes a row, spilled to a temporary file beyond the budget."""

    memory_budget: int = DEFAULT_SPEARMAN_BUDGET
    spill_dir: str | None = None  #: where the temporary file goes (default: the system's temp dir)
    nonfinite: int = 0
    _parts: list[FloatArray] = field(default_factory=list, repr=False)  #: (k, 2) arrays in memory
    _in_memory: int = field(default=0, repr=False)  #: rows in _parts
    _spill: IO[bytes] | None = field(default=None, repr=False)
    _spilled: int = field(default=0, repr=False)  #: rows in the spill file

    def __len__(self) -> int:
        return self._in_memory + self._spilled

    @property
    def spilled_rows(self) -> int:
        return self._spilled

    def update(self, x: ArrayLike, y: ArrayLike, keep: NDArray[np.bool_] | None = None) -> None:
        """Keep the pairs (x[i], y[i]) where ``keep`` (default: all); NaN/inf pairs are only counted."""
        xs, ys = _pairs(x, y, keep)
        finite = np.isfinite(xs) & np.isfinite(ys)
        if not finite.all():
            self.nonfinite += int(xs.shape[0] - np.count_nonzero(finite))
            xs, ys = xs[finite], ys[finite]
        if xs.shape[0]:
            self._add(np.column_stack((xs, ys)))

    def _add(self, pairs: FloatArray) -> None:
        self._parts.append(pairs)
        self._in_memory += pairs.shape[0]
        if self._in_memory * 16 > self.memory_budget:
            self._spill_parts()

    def _spill_parts(self) -> None:
        if self._spill is None:
            self._spill = tempfile.TemporaryFile(prefix="cosloss-spearman-", dir=self.spill_dir)
            # closed (and so deleted) when the accumulator goes, without a ResourceWarning
            weakref.finalize(self, self._spill.close)
        self._spill.seek(0, 2)
        for part in self._parts:
            self._spill.write(np.ascontiguousarray(part).tobytes())
        self._spilled += self._in_memory
        self._parts, self._in_memory = [], 0

    def _spilled_pieces(self) -> list[FloatArray]:
        """The spilled pairs, read back in pieces of at most _COPY_ROWS rows."""
        if self._spill is None or not self._spilled:
            return []
        self._spill.flush()
        pieces = []
        for start in range(0, self._spilled, _COPY_ROWS):
            rows = min(_COPY_ROWS, self._spilled - start)
            self._spill.seek(start * 16)
            data = self._spill.read(rows * 16)
            pieces.append(np.frombuffer(data, dtype=np.float64).reshape(rows, 2))
        return pieces

    def merge(self, other: SpearmanAccumulator) -> SpearmanAccumulator:
        """Append ``other``'s pairs (after this one's) and return this one; ``other`` is left as it was."""
        self.nonfinite += other.nonfinite
        for piece in (*other._spilled_pieces(), *other._parts):
            self._add(piece.copy())
        return self

    def column(self, j: int) -> FloatArray:
        """Column ``j`` (0: cos, 1: target) of every pair kept, in the order taken."""
        pieces = [p[:, j] for p in (*self._spilled_pieces(), *self._parts)]
        return np.concatenate(pieces) if pieces else np.empty(0)

    def result(self) -> float | None:
        """Spearman's rho (scipy.stats.spearmanr's statistic), or None where it is undefined."""
        n = len(self)
        if self.nonfinite or n < 2:
            return None
        dx = _rank_deviations(self.column(0))
        if not dx.any():
            return None  # constant cosines
        dy = _rank_deviations(self.column(1))
        if not dy.any():
            return None
        r = float(np.dot(dx, dy)) / (math.sqrt(float(np.dot(dx, dx))) * math.sqrt(float(np.dot(dy, dy))))
        return max(-1.0, min(1.0, r))

    def close(self) -> None:
        """Delete the spill file now (it also goes when the accumulator is garbage-collected)."""
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        self._parts, self._in_memory, self._spilled = [], 0, 0

    # Pickling (a Dask task's result) carries the pairs themselves: a spill file is local to a machine.
    def __getstate__(self) -> dict[str, Any]:
        pieces = [*self._spilled_pieces(), *self._parts]
        pairs = np.concatenate(pieces) if pieces else np.empty((0, 2))
        return {
            "memory_budget": self.memory_budget,
            "spill_dir": self.spill_dir,
            "nonfinite": self.nonfinite,
            "pairs": pairs,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.memory_budget = state["memory_budget"]
        self.spill_dir = state["spill_dir"]
        self.nonfinite = state["nonfinite"]
        self._parts, self._in_memory, self._spill, self._spilled = [], 0, None, 0
        if state["pairs"].shape[0]:
            self._add(state["pairs"])


@dataclass
class Correlations:
    """Pearson and Spearman between cos and the targets, side by side (the summary's ``correlation``)."""

    pearson: PearsonAccumulator = field(default_factory=PearsonAccumulator)
    spearman: SpearmanAccumulator = field(default_factory=SpearmanAccumulator)

    def update(self, cos: ArrayLike, target: ArrayLike, keep: NDArray[np.bool_] | None = None) -> None:
        self.pearson.update(cos, target, keep)
        self.spearman.update(cos, target, keep)

    def merge(self, other: Correlations) -> Correlations:
        self.pearson.merge(other.pearson)
        self.spearman.merge(other.spearman)
        return self

    def to_dict(self) -> dict[str, float | None]:
        """``{"pearson": r, "spearman": rho}``, None where undefined.

        Pearson is taken from the pairs Spearman keeps anyway, in two passes with scaled norms (as
        scipy does): the streamed sums lose it where squared deviations underflow (targets near
        1e-200). The streamed value stands in only if the pairs are gone."""
        p = self.pearson
        if p.constant_x or p.constant_y:
            pearson = None
        elif len(self.spearman) >= 2 and not (p.nonfinite or self.spearman.nonfinite):
            pearson = _pearson_two_pass(self.spearman.column(0), self.spearman.column(1))
        else:
            pearson = self.pearson.result()
        return {"pearson": pearson, "spearman": self.spearman.result()}


def _pearson_two_pass(x: FloatArray, y: FloatArray) -> float | None:
    xm, ym = x - x.mean(), y - y.mean()
    # scaled by the largest deviation first: squares of deviations near 1e-200 would underflow
    sx, sy = float(np.abs(xm).max()), float(np.abs(ym).max())
    if sx == 0 or sy == 0 or not (math.isfinite(sx) and math.isfinite(sy)):
        return None
    xs, ys = xm / sx, ym / sy
    r = float(np.dot(xs, ys)) / (math.sqrt(float(np.dot(xs, xs))) * math.sqrt(float(np.dot(ys, ys))))
    return max(-1.0, min(1.0, r))
