"""Parquet: one file, a directory of parts or a glob, read batch by batch on any file system.

Only the chosen columns are read, without pre-buffering whole column chunks
(``pre_buffer=False`` and a read buffer), so memory is bounded by a batch, not
by a row group or the file. Parts are read in sorted path order as one table,
and only one part is open at a time (a dataset of thousands of parts stays under
the usual limit on open files): each footer is read once, kept, and reused when
the part is opened again for its rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from .base import DEFAULT_CHUNK_BYTES
from .location import Location
from .table import TableReader

__all__ = ["ParquetReader", "open_parquet"]

#: bytes read from the file at a time for one column (pyarrow's buffered stream)
_READ_BUFFER = 1 << 20


def _open(loc: Location, metadata: Any = None) -> pq.ParquetFile:
    source = loc.stream if loc.is_stdin else loc.open_file()
    try:
        return pq.ParquetFile(source, pre_buffer=False, buffer_size=_READ_BUFFER, metadata=metadata)
    except (pa.ArrowInvalid, OSError) as exc:
        source.close()
        raise InputError(f"not a readable Parquet file ({exc})", source=loc.name) from None


class ParquetReader(TableReader):
    """A Parquet input (file, dataset of parts, or a buffer from stdin), optionally a row range."""

    format_name = "parquet"

    def __init__(self, name: str, parts: list[Location], row_range: tuple[int, int] | None = None) -> None:
        self.parts = parts
        self.paths = [p.name for p in parts]
        self._meta: list[Any] = []
        schema = None
        for part in parts:
            f = _open(part)
            try:
                part_schema = f.schema_arrow
                if schema is None:
                    schema = part_schema
                elif not part_schema.equals(schema):
                    raise InputError(
                        f"its schema differs from {parts[0].name}'s; parts of one input must share one schema",
                        source=part.name,
                    )
                self._meta.append(f.metadata)
            finally:
                if not part.is_stdin:
                    f.close()
        assert schema is not None
        super().__init__(name, schema)
        self._open_files: list[pq.ParquetFile] = []
        #: rows of every row group of every part, in order
        self.group_rows = [[md.row_group(i).num_rows for i in range(md.num_row_groups)] for md in self._meta]
        total = sum(md.num_rows for md in self._meta)
        self.row_groups = sum(md.num_row_groups for md in self._meta)
        self.row_range = _checked_range(row_range, total, name)
        self.num_rows = total if self.row_range is None else self.row_range[1] - self.row_range[0]

    def boundaries(self) -> list[int]:
        """Rows where a row group starts (a task may start there without decoding a part twice)."""
        return [0, *itertools.accumulate(n for groups in self.group_rows for n in groups)]

    def _batch_rows(self) -> int:
        """Rows per batch so that a batch holds about a chunk's bytes.

        Sized from the row group's total (all columns: batches can only come out smaller than the
        budget). Per-column chunk metadata is deliberately not touched: on a corrupt footer
        pyarrow's accessor for it aborts the whole process (an uncaught C++ exception about
        level histograms), where reading the data raises a Python error we can report.
        """
        md = self._meta[0]
        if md.num_row_groups == 0 or md.row_group(0).num_rows == 0:
            return 65536
        rg = md.row_group(0)
        per_row = max(1, rg.total_byte_size // rg.num_rows)
        return int(max(1, min(65536, DEFAULT_CHUNK_BYTES // per_row)))

    def _pieces(self) -> Iterator[tuple[int, list[int], int, int]]:
        """(part, row groups, rows to drop at the start, rows to keep) for the range to read."""
        lo, hi = self.row_range if self.row_range is not None else (0, None)
        first = 0
        for i, groups in enumerate(self.group_rows):
            chosen: list[int] = []
            skip = keep = 0
            for g, n in enumerate(groups):
                start, stop = first, first + n
                first = stop
                if n == 0 or stop <= lo or (hi is not None and start >= hi):
                    continue
                if not chosen:
                    skip = max(lo - start, 0)
                chosen.append(g)
                keep += min(stop, hi if hi is not None else stop) - max(start, lo)
            if chosen:
                yield i, chosen, skip, keep

    def _batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        batch_rows = self._batch_rows()
        # use_threads=False: one vector column gains nothing from pyarrow's pool, and handing
        # each batch to it and back doubled the context switches; the two inputs already
        # decode in parallel on their read-ahead threads (readahead.py).
        for i, groups, skip, keep in self._pieces():
            f = _open(self.parts[i], self._meta[i])
            self._open_files.append(f)
            try:
                for batch in f.iter_batches(
                    batch_size=batch_rows, row_groups=groups, columns=columns, use_threads=False
                ):
                    if skip:
                        if skip >= batch.num_rows:
                            skip -= batch.num_rows
                            continue
                        batch, skip = batch.slice(skip), 0
                    if keep <= 0:
                        break
                    if batch.num_rows > keep:
                        batch = batch.slice(0, keep)
                    keep -= batch.num_rows
                    yield batch
            finally:
                self._open_files.remove(f)
                if not self.parts[i].is_stdin:
                    f.close()

    def _sample(self, columns: list[str]) -> pa.RecordBatch | None:
        for i, md in enumerate(self._meta):
            if md.num_rows == 0:
                continue
            f = _open(self.parts[i], md)
            try:
                for b in f.iter_batches(batch_size=16, columns=columns):
                    return b
            finally:
                if not self.parts[i].is_stdin:
                    f.close()
        return None

    def close(self) -> None:
        super().close()
        if self.reading:
            return
        for f in self._open_files:
            f.close()
        self._open_files = []


def _checked_range(row_range: tuple[int, int] | None, total: int, name: str) -> tuple[int, int] | None:
    if row_range is None:
        return None
    start, stop = row_range
    if not 0 <= start <= stop <= total:
        raise InputError(f"rows {start}..{stop} are not a range of its {total} rows", source=name)
    return row_range


def open_parquet(loc: Location, opts: Any) -> ParquetReader:
    """The registry's opener: a file, a dataset (its parts listed), or standard input."""
    parts = loc.parts if loc.parts is not None else [loc]
    if not parts:
        raise InputError("holds no Parquet file", source=loc.name)
    reader = ParquetReader(loc.name, parts, opts.row_range)
    reader.location = loc
    return reader
