"""Readers: from a path, URI or standard input to what reads it, through the one format registry.

:func:`open_input` resolves an argument to a :class:`~.location.Location`, detects its format
(:mod:`cosine_cli.formats`), and calls the format's opener. Array formats (``.npy``, ``.npz``, ...)
open as a :class:`Source`; table formats (Parquet, CSV, Arrow IPC, ...) as a
:class:`~.table.TableReader`, from which views present the chosen columns as Sources (see
``cosine_cli.inputs``). pyarrow is imported only when a table format (or a URI) is opened.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, UsageProblem
from ..formats import (
    COMPRESSION_MAGIC,
    FORMAT_NAMES,
    FORMATS,
    Format,
    by_extension,
    by_head,
    looks_like_json,
    split_compression,
)
from .base import DEFAULT_CHUNK_BYTES, ArraySource, Source, rows_for_bytes
from .location import Location, list_parts, resolve_location

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "ArraySource",
    "Source",
    "Location",
    "ReadOptions",
    "Opened",
    "detect_format",
    "resolve_location",
    "open_input",
    "open_location",
    "open_source",
    "rows_for_bytes",
    "is_table",
]

_HEAD = 64


@dataclass(frozen=True)
class ReadOptions:
    """How to read one input (the per-side part of the column and format options)."""

    delimiter: str | None = None
    header: bool | None = None  #: CSV: True / False, or None to detect (a first line of numbers is data)
    member: str | None = None  #: formats with named members (.npz, ...): which one
    member_option: str = "--pred-col"  #: the option that names the member, for messages
    row_range: tuple[int, int] | None = None  #: only rows [start, stop) (Dask tasks)
    notify: Callable[[str], None] | None = None  #: receives notes about what was inferred

    def note(self, message: str) -> None:
        if self.notify is not None:
            self.notify(message)


@dataclass
class Opened:
    """An opened input: the reader (a Source or a TableReader), its format and where it lives."""

    reader: Any
    format: Format
    location: Location

    def close(self) -> None:
        self.reader.close()


def is_table(x: Any) -> bool:
    return hasattr(x, "schema") and hasattr(x, "register")


def _formats_message() -> str:
    return ", ".join(FORMAT_NAMES)


def format_named(name: str, source: str) -> Format:
    if name not in FORMATS:
        raise UsageProblem(f"unknown format {name!r} for {source}; expected one of {_formats_message()}")
    return FORMATS[name]


def detect_format(loc: Location, override: str | None = None) -> Format:
    """The format of a file or dataset: ``override``, else a directory's marker files or parts,
    else the file's magic bytes or sniffing rule, else its extension."""
    if override:
        return format_named(override, loc.name)
    if loc.is_dataset:
        return _dataset_format(loc)
    head = loc.head(_HEAD)
    if not head:
        raise InputError("is empty", source=loc.name)
    by_name = by_extension(loc.path)
    # Magic bytes (and sniffing rules, such as JSON's first byte) win over the extension; a
    # compressed file is text underneath, known by the extension under the compression's.
    if not any(head.startswith(m) for m in COMPRESSION_MAGIC):
        found = by_head(head)
        if found is not None:
            return found
        if by_name is not None and by_name.magic:
            raise InputError(
                f"does not start like a {by_name.name} file (its extension says "
                f"{os.path.splitext(split_compression(loc.path)[0])[1]})",
                source=loc.name,
            )
    if by_name is not None:
        return by_name
    raise InputError(
        f"unrecognised format (extension {os.path.splitext(loc.path)[1] or 'none'!r}); expected one of "
        f"{_formats_message()} (or give the format with --pred-format / --label-format)",
        source=loc.name,
    )


def _dataset_format(loc: Location) -> Format:
    """A directory (or glob): a folder format that claims it by a marker (a file or a folder in it,
    or its extension), else a dataset of parts (Parquet unless the pattern's extension says)."""
    import pyarrow.fs as pafs

    by_name = by_extension(loc.path)
    if not any(ch in loc.path for ch in "*?[") and loc.fs is not None:
        for f in FORMATS.values():
            for marker in f.folder_marker:
                found = loc.fs.get_file_info(f"{loc.path.rstrip('/')}/{marker}").type
                if found in (pafs.FileType.File, pafs.FileType.Directory):
                    return f
        if by_name is not None and by_name.folder_marker:
            return by_name
    if by_name is not None and by_name.dataset:
        return by_name
    return next(f for f in FORMATS.values() if f.dataset)


def open_location(loc: Location, fmt: Format, opts: ReadOptions) -> Any:
    """The reader of ``fmt`` on ``loc`` (a dataset's parts listed first).

    Whatever a decoder raises on malformed bytes while opening (pyarrow's errors, a
    UnicodeDecodeError in a schema name, ...) becomes an InputError naming the file.
    """
    if loc.is_dataset and loc.parts is None:
        if not fmt.dataset and not fmt.folder_marker:  # a folder format opens the folder itself
            raise InputError(f"is a directory or pattern; a {fmt.name} input is one file", source=loc.name)
        if fmt.dataset:
            loc.parts = list_parts(loc, fmt.extensions)
    if opts.member is not None and not fmt.members:
        raise UsageProblem(
            f"{opts.member_option} {opts.member}: {loc.name} is a {fmt.name} file, which holds no named arrays"
        )
    if opts.row_range is not None and not fmt.ranged:
        raise UsageProblem(f"{loc.name}: a {fmt.name} input cannot be read by row range (--engine dask)")
    opener = fmt.load()
    try:
        return opener(loc, opts)
    except (InputError, UsageProblem):
        raise
    except Exception as exc:  # noqa: BLE001 - untrusted bytes: every failure to decode is bad input
        if fmt.kind != "table":
            raise
        import pyarrow as pa

        if not isinstance(exc, (pa.ArrowException, OSError, ValueError, UnicodeDecodeError, EOFError)):
            raise
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"not a readable {fmt.name} file ({detail})", source=loc.name) from None


OptionsFor = ReadOptions | Callable[[Format], ReadOptions]


def options_for(opts: OptionsFor, fmt: Format) -> ReadOptions:
    """The read options for a format (a side's column option names a member or a column)."""
    return opts if isinstance(opts, ReadOptions) else opts(fmt)


def open_input(
    arg: str | os.PathLike[str],
    override: str | None = None,
    opts: OptionsFor = ReadOptions(),
    storage_options: Mapping[str, Any] | None = None,
) -> Opened:
    """Open a path, URI or ``"-"`` (standard input) with the format it has (or ``override``)."""
    name = os.fspath(arg)
    if name == "-":
        from ..stdin import open_stdin

        opened: Opened = open_stdin(override, opts)
        return opened
    loc = resolve_location(name, storage_options)
    fmt = detect_format(loc, override)
    return Opened(open_location(loc, fmt, options_for(opts, fmt)), fmt, loc)


def open_source(path: str | os.PathLike[str], fmt: str | None = None, **kwargs: Any) -> Source:
    """Open ``path`` as one Source of vectors (a table's only vector column)."""
    opened = open_input(path, fmt, ReadOptions(), kwargs.get("storage_options"))
    if not is_table(opened.reader):
        src: Source = opened.reader
        return src
    from .columns import choose_vectors
    from .table import VectorView, column_label

    reader = opened.reader
    try:
        columns = choose_vectors(reader, None, exclude=set(), option="--pred-col")
        return VectorView(reader, columns, column_label(columns))
    except BaseException:
        reader.close()
        raise


def sniff_stdin_format(head: bytes) -> Format:
    """Standard input's format from its first bytes: magic, a sniffing rule, else text (CSV).

    JSON text (first non-blank byte ``{`` or ``[``) is never taken for CSV."""
    found = by_head(head)
    if found is not None:
        return found
    if looks_like_json(head):
        json_formats = [f for f in FORMATS.values() if f.sniff is not None and f.sniff(head)]
        if json_formats:
            return json_formats[0]
        raise InputError(
            "looks like JSON (it starts with '{' or '['), which cosloss does not read; convert it to Parquet or .npy",
            source="-",
        )
    return FORMATS["csv"]
