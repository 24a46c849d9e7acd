"""The statistics part of a JSON summary, built from one Accumulator: the shape of every slice.

``by_dim``, ``by_group`` and ``by_candidate`` entries carry the same keys, with the same meaning,
as the top-level summary (``pipeline.ScoreResult.to_dict``): ``loss``, ``rows``, ``skipped``,
``zero_vectors``, ``nonfinite``, ``cos`` (mean, std, min, max, p01 .. p99), ``histogram``,
``worst`` and ``weights``. Run-wide keys (schema and package versions, loss kind, reduction,
compat, axis, inputs) stay at the top level only. NumPy only.
"""

from __future__ import annotations

import math
from typing import Any, Final

from .accumulate import Accumulator, reduce_loss
from .sketch import WorstK

__all__ = ["STATS_KEYS", "stats_dict"]

#: The keys :func:`stats_dict` returns, in order (a subset of the top-level summary's keys).
STATS_KEYS: Final[tuple[str, ...]] = (
    "loss",
    "rows",
    "skipped",
    "zero_vectors",
    "nonfinite",
    "cos",
    "histogram",
    "worst",
    "weights",
)


def _finite_or_none(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def stats_dict(
    acc: Accumulator,
    reduction: str,
    *,
    scalar_weight: float | None = None,
    worst: WorstK | None = None,
) -> dict[str, Any]:
    """The summary keys of everything ``acc`` has seen, reduced with ``reduction``.

    ``scalar_weight`` is as for :func:`accumulate.reduce_loss`; ``worst`` replaces ``acc.worst``
    (groups keep their worst vectors apart, with the rows of the whole input).
    """
    s = acc
    return {
        "loss": _finite_or_none(reduce_loss(s, reduction, scalar_weight=scalar_weight)),
        "rows": s.rows,
        "skipped": s.skipped,
        "zero_vectors": s.zero_vectors,
        "nonfinite": s.nonfinite,
        "cos": {
            "mean": _finite_or_none(s.cos_mean),
            "std": _finite_or_none(s.cos_std),
            "min": _finite_or_none(s.cos_min if s.rows else None),
            "max": _finite_or_none(s.cos_max if s.rows else None),
            **s.cos_quantiles(),
        },
        "histogram": s.sketch.histogram() if s.rows and not s.nonfinite else {"edges": [], "counts": []},
        "worst": (worst if worst is not None else s.worst).to_list(),
        "weights": ({"sum": s.sum_weight_share.value, "nonzero": s.nonzero_weights} if s.weighted else None),
    }
