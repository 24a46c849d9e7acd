"""CSV / TSV, streamed by ``pyarrow.csv.open_csv``: wide (one column a dimension) or one
column of vectors as text. ``.gz``, ``.bz2`` and ``.zst`` are decompressed on the fly.

Every cell is read as text and converted by the shared converter, so a cell that
is not a number is reported with its line and column rather than as a type
inference failure somewhere in a block.
"""

from __future__ import annotations

import csv as pycsv
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import InputError
from .streams import COMPRESSION_EXTENSIONS, COMPRESSION_MAGIC, Prefixed, read_head
from .table import TableReader

__all__ = ["CsvReader", "detect_delimiter"]

_CANDIDATES = (",", "\t", ";", "|")
_BLOCK = 4 << 20
_MAX_HEADER = 64 << 20


def detect_delimiter(first_line: str) -> str:
    """The delimiter that occurs most often outside quotes in the first line (a comma if none)."""
    unquoted = re.sub(r'"[^"]*"', "", first_line)
    counts = {d: unquoted.count(d) for d in _CANDIDATES}
    best = max(_CANDIDATES, key=lambda d: counts[d])
    return best if counts[best] else ","


def _decompressed(raw: Any, codec: str | None) -> Any:
    if codec is None:
        return raw
    return pa.CompressedInputStream(raw if isinstance(raw, pa.NativeFile) else pa.PythonFile(raw, mode="r"), codec)


class CsvReader(TableReader):
    """A CSV or TSV file, or a pipe of one."""

    format_name = "csv"
    prunes = False

    def __init__(self, path: str, *, stream: BinaryIO | None = None, delimiter: str | None = None,
                 header: bool = True) -> None:
        name = path
        suffixes = [s.lower() for s in Path(path).suffixes] if stream is None else []
        if stream is None:
            codec = COMPRESSION_EXTENSIONS.get(suffixes[-1]) if suffixes else None
            try:
                raw: Any = pa.OSFile(path, "rb")
            except OSError as exc:
                raise InputError(str(exc), source=name) from None
        else:
            head = read_head(stream, 4)
            codec = next((c for magic, c in COMPRESSION_MAGIC if head.startswith(magic)), None)
            raw = Prefixed(head, stream)
        plain = _decompressed(raw, codec)
        first = self._first_line(plain, name)
        self._stream = Prefixed(first, plain)  # type: ignore[arg-type]
        text = first.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace").rstrip("\r")
        if delimiter is None:
            is_tsv = any(s == ".tsv" for s in suffixes)
            delimiter = "\t" if is_tsv else detect_delimiter(text)
        self.delimiter = delimiter
        try:
            cells = next(pycsv.reader([text], delimiter=delimiter), [])
        except pycsv.Error as exc:  # a stray carriage return or NUL in the header line
            raise InputError(f"the header line cannot be parsed ({exc})", source=name, row="line 1") from None
        names = [c.strip() for c in cells] if header else [f"f{i}" for i in range(len(cells))]
        if not names:
            raise InputError("is empty", source=name)
        self.header = header
        #: line number of data row 0 (1-based), for error messages
        self.line_base = 2 if header else 1
        schema = pa.schema([(n, pa.string()) for n in names])
        super().__init__(name, schema)
        try:
            self._reader = pacsv.open_csv(
                self._stream,
                read_options=pacsv.ReadOptions(block_size=_BLOCK, column_names=None if header else names),
                parse_options=pacsv.ParseOptions(delimiter=delimiter),
                convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                     strings_can_be_null=True, quoted_strings_can_be_null=False),
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"not a readable CSV file ({_short(exc)})", source=name) from None
        try:
            self._reader.schema.names  # noqa: B018 - pyarrow decodes the names here
        except UnicodeDecodeError:
            raise InputError("the header is not valid UTF-8", source=name, row="line 1") from None
        self.schema = self._reader.schema

    @staticmethod
    def _first_line(plain: Any, name: str) -> bytes:
        head = b""
        while b"\n" not in head and len(head) < _MAX_HEADER:
            try:
                more = plain.read(1 << 16)
            except (OSError, pa.ArrowInvalid) as exc:
                raise InputError(f"cannot decompress ({_short(exc)})", source=name) from None
            if not more:
                break
            head += more
        if not head.strip():
            raise InputError("is empty", source=name)
        return head

    def _batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        while True:
            try:
                b = self._reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(f"cannot parse CSV ({_short(exc)})", source=self.name) from None
            yield b

    def row_label(self, row: int) -> str:
        return f"{row} (line {row + self.line_base})"

    def close(self) -> None:
        super().close()
        self._stream.close()


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def csv_like(path: str) -> bool:
    """Does the name say CSV / TSV (possibly compressed)?"""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSION_EXTENSIONS:
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] in (".csv", ".tsv", ".txt")


def is_csv_path(path: str | os.PathLike[str]) -> bool:
    return csv_like(os.fspath(path))
