"""Standard input as an input: its format sniffed from its first bytes, read through the registry.

Formats that need to seek (Parquet, Arrow files, .npz: ``Format.seekable``) are read into memory
first; the others stream.
"""

from __future__ import annotations

import io
import os
import sys
from typing import Any

from .errors import InputError
from .formats import FORMATS

__all__ = ["RAW_STDIN", "open_stdin", "stdin_used"]

#: Set by the ``cosloss`` command (cli.main), which owns the process: read standard input
#: through a descriptor of its own. A library caller's ``sys.stdin.buffer`` may already hold
#: bytes it read ahead, so the library reads through it.
RAW_STDIN = False
#: Whether this process has opened standard input as an input (cli.main then exits at once:
#: a pyarrow thread may still be reading the pipe, and the interpreter's shutdown would wait
#: for it or abort on it).
stdin_used = False
#: (device, inode) of the file behind standard input, when it is one (outputs must not replace it)
stdin_identity: tuple[int, int] | None = None


def _stdin() -> tuple[Any, bool]:
    """Standard input, and whether the returned file is ours to close.

    Under the command, an unbuffered duplicate of descriptor 0: a reader thread may sit in a
    read on a pipe that stalls when the run stops; on ``sys.stdin.buffer`` that read holds the
    buffer's lock, and the interpreter, closing ``sys.stdin`` on the way out, would abort on it.
    """
    global stdin_used, stdin_identity
    if sys.stdin is None:  # descriptor 0 was closed (`<&-`)
        raise InputError("standard input is closed", source="-")
    stdin_used = True
    try:
        st = os.fstat(sys.stdin.fileno())
        stdin_identity = (st.st_dev, st.st_ino)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    if RAW_STDIN:
        try:
            return open(os.dup(sys.stdin.fileno()), "rb", buffering=0), True  # noqa: SIM115
        except (AttributeError, OSError, ValueError):  # replaced by a test runner
            pass
    return sys.stdin.buffer, False


def open_stdin(override: str | None, opts: Any) -> Any:
    """Standard input opened with the format its first bytes show (or ``override``)."""
    from .readers import Opened, format_named, open_location, options_for, sniff_stdin_format
    from .readers.location import Location
    from .readers.streams import COMPRESSION_MAGIC, Prefixed, read_all, read_head

    stream, owned = _stdin()
    try:
        head = read_head(stream, 64)
        if not head:
            raise InputError("is empty", source="-")
        codec = None if override else next((c for m, c in COMPRESSION_MAGIC if head.startswith(m)), None)
        sniffed = head
        if codec is not None:
            # compressed: the format is in the decompressed bytes (JSON Lines or CSV inside gzip)
            head += read_head(stream, _COMPRESSED_HEAD - len(head))
            sniffed = _decompressed_head(head) or head
        fmt = format_named(override, "-") if override else sniff_stdin_format(sniffed)
        if codec is not None and sniffed is not head and fmt.name not in _READ_COMPRESSED:
            raise InputError(
                f"is {fmt.name} compressed with {codec}; only CSV and JSON Lines are read compressed "
                f"(decompress it first, e.g. with {_DECOMPRESS[codec]})",
                source="-",
            )
        loc = Location("-", None, "")
        if fmt.seekable:
            data = head + read_all(stream)
            if owned:
                stream.close()
            owned = False
            if fmt.kind == "table":
                import pyarrow as pa

                loc.stream = pa.BufferReader(data)
            else:
                loc.stream = io.BytesIO(data)
        else:
            loc.stream = Prefixed(head, stream, own_rest=owned)
            owned = False  # the reader closes it now
        return Opened(open_location(loc, fmt, options_for(opts, fmt)), fmt, loc)
    except BaseException:
        if owned:
            stream.close()
        elif isinstance(getattr(locals().get("loc"), "stream", None), Prefixed):
            locals()["loc"].stream.close()
        raise


#: the command that decompresses each codec, for the message
_DECOMPRESS = {"gzip": "gzip -dc", "bz2": "bzip2 -dc", "zstd": "zstd -dc"}
#: the formats whose readers decompress a pipe themselves
_READ_COMPRESSED = ("csv", "tsv", "json")
#: compressed bytes read from a pipe to find the format of what they hold (a bzip2 block is up to
#: 900 kB before it gives anything)
_COMPRESSED_HEAD = 1 << 20


def _decompressed_head(head: bytes) -> bytes:
    """The first bytes ``head`` (the start of a gzip, bzip2 or zstd stream) decompress to; b"" when
    they do not give any (the format is then sniffed from the compressed bytes, as before)."""
    import bz2
    import zlib

    try:
        if head.startswith(b"\x1f\x8b"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 4096)
        if head.startswith(b"BZh"):
            return bz2.BZ2Decompressor().decompress(head, 4096)
        import pyarrow as pa

        stream = pa.CompressedInputStream(pa.BufferReader(head), "zstd")
        try:
            return bytes(stream.read(4096))
        finally:
            stream.close()
    except (OSError, ValueError, EOFError, zlib.error):  # damaged or too short: the reader will say
        return b""


def stdin_format_names() -> list[str]:
    """The formats that can be read from a pipe without buffering it whole."""
    return [f.name for f in FORMATS.values() if not f.seekable]
