"""Readers: one registry from a file's format to the :class:`Source` that reads it.

Adding a format is one opener function and one entry in ``OPENERS`` (and its
extensions in ``EXTENSIONS``, its magic bytes in ``MAGIC``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import InputError
from .base import DEFAULT_CHUNK_BYTES, ArraySource, Source, rows_for_bytes
from .npy import NPY_MAGIC, NpySource

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "ArraySource",
    "Source",
    "NpySource",
    "FORMATS",
    "detect_format",
    "open_source",
    "rows_for_bytes",
]

Opener = Callable[[str], Source]

OPENERS: dict[str, Opener] = {
    "npy": NpySource.open,
}

EXTENSIONS: dict[str, str] = {
    ".npy": "npy",
}

MAGIC: list[tuple[bytes, str]] = [
    (NPY_MAGIC, "npy"),
]

FORMATS: tuple[str, ...] = tuple(OPENERS)


def detect_format(path: str, override: str | None = None) -> str:
    """The format of ``path``: ``override`` if given, else its magic bytes, else its extension."""
    if override:
        if override not in OPENERS:
            raise InputError(f"unknown format {override!r}; expected one of {', '.join(OPENERS)}", source=path)
        return override
    p = Path(path)
    if p.is_dir():
        raise InputError("is a directory; expected a file", source=path)
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), source=path) from None
    if not head:
        raise InputError("is empty", source=path)
    for magic, fmt in MAGIC:
        if head.startswith(magic):
            return fmt
    ext = "".join(p.suffixes[-1:]).lower()
    if ext in EXTENSIONS:
        fmt = EXTENSIONS[ext]
        raise InputError(f"does not start like a {fmt} file (its extension says {ext})", source=path)
    raise InputError(
        f"unrecognised format (extension {ext or 'none'!r}); expected one of {', '.join(sorted(EXTENSIONS))}",
        source=path,
    )


def open_source(path: str | os.PathLike[str], fmt: str | None = None) -> Source:
    """Open ``path`` with the reader its format calls for."""
    name = os.fspath(path)
    return OPENERS[detect_format(name, fmt)](name)
