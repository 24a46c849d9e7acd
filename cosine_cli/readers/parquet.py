"""Parquet: one file, a directory of parts or a glob, read batch by batch.

Only the chosen columns are read, without pre-buffering whole column chunks
(``pre_buffer=False`` and a read buffer), so memory is bounded by a batch, not
by a row group or the file. Parts are read in sorted path order as one table.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from .base import DEFAULT_CHUNK_BYTES
from .table import TableReader

__all__ = ["ParquetReader", "parquet_paths"]

#: bytes read from the file at a time for one column (pyarrow's buffered stream)
_READ_BUFFER = 1 << 20


def parquet_paths(path: str) -> list[str]:
    """The files one Parquet input stands for: itself, a directory's parts, or a glob's matches."""
    if os.path.isdir(path):
        found = sorted(
            os.path.join(root, f)
            for root, _, files in os.walk(path)
            for f in files
            if f.endswith((".parquet", ".pq", ".parq")) and not f.startswith((".", "_"))
        )
        if not found:
            raise InputError("is a directory without .parquet files", source=path)
        return found
    if any(ch in path for ch in "*?[") and not os.path.exists(path):
        found = sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
        if not found:
            raise InputError("no file matches this pattern", source=path)
        return found
    return [path]


def _open(path: str, name: str, source: Any = None) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(source if source is not None else path, pre_buffer=False, buffer_size=_READ_BUFFER)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"not a readable Parquet file ({exc})", source=name) from None


class ParquetReader(TableReader):
    """A Parquet input (file, directory or glob, or a buffer from stdin)."""

    format_name = "parquet"

    def __init__(self, path: str, *, buffer: Any = None) -> None:
        self.paths = [path] if buffer is not None else parquet_paths(path)
        self._buffer = buffer
        first = _open(self.paths[0], path, buffer)
        super().__init__(path, first.schema_arrow)
        self._files: list[pq.ParquetFile] = [first]
        for p in self.paths[1:]:
            f = _open(p, p)
            if not f.schema_arrow.equals(self.schema):
                raise InputError(
                    f"its schema differs from {self.paths[0]}'s; parts of one input must share one schema", source=p
                )
            self._files.append(f)
        self.num_rows = sum(f.metadata.num_rows for f in self._files)
        self.row_groups = sum(f.metadata.num_row_groups for f in self._files)

    def _batch_rows(self, columns: list[str]) -> int:
        """Rows per batch so that a batch holds about a chunk's bytes.

        Sized from the row group's total (all columns: batches can only come out smaller than the
        budget). Per-column chunk metadata is deliberately not touched: on a corrupt footer
        pyarrow's accessor for it aborts the whole process (an uncaught C++ exception about
        level histograms), where reading the data raises a Python error we can report.
        """
        md = self._files[0].metadata
        if md.num_row_groups == 0 or md.row_group(0).num_rows == 0:
            return 65536
        rg = md.row_group(0)
        per_row = max(1, rg.total_byte_size // rg.num_rows)
        return max(1, min(65536, DEFAULT_CHUNK_BYTES // per_row))

    def _batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        batch_rows = self._batch_rows(columns)
        # use_threads=False: one vector column gains nothing from pyarrow's pool, and handing
        # each batch to it and back doubled the context switches; the two inputs already
        # decode in parallel on their read-ahead threads (readahead.py).
        for f in self._files:
            yield from f.iter_batches(batch_size=batch_rows, columns=columns, use_threads=False)

    def _sample(self, columns: list[str]) -> pa.RecordBatch | None:
        for f in self._files:
            for b in f.iter_batches(batch_size=16, columns=columns):
                return b
        return None

    def close(self) -> None:
        super().close()
        for f in self._files:
            f.close()
