"""A progress bar on stderr (rows, rows/s, ETA when the total is known), as a pipeline sink.

Only made when stderr is a terminal and --quiet is off, so logs and pipes never see it.
"""

from __future__ import annotations

from typing import Any, TextIO

from .accumulate import ScoredChunk

__all__ = ["ProgressSink"]


class ProgressSink:
    """Counts the vectors of each scored chunk into a rich progress bar."""

    def __init__(self, file: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("scoring"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=file),
            transient=True,
        )
        self.task: Any = None

    def begin(self, total: int | None) -> None:
        """Called by the pipeline before the first chunk, with the vector count when it is known."""
        self.progress.start()
        self.task = self.progress.add_task("score", total=total, rate="")

    def __call__(self, chunk: ScoredChunk) -> None:
        if self.task is None:
            self.begin(None)
        self.progress.advance(self.task, len(chunk))
        speed = self.progress.tasks[0].speed
        self.progress.update(self.task, rate=f"{speed:,.0f} rows/s" if speed else "")

    def close(self) -> None:
        self.progress.stop()
