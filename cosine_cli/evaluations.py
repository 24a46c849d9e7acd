"""The evaluations a score can add in the same pass: correlations with the targets, Matryoshka dims,
groups, parity statistics and several candidates (issue 12).

:class:`Evaluations` is fed by :meth:`cosine_cli.pipeline.Scoring.chunks` once per aligned chunk,
with the chunk's rows and its :class:`~cosine_cli.accumulate.ScoredChunk`, and gives the summary's
``correlation``, ``by_dim``, ``by_group``, ``diff`` / ``norm_ratio`` and ``by_candidate`` entries
(each slice with the keys of :func:`cosine_cli.slice_stats.stats_dict`). Every part is a mergeable
accumulator (Pearson sums, Spearman pairs, one Accumulator per dim, group or candidate, the parity
sums), so the numbers do not depend on the chunking. NumPy only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .accumulate import Accumulator, ScoredChunk
from .correlation import Correlations
from .groups import GroupedAccumulator
from .matryoshka import MatryoshkaRows, PrefixBuffer, matryoshka_cos
from .parity import DiffAccumulator
from .sketch import WorstK
from .slice_stats import stats_dict

__all__ = ["Evaluations"]

#: ``score_rows(pred_rows, label_rows, chunk)``: a candidate's ScoredChunk on the rows of ``chunk``
ScoreRows = Callable[[NDArray[np.generic], NDArray[np.generic], ScoredChunk, str], ScoredChunk]

#: rows gathered before the grouped accumulator takes them: splitting a chunk by group costs a
#: np.unique and a sort whatever its size (the per-dim and per-candidate Accumulators stage their
#: chunks themselves, accumulate.BLOCK)
BATCH_ROWS = 1 << 16


def _copy(x: Any) -> Any:
    # a reader may hand out one reused buffer (weights straight from a .npy): keep what is held back
    return None if x is None else np.array(x, copy=True)


def _concat(chunks: list[ScoredChunk]) -> ScoredChunk:
    """Consecutive chunks (rows start .. start + n, in order) as one."""
    if len(chunks) == 1:
        return chunks[0]
    first = chunks[0]

    def cat(name: str) -> Any:
        parts = [getattr(c, name) for c in chunks]
        return None if parts[0] is None else np.concatenate([np.asarray(x) for x in parts])

    return ScoredChunk(
        first.start,
        cat("cos"),
        cat("loss"),
        cat("zero"),
        cat("skipped"),
        cat("weight"),
        cat("weight_share"),
        cat("ids"),
    )


def _held(chunk: ScoredChunk) -> ScoredChunk:
    """The chunk as it can be held back past its loop iteration: the scored arrays are its own, the
    weights and ids may be a reader's reused buffers and are copied."""
    return ScoredChunk(
        chunk.start,
        chunk.cos,
        chunk.loss,
        chunk.zero,
        chunk.skipped,
        _copy(chunk.weight),
        _copy(chunk.weight_share),
        _copy(chunk.ids),
    )


class _Batched:
    """Holds consecutive chunks (and per-row values) back until BATCH_ROWS rows, then folds them in one update."""

    def __init__(self, fold: Callable[..., None]) -> None:
        self.fold = fold
        self.chunks: list[ScoredChunk] = []
        self.values: list[Any] = []
        self.rows = 0

    def add(self, chunk: ScoredChunk, values: Any = None) -> None:
        self.chunks.append(_held(chunk))
        if values is not None:
            self.values.append(np.array(values, copy=True).reshape(-1))
        self.rows += len(chunk)
        if self.rows >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.chunks:
            return
        chunk = _concat(self.chunks)
        if self.values:
            self.fold(chunk, np.concatenate(self.values))
        else:
            self.fold(chunk)
        self.chunks, self.values, self.rows = [], [], 0


class _DimBatch:
    """The Matryoshka cosines of consecutive chunks, held back until BATCH_ROWS rows and then turned
    into losses and taken by the per-dim Accumulators, one dim at a time.

    A chunk costs its prefix sums and one stacked cosine (matryoshka_cos); the losses, the
    ScoredChunks and the Accumulator calls (a few dozen small NumPy and Python steps for each dim)
    are paid once a batch. With two pool threads, that is fewer GIL hand-overs too. The statistics
    do not depend on it: the Accumulators fold whole blocks whatever the chunks (accumulate.BLOCK).
    """

    def __init__(self, evals: Evaluations, dims: list[int]) -> None:
        self.evals, self.dims = evals, dims
        self.meta: list[ScoredChunk] = []  #: each chunk's start, skipped, weights and ids
        self.rows: list[MatryoshkaRows] = []
        self.targets: list[NDArray[np.float64]] = []
        self.count = 0

    def add(self, chunk: ScoredChunk, rows: MatryoshkaRows, target: NDArray[np.float64] | None) -> None:
        self.meta.append(_held(chunk))
        self.rows.append(rows)
        if target is not None:
            self.targets.append(np.array(target, dtype=np.float64, copy=True).reshape(-1))
        self.count += len(chunk)
        if self.count >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.meta:
            return
        from .losses import LOSS_REGISTRY

        meta, rows, targets = self.meta, self.rows, self.targets
        self.meta, self.rows, self.targets, self.count = [], [], [], 0
        held = _concat(meta)
        stacked = rows[0]
        if len(rows) > 1:
            stacked = MatryoshkaRows(*(np.concatenate(f, axis=1) for f in zip(*rows, strict=True)))
        evals = self.evals
        columns: dict[str, Any] = {}
        if targets:
            columns = {"target": np.concatenate(targets), "margin": np.asarray(evals.margin)}
        per_row = LOSS_REGISTRY[evals.loss].per_row
        for j, d in enumerate(self.dims):
            cos = stacked.cos[j]
            skipped = held.skipped
            if evals.nan_policy == "skip":
                skipped = stacked.nonfinite_a[j] | stacked.nonfinite_b[j]
            part = ScoredChunk(
                held.start,
                cos,
                per_row(cos, columns),
                stacked.zero[j],
                skipped,
                held.weight,
                held.weight_share,
                held.ids,
            )
            evals.dims[d].update(part)  # the Accumulator stages it into its blocks


class Evaluations:
    """Everything beyond the top-level statistics, for one run (see the module docstring)."""

    def __init__(
        self,
        *,
        loss: str,
        compat: str,
        margin: float = 0.0,
        nan_policy: str = "error",
        worst: int = 0,
        targets: bool = False,
        dims: Sequence[int] = (),
        groups: tuple[str | None, str | None] | None = None,
        diff: bool = False,
        candidates: Sequence[str] = (),
    ) -> None:
        self.loss, self.compat, self.margin, self.nan_policy, self.k = loss, compat, margin, nan_policy, worst
        self.correlations = Correlations() if targets else None
        self.dims = {int(d): Accumulator(worst=WorstK(worst)) for d in dims}
        self.groups = GroupedAccumulator(worst, source=groups[0], column=groups[1]) if groups is not None else None
        self.diff = DiffAccumulator() if diff else None
        #: every candidate's Accumulator, empty for one PRED; the first (PRED) is the top level's
        #: chunks, so its entry is to_dict's ``top`` and its Accumulator here stays empty
        self.candidates = {name: Accumulator(worst=WorstK(worst)) for name in candidates}
        self._group_batch = _Batched(self.groups.update) if self.groups is not None else None
        self._dim_batch: _DimBatch | None = None  #: made on the first chunk (the dims below its width)
        self._prefixes = PrefixBuffer()
        #: the vectors' width when it is one of the dims: its entry is the top-level statistics
        #: themselves (to_dict's ``top``), not a second Accumulator fed the same chunks
        self._full: int | None = None

    def flush(self) -> None:
        """Fold every chunk held back (before a merge or the summary)."""
        if self._group_batch is not None:
            self._group_batch.flush()
        if self._dim_batch is not None:
            self._dim_batch.flush()
        self._prefixes.release()  # never pickled with a Dask task's result

    @property
    def active(self) -> bool:
        return bool(
            self.correlations is not None or self.dims or self.groups is not None or self.diff or self.candidates
        )

    def update(
        self,
        chunk: ScoredChunk,
        pred_rows: NDArray[np.generic],
        label_rows: NDArray[np.generic],
        *,
        target: NDArray[np.float64] | None = None,
        group: NDArray[Any] | None = None,
        others: Sequence[tuple[str, NDArray[np.generic]]] = (),
        score_rows: ScoreRows | None = None,
    ) -> None:
        """Fold one chunk in: ``others`` are the other candidates' rows (same rows as ``label_rows``)."""
        keep = None if not chunk.skipped.any() else ~chunk.skipped
        if self.correlations is not None and target is not None:
            self.correlations.update(chunk.cos, target, keep)
        if self.dims:
            self._update_dims(chunk, pred_rows, label_rows, target)
        if self._group_batch is not None and group is not None:
            self._group_batch.add(chunk, np.asarray(group).reshape(-1))
        if self.diff is not None:
            self.diff.update(pred_rows, label_rows, keep)
        if self.candidates:
            for name, rows in others:
                assert score_rows is not None
                self.candidates[name].update(score_rows(rows, label_rows, chunk, name))

    def _update_dims(
        self,
        chunk: ScoredChunk,
        pred_rows: NDArray[np.generic],
        label_rows: NDArray[np.generic],
        target: NDArray[np.float64] | None,
    ) -> None:
        full = pred_rows.shape[1]
        if full in self.dims:  # the full width is the chunk itself: exactly a plain run's numbers, no second pass
            self._full = full
        shorter = sorted(d for d in self.dims if d < full)
        if not shorter:
            return
        if self.loss == "embedding" and self.compat == "torch":
            from .target_losses import embedding_cos_torch

            each = [embedding_cos_torch(pred_rows[:, :d], label_rows[:, :d]) for d in shorter]
            rows = MatryoshkaRows(*(np.stack(field) for field in zip(*each, strict=True)))
        else:
            # only the first max(shorter) components are read again
            top = max(shorter)
            rows = matryoshka_cos(pred_rows[:, :top], label_rows[:, :top], shorter, self.compat, scratch=self._prefixes)
        if self._dim_batch is None:
            self._dim_batch = _DimBatch(self, shorter)
        self._dim_batch.add(chunk, rows, target)

    def merge(self, other: Evaluations) -> Evaluations:
        """Fold ``other`` (built on other rows, later ones) into this one and return it."""
        self.flush()
        other.flush()
        self._full = self._full if self._full is not None else other._full
        if self.correlations is not None and other.correlations is not None:
            self.correlations.merge(other.correlations)
        for d, acc in other.dims.items():
            self.dims[d].merge(acc)
        if self.groups is not None and other.groups is not None:
            self.groups.merge(other.groups)
        if self.diff is not None and other.diff is not None:
            self.diff.merge(other.diff)
        for name, acc in other.candidates.items():
            self.candidates[name].merge(acc)
        return self

    def to_dict(self, reduction: str, *, top: Accumulator, scalar_weight: float | None = None) -> dict[str, Any]:
        """The summary entries of the evaluations asked for (documented in the README); ``top`` is the
        run's top-level Accumulator (the entry of the full width)."""
        self.flush()
        out: dict[str, Any] = {}
        if self.correlations is not None:
            out["correlation"] = self.correlations.to_dict()
        if self.dims:
            out["by_dim"] = {
                str(d): stats_dict(top if d == self._full else acc, reduction, scalar_weight=scalar_weight)
                for d, acc in self.dims.items()
            }
        if self.groups is not None:
            out["by_group"] = self.groups.to_dict(reduction, scalar_weight=scalar_weight)
        if self.diff is not None:
            out.update(self.diff.to_dict())
        if self.candidates:
            out["by_candidate"] = {
                name: stats_dict(top if i == 0 else acc, reduction, scalar_weight=scalar_weight)
                for i, (name, acc) in enumerate(self.candidates.items())
            }
        return out
