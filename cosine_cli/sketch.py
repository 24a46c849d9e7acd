"""Mergeable, bounded-memory summaries of the cosine distribution: quantiles, a histogram, the worst K.

* :class:`CosSketch` counts cosines in fixed bins of width 2**-20 over [-1, 1] and keeps only the
  bins that were hit (sorted bin numbers and int64 counts). A quantile is read off as numpy's
  default ("linear") rule does: the two order statistics around it, each replaced by its bin's
  midpoint (off by at most half a bin, 2**-21 ~ 4.8e-7), then interpolated; so every quantile is
  within 1e-6 of ``numpy.quantile``. Memory is bounded by the number of bins (2**21), never by the
  row count, and counts are exact integers, so two sketches merge into the one a single pass makes.
* :class:`WorstK` keeps the K vectors with the highest loss, ties broken by the lower row number, so
  the answer does not depend on chunking or on the order partial results are merged in.

NumPy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

__all__ = ["BIN_BITS", "QUANTILES", "CosSketch", "WorstK"]

BIN_BITS: Final = 20  #: bins per unit of cosine: 2**20, so a bin is 2**-20 ~ 9.5e-7 wide
_SCALE: Final = float(1 << BIN_BITS)
_NBINS: Final = 2 << BIN_BITS  # over [-1, 1]
_FLUSH: Final = 1 << 20  # pending bin numbers folded into the counts this often (8 MiB at most)

#: The quantiles every summary reports, by the JSON name under "cos".
QUANTILES: Final[dict[str, float]] = {
    "p01": 0.01,
    "p05": 0.05,
    "p10": 0.10,
    "p50": 0.50,
    "p90": 0.90,
    "p95": 0.95,
    "p99": 0.99,
}


def _fold(keys: NDArray[np.int64], counts: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Sum the counts of equal keys; the keys come back sorted and unique."""
    if keys.size == 0:
        return keys, counts
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[starts], np.add.reduceat(counts, starts)


@dataclass
class CosSketch:
    """Counts of finite cosines per bin of width 2**-20; see the module docstring."""

    keys: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))  #: sorted bin numbers
    counts: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    _pending: list[NDArray[np.int64]] = field(default_factory=list, repr=False)
    _npending: int = field(default=0, repr=False)

    def update(self, cos: NDArray[np.float64]) -> None:
        """Count the finite values of ``cos`` (NaN is the accumulator's business, not ours)."""
        c = np.asarray(cos, dtype=np.float64)
        if not np.isfinite(c).all():
            c = c[np.isfinite(c)]
        if c.size == 0:
            return
        # (c + 1) * 2**20 truncated is the bin for c in [-1, 1); clipping the bin number (not c)
        # puts cos == 1 in the last bin and anything outside [-1, 1] in the end bins, in one pass
        t = c + 1.0
        t *= _SCALE
        idx = t.astype(np.int64)
        np.clip(idx, 0, _NBINS - 1, out=idx)
        # Chunks are usually small: keep their bin numbers and count them in bulk now and then.
        self._pending.append(idx)
        self._npending += idx.size
        if self._npending >= _FLUSH:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        idx = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending, self._npending = [], 0
        # Counting by bincount over the bins between the lowest and highest number seen (at most
        # 2**21 + 1 of them, 16 MiB for a moment) is O(n): four times faster than sorting them.
        lo = int(idx.min()) if not self.keys.size else min(int(idx.min()), int(self.keys[0]))
        dense = np.bincount(idx - lo)
        if self.keys.size:
            top = int(self.keys[-1]) - lo + 1
            if top > dense.size:
                dense = np.concatenate((dense, np.zeros(top - dense.size, np.int64)))
            dense[self.keys - lo] += self.counts
        nz = np.flatnonzero(dense)
        self.keys, self.counts = nz.astype(np.int64) + lo, dense[nz].astype(np.int64)

    def merge(self, other: CosSketch) -> CosSketch:
        self._flush()
        other._flush()
        self.keys, self.counts = _fold(
            np.concatenate((self.keys, other.keys)), np.concatenate((self.counts, other.counts))
        )
        return self

    @property
    def total(self) -> int:
        self._flush()
        return int(self.counts.sum())

    def quantiles(self, qs: dict[str, float], lo: float, hi: float) -> dict[str, float | None]:
        """numpy.quantile (linear) of the counted values, each within 1e-6; ``lo``/``hi`` are the
        exact minimum and maximum, which replace the first and last order statistics."""
        self._flush()
        n = self.total
        if n == 0:
            return {name: None for name in qs}
        cum = np.cumsum(self.counts)
        mids = (self.keys.astype(np.float64) + 0.5) / _SCALE - 1.0
        out: dict[str, float | None] = {}
        for name, q in qs.items():
            h = (n - 1) * q
            k = math.floor(h)
            ranks = np.array([k, min(k + 1, n - 1)])
            vals = mids[np.searchsorted(cum, ranks, side="right")]
            vals = np.where(ranks == 0, lo, np.where(ranks == n - 1, hi, vals))
            v = float(vals[0] + (h - k) * (vals[1] - vals[0]))
            out[name] = min(max(v, lo), hi)
        return out

    def histogram(self, bins: int = 20) -> dict[str, list[Any]]:
        """Up to ``bins`` bins over the cosines seen, edges on fine-bin boundaries, so the picture
        zooms in on where the cosines are (e.g. 0.9990 .. 1.0). Equal widths, except that a long
        lower tail (the lowest 1% spread wider than one bin) gets one bin of its own, so that a few
        outliers do not squeeze the bulk of the distribution into one bar."""
        self._flush()
        if self.keys.size == 0:
            return {"edges": [], "counts": []}
        first, last = int(self.keys[0]), int(self.keys[-1]) + 1
        cum = np.concatenate(([0], np.cumsum(self.counts)))
        p01 = int(self.keys[np.searchsorted(cum[1:], (int(cum[-1]) - 1) // 100, side="right")])
        lead: list[int] = []
        if bins > 2 and p01 > first and (p01 - first) * (bins - 1) > (last - p01):
            lead, first, bins = [first], p01, bins - 1
        width = max(1, -(-(last - first) // bins))
        nb = -(-(last - first) // width)
        edges_i = np.array(lead + [first + width * i for i in range(nb + 1)], dtype=np.int64)
        counts = np.diff(cum[np.searchsorted(self.keys, edges_i, side="left")])
        edges = np.minimum(edges_i / _SCALE - 1.0, 1.0)
        return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


@dataclass
class WorstK:
    """The ``k`` vectors with the highest loss (NaN left out); ties go to the lower row number."""

    k: int = 0
    rows: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    cos: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    loss: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    ids: list[Any] | None = None  #: the ids, parallel to rows, when the chunks had ids

    def update(
        self,
        start: int,
        cos: NDArray[np.float64],
        loss: NDArray[np.float64],
        keep: NDArray[np.bool_] | None = None,
        ids: Any = None,
    ) -> None:
        if self.k <= 0 or loss.size == 0:
            return
        ok = ~np.isnan(loss) if keep is None else keep & ~np.isnan(loss)
        cand = np.flatnonzero(ok)
        if cand.size > self.k:
            # the k-th highest loss; everything at least that high is a candidate (ties included)
            kth = np.partition(loss[cand], cand.size - self.k)[cand.size - self.k]
            cand = cand[loss[cand] >= kth]
        new_ids = None if ids is None else np.asarray(ids)[cand].tolist()
        self._take(start + cand.astype(np.int64), cos[cand], loss[cand], new_ids)

    def _take(
        self, rows: NDArray[np.int64], cos: NDArray[np.float64], loss: NDArray[np.float64], ids: list[Any] | None
    ) -> None:
        all_rows = np.concatenate((self.rows, rows))
        all_cos = np.concatenate((self.cos, cos))
        all_loss = np.concatenate((self.loss, loss))
        order = np.lexsort((all_rows, -all_loss))[: self.k]
        if ids is not None or self.ids is not None:
            mine = self.ids if self.ids is not None else [None] * self.rows.size
            theirs = ids if ids is not None else [None] * rows.size
            joined = mine + theirs
            self.ids = [joined[int(i)] for i in order]
        self.rows, self.cos, self.loss = all_rows[order], all_cos[order], all_loss[order]

    def merge(self, other: WorstK) -> WorstK:
        self.k = max(self.k, other.k)
        if self.k:
            self._take(other.rows, other.cos, other.loss, other.ids)
        return self

    def to_list(self) -> list[dict[str, Any]]:
        out = []
        for i in range(self.rows.size):
            item: dict[str, Any] = {"row": int(self.rows[i])}
            if self.ids is not None:
                ident = self.ids[i]
                # a NumPy scalar or array (a list id) as Python values; Summary makes the rest JSON-safe
                item["id"] = ident.tolist() if hasattr(ident, "tolist") else ident
            item["cos"] = float(self.cos[i])
            item["loss"] = float(self.loss[i])
            out.append(item)
        return out
