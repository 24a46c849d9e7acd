"""Byte streams: standard input, and a stream whose first bytes were already read to sniff it."""

from __future__ import annotations

import io
import select
import time
from typing import BinaryIO

__all__ = ["Prefixed", "read_head", "read_some", "read_all", "COMPRESSION_MAGIC", "COMPRESSION_EXTENSIONS"]

COMPRESSION_EXTENSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
#: the most read from the underlying stream at once
_PIECE = 16 << 20
COMPRESSION_MAGIC = [(b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\x28\xb5\x2f\xfd", "zstd")]


class Prefixed(io.RawIOBase):
    """``head`` followed by the rest of ``rest``: a non-seekable binary stream.

    Used to look at the first bytes of a pipe (to find its format or its
    delimiter) and still hand the whole stream to a reader.
    """

    def __init__(self, head: bytes, rest: BinaryIO, *, own_rest: bool = True) -> None:
        self._head = memoryview(head)
        self._rest = rest
        self._own_rest = own_rest  # False: a stream of the caller's (sys.stdin.buffer), left open
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        # Fills the buffer unless the stream ends first, as a buffered file does: readers of
        # Arrow streams take a short read for the end of the data, and a pipe read through an
        # unbuffered descriptor (see inputs._stdin) returns whatever the pipe holds.
        # Views are released even on an error: a view of the caller's bytearray kept alive by
        # the traceback makes its deallocation a SystemError printed on stderr.
        with memoryview(buffer) as whole, whole.cast("B") as view:
            n = 0
            while n < len(view):
                if len(self._head):
                    k = min(len(view) - n, len(self._head))
                    view[n : n + k] = self._head[:k]
                    self._head = self._head[k:]
                else:
                    data = read_some(self._rest, min(len(view) - n, _PIECE))
                    if not data:
                        break
                    k = len(data)
                    view[n : n + k] = data
                n += k
        self._pos += n
        return n

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes, gathered in pieces: a corrupt length field in the data must not
        make us allocate what it claims before finding the stream shorter."""
        if size is None or size < 0:
            return self.readall()
        parts = []
        got = 0
        while got < size:
            piece = bytearray(min(size - got, _PIECE))
            n = self.readinto(piece)
            if not n:
                break
            del piece[n:]
            parts.append(piece)
            got += n
        return b"".join(parts)

    def close(self) -> None:
        super().close()
        if self._own_rest and hasattr(self._rest, "close"):
            self._rest.close()


def read_some(stream: BinaryIO, n: int) -> bytes:
    """One read of at most ``n`` bytes; b"" only at the end. A non-blocking pipe's "nothing yet"
    (None) is waited out, never taken for the end of the data."""
    while True:
        data = stream.read(n)
        if data is not None:
            return data
        try:
            select.select([stream.fileno()], [], [])
        except (AttributeError, OSError, ValueError):
            time.sleep(0.01)


def read_head(stream: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes (fewer only at the end of the stream; a pipe may deliver them in parts)."""
    parts = []
    got = 0
    while got < n:
        data = read_some(stream, n - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def read_all(stream: BinaryIO) -> bytes:
    """Everything up to the end of the stream."""
    parts = []
    while data := read_some(stream, _PIECE):
        parts.append(data)
    return b"".join(parts)
