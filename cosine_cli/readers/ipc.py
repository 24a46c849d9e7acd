"""Arrow IPC: the random-access file format (``.arrow``, ``.feather`` v2, ``.ipc``) and the
stream format (``.arrows``, or a pipe). Batches are read one at a time as they were written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from ..errors import InputError
from .ipc_limits import GuardedStream, check_file_block, file_blocks
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


#: a large uncompressed batch of a local file is handed on in slices of about this size
_SLICE_BYTES = 16 << 20


class ArrowFileReader(TableReader):
    """An Arrow IPC file: its row count is known before reading (from the footer's batches)."""

    format_name = "arrow"
    #: a local file's path: large uncompressed batches are then read through memory maps
    map_path: str | None = None

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
        # the footer's blocks, to refuse a batch too large to decode before decoding it
        blocks = file_blocks(self._read_at, self._file.size()) if hasattr(self._file, "size") else None
        self._blocks = blocks if blocks is not None and len(blocks) == self.row_groups else None

    def _read_at(self, offset: int, length: int) -> bytes:
        self._file.seek(offset)
        return bytes(self._file.read(length))

    def _batch(self, i: int) -> pa.RecordBatch:
        if self._blocks is not None:
            check_file_block(self._read_at, self._blocks[i], self.name)
        return self._reader.get_batch(i)

    def _mapped(self, i: int) -> pa.RecordBatch:
        """Batch ``i`` over a memory map of its own: nothing is read until used, and the pages it
        touched leave this process's memory with the last slice of it."""
        assert self.map_path is not None
        return ipc.open_file(pa.memory_map(self.map_path)).get_batch(i)

    def _batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        lo, hi = self.row_range if self.row_range is not None else (0, None)
        first = 0
        for i in range(self._reader.num_record_batches):
            layout = None
            if self._blocks is not None:
                layout = check_file_block(self._read_at, self._blocks[i], self.name)
            # An uncompressed batch of a local file is read a slice at a time, each slice over a
            # fresh memory map: reading a 300 MB batch whole would hold all of it at once.
            sliced = self.map_path is not None and layout is not None and not layout.compressed
            batch = self._mapped(i) if sliced else self._reader.get_batch(i)
            start, first = first, first + batch.num_rows
            if first <= lo:
                continue
            if hi is not None and start >= hi:
                return
            a, b = max(lo - start, 0), (hi if hi is not None else first) - start
            if not sliced or layout is None or layout.plain_bytes() <= _SLICE_BYTES or b - a <= 1:
                yield batch.slice(a, b - a).select(columns)
                continue
            del batch
            step = max(1, layout.rows * _SLICE_BYTES // max(layout.plain_bytes(), 1))
            for s in range(a, b, step):
                yield self._mapped(i).slice(s, min(step, b - s)).select(columns)

    def _sample(self, columns: list[str]) -> pa.RecordBatch | None:
        if self._reader.num_record_batches == 0:
            return None
        try:
            return self._batch(0).select(columns).slice(0, 16)
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
            # the guard refuses a batch too large to decode before pyarrow decompresses it
            self._reader = ipc.open_stream(GuardedStream(source, name))
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


def _memory_map(path: str, name: str) -> Any:
    try:
        return pa.memory_map(path)
    except OSError as exc:
        raise InputError(f"cannot be read ({exc})", source=name) from None


def open_arrow_file(loc: Any, opts: Any) -> ArrowFileReader:
    """The registry's opener for Arrow IPC files (any file system, or a buffered stdin)."""
    # A local file is memory-mapped: counting rows then reads no batch body (from a plain file,
    # pyarrow reads every body to count their rows).
    local = loc.local_path
    source = loc.stream if loc.is_stdin else _memory_map(local, loc.name) if local is not None else loc.open_file()
    reader = ArrowFileReader(loc.name, source=source)
    if opts.row_range is not None:
        start, stop = opts.row_range
        if not 0 <= start <= stop <= (reader.num_rows or 0):
            reader.close()
            raise InputError(f"rows {start}..{stop} are not a range of its {reader.num_rows} rows", source=loc.name)
        reader.row_range = (start, stop)
        reader.num_rows = stop - start
    if loc.local_path is not None:
        reader.map_path = loc.local_path
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
