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


LOSS_REGISTRY: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("negative", lambda cos, _: np.negative(cos), "-cos: Keras CosineSimilarity (range [-1, 1])"),
        Loss("distance", lambda cos, _: 1.0 - cos, "1 - cos: TF1 cosine_distance, DuckDB array_cosine_distance"),
        Loss("squared", lambda cos, _: np.square(1.0 - cos), "(1 - cos)^2: CosineSimilarityLoss with target 1"),
    )
}


def loss_names() -> tuple[str, ...]:
    return tuple(LOSS_REGISTRY)
