"""Byte streams: standard input, and a stream whose first bytes were already read to sniff it."""

from __future__ import annotations

import io
from typing import BinaryIO

__all__ = ["Prefixed", "read_head", "COMPRESSION_MAGIC", "COMPRESSION_EXTENSIONS"]

COMPRESSION_EXTENSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
COMPRESSION_MAGIC = [(b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\x28\xb5\x2f\xfd", "zstd")]


class Prefixed(io.RawIOBase):
    """``head`` followed by the rest of ``rest``: a non-seekable binary stream.

    Used to look at the first bytes of a pipe (to find its format or its
    delimiter) and still hand the whole stream to a reader.
    """

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        # Views released even on an error: a view of the caller's bytearray kept alive by the
        # traceback makes its deallocation a SystemError printed on stderr.
        with memoryview(buffer) as whole, whole.cast("B") as view:
            if len(self._head):
                n = min(len(view), len(self._head))
                view[:n] = self._head[:n]
                self._head = self._head[n:]
            else:
                data = self._rest.read(len(view))
                n = len(data)
                view[:n] = data
        self._pos += n
        return n

    def close(self) -> None:
        super().close()
        if hasattr(self._rest, "close"):
            self._rest.close()


def read_head(stream: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes (fewer only at the end of the stream; a pipe may deliver them in parts)."""
    parts = []
    got = 0
    while got < n:
        data = stream.read(n - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)
