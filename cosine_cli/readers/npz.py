"""``.npz`` archives: one array of the archive (``--key``), streamed out of the zip member.

``np.load`` would decompress the whole member into memory; reading the member
as a stream through :class:`~cosine_cli.readers.npy.NpySource` keeps memory at a
chunk. Nothing is unpickled (object arrays are refused from the header).
"""

from __future__ import annotations

import math
import zipfile
from typing import IO, Any, BinaryIO

import numpy as np

from ..errors import InputError, UsageProblem
from .base import ArraySource
from .npy import NpySource

__all__ = ["open_npz", "open_npz_location", "npz_keys", "list_members", "NPZ_MAGIC"]

NPZ_MAGIC = b"PK\x03\x04"


def npz_keys(path: str | BinaryIO, name: str | None = None) -> list[str]:
    try:
        zf = zipfile.ZipFile(path)
        return [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"not a readable .npz archive ({exc})", source=name or str(path)) from None


def open_npz(
    path: str | BinaryIO, key: str | None = None, name: str | None = None, option: str = "--pred-col"
) -> NpySource | ArraySource:
    """The array ``key`` of the archive (the only one when there is one)."""
    name = name or str(path)
    keys = npz_keys(path, name)
    if key is None:
        if len(keys) != 1:
            raise UsageProblem(
                f"{name} holds {len(keys)} arrays ({', '.join(keys) or 'none'}); choose one a side with "
                "--pred-col and --label-col"
            )
        key = keys[0]
    if key not in keys:
        raise UsageProblem(f"{name} has no array {key!r} ({option}); it holds: {', '.join(keys) or 'none'}")
    zf = zipfile.ZipFile(path)
    member = zf.open(key + ".npy")
    try:
        src = NpySource(member, f"{name}[{key}]", seekable=False)  # type: ignore[arg-type]
        _check_member_size(src, member.tell(), zf.getinfo(key + ".npy").file_size)
        if src.fortran_order and len(src.shape) > 1:
            fortran = _fortran_in_memory(src, member, key)
            member.close()
            zf.close()
            return fortran
    except BaseException:
        member.close()
        zf.close()
        raise
    src.format_name = "npz"
    src.column = key
    original_close = src.close

    def close() -> None:
        original_close()
        zf.close()

    src.close = close  # type: ignore[method-assign]
    return src


#: the largest Fortran-order member read into memory (its rows are not contiguous in the stream)
MAX_FORTRAN_MEMBER_BYTES = 256 << 20


def _fortran_in_memory(src: NpySource, member: IO[bytes], key: str) -> ArraySource:
    """A Fortran-order member, read whole: a zip member is a stream, and rows of a Fortran-order
    array are strided across all of it. Small ones only; a larger one is refused with the fix."""
    shape = tuple(int(d) for d in src.shape if d is not None)
    size = math.prod(shape) * src.file_dtype.itemsize
    if size > MAX_FORTRAN_MEMBER_BYTES:
        raise InputError(
            f"is a Fortran-order array of {size} bytes; cosloss reads a Fortran-order .npz member whole, "
            f"up to {MAX_FORTRAN_MEMBER_BYTES >> 20} MiB: save it in C order (np.ascontiguousarray) "
            "or as a .npy file",
            source=src.name,
        )
    data = bytearray(size)
    view = memoryview(data)
    got = 0
    while got < size:
        n = member.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise InputError(f"truncated: the data ends after {got} of {size} bytes", source=src.name)
        got += n
    array = np.frombuffer(data, dtype=src.file_dtype).reshape(shape, order="F")
    out = ArraySource(array.astype(src.dtype, copy=False), src.name)
    out.format_name = "npz"
    out.column = key
    return out


def _check_member_size(src: NpySource, header_end: int, member_size: int) -> None:
    """The zip directory knows the member's size: a header promising more data is refused now,
    before anything is allocated for it."""
    promised = math.prod(int(d) for d in src.shape if d is not None) * src.file_dtype.itemsize
    if member_size - header_end < promised:
        raise InputError(
            f"truncated: the header promises {promised} bytes of data for shape {tuple(src.shape)}, the "
            f"archive member holds {member_size - header_end}",
            source=src.name,
        )


def open_npz_location(loc: Any, opts: Any) -> NpySource | ArraySource:
    """The registry's opener: the member ``opts.member`` of an archive on any file system or stdin."""
    f = loc.stream if loc.is_stdin else (loc.local_path or loc.open_file())
    src = open_npz(f, opts.member, name=loc.name, option=opts.member_option)
    src.location = loc
    return src


def list_members(loc: Any) -> list[str]:
    """The arrays of an archive, for ``inspect`` and for messages."""
    f = loc.stream if loc.is_stdin else (loc.local_path or loc.open_file())
    if loc.is_stdin:
        loc.stream.seek(0)
    keys = npz_keys(f, loc.name)
    if loc.is_stdin:
        loc.stream.seek(0)
    return keys
