"""Parity statistics beside cosine (``--diff``): the largest element-wise difference, the relative L2
error ||p - l|| / ||l|| and the norm ratio ||p|| / ||l||, as export checks (Optimum's ``atol``,
fastembed's ``allclose``) report them.

Everything is computed from p - l itself, in float64 (a float32 difference is exact once both sides
are widened), never from the cosine's sums: near p = l those would cancel. Norms of rows whose
sum of squares overflows or underflows float64 are recomputed after an exact power-of-two
rescaling.

A label vector of norm 0 (padding) has no relative error: we define
``rel_l2 = 0`` and ``norm_ratio = 1`` when the prediction is zero too (the pair agrees exactly),
and ``inf`` for both when it is not. An infinite mean, min or max shows as null in the JSON
summary (JSON has no infinity), so a gate on it fails, as it must; ``diff.zero_label`` counts
such rows.

NumPy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from .accumulate import CompensatedSum

__all__ = ["DiffAccumulator", "RowDiff", "diff_rows"]

_BLOCK_ELEMENTS: Final = 1 << 20  # float64 elements per temporary (8 MiB): chunks are cut into row blocks

FloatArray = NDArray[np.float64]


class RowDiff(NamedTuple):
    """Per-row parity values of :func:`diff_rows`."""

    max_abs: FloatArray  #: max |p - l| over the row's elements
    rel_l2: FloatArray  #: ||p - l|| / ||l|| (see the module docstring for ||l|| = 0)
    norm_ratio: FloatArray  #: ||p|| / ||l||
    zero_label: NDArray[np.bool_]  #: ||l|| = 0


def _row_norms(x: FloatArray) -> FloatArray:
    """Euclidean norm of each row of a float64 array, right even where the sum of squares is not representable."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        sq = np.einsum("ij,ij->i", x, x)
    small = float(np.finfo(np.float64).tiny / np.finfo(np.float64).eps)
    bad = ~(np.isfinite(sq) & ((sq >= small) | (sq == 0)))
    norms = np.sqrt(sq)
    if bad.any():
        idx = np.flatnonzero(bad)
        rows = x[idx]
        maxabs = np.max(np.abs(rows), axis=1)
        finite = np.isfinite(maxabs) & (maxabs > 0)
        _, e = np.frexp(np.where(finite, maxabs, 1.0))
        scaled = np.ldexp(rows, -e[:, None])
        with np.errstate(over="ignore"):
            fixed = np.ldexp(np.sqrt(np.einsum("ij,ij->i", scaled, scaled)), e)
        # a NaN row stays NaN; an inf row (no NaN) has norm inf; an all-zero row cannot be bad
        norms[idx] = np.where(finite, fixed, maxabs)
    out: FloatArray = norms
    return out


def diff_rows(pred: NDArray[np.generic], label: NDArray[np.generic]) -> RowDiff:
    """The parity values of each row pair of two (n, d) arrays.

    Examples
    --------
    >>> r = diff_rows(np.array([[3.0, 4.0], [0.0, 0.0]]), np.array([[3.0, 0.0], [0.0, 0.0]]))
    >>> r.max_abs.tolist(), r.rel_l2.tolist(), r.norm_ratio.tolist()
    ([4.0, 0.0], [1.3333333333333333, 0.0], [1.6666666666666667, 1.0])
    """
    if pred.shape != label.shape or pred.ndim != 2:
        raise ValueError(f"expected two (n, d) arrays of one shape, got {pred.shape} and {label.shape}")
    n, d = pred.shape
    max_abs = np.empty(n)
    nd = np.empty(n)
    nl = np.empty(n)
    npn = np.empty(n)
    step = max(1, _BLOCK_ELEMENTS // max(d, 1))
    for s in range(0, n, step):
        p64 = np.asarray(pred[s : s + step], dtype=np.float64)
        l64 = np.asarray(label[s : s + step], dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            diff = p64 - l64
        max_abs[s : s + step] = np.max(np.abs(diff), axis=1) if d else 0.0
        nd[s : s + step] = _row_norms(diff)
        nl[s : s + step] = _row_norms(l64)
        npn[s : s + step] = _row_norms(p64)
    zero_label = nl == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = nd / nl
        ratio = npn / nl
    if zero_label.any():
        same = zero_label & (npn == 0)
        rel[zero_label] = np.where(same[zero_label], 0.0, np.inf)
        ratio[zero_label] = np.where(same[zero_label], 1.0, np.inf)
        nan = zero_label & np.isnan(npn)
        rel[nan] = ratio[nan] = np.nan
    return RowDiff(max_abs, rel, ratio, zero_label)


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


@dataclass
class DiffAccumulator:
    """Running parity statistics; mergeable, independent of the chunking."""

    rows: int = 0
    nonfinite: int = 0  #: rows whose values were NaN (the statistics are then null)
    zero_label: int = 0
    max_abs: float = 0.0
    rel_sum: CompensatedSum = field(default_factory=CompensatedSum)
    rel_max: float = -math.inf
    ratio_sum: CompensatedSum = field(default_factory=CompensatedSum)
    ratio_min: float = math.inf
    ratio_max: float = -math.inf

    def update(
        self, pred: NDArray[np.generic], label: NDArray[np.generic], keep: NDArray[np.bool_] | None = None
    ) -> RowDiff:
        """Take the row pairs of (n, d) arrays ``pred`` and ``label`` where ``keep``; returns every row's values."""
        r = diff_rows(pred, label)
        self.update_rows(r, keep)
        return r

    def update_rows(self, r: RowDiff, keep: NDArray[np.bool_] | None = None) -> None:
        """Take per-row values already computed by :func:`diff_rows`."""
        if keep is not None:
            r = RowDiff(r.max_abs[keep], r.rel_l2[keep], r.norm_ratio[keep], r.zero_label[keep])
        n = int(r.max_abs.shape[0])
        if n == 0:
            return
        nan = np.isnan(r.max_abs) | np.isnan(r.rel_l2) | np.isnan(r.norm_ratio)
        self.nonfinite += int(np.count_nonzero(nan))
        self.rows += n
        self.zero_label += int(np.count_nonzero(r.zero_label))
        self.max_abs = max(self.max_abs, float(np.max(r.max_abs)))
        with np.errstate(invalid="ignore"):  # inf - inf inside the sums: the mean is then NaN -> null
            self.rel_sum.add(float(np.sum(r.rel_l2)))
            self.ratio_sum.add(float(np.sum(r.norm_ratio)))
        self.rel_max = max(self.rel_max, float(np.max(r.rel_l2)))
        self.ratio_min = min(self.ratio_min, float(np.min(r.norm_ratio)))
        self.ratio_max = max(self.ratio_max, float(np.max(r.norm_ratio)))

    def merge(self, other: DiffAccumulator) -> DiffAccumulator:
        self.rows += other.rows
        self.nonfinite += other.nonfinite
        self.zero_label += other.zero_label
        self.max_abs = max(self.max_abs, other.max_abs)
        self.rel_sum.merge(other.rel_sum)
        self.ratio_sum.merge(other.ratio_sum)
        self.rel_max = max(self.rel_max, other.rel_max)
        self.ratio_min = min(self.ratio_min, other.ratio_min)
        self.ratio_max = max(self.ratio_max, other.ratio_max)
        return self

    def to_dict(self) -> dict[str, Any]:
        """``{"diff": {"max_abs", "rel_l2": {"mean", "max"}, "zero_label"}, "norm_ratio": {"mean", "min", "max"}}``.

        Null where there were no rows, where a NaN was seen, or where the value is infinite."""
        if self.rows == 0 or self.nonfinite:
            return {
                "diff": {"max_abs": None, "rel_l2": {"mean": None, "max": None}, "zero_label": self.zero_label},
                "norm_ratio": {"mean": None, "min": None, "max": None},
            }
        return {
            "diff": {
                "max_abs": _finite_or_none(self.max_abs),
                "rel_l2": {
                    "mean": _finite_or_none(self.rel_sum.value / self.rows),
                    "max": _finite_or_none(self.rel_max),
                },
                "zero_label": self.zero_label,
            },
            "norm_ratio": {
                "mean": _finite_or_none(self.ratio_sum.value / self.rows),
                "min": _finite_or_none(self.ratio_min),
                "max": _finite_or_none(self.ratio_max),
            },
        }
