"""The ``score`` command's options for where it runs and where its data lives.

Kept apart from ``cli.py`` (one decorator) so that engines and storage grow
without touching the other options.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

ENGINE_CHOICES = ("local", "dask")  # spelled out: --help imports no engine


def engine_options(f: F) -> F:
    """Add --engine, --scheduler, --workers, --task-rows, --threads and --storage-option to a command."""
    options = [
        click.option(
            "--engine",
            type=click.Choice(ENGINE_CHOICES),
            default="local",
            show_default=True,
            help="local: this process; dask: row ranges on a Dask cluster (extra 'dask').",
        ),
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            envvar="DASK_SCHEDULER_ADDRESS",
            help="Dask scheduler to use (tcp://host:8786; default $DASK_SCHEDULER_ADDRESS, else a local cluster).",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            metavar="N",
            help="Worker processes of the local Dask cluster (default: one per CPU).",
        ),
        click.option(
            "--task-rows",
            type=click.IntRange(min=1),
            metavar="ROWS",
            help="Rows per Dask task (default: about 256 MiB of input per side); tasks are cut "
            "at row-group boundaries.",
        ),
        click.option(
            "--threads",
            type=click.IntRange(min=1),
            metavar="N",
            help="Local engine: row ranges scored at once (default: one per core this process may use; "
            "1: one range after another). The results do not depend on it.",
        ),
        click.option(
            "--storage-option",
            "storage_options",
            multiple=True,
            metavar="KEY=VALUE",
            help="Object-storage option, repeatable (S3: endpoint_override=host:port, "
            "scheme=http, region=..., anonymous=true, ...); see the README.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def engine_kwargs(
    engine: str,
    scheduler: str | None,
    workers: int | None,
    task_rows: int | None,
    storage_options: tuple[str, ...],
    threads: int | None = None,
) -> dict[str, Any]:
    """The ``cosine_cli.score`` keywords for these options (the storage options parsed)."""
    kwargs: dict[str, Any] = {"engine": engine}
    if threads is not None:
        if engine != "local":
            from .errors import UsageProblem

            raise UsageProblem("--threads is for the local engine; with --engine dask use --workers")
        kwargs["threads"] = threads
    if storage_options:
        from .remote import parse_storage_options

        kwargs["storage_options"] = parse_storage_options(storage_options)
    if engine == "dask":
        kwargs.update(scheduler=scheduler, workers=workers, rows_per_task=task_rows)
    return kwargs
