"""The one pipeline: aligned chunks in, scored chunks out, folded into an Accumulator.

readers (Sources) -> ``aligned`` re-chunking -> ``core.cosine_rows`` ->
``ScoredChunk`` -> Accumulator (reductions) and any sinks (writers, progress).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from .accumulate import REDUCTIONS, Accumulator, ScoredChunk, reduce_loss
from .core import COMPAT_EPSILON, LOSSES, cosine_rows, pair_dtype, squared_norms
from .errors import InputError, UsageProblem
from .ids import SORT_HINT, add_id_streams, chunk_ids
from .losses import LOSS_REGISTRY
from .readers.base import Source, rows_for_bytes
from .sketch import WorstK

__all__ = ["NAN_POLICIES", "ScoreOptions", "ScoreResult", "Scoring", "Sink", "score_sources"]

NAN_POLICIES: Final[tuple[str, ...]] = ("error", "propagate", "skip")

Sink = Callable[[ScoredChunk], None]


@dataclass(frozen=True)
class ScoreOptions:
    """How to score: the same knobs as the CLI's options."""

    loss: str = "negative"
    compat: str = "keras"
    reduction: str = "sum_over_batch_size"
    axis: int = -1
    nan_policy: str = "error"
    chunk_size: int | None = None  #: vectors' rows per chunk; None sizes chunks by bytes
    worst: int = 0  #: keep the K vectors with the highest loss (the summary's "worst")
    margin: float = 0.0  #: --loss embedding: the margin of a dissimilar pair (target -1)
    dims: tuple[int, ...] = ()  #: Matryoshka truncation dims (the summary's "by_dim")
    diff: bool = False  #: parity statistics (the summary's "diff" and "norm_ratio")

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("loss", self.loss, LOSSES),
            ("compat", self.compat, tuple(COMPAT_EPSILON)),
            ("reduction", self.reduction, REDUCTIONS),
            ("nan_policy", self.nan_policy, NAN_POLICIES),
        ):
            if value not in allowed:
                raise UsageProblem(f"unknown {name} {value!r}; expected one of {', '.join(allowed)}")
        if self.worst < 0:
            raise UsageProblem(f"worst must be 0 or more, not {self.worst}")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise UsageProblem(f"chunk_size must be at least 1, not {self.chunk_size}")
        if not math.isfinite(self.margin):
            raise UsageProblem(f"{{margin}} must be a finite number, not {self.margin!r}")


@dataclass
class ScoreResult:
    """What a run produced: the reduced loss, the statistics and what was read."""

    loss: float | None  #: the reduced loss (None for reduction "none")
    options: ScoreOptions
    stats: Accumulator
    inputs: dict[str, Any]
    loss_shape: tuple[int, ...]
    losses: NDArray[np.float64] | None = None  #: per-vector (weighted) losses, when collected
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary (schema_version 1; documented in the README)."""
        from . import __version__
        from .slice_stats import stats_dict

        # the statistics are built as every slice's are (by_dim, by_group, by_candidate): one place
        stats = stats_dict(self.stats, self.options.reduction)
        stats.pop("loss")  # the run's own reduced loss (a scalar weight is known here)
        return {
            "schema_version": 1,
            "cosloss_version": __version__,
            "loss": _finite_or_none(self.loss),
            "loss_kind": self.options.loss,
            "reduction": self.options.reduction,
            "compat": self.options.compat,
            "axis": self.options.axis,
            **stats,
            "inputs": self.inputs,
            **self.extra,
        }


def _finite_or_none(x: float | None) -> float | None:
    return x if x is not None and np.isfinite(x) else None


# -- layout ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where the vectors lie in the input arrays and how chunks cut them."""

    shape: tuple[int | None, ...]  #: as the source reports it (1-D input is one vector)
    axis: int  #: the vector axis, non-negative
    chunk_axis: int  #: the axis chunks run along (0, or 1 when the vectors lie along 0)
    dim: int
    loss_shape: tuple[int | None, ...]  #: shape minus the vector axis
    per_row: int  #: vectors per chunk-axis entry (product of loss_shape[1:])

    @classmethod
    def of(cls, shape: tuple[int | None, ...], axis: int, name: str) -> Layout:
        nd = len(shape)
        if nd == 0:
            raise InputError("holds a single number; expected vectors (an array of 1 or more dimensions)", source=name)
        if not -nd <= axis < nd:
            raise UsageProblem(f"--axis {axis} is out of range for {name} with {nd} dimension(s) {shape}")
        ax = axis % nd
        dim = shape[ax]
        if dim is None or dim == 0:
            raise InputError("has vectors of dimension 0", source=name)
        loss_shape = shape[:ax] + shape[ax + 1 :]
        chunk_axis = 1 if (ax == 0 and nd > 1) else 0
        per_row = int(np.prod([d for d in loss_shape[1:] if d is not None], dtype=np.int64))
        return cls(shape, ax, chunk_axis, int(dim), loss_shape, per_row)

    def rows(self, chunk: NDArray[np.generic]) -> NDArray[np.generic]:
        """A chunk as a 2-D (vectors, dim) array, vectors in C order of the loss shape."""
        if chunk.ndim == 1:
            return chunk.reshape(1, -1)
        moved = np.moveaxis(chunk, self.axis, -1)
        return moved.reshape(-1, self.dim)


def _describe_shape(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _check_pair(pred: Source, label: Source, axis: int) -> Layout:
    lp = Layout.of(pred.shape, axis, pred.name)
    ll = Layout.of(label.shape, axis, label.name)
    if lp.dim != ll.dim:
        raise InputError(
            f"vectors of dimension {lp.dim} in {pred.name} but {ll.dim} in {label.name}", source=label.name
        )
    if len(pred.shape) != len(label.shape) or any(
        a is not None and b is not None and a != b for a, b in zip(pred.shape, label.shape, strict=False)
    ):
        raise InputError(
            f"shape {_describe_shape(label.shape)} does not match {pred.name}'s {_describe_shape(pred.shape)}"
            + (
                f" ({pred.shape[lp.chunk_axis]} rows vs {label.shape[ll.chunk_axis]})"
                if pred.shape[lp.chunk_axis] != label.shape[ll.chunk_axis]
                else ""
            ),
            source=label.name,
        )
    return lp


# -- weights --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightPlan:
    """How a weight source lines up with the per-vector losses."""

    mode: str  #: "scalar", "row" (one per chunk-axis entry, repeated over the rest) or "full"
    value: float | None = None


def _weight_plan(weights: Source, layout: Layout, pred_name: str) -> WeightPlan:
    ws = weights.shape
    ls = layout.loss_shape
    if len(ws) == 0 or (ws == (1,) and len(ls) == 0):
        return WeightPlan("scalar")
    lead_ok = ws[0] is None or ls[0] is None or ws[0] == ls[0] if ls else False
    if len(ws) == len(ls) and lead_ok and all(a == b for a, b in zip(ws[1:], ls[1:], strict=True)):
        return WeightPlan("full")
    if len(ws) == 1 and len(ls) > 1 and lead_ok:
        return WeightPlan("row")
    n_w = "?" if any(d is None for d in ws) else math.prod(d or 0 for d in ws)
    n_v = "?" if any(d is None for d in ls) else math.prod(d or 0 for d in ls)
    expect = f"{_describe_shape(ls)}" + (f" or {_describe_shape(ls[:1])}" if len(ls) > 1 else "")
    raise InputError(
        f"has {n_w} weights in shape {_describe_shape(ws)} but {pred_name} has {n_v} vectors "
        f"in shape {_describe_shape(ls)}; expected weights of shape {expect} or a single number",
        source=weights.name,
    )


def _check_weights(w: NDArray[np.float64], name: str, offset: int) -> None:
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        value = w.ravel()[i]
        raise InputError(
            f"weight {value} is {'negative' if value < 0 else 'not finite'}; weights must be finite and >= 0",
            source=name,
            row=offset + i,
        )


# -- alignment ------------------------------------------------------------------------------------


def _take(x: NDArray[np.generic], axis: int, start: int, stop: int) -> NDArray[np.generic]:
    index: list[slice] = [slice(None)] * x.ndim
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def aligned(
    streams: list[tuple[Iterator[NDArray[np.generic]], int]], names: list[str], limit: int | None = None
) -> Iterator[tuple[NDArray[np.generic], ...]]:
    """Re-cut several chunk streams so that every yielded tuple covers the same rows (at most
    ``limit``: a reader that hands out a whole record batch of any size still gets scored a
    chunk at a time, so the float64 temporaries stay bounded by the chunk).

    Slices are views: nothing is copied. When one stream ends before the
    others, the rest are counted and the mismatch is an InputError naming both
    counts.
    """
    k = len(streams)
    bufs: list[NDArray[np.generic] | None] = [None] * k
    pos = [0] * k
    done = [0] * k  # rows fully handed out so far
    while True:
        for i, (it, ax) in enumerate(streams):
            while bufs[i] is None or pos[i] >= bufs[i].shape[ax]:  # type: ignore[union-attr]
                nxt = next(it, None)
                if nxt is None:
                    bufs[i] = None
                    break
                bufs[i], pos[i] = (nxt if nxt.ndim else nxt.reshape(1)), 0
        ended = [b is None for b in bufs]
        if all(ended):
            return
        if any(ended):
            counts = []
            for i, (it, ax) in enumerate(streams):
                extra = 0 if bufs[i] is None else bufs[i].shape[ax] - pos[i]  # type: ignore[union-attr]
                extra += sum(c.shape[ax] for c in it)
                counts.append(done[i] + extra)
            short = ended.index(True)
            long = ended.index(False)
            raise InputError(
                f"has {counts[short]} rows but {names[long]} has {counts[long]}; "
                "inputs are paired row by row and must have the same number of rows",
                source=names[short],
            )
        r = min(b.shape[ax] - p for b, (_, ax), p in zip(bufs, streams, pos, strict=True))  # type: ignore[union-attr]
        if limit is not None:
            r = min(r, limit)
        yield tuple(_take(b, ax, p, p + r) for b, (_, ax), p in zip(bufs, streams, pos, strict=True))  # type: ignore[arg-type]
        for i in range(k):
            pos[i] += r
            done[i] += r


# -- scoring --------------------------------------------------------------------------------------


def _vector_label(flat: int, layout: Layout) -> str:
    if len(layout.loss_shape) <= 1:
        return str(flat)
    lead, rest = divmod(flat, layout.per_row)
    inner = np.unravel_index(rest, tuple(int(d) for d in layout.loss_shape[1:]))  # type: ignore[arg-type]
    return str((lead, *(int(i) for i in inner)))


def source_info(src: Source, *, vectors: bool = True) -> dict[str, Any]:
    """What the summary says of one input: where, its format, the column(s) or member read, the
    vectors' dimension and dtype (what was inferred is shown, never silent)."""
    location = getattr(src, "location", None) or getattr(getattr(src, "reader", None), "location", None)
    columns = getattr(src, "columns", None)
    column = getattr(src, "column", None)
    shape = list(src.shape)
    info: dict[str, Any] = {
        "path": location.name if location is not None else src.name,
        "format": getattr(src, "format_name", "array"),
        "column": column,
        "columns": list(columns) if columns is not None else ([column] if column is not None else None),
        "dim": (shape[-1] if shape else None) if vectors else None,
        "dtype": str(np.dtype(src.dtype)),
        "shape": shape,
    }
    return info


class Scoring:
    """One pair of sources, checked and planned: :meth:`chunks` yields its ScoredChunks in order.

    The part of :func:`score_sources` before the Accumulator, so that an engine can score row
    ranges on worker threads and fold their chunks in order on one thread (the parallel engine).
    ``first`` is the flat index of the first vector (a range's offset): chunk starts and the rows
    named in errors count from it.
    """

    def __init__(
        self,
        pred: Source,
        label: Source,
        layout: Layout,
        scalar: float | None,
        plan: WeightPlan | None,
        weights: Source | float | None,
        options: ScoreOptions,
        ids: tuple[Source | None, Source | None],
        first: int,
        *,
        targets: Source | None = None,
        groups: Any = None,
        candidates: tuple[tuple[str, Source], ...] = (),
        pred_name: str | None = None,
    ) -> None:
        self.pred, self.label, self.layout, self.scalar, self.plan = pred, label, layout, scalar, plan
        self.weights, self.options, self.ids, self.first = weights, options, ids, first
        #: per-row target and group columns (issue 12), and the candidates beyond PRED (named)
        self.targets, self.groups, self.candidates, self.pred_name = targets, groups, candidates, pred_name
        known = [d for d in layout.loss_shape if d is not None]
        self.total = int(np.prod(known, dtype=np.int64)) if len(known) == len(layout.loss_shape) else None

    @classmethod
    def of(
        cls,
        pred: Source,
        label: Source,
        *,
        options: ScoreOptions = ScoreOptions(),
        weights: Source | float | None = None,
        ids: tuple[Source | None, Source | None] = (None, None),
        first: int = 0,
        targets: Source | None = None,
        groups: Any = None,
        candidates: tuple[tuple[str, Source], ...] = (),
        pred_name: str | None = None,
    ) -> Scoring:
        layout = _check_pair(pred, label, options.axis)
        for _, cand in candidates:
            _check_pair(cand, label, options.axis)
        _check_per_row(layout, pred.name, targets=targets, groups=groups, options=options)
        scalar: float | None = None
        plan: WeightPlan | None = None
        if isinstance(weights, (int, float)):
            scalar = float(weights)
            if not np.isfinite(scalar) or scalar < 0:
                raise InputError(f"weight {scalar} must be finite and >= 0", source="--weight")
        elif weights is not None:
            plan = _weight_plan(weights, layout, pred.name)
            if plan.mode == "scalar":
                scalar = float(np.asarray(next(iter(weights.chunks(1)))).reshape(()))
                if not np.isfinite(scalar) or scalar < 0:
                    raise InputError(f"weight {scalar} must be finite and >= 0", source=weights.name)
        return cls(
            pred,
            label,
            layout,
            scalar,
            plan,
            weights,
            options,
            ids,
            first,
            targets=targets,
            groups=groups,
            candidates=candidates,
            pred_name=pred_name,
        )

    def chunk_rows(self) -> int:
        """Rows (along the chunk axis) per chunk: the option, else a chunk budget of bytes."""
        layout = self.layout
        if len(layout.shape) == 1:
            return layout.dim  # a 1-D input is one vector: never cut it
        row_bytes = layout.dim * layout.per_row * np.dtype(self.pred.dtype).itemsize
        return self.options.chunk_size or rows_for_bytes(row_bytes)

    def chunks(self, evals: Any = None) -> Iterator[ScoredChunk]:
        """The scored chunks in order; ``evals`` (an :class:`~cosine_cli.evaluations.Evaluations`)
        is fed each chunk's rows as it goes (the summary's correlation, by_dim, by_group, ...)."""
        pred, label, layout, options = self.pred, self.label, self.layout, self.options
        scalar, plan, weights = self.scalar, self.plan, self.weights
        rows = self.chunk_rows()
        streams = [
            (pred.chunks(rows, layout.chunk_axis), layout.chunk_axis),
            (label.chunks(rows, layout.chunk_axis), layout.chunk_axis),
        ]
        names = [pred.name, label.name]
        if plan is not None and plan.mode != "scalar":
            streams.append((weights.chunks(rows, 0), 0))  # type: ignore[union-attr]
            names.append(weights.name)  # type: ignore[union-attr]
        id_at = add_id_streams(streams, names, self.ids, layout, rows)
        target_at = group_at = None
        if self.targets is not None:
            target_at = len(streams)
            streams.append((self.targets.chunks(rows, 0), 0))
            names.append(self.targets.name)
        if self.groups is not None:
            group_at = len(streams)
            streams.append((self.groups.chunks(rows, 0), 0))
            names.append(self.groups.name)
        cand_at = []
        for _, cand in self.candidates:  # every candidate aligned with the one reference: LABEL is read once
            cand_at.append(len(streams))
            streams.append((cand.chunks(rows, layout.chunk_axis), layout.chunk_axis))
            names.append(cand.name)
        cand_id_at = []  # a candidate's own id column, checked against the reference's ids
        for _, cand in self.candidates:
            cand_ids = getattr(cand, "candidate_ids", None)
            if cand_ids is not None and id_at:
                cand_id_at.append(len(streams))
                streams.append((cand_ids.chunks(rows, 0), 0))
                names.append(cand_ids.name)
        loss_def = LOSS_REGISTRY[options.loss]
        if "target" in loss_def.needs and self.targets is None:
            raise UsageProblem(
                f"{{loss}} {options.loss} needs a target a vector: give {{targets}} FILE or {{target_col}} COL"
            )
        offset = self.first
        for parts in aligned(streams, names, rows):
            p_rows, l_rows = layout.rows(parts[0]), layout.rows(parts[1])
            # several candidates against one reference: its squared norms are taken once a chunk
            l_sq: dict[Any, Any] | None = {} if self.candidates and self._plain_cosine() else None
            r = self._cosine(p_rows, l_rows, l_sq)
            n = r.cos.shape[0]
            skipped = self._skipped(r, offset, pred.name)
            weight = share = None
            if scalar is not None:
                weight = np.full(n, scalar)
            elif plan is not None:
                w = np.asarray(parts[2], dtype=np.float64)
                _check_weights(w, weights.name, offset if plan.mode == "full" else offset // layout.per_row)  # type: ignore[union-attr]
                if plan.mode == "row" and layout.per_row != 1:
                    weight = np.repeat(w, layout.per_row)
                    share = weight / layout.per_row
                else:
                    weight = w.reshape(-1)
            columns: dict[str, Any] = {}
            target = None
            if target_at is not None:
                check = loss_def.check or LOSS_REGISTRY["mse"].check
                assert check is not None and self.targets is not None
                target = check(np.asarray(parts[target_at]), n, offset, self.targets.name)
                columns = {"target": target, "margin": np.asarray(options.margin)}
            loss = loss_def.per_row(r.cos, columns)
            chunk = ScoredChunk(offset, r.cos, loss, r.zero, skipped, weight, share)
            if id_at:
                chunk.ids = chunk_ids(parts, id_at, names, offset)
                for at in cand_id_at:
                    chunk_ids(parts, [id_at[0], at], names, offset, SORT_HINT)
            if evals is not None:
                evals.update(
                    chunk,
                    p_rows,
                    l_rows,
                    target=target,
                    group=None if group_at is None else parts[group_at],
                    others=[
                        (name, layout.rows(parts[i])) for (name, _), i in zip(self.candidates, cand_at, strict=True)
                    ],
                    score_rows=lambda p, lab, c, name, cols=columns, sq=l_sq: self._candidate_chunk(
                        p, lab, c, name, cols, sq
                    ),
                )
            yield chunk
            offset += n

    def _plain_cosine(self) -> bool:
        """Whether the cosine is core.cosine_rows' (not CosineEmbeddingLoss's own)."""
        return not (self.options.loss == "embedding" and self.options.compat == "torch")

    def _cosine(
        self, p_rows: NDArray[np.generic], l_rows: NDArray[np.generic], l_sq: dict[Any, Any] | None = None
    ) -> Any:
        if not self._plain_cosine():
            from .target_losses import embedding_cos_torch

            return embedding_cos_torch(p_rows, l_rows)  # CosineEmbeddingLoss's own epsilon, exactly
        b_sq = None
        if l_sq is not None:  # LABEL's squared norms, per working precision (a candidate may differ)
            key = pair_dtype(p_rows, l_rows)
            b_sq = l_sq.get(key)
            if b_sq is None:
                b_sq = l_sq[key] = squared_norms(l_rows, key)
        return cosine_rows(p_rows, l_rows, self.options.compat, b_sq=b_sq)

    def _skipped(self, r: Any, offset: int, pred_name: str) -> NDArray[np.bool_]:
        """The NaN policy on one chunk's cosines: an error naming the row, or the rows to skip."""
        n = r.cos.shape[0]
        nonfinite = r.nonfinite_a | r.nonfinite_b
        if nonfinite.any():
            if self.options.nan_policy == "error":
                i = int(np.flatnonzero(nonfinite)[0])
                src = pred_name if r.nonfinite_a[i] else self.label.name
                raise InputError(
                    "NaN or inf in the vector (use --nan-policy skip to leave such vectors out, "
                    "or propagate to let NaN through as Keras does)",
                    source=src,
                    row=_vector_label(offset + i, self.layout),
                )
            if self.options.nan_policy == "skip":
                return np.asarray(nonfinite)
        return np.zeros(n, dtype=bool)

    def _candidate_chunk(
        self,
        p_rows: NDArray[np.generic],
        l_rows: NDArray[np.generic],
        like: ScoredChunk,
        name: str,
        columns: dict[str, Any],
        l_sq: dict[Any, Any] | None = None,
    ) -> ScoredChunk:
        """Another candidate scored on the rows of ``like`` (same reference rows, weights, targets);
        ``l_sq``: the reference rows' squared norms so far, by working precision (filled here)."""
        r = self._cosine(p_rows, l_rows, l_sq)
        source = next(src.name for n_, src in self.candidates if n_ == name)
        skipped = self._skipped(r, like.start, source)
        loss = LOSS_REGISTRY[self.options.loss].per_row(r.cos, columns)
        return ScoredChunk(like.start, r.cos, loss, r.zero, skipped, like.weight, like.weight_share, like.ids)

    def evaluations(self) -> Any:
        """The :class:`~cosine_cli.evaluations.Evaluations` this run asks for, or None."""
        from .evaluations import Evaluations

        o = self.options
        evals = Evaluations(
            loss=o.loss,
            compat=o.compat,
            margin=o.margin,
            nan_policy=o.nan_policy,
            worst=o.worst,
            targets=self.targets is not None,
            dims=o.dims,
            groups=(self.groups.name, getattr(self.groups, "column", None)) if self.groups is not None else None,
            diff=o.diff,
            candidates=(
                [self.pred_name or self.pred.name, *(n for n, _ in self.candidates)] if self.candidates else []
            ),
        )
        return evals if evals.active else None

    def inputs_info(self) -> dict[str, Any]:
        """The summary's ``inputs``, the same whichever engine ran: each side, the weights, the
        targets and the candidates."""
        info = inputs_info(self.pred, self.label, self.weights, self)
        if self.targets is not None:
            info["targets"] = source_info(self.targets, vectors=False)
        if self.candidates:
            info["candidates"] = {
                self.pred_name or self.pred.name: source_info(self.pred),
                **{name: source_info(src) for name, src in self.candidates},
            }
        return info

    def score(self, *, sinks: Iterable[Sink] = (), collect: bool = False) -> ScoreResult:
        """Fold every chunk, in order, into one Accumulator and the sinks (see score_sources)."""
        pred, options = self.pred, self.options
        sinks = list(sinks)
        acc = Accumulator(worst=WorstK(options.worst))
        for sink in sinks:  # sinks that want the vector count (a progress bar) have a `begin`
            getattr(sink, "begin", lambda total: None)(self.total)
        kept: list[NDArray[np.float64]] = []
        offset = 0
        evals = self.evaluations()
        for chunk in self.chunks(evals):
            acc.update(chunk)
            for sink in sinks:
                sink(chunk)
            if collect:
                kept.append(chunk.weighted_loss)
            offset += len(chunk)
        if offset == 0:
            raise InputError("has no vectors to score (0 rows)", source=pred.name)

        return self.result(acc, offset, kept if collect else None, evals)

    def result(
        self,
        acc: Accumulator,
        vectors: int,
        kept: list[NDArray[np.float64]] | None,
        evals: Any,
        engine: dict[str, Any] | None = None,
    ) -> ScoreResult:
        """The ScoreResult of ``vectors`` vectors folded into ``acc`` (every engine ends here):
        ``kept`` the collected per-vector losses (None: not collected), ``evals`` the merged
        Evaluations (or None), ``engine`` the summary's ``engine`` entry."""
        options, layout, scalar = self.options, self.layout, self.scalar
        loss_shape = tuple(int(d) if d is not None else (vectors // max(layout.per_row, 1)) for d in layout.loss_shape)
        losses = None
        if kept is not None:
            losses = (np.concatenate(kept) if kept else np.empty(0)).reshape(loss_shape)
        extra: dict[str, Any] = {} if evals is None else evals.to_dict(options.reduction, top=acc, scalar_weight=scalar)
        if engine is not None:
            extra["engine"] = engine
        return ScoreResult(
            loss=reduce_loss(acc, options.reduction, scalar_weight=scalar),
            options=options,
            stats=acc,
            inputs=self.inputs_info(),
            loss_shape=loss_shape,
            losses=losses,
            extra=extra,
        )


def _check_per_row(
    layout: Layout, pred_name: str, *, targets: Source | None, groups: Any, options: ScoreOptions
) -> None:
    """Targets and groups are one value a vector, for vectors one a row; dims fit the vectors."""
    if options.dims:
        from .matryoshka import check_dims

        check_dims(options.dims, layout.dim)
    for src, what in ((targets, "targets"), (groups, "group values")):
        if src is None:
            continue
        if len(layout.loss_shape) != 1 or layout.chunk_axis != 0:
            raise UsageProblem(f"{what} need one vector a row (a 2-D input with the vectors along the last axis)")
        shape = tuple(src.shape)
        if len(shape) > 1 and not all(d == 1 for d in shape[1:]):
            raise InputError(f"has shape {_describe_shape(shape)}; expected one value a vector", source=src.name)
        n_src, n_vec = shape[0] if shape else None, layout.loss_shape[0]
        if n_src is not None and n_vec is not None and n_src != n_vec:
            raise InputError(f"has {n_src} {what} but {pred_name} has {n_vec} vectors", source=src.name)


def inputs_info(pred: Source, label: Source, weights: Source | float | None, scoring: Scoring) -> dict[str, Any]:
    """The summary's ``inputs``: each side, and the weights (a number, a source or None)."""
    inputs: dict[str, Any] = {"pred": source_info(pred), "label": source_info(label)}
    if scoring.scalar is not None and scoring.plan is None:
        inputs["weights"] = {"value": scoring.scalar}
    elif weights is not None and not isinstance(weights, (int, float)):
        inputs["weights"] = source_info(weights, vectors=False)
    else:
        inputs["weights"] = None
    return inputs


def score_sources(
    pred: Source,
    label: Source,
    *,
    options: ScoreOptions = ScoreOptions(),
    weights: Source | float | None = None,
    sinks: Iterable[Sink] = (),
    collect: bool = False,
    ids: tuple[Source | None, Source | None] = (None, None),
) -> ScoreResult:
    """Score two sources of vectors, pairing them row by row.

    ``weights`` is one number for every vector, or a Source of weights shaped
    like the per-vector losses (or one per leading row). Every scored chunk is
    passed to each of ``sinks`` as it is produced; ``collect`` keeps the
    per-vector losses in ``ScoreResult.losses`` (for in-memory use).
    ``ids`` are id columns of pred and label (either may be None): they ride
    along on ``ScoredChunk.ids``, and when both are given they must agree row
    by row.
    """
    return Scoring.of(pred, label, options=options, weights=weights, ids=ids).score(sinks=sinks, collect=collect)
