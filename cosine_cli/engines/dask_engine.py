"""``--engine dask``: score row ranges on a Dask cluster, merge the partial results on the client.

The client opens the inputs once, as the local engine does, for their row counts
and row-group starts, and plans row ranges (:mod:`.ranges`). Each task opens its
range of every input through the same readers with the same options
(:func:`cosine_cli.inputs.open_inputs` with ``row_range``), scores it with
:class:`cosine_cli.pipeline.Scoring` -- the local engine's code -- and
returns its :class:`~cosine_cli.accumulate.Accumulator` and, when the run asks for them, its
:class:`~cosine_cli.evaluations.Evaluations` (issue 12: correlation, by_dim, by_group, diff), whose
rows count from the start of the inputs (:mod:`.range_evals`). Engines plan and run;
they do not read. The client merges the
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
from ..formats import FORMATS
from ..inputs import InputOptions, Inputs, open_candidate, open_inputs
from ..pipeline import Layout, ScoreOptions, ScoreResult, Scoring
from ..sketch import WorstK
from .range_evals import GlobalRowsError, RangeEvaluations
from .ranges import in_global_rows, plan_inputs

__all__ = ["score_dask", "run_task", "TASK_BYTES"]

#: Default input bytes per side and task: big enough that per-task overhead
#: (scheduling, opening files, footers) is noise, small enough to balance.
TASK_BYTES = 256 << 20


@dataclass(frozen=True)
class Task:
    """One row range of the pair, as a worker receives it: the inputs as the user named them, the
    same column options, and the range; the worker opens them through the same readers."""

    index: int
    start: int  #: first row (along axis 0) of the range
    stop: int
    vector_offset: int  #: flat index of its first vector in the loss shape
    pred: str
    label: str
    weights: str | float | None
    inputs: InputOptions
    storage_options: Mapping[str, Any] | None
    options: ScoreOptions
    output: tuple[Any, str] | None = None  #: (file system, directory) for per-vector parts
    #: --targets FILE (issue 12); --target-col and --group-col ride in ``inputs``, --dims, --diff and
    #: --margin in ``options``
    targets: str | None = None
    #: several candidates: PRED's name and the other candidates (name, path), read with the same range
    pred_name: str | None = None
    candidates: tuple[tuple[str, str], ...] = ()


#: what a task returns: its index, its Accumulator and its Evaluations (None when none is asked for)
TaskResult = tuple[int, Accumulator, Any]


def run_task(task: Task) -> TaskResult:
    """Score one range on a worker; returns (task index, its accumulator, its evaluations)."""
    return _score_range(task)


def _open(task_or_plan: Any, row_range: tuple[int, int] | None, notify: Any = None) -> Inputs:
    t = task_or_plan
    return open_inputs(
        t.pred,
        t.label,
        t.weights if isinstance(t.weights, str) else None,
        t.inputs,
        skip_nulls=t.options.nan_policy == "skip",
        row_range=row_range,
        storage_options=t.storage_options,
        notify=notify,
        targets=t.targets,
    )


def _score_range(task: Task) -> TaskResult:
    parts: list[ScoredChunk] = []
    inputs = _open(task, (task.start, task.stop))
    scalar = task.weights if isinstance(task.weights, float) else None
    acc = Accumulator(worst=WorstK(task.options.worst))
    try:
        others = tuple(
            (
                name,
                open_candidate(
                    path, task.inputs, inputs, storage_options=task.storage_options, row_range=(task.start, task.stop)
                ),
            )
            for name, path in task.candidates
        )
        scoring = Scoring.of(
            inputs.pred,
            inputs.label,
            options=task.options,
            weights=inputs.weights if inputs.weights is not None else scalar,
            ids=inputs.ids,
            targets=inputs.targets,
            groups=inputs.groups,
            candidates=others,
            pred_name=task.pred_name,
        )
        evals = scoring.evaluations()
        fed = None if evals is None else RangeEvaluations(evals, task.vector_offset)
        vectors = 0
        for chunk in scoring.chunks(fed):  # Scoring.score's loop, with the evaluations counted in global rows
            acc.update(chunk)
            vectors += len(chunk)
            if task.output:
                parts.append(chunk)
        if not vectors:
            raise InputError("has no vectors to score (0 rows)", source=inputs.pred.name)
        evals = None if fed is None else fed.finish()  # a worker's Spearman spill file travels as arrays
    except GlobalRowsError as exc:
        raise exc.error from None
    except InputError as exc:
        shifted = in_global_rows(exc, task.vector_offset)
        if shifted is exc:
            raise
        raise shifted from None
    finally:
        for c in inputs.closers:
            c.close()
    if task.output is not None:
        _write_part(task, parts)
    acc.worst.rows = acc.worst.rows + task.vector_offset  # the range's rows -> the inputs' rows
    return task.index, acc, evals


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


@dataclass(frozen=True)
class _Plan:
    pred: str
    label: str
    weights: str | float | None
    inputs: InputOptions
    storage_options: Mapping[str, Any] | None
    options: ScoreOptions
    targets: str | None = None
    pred_name: str | None = None
    candidates: tuple[tuple[str, str], ...] = ()


def score_dask(
    pred: str,
    label: str,
    *,
    options: ScoreOptions,
    weights: Any = None,
    inputs: InputOptions | None = None,
    scheduler: Any = None,
    workers: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    rows_per_task: int | None = None,
    output_dir: str | None = None,
    notify: Any = None,
    targets: str | None = None,
    candidates: Mapping[str, str] | None = None,
) -> ScoreResult:
    """Score ``pred`` against ``label`` (paths or URIs) on a Dask cluster; see the module docstring."""
    if options.reduction == "none" and output_dir is None:
        raise UsageProblem("with --engine dask, --reduction none needs an output directory for the losses")
    w_arg: str | float | None = (
        None if weights is None else (float(weights) if isinstance(weights, (int, float)) else os.fspath(weights))
    )
    plan = _Plan(
        os.fspath(pred),
        os.fspath(label),
        w_arg,
        inputs or InputOptions(),
        storage_options,
        options,
        None if targets is None else os.fspath(targets),
        next(iter(candidates)) if candidates else None,
        tuple((name, os.fspath(path)) for name, path in list((candidates or {}).items())[1:]),
    )
    # The client opens every input once, as the local engine would, for what the plan needs:
    # row counts, row-group starts, and the summary's description of each input.
    opened = _open(plan, None, notify)
    try:
        others = tuple(
            (name, open_candidate(path, plan.inputs, opened, storage_options=storage_options, notify=notify))
            for name, path in plan.candidates
        )
        for c in opened.closers:
            if not c.format.ranged:
                raise UsageProblem(
                    f"{c.location.name}: --engine dask reads inputs by row range, which a {c.format.name} "
                    f"input cannot be; use one of {', '.join(f.name for f in FORMATS.values() if f.ranged)}"
                )
        p, t, w = opened.pred, opened.label, opened.weights
        layout = Layout.of(p.shape, options.axis, p.name)
        if layout.chunk_axis != 0:
            raise UsageProblem("with --engine dask the vectors must lie along the last axes, not axis 0")
        rows = p.shape[0]
        for side in (t, *([w] if w is not None else [])):
            if side.shape[0] != rows:
                raise InputError(
                    f"has {side.shape[0]} rows but {p.name} has {rows}; "
                    "inputs are paired row by row and must have the same number of rows",
                    source=side.name,
                )
        assert rows is not None
        # the per-row columns (targets, groups) and --dims are checked once here, before any task runs
        scoring = Scoring.of(
            p,
            t,
            options=options,
            weights=w if w is not None else (w_arg if isinstance(w_arg, float) else None),
            targets=opened.targets,
            groups=opened.groups,
            candidates=others,
            pred_name=plan.pred_name,
        )
        info = {**scoring.inputs_info(), "notes": list(opened.notes)}
        row_bytes = max(1, int(np.prod([d or 1 for d in p.shape[1:]], dtype=np.int64)) * np.dtype(p.dtype).itemsize)
        # row-group starts are read while the inputs are open
        ranges = plan_inputs(p, t, w, rows, rows_per_task or max(1, TASK_BYTES // row_bytes))
    finally:
        for c in opened.closers:
            c.close()
    output = None
    if output_dir is not None:
        out_fs, out_path = remote.resolve(output_dir, storage_options)
        out_fs.create_dir(out_path, recursive=True)
        output = (out_fs, out_path)
    tasks = [
        Task(
            i,
            s,
            e,
            s * layout.per_row,
            plan.pred,
            plan.label,
            plan.weights,
            plan.inputs,
            storage_options,
            options,
            output,
            plan.targets,
            plan.pred_name,
            plan.candidates,
        )
        for i, (s, e) in enumerate(ranges)
    ]
    with _client(scheduler, workers) as client:
        futures = client.map(run_task, tasks, pure=False)
        results = {index: (task_acc, task_evals) for index, task_acc, task_evals in client.gather(futures)}
        address = client.scheduler.address if hasattr(client, "scheduler") else None
    acc = Accumulator(worst=WorstK(options.worst))
    evals: Any = None
    for i in range(len(tasks)):  # task order: the same merge whatever finished first
        task_acc, task_evals = results[i]
        acc.merge(task_acc)
        if task_evals is not None:
            evals = task_evals if evals is None else evals.merge(task_evals)
    scalar = w_arg if isinstance(w_arg, float) else None
    extra: dict[str, Any] = {} if evals is None else evals.to_dict(options.reduction, top=acc, scalar_weight=scalar)
    return ScoreResult(
        loss=reduce_loss(acc, options.reduction, scalar_weight=scalar),
        options=options,
        stats=acc,
        inputs=info,
        loss_shape=tuple(int(d) for d in (rows, *layout.loss_shape[1:])),  # type: ignore[arg-type]
        extra={
            **extra,
            "engine": {
                "name": "dask",
                "tasks": len(tasks),
                "scheduler": address,
                **({"output": output_dir} if output_dir else {}),
            },
        },
    )
