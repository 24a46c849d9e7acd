"""The ``score`` options about results (per-vector output, reports, gates, baseline, progress), and
:class:`OutputPlan`, which checks them before any data is read and carries them out afterwards.

Kept apart from cli.py so that input options and output options grow in different files. Imports
nothing heavy at module level: ``cosloss --help`` must stay fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

import click

from .errors import EXIT_GATE, EXIT_INPUT, EXIT_OK, CoslossError, UsageProblem
from .gates import Baseline, Gate, GateResult, check_gates_apply, parse_gate
from .outputs import (
    REPORTS,
    InputIdentity,
    Report,
    StagedFile,
    Target,
    annotate,
    check_writable,
    classify,
    error_markdown,
    failure_message,
    file_key,
    held_signals,
    input_identities,
    on_github_actions,
    quietly,
    stream_identity,
    stream_key,
    write_in_place,
)

__all__ = ["OUTPUT_FORMAT_CHOICES", "OutputPlan", "output_options", "refuse_input_paths"]

# Spelled out (not imported from writers, which imports pyarrow) so that --help stays fast.
OUTPUT_FORMAT_CHOICES = ("parquet", "csv", "jsonl", "arrow", "npy")


def output_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The result options of ``cosloss score``; the command receives them as keyword arguments."""
    options = [
        click.option(
            "-o",
            "--output",
            metavar="PATH",
            help="Write per-vector results (row or id, cos, loss[, weight]) to PATH ('-': stdout). "
            "Format from the extension: .parquet .csv .jsonl .arrow .npy. With --engine dask: a "
            "directory that receives one Parquet part a task.",
        ),
        click.option(
            "--output-format",
            type=click.Choice(OUTPUT_FORMAT_CHOICES),
            help="Format of --output, when the extension does not say (default for '-': jsonl).",
        ),
        click.option(
            "--worst",
            type=click.IntRange(min=0),
            default=0,
            metavar="K",
            help="List the K vectors with the highest loss in the summary.",
        ),
        *(click.option(r.option, r.dest, metavar=r.metavar, help=r.help) for r in REPORTS),
        click.option(
            "--gate",
            "gates",
            multiple=True,
            metavar="EXPR",
            help="Fail (exit 1) unless EXPR holds, e.g. 'cos.p01 >= 0.999', 'loss <= -0.95'. "
            "Any number of the JSON summary by dotted name; <, <=, >, >=. Repeatable.",
        ),
        click.option("--fail-above", type=float, metavar="X", help="Shorthand for --gate 'loss <= X'."),
        click.option(
            "--baseline",
            metavar="JSON",
            help="An earlier --json summary: fail (exit 1) if the loss got worse by more than --tolerance.",
        ),
        click.option(
            "--tolerance",
            metavar="T",
            help="Allowed loss increase over --baseline: absolute (0.001) or relative (2%). Default 0.",
        ),
        click.option("-q", "--quiet", is_flag=True, help="Print results only: no progress bar, no summary on stderr."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def refuse_input_paths(output: str, inputs: list[str | None], option: str) -> None:
    """Refuse to write over an input (any file it resolves to, hard links too); used for the Dask
    engine's output directory, which workers write."""
    if output == "-":
        return
    _refuse_inputs(Target(option, output, "file"), input_identities(inputs), "one of the inputs")


def _refuse_inputs(t: Target, identities: Sequence[InputIdentity], what: str) -> None:
    if t.kind in ("stdout", "stream"):
        ident = stream_identity(t.fd if t.fd is not None else 1)
        if ident is None:
            return
        dev, ino = ident
    else:
        try:
            st = os.stat(t.path)
        except OSError:
            return  # a new file is no input
        dev, ino = st.st_dev, st.st_ino
    for i in identities:
        if (i.dev, i.ino) == (dev, ino):
            where = "" if t.kind not in ("stdout", "stream") else " (that is where the stream goes)"
            raise UsageProblem(f"{t.describe()} is {what} ({i.display}){where}; refusing to overwrite it")


_STREAM_NAMES = {0: "standard input", 1: "standard output", 2: "standard error"}


@dataclass
class OutputPlan:
    """Every output of a run, planned and checked before the data is read, written at the end.

    ``targets`` holds the per-vector output (``--output``) and every report (``REPORTS``) asked
    for, each a :class:`~cosine_cli.outputs.Target`. Nothing is committed before the whole run has
    succeeded: reports are rendered from the one Summary, staged beside their targets, then
    renamed, the per-vector file last.
    """

    output: str | None = None
    output_format: str | None = None
    worst: int = 0
    reports: list[tuple[Target, Report]] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)
    baseline: Baseline | None = None
    quiet: bool = False
    reduction: str = "sum_over_batch_size"
    output_target: Target | None = None
    summary_to_stderr: bool = False
    writer: Any = None
    progress: Any = None

    @classmethod
    def from_options(
        cls,
        opts: dict[str, Any],
        *,
        inputs: list[str | None],
        reduction: str,
        loss_kind: str,
        weighted: bool,
        candidates: Sequence[str] = (),
        as_json: bool = False,
        stdout: Any = None,
        stderr: TextIO | None = None,
    ) -> OutputPlan:
        """Check every result option (usage errors, exit 2) before any data is read."""
        gates = [parse_gate(text) for text in opts.get("gates", ())]
        if opts.get("fail_above") is not None:
            x = opts["fail_above"]
            gates.append(Gate("loss", "<=", x, f"loss <= {x!r}"))
        check_gates_apply(gates, reduction=reduction, weighted=weighted)
        if len(candidates) > 1:  # a gate without a slice prefix holds for every candidate
            from .gates import for_candidates

            gates = [g2 for g in gates for g2 in for_candidates(g, list(candidates))]
        output = opts.get("output")
        output_target = None
        if output is not None:
            from .writers import output_format

            output_target = classify("--output", output)
            # a stream (-, /dev/stdout, /dev/fd/N) has no extension to go by: JSON Lines unless told
            fmt_path = "-" if output_target.kind in ("stdout", "stream") else output
            opts["output_format"] = output_format(fmt_path, opts.get("output_format"))
        elif opts.get("output_format") is not None:
            raise UsageProblem("--output-format needs --output")
        if opts.get("baseline") is not None and reduction == "none":
            raise UsageProblem("--baseline compares reduced losses; it cannot work with --reduction none")
        if opts.get("baseline") is None and opts.get("tolerance") is not None:
            raise UsageProblem("--tolerance needs --baseline")
        reports = [
            (classify(r.option, opts[r.dest], step_summary=r.step_summary), r)
            for r in REPORTS
            if opts.get(r.dest) is not None
        ]
        plan = cls(
            output=output,
            output_format=opts.get("output_format"),
            worst=opts.get("worst", 0),
            reports=reports,
            gates=gates,
            quiet=bool(opts.get("quiet")),
            reduction=reduction,
            output_target=output_target,
        )
        plan._check_targets(inputs, opts.get("baseline"), as_json=as_json, stdout=stdout, stderr=stderr)
        try:  # input errors from here on are reported to JUnit and CI like those of the run
            for t in plan.targets:
                check_writable(t)
            if opts.get("baseline") is not None:
                plan.baseline = Baseline.load(opts["baseline"], opts.get("tolerance"))
        except CoslossError as exc:
            if exc.exit_code == EXIT_INPUT:
                plan.report_failure(exc, stdout=getattr(stdout, "buffer", None), stderr=stderr)
            raise
        if plan.baseline is not None:
            plan.baseline.check_compatible(loss_kind=loss_kind, reduction=reduction)
        return plan

    @property
    def targets(self) -> list[Target]:
        return ([self.output_target] if self.output_target is not None else []) + [t for t, _ in self.reports]

    @property
    def markdown_path(self) -> str | None:
        return next((t.path for t, r in self.reports if r.dest == "markdown_path"), None)

    @property
    def junit_path(self) -> str | None:
        return next((t.path for t, r in self.reports if r.dest == "junit_path"), None)

    def _check_targets(
        self, inputs: list[str | None], baseline: str | None, *, as_json: bool, stdout: Any, stderr: Any
    ) -> None:
        """Distinct from each other and from every input and the baseline (exit 2); streams
        claimed once (the summary moves to stderr when stdout carries rows or a report)."""
        identities = input_identities(inputs)
        base_ids = input_identities([baseline]) if baseline is not None else []
        files: dict[tuple[Any, ...], Target] = {}
        claims: dict[tuple[Any, ...], list[str]] = {}

        def claim(fd: int, stream: Any, who: str) -> None:
            claims.setdefault(stream_key(fd, stream), []).append(who)

        for t in self.targets:
            _refuse_inputs(t, identities, "one of the inputs")
            _refuse_inputs(t, base_ids, "the --baseline summary")
            if t.kind in ("stdout", "stream"):
                fd = t.fd if t.fd is not None else 1
                claim(fd, stdout if fd == 1 else (stderr if fd == 2 else None), t.describe())
                continue
            key = file_key(t)
            if key in files:
                raise UsageProblem(f"{files[key].describe()} and {t.describe()} are one file; give each its own path")
            files[key] = t
        if self.reduction == "none":
            claim(1, stdout, "--reduction none")
        self.summary_to_stderr = stream_key(1, stdout) in claims
        if as_json and not (self.quiet and self.summary_to_stderr):
            fd = 2 if self.summary_to_stderr else 1
            claim(fd, stderr if fd == 2 else stdout, "the --json summary")
        for key, who in claims.items():
            if len(who) > 1:
                where = _STREAM_NAMES.get(key[1], "one stream") if key[0] == "fd" else "one stream"
                raise UsageProblem(f"{' and '.join(who)} would both write to {where}; send one of them elsewhere")

    @contextmanager
    def running(self, stdout: Any, stderr: TextIO) -> Iterator[list[Any]]:
        """The sinks for the pipeline. On failure or interrupt nothing is committed (the partial
        per-vector file is removed); an input error is reported to JUnit and GitHub Actions."""
        sinks: list[Any] = []
        try:
            if self.output_target is not None:
                from .writers import VectorWriter

                self.writer = VectorWriter.to(self.output_target, self.output_format or "jsonl", stdout)
                sinks.append(self.writer)
            if not self.quiet and stderr.isatty():
                from .progress import ProgressSink

                self.progress = ProgressSink(stderr)
                sinks.append(self.progress)
            yield sinks
        except BaseException as exc:
            if self.writer is not None:
                self.writer.abort()
            self._stop_progress()
            self.report_failure(exc, stdout=stdout, stderr=stderr)
            raise
        finally:
            self._stop_progress()

    def _stop_progress(self) -> None:
        progress, self.progress = self.progress, None
        if progress is not None:
            progress.close()

    def report_failure(self, exc: BaseException, *, stdout: Any, stderr: TextIO | None) -> None:
        """An input error (exit 3): one errored test case in each report that wants it (JUnit), the
        message appended to $GITHUB_STEP_SUMMARY and an ``::error`` annotation on GitHub Actions.
        Best effort: the error itself is what the user must see."""
        message = failure_message(exc)
        if message is None:
            return
        from .summary import Summary

        summary = Summary.of_error(message)
        for t, report in self.reports:
            if report.on_error and t.kind != "append" and _writable(t):
                quietly(_write_now, t, report.render_summary(summary), stdout)
        step = os.environ.get("GITHUB_STEP_SUMMARY") or ""
        if step and (on_github_actions() or any(t.kind == "append" for t, _ in self.reports)):
            quietly(write_in_place, Target("$GITHUB_STEP_SUMMARY", step, "append"), _md(message), None)
        if on_github_actions() and stderr is not None:
            annotate(stderr, "cosloss", [message])

    def finish(self, result: Any, *, as_json: bool, stdout: TextIO, stderr: TextIO) -> int:
        """Write every output and return the exit code (1 if a gate failed).

        Order: the per-vector data is finished (still under its temporary name); the Summary is
        built once and every report rendered and staged; the summary is printed; then, with
        signals held, the reports are put in place and the per-vector file last.
        """
        from .report import write_json, write_summary
        from .summary import Summary

        self._stop_progress()  # before the summary, so that the bar is not drawn again after it
        if self.writer is not None:
            self.writer.finish()
        data = result.to_dict()
        results: list[GateResult] = [r for g in self.gates for r in g.check_all(data)]
        baseline_info = None
        if self.baseline is not None:
            checks, baseline_info = self.baseline.check_all(data)
            results.extend(checks)
        summary = Summary.build(data, results, baseline=baseline_info, loss=result.loss)
        rendered = [(t, report.render_summary(summary)) for t, report in self.reports]
        staged: list[StagedFile] = []
        try:
            later: list[tuple[Target, bytes]] = []
            for t, data_bytes in rendered:
                if t.kind == "file":
                    f = StagedFile(t.path)
                    staged.append(f)
                    f.file.write(data_bytes)
                    f.finish()
                else:
                    later.append((t, data_bytes))
            out = stderr if self.summary_to_stderr else stdout
            if not (self.quiet and out is stderr):
                (write_json if as_json else write_summary)(summary, out)
                out.flush()
            binary = getattr(stdout, "buffer", None)
            with held_signals():
                for t, data_bytes in later:
                    write_in_place(t, data_bytes, binary)
                for f in staged:
                    f.commit()
                if self.writer is not None:
                    self.writer.commit()  # the per-vector file last
        except BaseException:
            for f in staged:
                f.abort()
            raise
        failed = summary.failed
        if failed and on_github_actions():
            annotate(stderr, "cosloss gate", [r.message for r in failed])
        from .reports.github import append_github_output

        append_github_output(summary)  # $GITHUB_OUTPUT: loss, rows, passed, gate_N for later steps
        return EXIT_GATE if failed else EXIT_OK


def _writable(t: Target) -> bool:
    try:
        check_writable(t)
    except CoslossError:
        return False  # a write-protected report stays as it was, even for an error
    return True


def _write_now(t: Target, data: bytes, stdout: Any) -> None:
    if t.kind == "file":
        f = StagedFile(t.path)
        try:
            f.file.write(data)
            f.commit()
        except BaseException:
            f.abort()
            raise
    else:
        write_in_place(t, data, stdout)


def _md(message: str) -> bytes:
    return error_markdown(message).encode("utf-8")
