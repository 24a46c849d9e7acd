"""The loss registry: each per-vector loss by name, the function that computes it from cos, and
the per-row columns it needs beyond the vectors (in the style of scikit-learn's
``PAIRED_DISTANCES``). NumPy only.

Adding a loss is one entry here; a loss that needs a per-row column (a target score) names it in
``needs`` and the pipeline hands that column's values to ``per_row`` (see ``cosine_cli.roles``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Loss", "LOSS_REGISTRY", "loss_names"]

FloatArray = NDArray[np.float64]
PerRow = Callable[[FloatArray, Mapping[str, NDArray[np.generic]]], FloatArray]


@dataclass(frozen=True)
class Loss:
    """One loss: ``per_row(cos, columns)`` gives one value per vector (lower is better)."""

    name: str
    per_row: PerRow
    description: str
    needs: tuple[str, ...] = ()  #: per-row columns (roles) beyond pred and label
    #: ``check(target, n, offset, source)``: the targets as float64, or an InputError naming the row
    check: Callable[..., FloatArray] | None = None


def _embedding(cos: FloatArray, columns: Mapping[str, NDArray[np.generic]]) -> FloatArray:
    from .target_losses import embedding_loss

    margin = float(np.asarray(columns.get("margin", 0.0)))
    return embedding_loss(cos, columns["target"], margin)


def _mse(cos: FloatArray, columns: Mapping[str, NDArray[np.generic]]) -> FloatArray:
    from .target_losses import mse_loss

    return mse_loss(cos, columns["target"])


def _check_sign(target: NDArray[np.generic], n: int, offset: int, source: str | None) -> FloatArray:
    from .target_losses import check_sign_targets

    return check_sign_targets(target, n, offset=offset, source=source)


def _check_finite(target: NDArray[np.generic], n: int, offset: int, source: str | None) -> FloatArray:
    from .errors import InputError

    t = np.asarray(target)
    if t.dtype.kind not in "iuf":
        raise InputError(f"targets must be numbers, not {t.dtype}", source=source)
    t = t.astype(np.float64, copy=False).reshape(-1)
    bad = ~np.isfinite(t)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"target {float(t[i])!r} is not a finite number", source=source, row=offset + i)
    return t


LOSS_REGISTRY: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("negative", lambda cos, _: np.negative(cos), "-cos: Keras CosineSimilarity (range [-1, 1])"),
        Loss("distance", lambda cos, _: 1.0 - cos, "1 - cos: TF1 cosine_distance, DuckDB array_cosine_distance"),
        Loss("squared", lambda cos, _: np.square(1.0 - cos), "(1 - cos)^2: CosineSimilarityLoss with target 1"),
        Loss(
            "embedding",
            _embedding,
            "1 - cos (target 1), max(0, cos - margin) (target -1): torch CosineEmbeddingLoss",
            needs=("target",),
            check=_check_sign,
        ),
        Loss(
            "mse",
            _mse,
            "(cos - target)^2: sentence-transformers CosineSimilarityLoss (MSE)",
            needs=("target",),
            check=_check_finite,
        ),
    )
}


def loss_names() -> tuple[str, ...]:
    return tuple(LOSS_REGISTRY)
