"""cosloss: score embedding files with a cosine loss (Keras ``CosineSimilarity`` semantics).

The command line (``cosloss score``) is a thin layer over this library::

    >>> from cosine_cli import score
    >>> score([[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]]).loss   # Keras's docstring example
    -0.4999999999999999

Names are imported on first use, so that ``cosloss --help`` does not pay for NumPy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS = {
    "REDUCTIONS": "accumulate",
    "Accumulator": "accumulate",
    "ScoredChunk": "accumulate",
    "reduce_loss": "accumulate",
    "score": "api",
    "score_chunks": "api",
    "COMPAT_EPSILON": "core",
    "LOSSES": "core",
    "cosine_loss": "core",
    "cosine_rows": "core",
    "cosine_similarity": "core",
    "loss_from_cos": "core",
    "CoslossError": "errors",
    "InputError": "errors",
    "UsageProblem": "errors",
    "NAN_POLICIES": "pipeline",
    "ScoreOptions": "pipeline",
    "ScoreResult": "pipeline",
    "score_sources": "pipeline",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names too (loaded on first use), so that tab completion finds them."""
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from .accumulate import REDUCTIONS, Accumulator, ScoredChunk, reduce_loss
    from .api import score, score_chunks
    from .core import COMPAT_EPSILON, LOSSES, cosine_loss, cosine_rows, cosine_similarity, loss_from_cos
    from .errors import CoslossError, InputError, UsageProblem
    from .pipeline import NAN_POLICIES, ScoreOptions, ScoreResult, score_sources
