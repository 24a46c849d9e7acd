"""Readers: one registry from a file's format to what reads it.

Array formats (``.npy``, ``.npz``) open as a :class:`Source` directly; table
formats (Parquet, CSV, Arrow IPC) open as a :class:`~.table.TableReader`, from
which views present the chosen columns as Sources (see ``cosine_cli.inputs``).
Adding a format is one opener and its entries in ``EXTENSIONS`` and ``MAGIC``.
pyarrow is imported only when a table format is opened.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InputError
from .base import DEFAULT_CHUNK_BYTES, ArraySource, Source, rows_for_bytes
from .npy import NPY_MAGIC, NpySource

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "ArraySource",
    "Source",
    "NpySource",
    "FORMATS",
    "TABLE_FORMATS",
    "detect_format",
    "open_source",
    "open_table",
    "rows_for_bytes",
]

Opener = Callable[[str], Source]

#: Table formats, opened by :func:`open_table`.
TABLE_FORMATS: tuple[str, ...] = ("parquet", "csv", "tsv", "arrow", "arrows", "json")

EXTENSIONS: dict[str, str] = {
    ".npy": "npy",
    ".npz": "npz",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".parq": "parquet",
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
    ".arrows": "arrows",
    # -- JSON (issue 11; moves to formats.py) --
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}

MAGIC: list[tuple[bytes, str]] = [
    (NPY_MAGIC, "npy"),
    (b"PK\x03\x04", "npz"),
    (b"PAR1", "parquet"),
    (b"ARROW1", "arrow"),
    (b"\xff\xff\xff\xff", "arrows"),
]

_COMPRESSED = (".gz", ".bz2", ".zst")


def _open_npz(path: str) -> Source:
    from .npz import open_npz

    return open_npz(path)


OPENERS: dict[str, Opener] = {
    "npy": NpySource.open,
    "npz": _open_npz,
}

FORMATS: tuple[str, ...] = (*OPENERS, *TABLE_FORMATS)


def format_from_head(head: bytes) -> str | None:
    for magic, fmt in MAGIC:
        if head.startswith(magic):
            return fmt
    # -- JSON (issue 11; moves to formats.py): the first non-blank byte opens an object or array --
    if head.lstrip(b" \t\r\n")[:1] in (b"{", b"["):
        return "json"
    return None


def _extension(p: Path) -> str:
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        return suffixes[-2] if len(suffixes) > 1 else ""
    return suffixes[-1] if suffixes else ""


def detect_format(path: str, override: str | None = None) -> str:
    """The format of ``path``: ``override`` if given, else its magic bytes, else its extension.

    A directory or a glob pattern is a Parquet dataset; a compressed file is
    CSV / TSV (by the extension under the compression's).
    """
    if override:
        if override not in FORMATS:
            raise InputError(f"unknown format {override!r}; expected one of {', '.join(FORMATS)}", source=path)
        return override
    p = Path(path)
    if p.is_dir() or (any(ch in path for ch in "*?[") and not p.exists()):
        return "parquet"
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), source=path) from None
    if not head:
        raise InputError("is empty", source=path)
    ext = _extension(p)
    compressed = bool(p.suffixes) and p.suffixes[-1].lower() in _COMPRESSED
    fmt = None if compressed else format_from_head(head)
    # -- JSON (issue 11): a CSV / text file named so stays CSV (a headerless "[0.1 0.2]" line) --
    if fmt == "json" and EXTENSIONS.get(ext) in ("csv", "tsv") and head.lstrip()[:1] == b"[":
        fmt = None
    if fmt is not None:
        return fmt
    if ext in EXTENSIONS:
        if EXTENSIONS[ext] in ("csv", "tsv", "json"):  # json: compressed JSON Lines
            return EXTENSIONS[ext]
        raise InputError(f"does not start like a {EXTENSIONS[ext]} file (its extension says {ext})", source=path)
    raise InputError(
        f"unrecognised format (extension {ext or 'none'!r}); expected one of {', '.join(sorted(EXTENSIONS))} "
        "(or give the format with --pred-format / --label-format)",
        source=path,
    )


def open_table(path: str, fmt: str, *, stream: Any = None, delimiter: str | None = None, header: bool = True) -> Any:
    """A :class:`~.table.TableReader` for a table format (``stream``: a pipe, for stdin).

    Whatever a decoder raises on malformed bytes while opening (pyarrow's errors, a
    UnicodeDecodeError in a schema name, ...) becomes an InputError naming the file.
    """
    try:
        return _open_table(path, fmt, stream=stream, delimiter=delimiter, header=header)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - untrusted bytes: every failure to decode is bad input
        import pyarrow as pa

        if not isinstance(exc, (pa.ArrowException, OSError, ValueError, UnicodeDecodeError, EOFError)):
            raise
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"not a readable {fmt} file ({detail})", source=path) from None


def _open_table(path: str, fmt: str, *, stream: Any, delimiter: str | None, header: bool) -> Any:
    if fmt == "parquet":
        from .parquet import ParquetReader

        return ParquetReader(path, buffer=stream)
    if fmt in ("csv", "tsv"):
        from .csv import CsvReader

        if fmt == "tsv" and delimiter is None:
            delimiter = "\t"
        return CsvReader(path, stream=stream, delimiter=delimiter, header=header)
    if fmt == "arrow":
        from .ipc import ArrowFileReader

        return ArrowFileReader(path, source=stream)
    if fmt == "arrows":
        from .ipc import ArrowStreamReader

        if stream is None:
            import pyarrow as pa

            stream = pa.OSFile(path, "rb")
        return ArrowStreamReader(stream, path)
    if fmt == "json":  # -- JSON (issue 11; moves to formats.py) --
        from .jsonl import JsonReader

        return JsonReader(path, stream=stream)
    raise InputError(f"{fmt} is not a table format", source=path)


def open_source(path: str | os.PathLike[str], fmt: str | None = None) -> Source:
    """Open ``path`` as one Source of vectors (a table's only vector column)."""
    name = os.fspath(path)
    fmt = detect_format(name, fmt)
    if fmt in OPENERS:
        return OPENERS[fmt](name)
    from .columns import choose_vectors
    from .table import VectorView, column_label

    reader = open_table(name, fmt)
    try:
        columns = choose_vectors(reader, None, exclude=set(), option="--pred-col")
        return VectorView(reader, columns, column_label(columns))
    except BaseException:
        reader.close()
        raise
