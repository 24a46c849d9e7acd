"""Arrow IPC: the random-access file format (``.arrow``, ``.feather`` v2, ``.ipc``) and the
stream format (``.arrows``, or a pipe). Batches are read one at a time as they were written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from ..errors import InputError
from .table import TableReader

__all__ = [
    "ArrowFileReader",
    "ArrowStreamReader",
    "ARROW_FILE_MAGIC",
    "ARROW_STREAM_MAGIC",
    "open_arrow_file",
    "open_arrow_stream",
]

ARROW_FILE_MAGIC = b"ARROW1"
#: an IPC stream starts with a continuation marker before its schema message
ARROW_STREAM_MAGIC = b"\xff\xff\xff\xff"


class ArrowFileReader(TableReader):
    """An Arrow IPC file: its row count is known before reading (from the footer's batches)."""

    format_name = "arrow"

    def __init__(self, path: str, source: Any = None) -> None:
        try:
            self._file = source if source is not None else pa.OSFile(path, "rb")
            self._reader = ipc.open_file(self._file)
            # count_rows reads every batch's metadata: a corrupt one fails here, named.
            num_rows = self._reader.count_rows()
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"not a readable Arrow IPC file ({exc})", source=path) from None
        super().__init__(path, self._reader.schema)
        self.num_rows = num_rows
        self.row_groups = self._reader.num_record_batches

    def _batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        lo, hi = self.row_range if self.row_range is not None else (0, None)
        first = 0
        for i in range(self._reader.num_record_batches):
            batch = self._reader.get_batch(i)
            start, first = first, first + batch.num_rows
            if first <= lo:
                continue
            if hi is not None and start >= hi:
                return
            batch = batch.slice(max(lo - start, 0), (hi if hi is not None else first) - max(start, lo))
            yield batch.select(columns)

    def _sample(self, columns: list[str]) -> pa.RecordBatch | None:
        if self._reader.num_record_batches == 0:
            return None
        try:
            return self._reader.get_batch(0).select(columns).slice(0, 16)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"not a readable Arrow IPC file ({exc})", source=self.name) from None

    def close(self) -> None:
        super().close()
        self._file.close()


class ArrowStreamReader(TableReader):
    """An Arrow IPC stream (a file or a pipe): read once, front to back; row count unknown."""

    format_name = "arrows"
    prunes = False

    def __init__(self, source: Any, name: str) -> None:
        try:
            self._reader = ipc.open_stream(source)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"not a readable Arrow IPC stream ({exc})", source=name) from None
        self._source = source
        super().__init__(name, self._reader.schema)

    def _batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        while True:
            try:
                b = self._reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as exc:
                raise InputError(f"broken Arrow IPC stream ({exc})", source=self.name) from None
            yield b

    def close(self) -> None:
        super().close()
        if hasattr(self._source, "close"):
            self._source.close()


def open_arrow_file(loc: Any, opts: Any) -> ArrowFileReader:
    """The registry's opener for Arrow IPC files (any file system, or a buffered stdin)."""
    reader = ArrowFileReader(loc.name, source=loc.stream if loc.is_stdin else loc.open_file())
    if opts.row_range is not None:
        start, stop = opts.row_range
        if not 0 <= start <= stop <= (reader.num_rows or 0):
            reader.close()
            raise InputError(f"rows {start}..{stop} are not a range of its {reader.num_rows} rows", source=loc.name)
        reader.row_range = (start, stop)
        reader.num_rows = stop - start
    reader.location = loc
    return reader


def open_arrow_stream(loc: Any, opts: Any) -> ArrowStreamReader:
    """The registry's opener for Arrow IPC streams (a file, or a pipe)."""
    source = loc.stream if loc.is_stdin else loc.open_file()
    try:
        reader = ArrowStreamReader(source, loc.name)
    except BaseException:
        source.close()
        raise
    reader.location = loc
    return reader
