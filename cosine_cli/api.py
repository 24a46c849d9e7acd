"""The library API: score arrays, files or chunk streams with the CLI's options.

>>> from cosine_cli import score
>>> score([[1., 0.], [1., 1.]], [[0., 1.], [1., 1.]]).loss
-0.4999999999999999
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import UsageProblem
from .pipeline import ScoreOptions, ScoreResult, Sink, score_sources
from .readers import ArraySource, Source, open_source
from .readers.base import IterSource
from .rules import check_score_options

__all__ = ["score", "score_chunks"]

PathOrArray = str | os.PathLike[str] | ArrayLike


def _as_source(
    x: Any, stack: ExitStack, name: str, fmt: str | None = None, storage_options: dict[str, Any] | None = None
) -> Source:
    """A Source for one side given on its own: a path or URI (through the readers), a Source, or
    an array."""
    if isinstance(x, (str, os.PathLike)):
        src = open_source(x, fmt, storage_options=storage_options)
        stack.callback(src.close)
        return src
    if hasattr(x, "chunks") and hasattr(x, "shape") and hasattr(x, "name"):
        return x  # type: ignore[no-any-return]
    from .readers.memory import to_numpy

    return ArraySource(np.asarray(to_numpy(x)), name)


def score(
    pred: PathOrArray | Source | dict[str, Any],
    label: PathOrArray | Source | None = None,
    *,
    weights: PathOrArray | Source | float | None = None,
    loss: str = "negative",
    compat: str = "keras",
    reduction: str = "sum_over_batch_size",
    axis: int = -1,
    nan_policy: str = "error",
    chunk_size: int | None = None,
    worst: int = 0,
    pred_format: str | None = None,
    label_format: str | None = None,
    sinks: Iterable[Sink] = (),
    collect: bool | None = None,
    engine: str = "local",
    storage_options: dict[str, Any] | None = None,
    scheduler: Any = None,
    workers: int | None = None,
    rows_per_task: int | None = None,
    output_dir: str | None = None,
    notify: Callable[[str], None] | None = None,
    threads: int | None = None,
    targets: PathOrArray | Source | None = None,
    margin: float = 0.0,
    dims: Sequence[int] | str | None = None,
    diff: bool = False,
    **columns: Any,
) -> ScoreResult:
    """Score predictions against labels: arrays, paths or Sources.

    Parameters mirror ``cosloss score``. ``weights`` is one number for every
    vector, or an array / path shaped like the per-vector losses (or one per
    leading row). With ``reduction="none"`` the per-vector losses (times
    their weights) are returned in ``result.losses`` unless ``collect=False``.

    Paths may be any input format (``"-"`` reads standard input); ``label=None``
    means that ``pred`` holds both vector columns. ``columns`` are the fields of
    :class:`cosine_cli.inputs.InputOptions` (``pred_col``, ``label_col``,
    ``columns``, ``key``, ``delimiter``, ``header``, ``id_col``, ``join_on_id``,
    ``weight_col``).

    Paths may be URIs (``s3://bucket/preds/``, ``gs://``, ``hdfs://``,
    ``file://``); a directory or glob of Parquet files is one dataset.
    ``storage_options`` configure the object store (for S3 any keyword of
    ``pyarrow.fs.S3FileSystem``, over the AWS environment variables).

    ``engine="dask"`` scores row ranges on a Dask cluster: ``scheduler`` is an
    address, a ``distributed.Client`` or None (``$DASK_SCHEDULER_ADDRESS``, else
    a local cluster of ``workers`` processes); ``rows_per_task`` sizes the
    ranges; ``output_dir`` receives one Parquet part of per-vector results per
    task. Inputs are then paths or URIs, weights a number or an ``.npy`` path.

    ``threads`` (local engine, files only): how many row ranges to score at once on a thread pool;
    None means one per core this process may use (``os.sched_getaffinity``), 1 the serial path.
    Inputs that cannot be read by row range (CSV, JSON, standard input) or rows joined by id
    always take the serial path. The numbers do not depend on it.

    Evaluations in the same pass (issue 12; README: Evaluations): ``targets`` (a path or array of
    one number a vector) or ``target_col`` (a column of PRED or LABEL) gives the summary's
    ``correlation`` and feeds ``loss="embedding"`` (torch's CosineEmbeddingLoss, with ``margin``)
    and ``loss="mse"``; ``dims`` (``[64, 128]`` or ``"64,128"``) gives ``by_dim``; ``group_col``
    gives ``by_group``; ``diff=True`` gives ``diff`` and ``norm_ratio``; ``pred`` as a mapping
    ``{name: path}`` scores several candidates against the one ``label`` (``by_candidate``; the
    top-level statistics are the first candidate's).

    ``notify`` receives each note about what was inferred (a CSV without a header, the columns
    taken from a wide table) and each warning (an input scored against itself, a Hive-partitioned
    dataset paired by position); they are also listed in ``result.inputs["notes"]``.

    Raises
    ------
    cosine_cli.InputError
        Unreadable or inconsistent input (the CLI's exit 3).
    cosine_cli.UsageProblem
        Options that do not fit together (the CLI's exit 2).
    """
    if isinstance(dims, str):
        from .matryoshka import parse_dims

        dims = parse_dims(dims)
    elif dims is not None:
        from .matryoshka import check_dims

        dims = check_dims(dims)
    candidates: dict[str, Any] = {}
    if isinstance(pred, dict):
        candidates = {str(k): v for k, v in pred.items()}
        if not candidates:
            raise UsageProblem("no candidates given: pass at least one PRED")
        pred = next(iter(candidates.values()))
    options = ScoreOptions(
        loss=loss,
        compat=compat,
        reduction=reduction,
        axis=axis,
        nan_policy=nan_policy,
        chunk_size=chunk_size,
        worst=worst,
        margin=float(margin),
        dims=tuple(dims or ()),
        diff=diff,
    )
    collect = (reduction == "none") if collect is None else collect
    is_path = isinstance(pred, (str, os.PathLike)) and (label is None or isinstance(label, (str, os.PathLike)))
    file_weights = isinstance(weights, (str, os.PathLike))
    scalar_weights = weights is None or isinstance(weights, (int, float))
    check_score_options(
        os.fspath(pred) if isinstance(pred, (str, os.PathLike)) else pred,
        os.fspath(label) if isinstance(label, (str, os.PathLike)) else label,
        weights=os.fspath(weights) if isinstance(weights, (str, os.PathLike)) else None,
        reduction=reduction,
        engine=engine,
        output_dir=output_dir,
        columns=columns,
        loss=loss,
        targets=targets,
        dims=options.dims,
        diff=diff,
        candidates=len(candidates),
        collect=bool(collect) or bool(list(sinks)),
    )
    formats = {"pred_format": pred_format, "label_format": label_format}
    if engine == "dask":
        from .engines.dask_engine import score_dask

        if not is_path or label is None or not (file_weights or scalar_weights):
            raise UsageProblem("engine 'dask' reads files: pass paths or URIs (PRED and LABEL), not arrays")
        if targets is not None and not isinstance(targets, (str, os.PathLike)):
            raise UsageProblem("engine 'dask' reads files: pass {targets} as a path or URI, not an array")
        if not all(isinstance(x, (str, os.PathLike)) for x in candidates.values()):
            raise UsageProblem("engine 'dask' reads files: pass every candidate as a path or URI, not an array")
        return score_dask(
            os.fspath(pred),  # type: ignore[arg-type]
            os.fspath(label),  # type: ignore[arg-type]
            options=options,
            weights=weights,
            inputs=_input_options(columns, formats),
            scheduler=scheduler,
            workers=workers,
            storage_options=storage_options,
            rows_per_task=rows_per_task,
            output_dir=output_dir,
            notify=notify,
            targets=None if targets is None else os.fspath(targets),
            candidates={name: os.fspath(path) for name, path in candidates.items()},
        )
    if threads is not None and threads < 1:
        raise UsageProblem(f"threads must be at least 1, not {threads}")
    if engine != "local":
        raise UsageProblem(f"unknown engine {engine!r}; expected local or dask")
    sources_given = any(hasattr(x, "chunks") and hasattr(x, "name") for x in (pred, label, weights, targets))
    evaluating = targets is not None or options.dims or diff or len(candidates) > 1 or columns.get("group_col")
    if not sources_given or columns or label is None or evaluating:
        # Paths, URIs, in-memory tables and arrays: through the input layer, with every option.
        return _score_inputs(
            pred,
            label,
            weights,
            options,
            sinks,
            collect,
            _input_options(columns, formats),
            storage_options,
            notify,
            threads,
            targets=targets,
            candidates=candidates,
        )
    if label is None:
        raise UsageProblem("label=None (one file holding both sides) needs a path for pred")
    with ExitStack() as stack:
        p = _as_source(pred, stack, "pred", pred_format, storage_options)
        t = _as_source(label, stack, "label", label_format, storage_options)
        w: Source | float | None
        if weights is None or isinstance(weights, (int, float)):
            w = weights
        else:
            w = _as_source(weights, stack, "weights", None, storage_options)
        return score_sources(p, t, options=options, weights=w, sinks=sinks, collect=collect)


def _input_options(columns: dict[str, Any], formats: dict[str, str | None]) -> Any:
    from .inputs import InputOptions

    try:
        chosen: dict[str, Any] = {k: v for k, v in formats.items() if v is not None}
        return InputOptions(**columns, **chosen)
    except TypeError as exc:
        raise UsageProblem(str(exc)) from None


def _score_inputs(
    pred: Any,
    label: Any,
    weights: Any,
    options: ScoreOptions,
    sinks: Iterable[Sink],
    collect: bool,
    opts: Any,
    storage_options: dict[str, Any] | None,
    notify: Callable[[str], None] | None,
    threads: int | None = None,
    *,
    targets: Any = None,
    candidates: dict[str, Any] | None = None,
) -> ScoreResult:
    """Files, URIs or objects (any format, with column options) through :func:`cosine_cli.inputs.open_inputs`;
    on a thread pool of row ranges (engines/parallel.py) where the inputs allow it."""
    from .inputs import open_candidate, open_inputs
    from .pipeline import Scoring

    def fspath(x: Any) -> Any:
        return os.fspath(x) if isinstance(x, (str, os.PathLike)) else x

    scalar = weights if isinstance(weights, (int, float)) else None
    inputs = open_inputs(
        fspath(pred),
        None if label is None else fspath(label),
        None if weights is None or scalar is not None else fspath(weights),
        opts,
        skip_nulls=options.nan_policy == "skip",
        storage_options=storage_options,
        notify=notify,
        targets=None if targets is None else fspath(targets),
    )
    try:
        w: Source | float | None = inputs.weights if inputs.weights is not None else scalar
        names = list(candidates or {})
        others = tuple(
            (name, open_candidate(fspath(path), opts, inputs, storage_options=storage_options, notify=notify))
            for name, path in list((candidates or {}).items())[1:]
        )
        scoring = Scoring.of(
            inputs.pred,
            inputs.label,
            options=options,
            weights=w,
            ids=inputs.ids,
            targets=inputs.targets,
            groups=inputs.groups,
            candidates=others,
            pred_name=names[0] if names else None,
        )
        result = None
        on_files = all(x is None or isinstance(x, (str, os.PathLike)) for x in (pred, label)) and (
            weights is None or scalar is not None or isinstance(weights, (str, os.PathLike))
        )
        on_files = on_files and all(
            isinstance(x, (str, os.PathLike))
            for x in (*([] if targets is None else [targets]), *(candidates or {}).values())
        )
        if threads != 1 and on_files:
            from .engines.parallel import available_threads, parallel_plan, score_parallel

            n = threads or available_threads()
            ranges = parallel_plan(inputs, scoring, opts, n) if n > 1 else None
            if ranges is not None:
                result = score_parallel(
                    inputs,
                    scoring,
                    ranges,
                    pred=os.fspath(pred),
                    label=None if label is None else os.fspath(label),
                    weights=scalar if scalar is not None else fspath(weights),
                    opts=opts,
                    options=options,
                    sinks=sinks,
                    collect=collect,
                    storage_options=storage_options,
                    threads=n,
                    targets=None if targets is None else fspath(targets),
                    candidates={name: os.fspath(path) for name, path in (candidates or {}).items()},
                )
        if result is None:
            result = scoring.score(sinks=sinks, collect=collect)
    finally:
        for c in inputs.closers:
            c.close()
    result.inputs["notes"] = list(inputs.notes)
    return result


def _part(stream: Iterable[Sequence[ArrayLike]], i: int) -> Iterator[NDArray[Any]]:
    for chunk in stream:
        yield np.asarray(chunk[i])


def score_chunks(
    chunks: Iterable[Sequence[ArrayLike]],
    *,
    weight: float | None = None,
    **options: Any,
) -> ScoreResult:
    """Score a stream of ``(pred, label)`` or ``(pred, label, weights)`` chunks.

    Chunks may have any number of rows; the result is the same as scoring the
    concatenated arrays, whatever the chunking.

    >>> import numpy as np
    >>> parts = [(np.eye(2), np.eye(2)), (np.ones((1, 2)), -np.ones((1, 2)))]
    >>> score_chunks(parts, reduction="sum").loss
    -1.0
    """
    first_pass, rest = itertools.tee(iter(chunks))
    head = next(first_pass, None)
    if head is None:
        from .errors import InputError

        raise InputError("no chunks to score", source="<chunks>")
    streams = itertools.tee(rest, len(head))
    names = ("pred", "label", "weights")[: len(streams)]
    sources = [IterSource(_part(s, i), name) for i, (s, name) in enumerate(zip(streams, names, strict=True))]
    w: Source | float | None = sources[2] if len(sources) > 2 else weight
    return score(sources[0], sources[1], weights=w, **options)
