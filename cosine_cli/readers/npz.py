"""``.npz`` archives: one array of the archive (``--key``), streamed out of the zip member.

``np.load`` would decompress the whole member into memory; reading the member
as a stream through :class:`~cosine_cli.readers.npy.NpySource` keeps memory at a
chunk. Nothing is unpickled (object arrays are refused from the header).
"""

from __future__ import annotations

import zipfile
from typing import Any, BinaryIO

from ..errors import InputError, UsageProblem
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
) -> NpySource:
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


def open_npz_location(loc: Any, opts: Any) -> NpySource:
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
