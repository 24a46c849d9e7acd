"""The evaluations (issue 12) of one row range, counted in the rows of the whole input.

A range is scored by a :class:`~cosine_cli.pipeline.Scoring` of its own, whose chunks start at 0;
the engines shift the chunks and the errors afterwards (:func:`.ranges.in_global_rows`). The
evaluations keep row numbers of their own (each slice's worst vectors), so they must see the
chunks already shifted: :class:`RangeEvaluations` hands them on with ``start + offset``. An
error an evaluation raises then names the global row already; it travels as :class:`GlobalRowsError`
so that the engine does not shift it a second time.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..accumulate import ScoredChunk
from ..errors import InputError

__all__ = ["GlobalRowsError", "RangeEvaluations"]


class GlobalRowsError(Exception):
    """An InputError whose row already counts from the start of the inputs."""

    def __init__(self, error: InputError) -> None:
        super().__init__(str(error))
        self.error = error


class RangeEvaluations:
    """Feeds an :class:`~cosine_cli.evaluations.Evaluations` the chunks of a range shifted by ``offset``."""

    def __init__(self, evals: Any, offset: int) -> None:
        self.evals, self.offset = evals, offset

    def update(self, chunk: ScoredChunk, *args: Any, **kwargs: Any) -> None:
        shifted = replace(chunk, start=chunk.start + self.offset)
        # a candidate's chunk (score_rows) is built on the shifted chunk: its rows and errors are global too
        try:
            self.evals.update(shifted, *args, **kwargs)
        except InputError as exc:
            raise GlobalRowsError(exc) from None

    def finish(self) -> Any:
        """Fold what is held back (it may raise, as a GlobalRowsError) and return the evaluations."""
        try:
            self.evals.flush()
        except InputError as exc:
            raise GlobalRowsError(exc) from None
        return self.evals
