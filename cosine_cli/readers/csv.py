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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from numpy.typing import NDArray

from ..errors import InputError
from ..formats import FORMATS, looks_like_json, split_compression
from .location import Location
from .streams import COMPRESSION_EXTENSIONS, COMPRESSION_MAGIC, Prefixed, read_head
from .table import TableReader

__all__ = ["CsvReader", "detect_delimiter"]

_CANDIDATES = (",", "\t", ";", "|")
#: pyarrow's streaming reader keeps a few dozen blocks in flight: 1 MiB blocks hold its memory
#: near 40 MiB a file, where 4 MiB took 150 MiB, at the same speed.
_BLOCK = 1 << 20
#: The most read to find the header and a few data lines (a 95 MB one-row text vector fits).
_MAX_HEADER = 256 << 20
#: Cells that stand for a missing value. Not "nan" or "inf": those are numbers (NumPy writes
#: them), and the NaN policy decides about them as it does for every other format.
NULL_CELLS = ["", "NA", "N/A", "#N/A", "NULL", "null", "None"]


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
    """A CSV or TSV file, or a pipe of one.

    Number columns (the dimensions of a wide table, weights) are parsed by
    pyarrow's multi-threaded converter straight to float64. pyarrow's own
    message for a bad cell names neither the row nor the line, so when it
    refuses one, a file is read on from the first unread row with every cell
    as text, and the shared converter names the row, line and column (it also
    accepts what pyarrow's parser is stricter about, such as blanks around a
    number). A pipe cannot be read twice: it is read as text from the start.
    """

    format_name = "csv"

    def __init__(
        self,
        loc: Location,
        *,
        delimiter: str | None = None,
        header: bool | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        name = loc.name
        self._loc: Location | None = None if loc.is_stdin else loc
        if self._loc is not None:
            base, self._codec = split_compression(loc.path)
            raw: Any = self._open_raw()
        else:
            stream = loc.stream
            head = read_head(stream, 4)
            self._codec = next((c for magic, c in COMPRESSION_MAGIC if head.startswith(magic)), None)
            raw = Prefixed(head, stream)
            base = ""
        plain = _decompressed(raw, self._codec)
        first = self._head_bytes(plain, name)
        self._owned: list[Any] = []  # streams this reader opened and closes
        if self._loc is None:
            self._stream: Any = Prefixed(first, plain)
        else:  # every read opens the file afresh; the head is only for the header and a sample
            plain.close()
            self._stream = None
        if looks_like_json(first):
            raise InputError(
                "is JSON (its first character is '{' or '['), not CSV; JSON is never read as CSV" + _json_hint(),
                source=name,
            )
        line = first.split(b"\n", 1)[0]
        try:
            text = line.decode("utf-8-sig").rstrip("\r")
        except UnicodeDecodeError:
            raise InputError("line 1: the header is not valid UTF-8", source=name) from None
        if delimiter is None:
            delimiter = "\t" if base.lower().endswith(".tsv") else detect_delimiter(text)
        self.delimiter = delimiter
        try:
            cells = next(pycsv.reader([text], delimiter=delimiter), [])
        except pycsv.Error as exc:  # a stray carriage return or NUL in the header line
            raise InputError(f"line 1: the header line cannot be parsed ({exc})", source=name) from None
        if header is None:
            header = _has_header(cells)
            if not header:
                last = f"f{len(cells) - 1}" if len(cells) > 1 else ""
                (notify or (lambda m: None))(
                    f"{name}: no header line (its first line is all numbers), so it is data; columns are "
                    f"f0{'..' + last if last else ''}. Pass --header if the first line is one."
                )
        if header and cells and cells[0].lstrip().startswith("#"):
            # np.savetxt(header=...) writes "# e0,e1,...": the comment mark is not part of the name
            cells = [cells[0].lstrip()[1:], *cells[1:]]
        names = [c.strip() for c in cells] if header else [f"f{i}" for i in range(len(cells))]
        if not names:
            raise InputError("is empty", source=name)
        self.header = header
        #: line number of data row 0 (1-based), for error messages
        self.line_base = 2 if header else 1
        super().__init__(name, pa.schema([(n, pa.string()) for n in names]))
        # Complete rows of the head, for the sample that tells number columns from text vectors.
        # A row ends at a line break outside quotes: pandas' to_csv of array cells writes NumPy's
        # repr, '"[ 0.1 -0.2 ...\n  0.3 ...]"', quoted cells spanning lines (valid CSV).
        ends, spans = _row_ends(first)
        self._head_lines = first[: int(ends[-1]) + 1] if len(ends) else first
        #: quoted cells hold line breaks: pyarrow must then parse (not just split) to find rows
        self._newlines_in_values = spans
        # A block must hold whole rows: room for several of the longest seen (a text vector of a
        # high dimension is a long row).
        longest = int(np.diff(ends, prepend=-1).max()) if len(ends) else len(first)
        self._block = max(_BLOCK, min(_MAX_HEADER, 8 * longest), 2 * longest + 1)

    def _open_raw(self) -> Any:
        assert self._loc is not None
        return self._loc.open_file()

    def _reopen(self) -> Any:
        """The file from its start, decompressed, as a new stream (closed with the reader)."""
        stream = _decompressed(self._open_raw(), self._codec)
        self._owned.append(stream)
        return stream

    @staticmethod
    def _head_bytes(plain: Any, name: str) -> bytes:
        """At least the header line and, where the file has them, a few data lines."""
        head = b""
        while len(_row_ends(head)[0]) < 8 and len(head) < _MAX_HEADER:
            try:
                more = plain.read(max(1 << 16, len(head)))  # doubling: _row_ends scans the whole head
            except (OSError, pa.ArrowInvalid) as exc:
                raise InputError(f"cannot decompress ({_short(exc)})", source=name) from None
            if not more:
                break
            head += more
        if not head.strip():
            raise InputError("is empty", source=name)
        return head

    def _reader(self, source: Any, columns: list[str], numbers: set[str]) -> Any:
        names = list(self.schema.names)
        # Every column read gets a type: pyarrow infers the others' from the first block (no
        # columns asked for, as when counting rows, means all of them).
        types = {n: pa.float64() if n in numbers else pa.string() for n in (columns or names)}
        try:
            return pacsv.open_csv(
                source,
                read_options=pacsv.ReadOptions(
                    block_size=self._block, column_names=names, skip_rows=1 if self.header else 0
                ),
                parse_options=pacsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=self._newlines_in_values),
                convert_options=pacsv.ConvertOptions(
                    column_types=types,
                    include_columns=columns,
                    null_values=NULL_CELLS,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
        except StopIteration:  # header only: no block to read
            return None
        except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
            if "skip initial" in str(exc):  # a header line without its newline, and nothing else
                return None
            raise _parse_error(exc, self.name, bool(numbers)) from None  # the first block is read here

    def _sample(self, columns: list[str]) -> pa.RecordBatch | None:
        reader = self._reader(pa.BufferReader(self._head_lines), columns, set())
        return None if reader is None else _read_next(reader, self.name, False)

    def _batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        numbers = self.number_columns & set(columns) if self._loc is not None else set()
        done = 0
        if numbers:
            try:
                reader = self._reader(self._reopen(), columns, numbers)
                while reader is not None and (b := _read_next(reader, self.name, True)) is not None:
                    done += b.num_rows
                    yield b
                return
            except _CellRefused:
                pass  # read on as text from the first row not yet handed out
        # Rows already handed out are dropped by count here: pyarrow's skip_rows_after_names
        # counts blank lines too, and would hand a row out twice after one.
        source = self._stream if self._loc is None else self._reopen()
        reader = self._reader(source, columns, set())
        while reader is not None and (b := _read_next(reader, self.name, False)) is not None:
            if done >= b.num_rows:
                done -= b.num_rows
                continue
            yield b.slice(done) if done else b
            done = 0

    def row_label(self, row: int) -> str:
        return f"{row} (line {row + self.line_base})"

    def close(self) -> None:
        super().close()
        if self.reading:  # closing a stream a thread is reading waits for that read: leave it
            return
        for stream in [self._stream, *self._owned]:
            if stream is not None:
                stream.close()


def _row_ends(data: bytes) -> tuple[NDArray[np.intp], bool]:
    """Offsets of the line breaks that end rows (outside double quotes), and whether any line
    break falls inside quotes. An escaped quote ("") counts twice, so parity still tells."""
    b = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(b == ord("\n"))
    quoted = (np.cumsum(b == ord('"'))[breaks] % 2).astype(bool)
    return breaks[~quoted], bool(quoted.any())


class _CellRefused(Exception):
    """pyarrow's converter refused a cell of a number column (it does not say where)."""


def _parse_error(exc: BaseException, name: str, typed: bool) -> Exception:
    """What a pyarrow parse error means here: a number cell refused (read on as text), or bad CSV."""
    if typed and "conversion error" in str(exc):
        return _CellRefused()
    return InputError(f"cannot parse CSV ({_short(exc)})", source=name)


def _read_next(reader: Any, name: str, typed: bool) -> pa.RecordBatch | None:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None
    except (pa.ArrowInvalid, OSError) as exc:
        raise _parse_error(exc, name, typed) from None


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


_NUMBER_CELL = re.compile(r"^\s*[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|(?i:nan|inf|infinity))\s*$")


def _is_number_text(cell: str) -> bool:
    """A number, or numbers separated by blanks (a space-delimited row read as one cell)."""
    parts = cell.split()
    return bool(parts) and all(_NUMBER_CELL.match(p) for p in parts)


def _has_header(cells: list[str]) -> bool:
    """Whether a first line is a header: not when every cell is a number (``np.savetxt`` writes no
    header) -- unless the cells are 0, 1, 2, ... in order, the column names pandas gives a frame
    made from an array (``pd.DataFrame(x).to_csv(index=False)``)."""
    if not cells or not all(_is_number_text(c) for c in cells):
        return True
    stripped = [c.strip() for c in cells]
    return stripped in ([str(i) for i in range(len(cells))], [str(i) for i in range(1, len(cells) + 1)])


def _json_hint() -> str:
    if "json" in FORMATS:
        return " (it is read as JSON without --pred-format / --label-format csv, or with json)"
    return "; convert it to Parquet or .npy"


def open_csv(loc: Location, opts: Any) -> CsvReader:
    """The registry's opener for CSV (delimiter detected unless given)."""
    reader = CsvReader(loc, delimiter=opts.delimiter, header=opts.header, notify=opts.notify)
    reader.location = loc
    return reader


def open_tsv(loc: Location, opts: Any) -> CsvReader:
    """The registry's opener for TSV: CSV with tabs."""
    reader = CsvReader(loc, delimiter=opts.delimiter or "\t", header=opts.header, notify=opts.notify)
    reader.location = loc
    return reader
