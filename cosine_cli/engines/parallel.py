"""The local engine on every core: row ranges scored on a thread pool, folded in order.

The inputs are opened once, as the serial path opens them, for the checks, the summary and the
plan: row ranges cut where both sides' row groups start (:func:`.ranges.plan_inputs`, as the
Dask engine plans its tasks). Each range is opened again on a pool thread through
:func:`cosine_cli.inputs.open_inputs` with ``row_range`` and scored by the pipeline's own
:class:`~cosine_cli.pipeline.Scoring` into a buffer of :class:`ScoredChunk`; NumPy's BLAS and
ufuncs and pyarrow's decoder release the GIL, so the ranges run on every core.

The calling thread takes the buffers in range order and does what the serial loop does with each
chunk: the one Accumulator's ``update``, every sink (per-vector writers, the progress bar,
``--reduction none`` lines), the collected losses. So sinks see the chunks in order, and the
statistics are folded in the same order from the same per-vector values. The Accumulator sums a
block of arriving vectors at a time whatever the chunks were (accumulate.BLOCK), so the numbers
are bit for bit the serial ones for every layout, wherever the ranges were cut. (Merging
per-range Accumulators instead would round the compensated sums and Chan's variance differently
from the serial path in the last bits.)

At most ``threads + 1`` ranges are in flight (running or scored and waiting for their turn), so
memory is bounded by the chunks of those ranges, not by the rows or the thread count beyond that.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..accumulate import Accumulator, ScoredChunk
from ..errors import InputError
from ..inputs import InputOptions, Inputs, open_candidate, open_inputs
from ..pipeline import ScoreOptions, ScoreResult, Scoring, Sink
from ..readers.base import DEFAULT_CHUNK_BYTES
from ..sketch import WorstK
from .range_evals import GlobalRowsError, RangeEvaluations
from .ranges import in_global_rows, plan_inputs

__all__ = [
    "available_threads",
    "parallel_plan",
    "score_parallel",
    "RANGE_CHUNKS",
    "MIN_RANGE_BYTES",
    "MAX_RANGE_BYTES",
    "RANGES_PER_THREAD",
]

#: A range holds at least this many chunks of each side (a Parquet range is at least a row group) ...
RANGE_CHUNKS = 8
#: ... and at least this many bytes per side: a range costs CPU beyond its chunks (opening the
#: inputs, mapping them, handing over), measured as 25% of the work with 1-chunk ranges ...
MIN_RANGE_BYTES = 16 * DEFAULT_CHUNK_BYTES
#: ... and, when the inputs are large, up to this many: on the 1M x 768 .npy pair 256 MiB ranges
#: (12 of them) took 0.2 s less CPU than 64 MiB ones (46). Ranges stay small enough that every
#: thread gets several (RANGES_PER_THREAD), so that none idles while the last one finishes.
#: Memory does not grow with the size: an ``.npy`` range maps one chunk at a time, and a range's
#: buffered results are ~30 bytes a vector.
MAX_RANGE_BYTES = 64 * DEFAULT_CHUNK_BYTES
RANGES_PER_THREAD = 4


def available_threads() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under ``taskset`` or a container)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _Paths:
    pred: str
    label: str | None
    weights: str | None
    opts: InputOptions
    options: ScoreOptions
    storage_options: Mapping[str, Any] | None
    scalar: float | None  #: a weight given as a number (the same for every range)
    targets: str | None = None  #: --targets FILE (issue 12); --target-col / --group-col ride in opts
    #: several candidates (issue 12): PRED's name, and the other candidates (name, path)
    pred_name: str | None = None
    candidates: tuple[tuple[str, str], ...] = ()


def parallel_plan(
    inputs: Inputs, scoring: Scoring, opts: InputOptions, threads: int = 2
) -> list[tuple[int, int]] | None:
    """The row ranges to score in parallel, or None when these inputs take the serial path:
    an input that cannot be read by row range (CSV, JSON, standard input, a Fortran-order or
    0-d ``.npy``), rows paired by id, vectors not one per row of a 2-D layout, a single weight
    read from a file, or too few rows to cut."""
    if opts.join_on_id or any(not c.format.ranged or c.location.is_stdin for c in inputs.closers):
        return None
    layout = scoring.layout
    if len(layout.shape) != 2 or layout.chunk_axis != 0 or layout.axis != 1:
        return None
    if scoring.plan is not None and scoring.plan.mode == "scalar":
        return None
    sources = [inputs.pred, inputs.label, *([inputs.weights] if inputs.weights is not None else [])]
    if any(getattr(s, "fortran_order", False) for s in sources):
        return None
    rows = inputs.pred.shape[0]
    if rows is None or rows < 2:
        return None
    chunk_rows = scoring.chunk_rows()
    row_bytes = layout.dim * np.dtype(inputs.pred.dtype).itemsize
    # Whole chunks per range: a range's chunks are then the serial path's chunks.
    chunk_bytes = max(1, chunk_rows * row_bytes)
    floor = max(RANGE_CHUNKS, -(-MIN_RANGE_BYTES // chunk_bytes))
    ceiling = max(floor, MAX_RANGE_BYTES // chunk_bytes)
    chunks = -(-rows // max(1, chunk_rows))
    per_range = min(ceiling, max(floor, chunks // max(1, threads * RANGES_PER_THREAD)))
    ranges = plan_inputs(inputs.pred, inputs.label, inputs.weights, rows, chunk_rows * per_range)
    return ranges if len(ranges) > 1 else None


def _owned(chunk: ScoredChunk, offset: int) -> ScoredChunk:
    """The chunk, counted from the start of the inputs, owning its arrays: a weight read from an
    ``.npy`` file may be a view of the reader's reused buffer, and this chunk outlives it."""
    chunk.start += offset
    if chunk.weight is not None and chunk.weight.base is not None:
        chunk.weight = chunk.weight.copy()
    return chunk


def _score_range(paths: _Paths, start: int, stop: int) -> tuple[list[ScoredChunk], Any]:
    """Open rows [start, stop) of every input (on a pool thread) and score them into a buffer;
    also the range's :class:`~cosine_cli.evaluations.Evaluations` (None when none is asked for)."""
    inputs = open_inputs(
        paths.pred,
        paths.label,
        paths.weights,
        paths.opts,
        skip_nulls=paths.options.nan_policy == "skip",
        row_range=(start, stop),
        storage_options=paths.storage_options,
        targets=paths.targets,
    )
    try:
        for c in inputs.closers:  # the pool already overlaps reading and computing
            if hasattr(c.reader, "read_ahead"):
                c.reader.read_ahead = False
        weights = inputs.weights if inputs.weights is not None else paths.scalar
        others = tuple(
            (
                name,
                open_candidate(
                    path, paths.opts, inputs, storage_options=paths.storage_options, row_range=(start, stop)
                ),
            )
            for name, path in paths.candidates
        )
        scoring = Scoring.of(
            inputs.pred,
            inputs.label,
            options=paths.options,
            weights=weights,
            ids=inputs.ids,
            targets=inputs.targets,
            groups=inputs.groups,
            candidates=others,
            pred_name=paths.pred_name,
        )
        evals = scoring.evaluations()
        fed = None if evals is None else RangeEvaluations(evals, start)
        chunks = [_owned(chunk, start) for chunk in scoring.chunks(fed)]
        return chunks, None if fed is None else fed.finish()
    except GlobalRowsError as exc:
        raise exc.error from None
    except InputError as exc:
        shifted = in_global_rows(exc, start)
        if shifted is exc:
            raise
        raise shifted from None
    finally:
        for c in inputs.closers:
            c.close()


def score_parallel(
    inputs: Inputs,
    scoring: Scoring,
    ranges: list[tuple[int, int]],
    *,
    pred: str,
    label: str | None,
    weights: str | float | None,
    opts: InputOptions,
    options: ScoreOptions,
    sinks: Iterable[Sink] = (),
    collect: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    threads: int,
    targets: str | None = None,
    candidates: Mapping[str, str] | None = None,
) -> ScoreResult:
    """Score ``ranges`` of the inputs (opened once by the caller, who closes them) on ``threads``
    pool threads; the result is the serial path's (see the module docstring)."""
    paths = _Paths(
        pred,
        label,
        weights if isinstance(weights, str) else None,
        opts,
        options,
        storage_options,
        float(weights) if isinstance(weights, (int, float)) else None,
        targets,
        scoring.pred_name,
        tuple(list((candidates or {}).items())[1:]),
    )
    sinks = list(sinks)
    acc = Accumulator(worst=WorstK(options.worst))
    for sink in sinks:
        getattr(sink, "begin", lambda total: None)(scoring.total)
    kept: list[NDArray[np.float64]] = []
    todo = iter(ranges)
    pending: deque[Future[tuple[list[ScoredChunk], Any]]] = deque()
    evals: Any = None  #: the evaluations of the ranges so far, merged in range order
    pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="cosloss-range")
    try:

        def submit() -> None:
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(_score_range, paths, *nxt))

        for _ in range(threads + 1):
            submit()
        offset = 0
        while pending:
            chunks, range_evals = pending.popleft().result()  # in range order: the first bad range's error is raised
            submit()
            if range_evals is not None:
                evals = range_evals if evals is None else evals.merge(range_evals)
            for chunk in chunks:
                acc.update(chunk)
                for sink in sinks:
                    sink(chunk)
                if collect:
                    kept.append(chunk.weighted_loss)
                offset += len(chunk)
            del chunks, range_evals
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    engine = {"name": "local", "threads": threads, "ranges": len(ranges)}
    return scoring.result(acc, offset, kept if collect else None, evals, engine)
