"""``--engine dask``: score row ranges on a Dask cluster, merge the partial results on the client.

Each task opens its row range of both inputs (:mod:`.ranges`), scores it with
:func:`cosine_cli.pipeline.score_sources` -- the local engine's code -- and
returns its :class:`~cosine_cli.accumulate.Accumulator`. The client merges the
accumulators in task order and reduces once, so the numbers are the local
engine's (float64 compensated sums; only the order of a few additions differs).

A task is pure: a retried task (its worker died) recomputes the same
accumulator and rewrites the same output part, so retries change nothing.
Needs the ``dask`` extra (``pip install 'cosine-cli[dask]'``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import remote
from ..accumulate import Accumulator, ScoredChunk, reduce_loss
from ..errors import InputError, UsageProblem
from ..pipeline import Layout, ScoreOptions, ScoreResult, score_sources
from .ranges import RangeSpec, Side, open_side, plan_ranges

__all__ = ["score_dask", "run_task", "TASK_BYTES"]

#: Default input bytes per side and task: big enough that per-task overhead
#: (scheduling, opening files, footers) is noise, small enough to balance.
TASK_BYTES = 256 << 20


@dataclass(frozen=True)
class Task:
    """One row range of the pair, as a worker receives it."""

    index: int
    start: int  #: first row (along axis 0) of the range
    vector_offset: int  #: flat index of its first vector in the loss shape
    pred: RangeSpec
    label: RangeSpec
    weights: RangeSpec | float | None
    options: ScoreOptions
    output: tuple[Any, str] | None = None  #: (file system, directory) for per-vector parts


def run_task(task: Task) -> tuple[int, Accumulator]:
    """Score one range on a worker; returns (task index, its accumulator)."""
    return _score_range(task)


def _score_range(task: Task) -> tuple[int, Accumulator]:
    pred, label = task.pred.open(), task.label.open()
    weights = task.weights.open() if isinstance(task.weights, RangeSpec) else task.weights
    parts: list[ScoredChunk] = []
    try:
        result = score_sources(
            pred, label, options=task.options, weights=weights, sinks=[parts.append] if task.output else ()
        )
    except InputError as exc:
        if isinstance(exc.row, int) or (isinstance(exc.row, str) and exc.row.isdigit()):
            raise InputError(
                exc.detail, source=exc.source, row=int(exc.row) + task.vector_offset, column=exc.column
            ) from None
        raise
    finally:
        for src in (pred, label, weights):
            if hasattr(src, "close"):
                src.close()
    if task.output is not None:
        _write_part(task, parts)
    return task.index, result.stats


def _write_part(task: Task, parts: list[ScoredChunk]) -> None:
    """One Parquet file per task: row, cos, loss (unweighted) and weight when there are weights."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, directory = task.output  # type: ignore[misc]

    def cat(get: Any) -> Any:
        return np.concatenate([get(c) for c in parts]) if parts else np.empty(0)

    columns = {
        "row": cat(lambda c: c.start + task.vector_offset + np.arange(len(c), dtype=np.int64)).astype(np.int64),
        "cos": cat(lambda c: c.cos),
        "loss": cat(lambda c: c.loss),
    }
    if parts and parts[0].weight is not None:
        columns["weight"] = cat(lambda c: c.weight)
    table = pa.table(columns)
    with remote.atomic_output(fs, remote.join(directory, f"part-{task.index:05d}.parquet")) as out:
        pq.write_table(table, out)


@contextmanager
def _client(scheduler: Any, workers: int | None) -> Iterator[Any]:
    """A distributed.Client: the one given, one on ``scheduler``/DASK_SCHEDULER_ADDRESS, or a local cluster."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageProblem("--engine dask needs Dask: pip install 'cosine-cli[dask]'") from None
    if scheduler is not None and not isinstance(scheduler, str):
        yield scheduler  # already a Client: the caller owns it
        return
    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        with Client(address) as client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    with (
        LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _weights_side(weights: Any, storage_options: Mapping[str, Any] | None) -> Side | float | None:
    if weights is None or isinstance(weights, (int, float)):
        return None if weights is None else float(weights)
    name = os.fspath(weights)
    if not name.lower().endswith(".npy"):
        raise UsageProblem("with --engine dask, weights are one number or an .npy file")
    return open_side(name, storage_options)


def score_dask(
    pred: str,
    label: str,
    *,
    options: ScoreOptions,
    weights: Any = None,
    scheduler: Any = None,
    workers: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    rows_per_task: int | None = None,
    output_dir: str | None = None,
    pred_column: str | None = None,
    label_column: str | None = None,
) -> ScoreResult:
    """Score ``pred`` against ``label`` (paths or URIs) on a Dask cluster; see the module docstring."""
    if options.reduction == "none" and output_dir is None:
        raise UsageProblem("with --engine dask, --reduction none needs an output directory for the losses")
    p = open_side(os.fspath(pred), storage_options, pred_column)
    t = open_side(os.fspath(label), storage_options, label_column)
    w = _weights_side(weights, storage_options)
    layout = Layout.of(p.shape, options.axis, p.name)  # type: ignore[arg-type]
    if layout.chunk_axis != 0:
        raise UsageProblem("with --engine dask the vectors must lie along the last axes, not axis 0")
    for side in (t, *([w] if isinstance(w, Side) else [])):
        if side.shape[0] != p.shape[0]:
            raise InputError(
                f"has {side.shape[0]} rows but {p.name} has {p.shape[0]}; "
                "inputs are paired row by row and must have the same number of rows",
                source=side.name,
            )
    rows = p.shape[0]
    row_bytes = max(1, int(np.prod(p.shape[1:], dtype=np.int64)) * p.dtype.itemsize)
    target = rows_per_task or max(1, TASK_BYTES // row_bytes)
    bounds_w = w.boundaries() if isinstance(w, Side) else None
    ranges = plan_ranges(_merge_bounds(p.boundaries(), bounds_w), t.boundaries(), rows, target)
    output = None
    if output_dir is not None:
        out_fs, out_path = remote.resolve(output_dir, storage_options)
        out_fs.create_dir(out_path, recursive=True)
        output = (out_fs, out_path)
    tasks = [
        Task(
            i,
            s,
            s * layout.per_row,
            p.range(s, e),
            t.range(s, e),
            w.range(s, e) if isinstance(w, Side) else w,
            options,
            output,
        )
        for i, (s, e) in enumerate(ranges)
    ]
    with _client(scheduler, workers) as client:
        futures = client.map(run_task, tasks, pure=False)
        results = dict(client.gather(futures))
        address = client.scheduler.address if hasattr(client, "scheduler") else None
    acc = Accumulator()
    for i in range(len(tasks)):  # task order: the same merge whatever finished first
        acc.merge(results[i])
    scalar = w if isinstance(w, float) else None
    inputs = {
        "pred": _info(p),
        "label": _info(t),
        "weights": {"value": scalar} if scalar is not None else (_info(w) if isinstance(w, Side) else None),
    }
    return ScoreResult(
        loss=reduce_loss(acc, options.reduction, scalar_weight=scalar),
        options=options,
        stats=acc,
        inputs=inputs,
        loss_shape=tuple(int(d) for d in layout.loss_shape),  # type: ignore[arg-type]
        extra={
            "engine": {
                "name": "dask",
                "tasks": len(tasks),
                "scheduler": address,
                **({"output": output_dir} if output_dir else {}),
            }
        },
    )


def _merge_bounds(a: list[int] | None, b: list[int] | None) -> list[int] | None:
    if a is None or b is None:
        return a if b is None else b
    return sorted(set(a) | set(b))


def _info(side: Side) -> dict[str, Any]:
    return {
        "path": side.name,
        "shape": list(side.shape),
        "dtype": str(side.dtype),
        **({"format": side.kind} if side.kind != "npy" else {}),
    }
