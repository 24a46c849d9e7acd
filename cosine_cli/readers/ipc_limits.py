"""How many bytes an Arrow IPC record batch decodes to, learnt before it is decoded.

pyarrow decodes (and decompresses) a whole record batch at once: a 64 KB zstd stream can hold a
2 GiB batch. Its size is written in front of it, in the Message flatbuffer (Arrow's
``format/Message.fbs``): ``RecordBatch.buffers`` gives each buffer's offset and length in the
body, and with ``RecordBatch.compression`` set, each buffer starts with its uncompressed length
as a little-endian int64 (-1: stored uncompressed). This module reads only those fields, with a
minimal flatbuffer walker (tables, vtables, vectors of structs), so a batch over
:data:`MAX_BATCH_BYTES` is refused before a byte of it is decompressed.

Two entry points: :func:`file_batch_sizes` reads the footer of an IPC file and then each batch's
metadata; :class:`GuardedStream` is a file object that watches an IPC stream go by and raises
before the body of a batch that is too large reaches the decoder.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InputError

__all__ = ["MAX_BATCH_BYTES", "BatchLayout", "parse_message", "too_large", "file_blocks", "GuardedStream"]

#: the largest record batch (decoded bytes) cosloss decodes; documented in the README
MAX_BATCH_BYTES = 1 << 30

_CONTINUATION = 0xFFFFFFFF
_RECORD_BATCH = 3  # MessageHeader union: Schema=1, DictionaryBatch=2, RecordBatch=3
_DICTIONARY_BATCH = 2


class _Malformed(Exception):
    """A flatbuffer offset points outside its buffer (the decoder then gives its own message)."""


class _Table:
    """One flatbuffer table: field ``i``'s position through its vtable."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf = buf
        self.pos = pos
        vtable = pos - _i32(buf, pos)
        self.vtable = vtable
        self.vsize = _u16(buf, vtable)

    def _field(self, i: int) -> int | None:
        slot = 4 + 2 * i
        if slot + 2 > self.vsize:
            return None
        off = _u16(self.buf, self.vtable + slot)
        return self.pos + off if off else None

    def scalar(self, i: int, fmt: str, default: int) -> int:
        at = self._field(i)
        return default if at is None else int(_unpack(fmt, self.buf, at))

    def table(self, i: int) -> _Table | None:
        at = self._field(i)
        return None if at is None else _Table(self.buf, at + _u32(self.buf, at))

    def structs(self, i: int, size: int) -> list[int]:
        """The positions of the elements of a vector of structs of ``size`` bytes."""
        at = self._field(i)
        if at is None:
            return []
        vec = at + _u32(self.buf, at)
        n = _u32(self.buf, vec)
        if vec + 4 + n * size > len(self.buf):
            raise _Malformed
        return [vec + 4 + k * size for k in range(n)]


def _unpack(fmt: str, buf: bytes, at: int) -> int:
    if at < 0 or at + struct.calcsize(fmt) > len(buf):
        raise _Malformed
    return int(struct.unpack_from(fmt, buf, at)[0])


def _u16(buf: bytes, at: int) -> int:
    return _unpack("<H", buf, at)


def _u32(buf: bytes, at: int) -> int:
    return _unpack("<I", buf, at)


def _i32(buf: bytes, at: int) -> int:
    return _unpack("<i", buf, at)


@dataclass(frozen=True)
class BatchLayout:
    """What a (record or dictionary) batch message says of its body."""

    rows: int
    body_length: int
    #: (offset, length) of every buffer in the body
    buffers: tuple[tuple[int, int], ...]
    compressed: bool

    def plain_bytes(self) -> int:
        """The decoded size when the buffers are stored uncompressed."""
        return sum(length for _, length in self.buffers)


def parse_message(metadata: bytes) -> BatchLayout | None:
    """The layout of a batch message (None: a schema message, or metadata this walker cannot read,
    which pyarrow will then judge itself)."""
    try:
        message = _Table(metadata, _u32(metadata, 0))
        kind = message.scalar(1, "<B", 0)
        header = message.table(2)
        if header is None or kind not in (_RECORD_BATCH, _DICTIONARY_BATCH):
            return None
        body_length = message.scalar(3, "<q", 0)
        if kind == _DICTIONARY_BATCH:  # DictionaryBatch { id: long; data: RecordBatch; isDelta }
            header = header.table(1)
            if header is None:
                return None
        rows = header.scalar(0, "<q", 0)
        buffers = tuple((_unpack("<q", metadata, at), _unpack("<q", metadata, at + 8)) for at in header.structs(2, 16))
        return BatchLayout(rows, body_length, buffers, compressed=header.table(3) is not None)
    except _Malformed:
        return None


def decoded_bytes(layout: BatchLayout, prefix: Callable[[int], bytes]) -> int:
    """The batch's decoded size; ``prefix(offset)`` gives the 8 bytes at ``offset`` in the body."""
    if not layout.compressed:
        return layout.plain_bytes()
    total = 0
    for offset, length in layout.buffers:
        if length < 8:
            continue
        raw = prefix(offset)
        if len(raw) < 8:
            continue  # a truncated body: the decoder says so
        size = struct.unpack("<q", raw)[0]
        total += length - 8 if size == -1 else max(size, 0)
    return total


def too_large(size: int, name: str, rows: int) -> InputError:
    return InputError(
        f"a record batch of {rows} rows decodes to {size / 2**30:.1f} GiB, above the "
        f"{MAX_BATCH_BYTES >> 30} GiB cosloss decodes at once; write the file in smaller record "
        "batches (pyarrow: write_table(table, max_chunksize=rows))",
        source=name,
    )


# -- IPC files: the footer lists every batch -----------------------------------------------------


@dataclass(frozen=True)
class Block:
    offset: int
    metadata_length: int
    body_length: int


def file_blocks(read_at: Callable[[int, int], bytes], size: int) -> list[Block] | None:
    """The record batch blocks of an IPC file's footer (None: a footer this walker cannot read)."""
    if size < 16:
        return None
    tail = read_at(size - 10, 10)
    if len(tail) != 10 or tail[4:] != b"ARROW1":
        return None
    footer_length = struct.unpack("<i", tail[:4])[0]
    if footer_length <= 0 or footer_length > size - 16:
        return None
    footer = read_at(size - 10 - footer_length, footer_length)
    try:
        table = _Table(footer, _u32(footer, 0))
        # Footer { version; schema; dictionaries: [Block]; recordBatches: [Block] },
        # Block { offset: long; metaDataLength: int; (pad); bodyLength: long } = 24 bytes
        return [
            Block(_unpack("<q", footer, at), _unpack("<i", footer, at + 8), _unpack("<q", footer, at + 16))
            for at in table.structs(3, 24)
        ]
    except _Malformed:
        return None


def check_file_block(read_at: Callable[[int, int], bytes], block: Block, name: str) -> BatchLayout | None:
    """Refuse the batch at ``block`` if it decodes to more than :data:`MAX_BATCH_BYTES`; its layout."""
    if block.metadata_length <= 8 or block.metadata_length > 1 << 26:
        return None
    raw = read_at(block.offset, block.metadata_length)
    start = 8 if raw[:4] == b"\xff\xff\xff\xff" else 4
    layout = parse_message(raw[start:])
    if layout is None:
        return None
    body = block.offset + block.metadata_length
    size = decoded_bytes(layout, lambda off: read_at(body + off, 8))
    if size > MAX_BATCH_BYTES:
        raise too_large(size, name, layout.rows)
    return layout


# -- IPC streams: watch the messages go by --------------------------------------------------------


class GuardedStream:
    """A read-only file object over an IPC stream that raises :class:`InputError` as soon as the
    body of a batch that decodes to more than :data:`MAX_BATCH_BYTES` has been read, before
    pyarrow decodes it. It follows the framing: [0xFFFFFFFF] int32 length, metadata, body."""

    def __init__(self, raw: object, name: str) -> None:
        self._raw = raw
        self.name = name
        self._head = b""  # bytes of the current length prefix or metadata
        self._need = 8  # bytes of the prefix still expected (first: up to the continuation)
        self._state = "prefix"
        self._layout: BatchLayout | None = None
        self._body_pos = 0  # bytes of the current body read so far
        self._prefixes: dict[int, bytearray] = {}
        self.closed = False

    # -- the file protocol pyarrow's PythonFile uses ---
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        return 0

    def close(self) -> None:
        self.closed = True
        close = getattr(self._raw, "close", None)
        if close is not None:
            close()

    def read(self, n: int = -1) -> bytes:
        # pass the reader's own bytes (a pyarrow Buffer for a NativeFile): no copy
        data = self._raw.read(n)  # type: ignore[attr-defined]
        self._watch(memoryview(data).cast("B"))
        return data  # type: ignore[no-any-return]

    # -- the framing ---
    def _watch(self, data: memoryview) -> None:
        while len(data) and self._state != "passthrough":
            if self._state == "body":
                data = self._body(data)
                continue
            take = min(self._need, len(data))
            self._head += bytes(data[:take])
            data = data[take:]
            self._need -= take
            if self._need:
                continue
            if self._state == "prefix":
                self._prefix_done()
            else:
                self._metadata_done()

    def _prefix_done(self) -> None:
        cont, length = struct.unpack("<Ii", self._head[:8])
        if cont != _CONTINUATION:  # the pre-1.0 framing: no continuation marker
            self._head, self._need, self._state = b"", 0, "passthrough"
            return
        self._head = b""
        if length <= 0:  # end of stream (or garbage for the decoder to name)
            self._state, self._need = "passthrough", 0
            return
        self._state, self._need = "metadata", length

    def _metadata_done(self) -> None:
        layout = parse_message(self._head)
        self._head = b""
        self._body_pos = 0
        if layout is None or layout.body_length <= 0:
            self._state, self._need = "prefix", 8
            return
        if not layout.compressed:
            size = layout.plain_bytes()
            if size > MAX_BATCH_BYTES:
                raise too_large(size, self.name, layout.rows)
        self._layout = layout
        self._prefixes = (
            {off: bytearray() for off, length in layout.buffers if length >= 8} if layout.compressed else {}
        )
        self._state = "body"

    def _body(self, data: memoryview) -> memoryview:
        assert self._layout is not None
        take = min(self._layout.body_length - self._body_pos, len(data))
        lo, hi = self._body_pos, self._body_pos + take
        for off, got in self._prefixes.items():
            want_lo, want_hi = off + len(got), off + 8
            if want_lo < want_hi and want_lo < hi and want_hi > lo:
                a, b = max(want_lo, lo), min(want_hi, hi)
                got += data[a - lo : b - lo]
        self._body_pos = hi
        if self._body_pos >= self._layout.body_length:
            layout, prefixes = self._layout, self._prefixes
            self._layout, self._state, self._need = None, "prefix", 8
            if layout.compressed:
                size = decoded_bytes(layout, lambda off: bytes(prefixes.get(off, b"")))
                if size > MAX_BATCH_BYTES:
                    raise too_large(size, self.name, layout.rows)
        return data[take:]
