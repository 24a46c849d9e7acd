"""The ``cosloss`` command: a thin Click layer over :mod:`cosine_cli`.

It parses options, calls the library, picks a writer, and maps every error to
the documented exit code in one place (:func:`handled_errors`).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn

import click

from . import __version__, termination
from .engine_options import engine_kwargs, engine_options
from .errors import EXIT_INPUT, EXIT_SIGINT, EXIT_SIGTERM, CoslossError, UsageProblem
from .options import FORMAT_CHOICES, input_kwargs, input_options
from .output_options import output_options

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# Choices are spelled out here (not imported) so that --help needs no NumPy.
LOSS_CHOICES = ("negative", "distance", "squared", "embedding", "mse")
COMPAT_CHOICES = ("keras", "keras3", "torch", "exact")
REDUCTION_CHOICES = (
    "sum_over_batch_size",
    "mean",
    "sum",
    "mean_with_sample_weight",
    "sum_by_nonzero_weights",
    "none",
)
NAN_CHOICES = ("error", "propagate", "skip")
EXIT_BROKEN_PIPE = 141  # what a shell reports for a process killed by SIGPIPE


class DataError(click.ClickException):
    """Input or data error: one line on stderr, exit 3."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class Terminated(BaseException):
    """Raised from the SIGTERM handler so that clean-up runs as for Ctrl-C."""


def _on_sigterm(signum: int, frame: FrameType | None) -> NoReturn:
    termination.handler_ran()
    raise Terminated


@contextmanager
def handled_errors() -> Iterator[None]:
    """The one place where failures become exit codes (see README: Exit codes)."""
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: leave SIGTERM alone
        pass
    try:
        yield
    except UsageProblem as exc:
        raise click.UsageError(exc.for_cli()) from None
    except CoslossError as exc:
        raise DataError(str(exc)) from None
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as a killed-by-SIGPIPE tool would.
        _silence_stdout()
        raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
    except KeyboardInterrupt:
        _forget_unhandled_keyboard_interrupt()
        click.echo("cosloss: interrupted", err=True)
        raise click.exceptions.Exit(EXIT_SIGINT) from None
    except Terminated:
        click.echo("cosloss: terminated", err=True)
        raise click.exceptions.Exit(EXIT_SIGTERM) from None
    except MemoryError:
        raise DataError("out of memory; try a smaller --chunk-size") from None
    except OSError as exc:
        name = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        raise DataError(f"{name}{exc.strerror or exc}") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _forget_unhandled_keyboard_interrupt() -> None:
    """Clear CPython's record of a Ctrl-C that left a string ``exec``, after we caught it.

    When a KeyboardInterrupt leaves code run by ``exec``/``eval`` of a string (a dataclass's
    generated methods being defined during a lazy import: the signal lands there now and then),
    CPython sets ``_PyRuntime.signals.unhandled_keyboard_interrupt`` even though a caller catches
    it; under ``python -m`` the interpreter then ends by re-raising SIGINT (exit -2) instead of our
    130. Every string exec clears the flag as it starts, so one empty exec clears it. It runs only
    after the interrupt was caught, so it cannot hide one that was not; elsewhere it is harmless.
    """
    exec("pass", {})  # noqa: S102 - a constant string: see the docstring


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="cosloss")
def cli() -> None:
    """Score embedding files with a cosine loss, as Keras's CosineSimilarity does.

    \b
    Examples:
      cosloss score sample_data/preds.npy sample_data/labels.npy
      cosloss score preds.npy labels.npy --weights sample_data/weights.npy --json
      cosloss score preds.npy labels.npy --reduction none > per_row.txt

    Exit codes: 0 scored, 1 a gate failed, 2 usage error, 3 input or data
    error, 130 interrupted (143 on SIGTERM).
    """


@cli.command()
@click.argument("a_path", metavar="A.json")
@click.argument("b_path", metavar="B.json")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as one JSON object.")
def compare(a_path: str, b_path: str, as_json: bool) -> None:
    """Show two --json summaries side by side, with B - A for every statistic.

    \b
    Example:
      cosloss score new.npy ref.npy --json > new.json
      cosloss compare old.json new.json
    """
    from .compare import write_compare

    with handled_errors():
        write_compare(a_path, b_path, sys.stdout, as_json=as_json)


@cli.command()
@click.argument("paths", metavar="PRED [LABEL]", nargs=-1, required=True)
@click.option(
    "--label",
    "label_ref",
    metavar="REF",
    help="The reference for several candidates: cosloss score CAND... --label REF (a candidate is PATH or "
    "NAME=PATH; the name defaults to the file's stem). The summary's by_candidate.",
)
@click.option(
    "--loss",
    "loss_kind",
    type=click.Choice(LOSS_CHOICES),
    default="negative",
    show_default=True,
    help="negative: -cos (Keras CosineSimilarity); distance: 1 - cos; squared: (1 - cos)^2; embedding: "
    "torch CosineEmbeddingLoss (targets +1/-1, --margin); mse: (cos - target)^2 (CosineSimilarityLoss).",
)
@click.option(
    "--margin",
    type=float,
    default=0.0,
    show_default=True,
    help="--loss embedding: loss max(0, cos - margin) for a target of -1.",
)
@click.option("--targets", "targets_path", metavar="FILE", help="One target a vector (any input format).")
@click.option(
    "--dims",
    "dims_text",
    metavar="D1,D2,...",
    help="Matryoshka: also score the first D1, D2, ... components of every vector, in the same pass (by_dim).",
)
@click.option(
    "--diff",
    is_flag=True,
    help="Parity statistics: max |p - l|, ||p - l|| / ||l|| and ||p|| / ||l|| (diff, norm_ratio).",
)
@click.option(
    "--compat",
    type=click.Choice(COMPAT_CHOICES),
    default="keras",
    show_default=True,
    help="Normalisation rule: keras (Keras 2, norms floored at 1e-6), keras3 (1e-7), "
    "torch (1e-8), exact (none). A zero vector gives cos 0 in every mode.",
)
@click.option(
    "--reduction",
    type=click.Choice(REDUCTION_CHOICES),
    default="sum_over_batch_size",
    show_default=True,
    help="How per-vector losses become one number; none prints them all.",
)
@click.option(
    "--axis",
    type=int,
    default=-1,
    show_default=True,
    help="The axis the vectors lie along; other axes index vectors (as in Keras).",
)
@click.option(
    "--weights",
    "weights_path",
    metavar="FILE",
    help="Sample weights (any input format): one per vector, one per leading row, or one number.",
)
@click.option("--weight", "weight_value", type=float, metavar="VALUE", help="One sample weight for every vector.")
@click.option(
    "--nan-policy",
    type=click.Choice(NAN_CHOICES),
    default="error",
    show_default=True,
    help="A vector holding NaN or inf: error (exit 3), propagate (NaN results, as Keras), "
    "or skip (leave it out and count it).",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    metavar="ROWS",
    help="Rows per chunk (default: sized to about 4 MiB per input). Results do not depend on it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@input_options
@output_options
@engine_options
def score(
    paths: tuple[str, ...],
    label_ref: str | None,
    loss_kind: str,
    margin: float,
    targets_path: str | None,
    dims_text: str | None,
    diff: bool,
    compat: str,
    reduction: str,
    axis: int,
    weights_path: str | None,
    weight_value: float | None,
    nan_policy: str,
    chunk_size: int | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Score PRED against LABEL, paired row by row (or CAND... against --label REF).

    PRED and LABEL are .npy / .npz arrays of the same shape ((rows, dim), or
    any N-D shape with the vectors along --axis), or tables: Parquet (a file,
    a directory or a glob of parts), CSV / TSV (.gz, .bz2, .zst), Arrow IPC
    (.arrow, .feather, .arrows). With one path, that file holds both vector
    columns (--pred-col and --label-col). '-' reads standard input (Parquet
    and Arrow files from a pipe are buffered in memory: they need seeking).
    Either may be a URI (s3://, gs://, hdfs://, file://) holding .npy or
    Parquet.

    \b
    Examples:
      cosloss score sample_data/preds.npy sample_data/labels.npy
      cosloss score sample_data/preds.npy sample_data/labels.npy \\
          --weights sample_data/weights.npy --reduction mean_with_sample_weight --json
      cosloss score sample_data/preds.npy sample_data/labels.npy --reduction none | sort -g | tail -3
      cosloss score pairs.parquet --pred-col pred --label-col label --id-col id
      cosloss score preds.csv.gz labels.parquet --columns 'emb_*' --label-col embedding
      cosloss score new.parquet ref.parquet --id-col doc_id --join-on-id --weight-col w
      duckdb -c "COPY (...) TO '/dev/stdout' (FORMAT parquet)" | cosloss score - ref.npy
      cosloss score s3://bucket/preds/ s3://bucket/labels/ --engine dask --scheduler tcp://sched:8786
      cosloss score a.npy b.npy --targets y.npy --loss embedding --margin 0.25
      cosloss score fp16.npy int8=q.npy --label ref.npy --gate 'cos.min >= 0.9998'
    """
    columns = input_kwargs(options)  # takes the input options out; the rest are output options
    pred, label, candidates = _candidates(paths, label_ref)
    dims = None
    if dims_text is not None:
        from .matryoshka import parse_dims

        with handled_errors():
            dims = parse_dims(dims_text)
    from .api import score as run_score
    from .output_options import OutputPlan
    from .rules import check_score_options

    stdout = sys.stdout  # looked up at call time: CliRunner swaps it
    stderr = sys.stderr
    sinks: list[Any] = []
    notes: list[str] = []
    if reduction == "none":
        sinks.append(_line_writer(stdout))
    with handled_errors():
        check_score_options(
            pred,
            label,
            weights=weights_path,
            weight=weight_value,
            columns=columns,
            loss=loss_kind,
            targets=targets_path,
            dims=dims or (),
            diff=diff,
            candidates=len(candidates),
        )
        if len(candidates) > 1 and (reduction == "none" or options.get("output") is not None):
            raise click.UsageError(
                "several candidates give one summary each (by_candidate); per-vector output "
                "(--reduction none, --output) takes one PRED"
            )
        # Every result option is checked here, before any data is read.
        where = engine_kwargs(
            options.pop("engine"),
            options.pop("scheduler"),
            options.pop("workers"),
            options.pop("task_rows"),
            options.pop("storage_options"),
            options.pop("threads"),
        )
        if where.get("engine") == "dask":
            if reduction == "none":
                raise click.UsageError(
                    "--reduction none is not available with --engine dask yet; "
                    "--output DIR writes every per-vector loss"
                )
            _route_output_to_dask(options, where, [pred, label, weights_path])
        plan = OutputPlan.from_options(
            options,
            inputs=[*(candidates.values() if candidates else [pred]), label, weights_path, targets_path],
            candidates=list(candidates),
            reduction=reduction,
            loss_kind=loss_kind,
            weighted=weights_path is not None or weight_value is not None or "weight_col" in columns,
            as_json=as_json,
            stdout=stdout,
            stderr=stderr,
        )
        with plan.running(sys.stdout.buffer, stderr) as output_sinks:
            result = run_score(
                candidates if len(candidates) > 1 else pred,
                label,
                targets=targets_path,
                margin=margin,
                dims=dims,
                diff=diff,
                weights=weights_path if weights_path is not None else weight_value,
                loss=loss_kind,
                compat=compat,
                reduction=reduction,
                axis=axis,
                nan_policy=nan_policy,
                chunk_size=chunk_size,
                sinks=[*sinks, *output_sinks],
                collect=False,
                worst=plan.worst,
                notify=notes.append,
                **columns,
                **where,
            )
            code = plan.finish(result, as_json=as_json, stdout=stdout, stderr=stderr)
            # What was inferred, and warnings: after the run, so that an error stays one line.
            _print_notes(notes, stderr)
    if code:
        raise click.exceptions.Exit(code)


@cli.command()
@click.argument("path", metavar="FILE")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMAT_CHOICES),
    metavar="FORMAT",
    help=f"The format, when the name or first bytes do not say it: {', '.join(FORMAT_CHOICES)}.",
)
@click.option("--delimiter", metavar="CHAR", help="CSV delimiter (default: detected).")
@click.option(
    "--header/--no-header", default=None, help="CSV: the first line is (or is not) a header (default: detected)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the description as one JSON object.")
def inspect(path: str, fmt: str | None, delimiter: str | None, header: bool | None, as_json: bool) -> None:
    """Describe FILE: format, rows, vector columns (dimension, dtype), other columns, row groups.

    \b
    Examples:
      cosloss inspect embeddings.parquet
      cosloss inspect vectors.csv.gz --json
    """
    from .inspect import describe, write_description

    notes: list[str] = []
    with handled_errors():
        info = describe(
            path,
            fmt,
            delimiter={"\\t": "\t", "tab": "\t"}.get(delimiter or "", delimiter),
            header=header,
            notify=notes.append,
        )
        _print_notes(notes, sys.stderr)
        write_description(info, sys.stdout, as_json=as_json)


def _candidates(paths: tuple[str, ...], label_ref: str | None) -> tuple[str, str | None, dict[str, str]]:
    """PRED and LABEL, and the named candidates when ``--label REF`` is given (``PATH`` or ``NAME=PATH``)."""
    if label_ref is None:
        if len(paths) > 2:
            raise click.UsageError(
                f"{len(paths)} paths given: score PRED [LABEL], or several candidates with CAND... --label REF"
            )
        return paths[0], (paths[1] if len(paths) > 1 else None), {}
    named: dict[str, str] = {}
    for text in paths:
        name, sep, path = text.partition("=")
        if not sep or not name or os.path.exists(text):
            name, path = _stem(text), text
        if name in named:
            raise click.UsageError(f"two candidates are named {name!r}: name them with NAME=PATH")
        named[name] = path
    first = next(iter(named.values()))
    return first, label_ref, named


def _stem(path: str) -> str:
    base = os.path.basename(path.rstrip("/")) or path
    for ending in (".gz", ".bz2", ".zst"):
        base = base.removesuffix(ending)
    return os.path.splitext(base)[0] or base


def _route_output_to_dask(options: dict[str, Any], where: dict[str, Any], inputs: list[str | None]) -> None:
    """With --engine dask, --output names a directory that receives one Parquet part a task,
    written by the workers; this process writes no per-vector file of its own."""
    out = options.get("output")
    if out is None:
        return
    if out == "-":
        raise click.UsageError("--engine dask writes per-vector results as Parquet parts: --output DIR, not -")
    from .output_options import refuse_input_paths
    from .writers import OUTPUT_FORMATS

    named = options.get("output_format") or next(
        (name for name, endings in OUTPUT_FORMATS.items() if out.lower().endswith(endings)), None
    )
    if named not in (None, "parquet"):
        raise click.UsageError("--engine dask writes per-vector results as Parquet parts only")

    refuse_input_paths(out, inputs, "--output")
    where["output_dir"] = out
    options["output"] = options["output_format"] = None


def _print_notes(notes: list[str], stream: Any) -> None:
    """What the library inferred, and its warnings, one line each on stderr."""
    for message in notes:
        stream.write(f"cosloss: {message}\n")


def _line_writer(stream: Any) -> Any:
    """A sink printing each (weighted) per-vector loss on its own line, round-trippable."""

    def write(chunk: Any) -> None:
        values = chunk.weighted_loss.tolist()
        if values:
            stream.write("\n".join(map(repr, values)) + "\n")

    return write


#: the thread-count settings of the BLAS libraries NumPy may be built with
_BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def main() -> None:
    """Console-script entry point."""
    from . import stdin

    # One BLAS thread per caller: cosloss runs its own pool (--threads), and its BLAS calls are row
    # dot products, which OpenBLAS's own threads only slow down (about 0.3 s of CPU on the 1M x 768
    # .npy pair, spent spinning in blas_thread_server). Set before NumPy is imported; a user's own
    # setting wins.
    for var in _BLAS_THREAD_VARS:
        os.environ.setdefault(var, "1")
    stdin.RAW_STDIN = True  # this process owns standard input: see stdin.py
    termination.install(_on_sigterm, EXIT_SIGTERM, "cosloss: terminated")  # prompt even in native waits
    try:
        try:
            cli(prog_name="cosloss")
        except KeyboardInterrupt:
            # Ctrl-C outside the command's own handling (start-up, Click's teardown): the same
            # message and code as inside it, never Python's re-raised SIGINT (exit -2).
            _forget_unhandled_keyboard_interrupt()
            click.echo("cosloss: interrupted", err=True)
            raise SystemExit(EXIT_SIGINT) from None
    except SystemExit as exc:
        if stdin.stdin_used:
            # Our own cleanup is done (partial outputs removed, readers closed). Leave now: a
            # reader thread, ours or pyarrow's, may still sit in a read on the pipe, and the
            # interpreter's shutdown would wait for it, or abort on it.
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            os._exit(code)
        raise
