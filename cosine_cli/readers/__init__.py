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
TABLE_FORMATS: tuple[str, ...] = ("parquet", "csv", "tsv", "arrow", "arrows")
# --- binfmt (issue 11): binary containers; the lead moves these into formats.py ---
TABLE_FORMATS += ("hf", "lance")
#: array formats whose file holds named members (tensors, datasets) chosen by --pred-col / --label-col
MEMBER_FORMATS: tuple[str, ...] = ("safetensors", "hdf5")
# --- end binfmt ---

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
    # --- binfmt (issue 11) ---
    ".safetensors": "safetensors",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".hdf": "hdf5",
    ".lance": "lance",
    # --- end binfmt ---
}

MAGIC: list[tuple[bytes, str]] = [
    (NPY_MAGIC, "npy"),
    (b"PK\x03\x04", "npz"),
    (b"PAR1", "parquet"),
    (b"ARROW1", "arrow"),
    (b"\xff\xff\xff\xff", "arrows"),
    (b"\x89HDF\r\n\x1a\n", "hdf5"),  # binfmt (issue 11)
]

_COMPRESSED = (".gz", ".bz2", ".zst")


def _open_npz(path: str) -> Source:
    from .npz import open_npz

    return open_npz(path)


# --- binfmt (issue 11) ---
def _open_safetensors(path: str) -> Source:
    from .safetensors import open_safetensors

    return open_safetensors(path)


def _open_hdf5(path: str) -> Source:
    from .hdf5 import open_hdf5

    return open_hdf5(path)


def open_member(path: str, fmt: str, member: str | None, option: str) -> Source:
    """Tensor / dataset ``member`` of a safetensors or HDF5 file (the only one when None)."""
    if fmt == "safetensors":
        from .safetensors import open_safetensors

        return open_safetensors(path, member, option=option)
    from .hdf5 import open_hdf5

    return open_hdf5(path, member, option=option)


# --- end binfmt ---

OPENERS: dict[str, Opener] = {
    "npy": NpySource.open,
    "npz": _open_npz,
    "safetensors": _open_safetensors,  # binfmt (issue 11)
    "hdf5": _open_hdf5,  # binfmt (issue 11)
}

FORMATS: tuple[str, ...] = (*OPENERS, *TABLE_FORMATS)


def format_from_head(head: bytes) -> str | None:
    for magic, fmt in MAGIC:
        if head.startswith(magic):
            return fmt
    # --- binfmt (issue 11): safetensors has no magic; a plausible header size, then "{" ---
    from .safetensors import looks_like_safetensors

    if looks_like_safetensors(head):
        return "safetensors"
    # --- end binfmt ---
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
    # --- binfmt (issue 11): folders that are not Parquet datasets ---
    if p.is_dir():
        from .hf_folder import is_hf_folder

        if is_hf_folder(p):
            return "hf"
        if p.suffix.lower() == ".lance" or (p / "_versions").is_dir():
            return "lance"
    # --- end binfmt ---
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
    if fmt is not None:
        return fmt
    if ext in EXTENSIONS:
        if EXTENSIONS[ext] in ("csv", "tsv"):
            return EXTENSIONS[ext]
        if EXTENSIONS[ext] == "safetensors":  # binfmt: no magic; its reader says what is wrong
            return "safetensors"
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
    # --- binfmt (issue 11) ---
    if fmt == "hf":
        from .hf_folder import HfFolderReader

        return HfFolderReader(path)
    if fmt == "lance":
        from .lance import LanceReader

        return LanceReader(path)
    # --- end binfmt ---
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
