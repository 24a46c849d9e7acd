"""The ``score`` options about results (per-vector output, reports, gates, baseline, progress), and
:class:`OutputPlan`, which checks them before any data is read and carries them out afterwards.

Kept apart from cli.py so that input options and output options grow in different files. Imports
nothing heavy at module level: ``cosloss --help`` must stay fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

import click

from .errors import EXIT_GATE, EXIT_OK, CoslossError, UsageProblem
from .gates import Baseline, Gate, GateResult, check_gates_apply, parse_gate

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
        click.option(
            "--markdown",
            "markdown_path",
            metavar="PATH",
            help="Write the summary as Markdown (appends when PATH is $GITHUB_STEP_SUMMARY).",
        ),
        click.option("--junit", "junit_path", metavar="PATH", help="Write JUnit XML, one test case per gate."),
        # -- issue 15 (reports/html.py): the HTML report ------------------------------------------
        click.option(
            "--html",
            "html_path",
            metavar="PATH",
            help="Write a self-contained HTML report (chart, tables, gates); also when the run fails on its input.",
        ),
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
    """Refuse to write over an input: the same resolved path, or the same file (hard links too)."""
    if output == "-":
        return
    for src in inputs:
        if src is None or src == "-":
            continue
        same = os.path.realpath(src) == os.path.realpath(output)
        if not same and os.path.exists(src) and os.path.exists(output):
            same = os.path.samefile(src, output)
        if same:
            raise UsageProblem(f"{option} {output!r} is one of the inputs; refusing to overwrite it")


@dataclass
class OutputPlan:
    """What to do with a run's results; built (and checked) before the data is read."""

    output: str | None = None
    output_format: str | None = None
    worst: int = 0
    markdown_path: str | None = None
    junit_path: str | None = None
    html_path: str | None = None  # issue 15
    input_paths: list[str | None] = field(default_factory=list)  # issue 15: named in an error report
    gates: list[Gate] = field(default_factory=list)
    baseline: Baseline | None = None
    quiet: bool = False
    reduction: str = "sum_over_batch_size"
    writer: Any = None
    progress: Any = None

    @classmethod
    def from_options(
        cls, opts: dict[str, Any], *, inputs: list[str | None], reduction: str, loss_kind: str, weighted: bool
    ) -> OutputPlan:
        """Check every result option (usage errors, exit 2) before any data is read."""
        gates = [parse_gate(text) for text in opts.get("gates", ())]
        if opts.get("fail_above") is not None:
            x = opts["fail_above"]
            gates.append(Gate("loss", "<=", x, f"loss <= {x!r}"))
        check_gates_apply(gates, reduction=reduction, weighted=weighted)
        output = opts.get("output")
        if output is not None:
            if output == "-" and reduction == "none":
                raise UsageProblem("--output - and --reduction none both write to stdout; pick one")
            from .writers import output_format

            opts["output_format"] = output_format(output, opts.get("output_format"))
        elif opts.get("output_format") is not None:
            raise UsageProblem("--output-format needs --output")
        for option, path in (
            ("--output", output),
            ("--markdown", opts.get("markdown_path")),
            ("--junit", opts.get("junit_path")),
            ("--html", opts.get("html_path")),  # issue 15
        ):
            if path is not None:
                refuse_input_paths(path, inputs, option)
        baseline = None
        if opts.get("baseline") is not None:
            if reduction == "none":
                raise UsageProblem("--baseline compares reduced losses; it cannot work with --reduction none")
            baseline = Baseline.load(opts["baseline"], opts.get("tolerance"))
            baseline.check_compatible(loss_kind=loss_kind, reduction=reduction)
        elif opts.get("tolerance") is not None:
            raise UsageProblem("--tolerance needs --baseline")
        return cls(
            output=output,
            output_format=opts.get("output_format"),
            worst=opts.get("worst", 0),
            markdown_path=opts.get("markdown_path"),
            junit_path=opts.get("junit_path"),
            html_path=opts.get("html_path"),  # issue 15
            input_paths=list(inputs),  # issue 15
            gates=gates,
            baseline=baseline,
            quiet=bool(opts.get("quiet")),
            reduction=reduction,
        )

    @property
    def summary_to_stderr(self) -> bool:
        """stdout carries per-vector values (``-o -`` or ``--reduction none``): the summary moves aside."""
        return self.output == "-" or self.reduction == "none"

    @contextmanager
    def running(self, stdout: Any, stderr: TextIO) -> Iterator[list[Any]]:
        """The sinks for the pipeline; a failure or an interrupt removes the partial output file."""
        sinks: list[Any] = []
        progress = None
        try:
            if self.output is not None:
                from .writers import VectorWriter

                self.writer = VectorWriter(self.output, self.output_format or "jsonl", stdout)
                sinks.append(self.writer)
            if not self.quiet and stderr.isatty():
                from .progress import ProgressSink

                progress = self.progress = ProgressSink(stderr)
                sinks.append(progress)
            yield sinks
        except BaseException as exc:
            if self.writer is not None:
                self.writer.abort()
            self._write_error_report(exc)  # issue 15
            raise
        finally:
            self._stop_progress()

    def _stop_progress(self) -> None:
        progress, self.progress = self.progress, None
        if progress is not None:
            progress.close()

    def finish(self, result: Any, *, as_json: bool, stdout: TextIO, stderr: TextIO) -> int:
        """Write every output (file, summary, reports) and return the exit code: 1 if a gate failed."""
        from .report import write_json, write_summary

        self._stop_progress()  # before the summary, so that the bar is not drawn again after it
        if self.writer is not None:
            self.writer.close()
        results: list[GateResult] = [g.check(result.to_dict()) for g in self.gates]
        if self.gates:
            result.extra["gates"] = [r.to_dict() for r in results]
        if self.baseline is not None:
            check, info = self.baseline.check(result.to_dict())
            results.append(check)
            result.extra["gates"] = [r.to_dict() for r in results]
            result.extra["baseline"] = info
        summary = result.to_dict()
        out = stderr if self.summary_to_stderr else stdout
        if not (self.quiet and out is stderr):
            (write_json if as_json else write_summary)(result, out)
            out.flush()
        if self.markdown_path is not None:
            from .reports.markdown import write_markdown

            write_markdown(summary, self.markdown_path)
        if self.junit_path is not None:
            from .reports.junit import write_junit

            write_junit(summary, self.junit_path)
        self._write_issue15_reports(summary)  # issue 15
        failed = [r for r in results if not r.passed]
        if failed and os.environ.get("GITHUB_ACTIONS") == "true":
            # Workflow commands are read from a step's stdout and stderr alike; stderr keeps stdout
            # clean for results (JSON, per-vector rows) that a later step may parse.
            for r in failed:
                stderr.write(f"::error title=cosloss gate::{_escape(r.message)}\n")
            stderr.flush()
        return EXIT_GATE if failed else EXIT_OK

    # -- issue 15: HTML report and $GITHUB_OUTPUT (pure renderers in reports/html.py, reports/github.py) --

    def _write_issue15_reports(self, summary: dict[str, Any]) -> None:
        if self.html_path is not None:
            from .reports.html import write_html

            write_html(summary, self.html_path)
        from .reports.github import append_github_output

        append_github_output(summary)

    def _write_error_report(self, exc: BaseException) -> None:
        """An input or data error (exit 3) still leaves a report that says the run failed; an
        interrupt (or any other exception) leaves none."""
        if self.html_path is None or not isinstance(exc, CoslossError | OSError):
            return
        if isinstance(exc, UsageProblem | BrokenPipeError):  # exit 2, or the reader went away: no run failed
            return
        from .reports.html import render_error_html, write_text_atomic

        message = str(exc)
        if isinstance(exc, OSError) and not isinstance(exc, CoslossError):
            name = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            message = f"{name}{exc.strerror or exc}"
        try:
            write_text_atomic(render_error_html(message, inputs=self.input_paths), self.html_path)
        except OSError:
            pass  # the run's own error is the one to report


def _escape(text: str) -> str:
    """Escape a workflow-command message (GitHub: % CR LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
