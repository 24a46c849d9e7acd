"""The progress bar: only on a terminal, never with --quiet, and it survives a real run."""

from __future__ import annotations

import io

import numpy as np

from cosine_cli import score
from cosine_cli.output_options import OutputPlan
from cosine_cli.progress import ProgressSink


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_sink_counts_vectors() -> None:
    bar = ProgressSink(Terminal())
    a = np.ones((10, 3))
    score(a, a, sinks=[bar], chunk_size=3)
    assert bar.progress.tasks[0].completed == 10 and bar.progress.tasks[0].total == 10
    bar.close()


def test_progress_only_on_a_terminal_and_not_quiet() -> None:
    for stderr, quiet, shown in ((Terminal(), False, True), (Terminal(), True, False), (io.StringIO(), False, False)):
        plan = OutputPlan(quiet=quiet)
        with plan.running(None, stderr) as sinks:
            assert any(isinstance(s, ProgressSink) for s in sinks) == shown
