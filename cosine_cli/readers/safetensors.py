"""safetensors files: the layout parsed and checked here, each tensor read by row range.

The layout (huggingface/safetensors, README "Format"): 8 bytes ``N`` (unsigned
little-endian 64-bit), ``N`` bytes of UTF-8 JSON starting with ``{`` (padded with
spaces), then the byte buffer. The header maps each tensor name to ``{"dtype",
"shape", "data_offsets": [begin, end)}`` relative to the buffer; ``__metadata__`` is
an optional string-to-string map. The ``safetensors`` package only loads whole
tensors (its ``get_slice`` needs the package and maps the file), so the few lines of
parsing live here and a chunk is one ``seek`` and one ``readinto``.

The checks mirror the Rust implementation's ``SafeTensors::read_metadata`` and
``Metadata::validate`` (``safetensors/src/tensor.rs``, commit 24b0b28):
``N <= MAX_HEADER_SIZE`` (100 000 000), the header inside the file, valid UTF-8,
valid JSON; tensors sorted by ``data_offsets`` must tile the buffer with no gap and
no overlap (``begin == previous end``, ``end >= begin``), each ``end - begin`` equal to
``prod(shape) * bits / 8`` (no overflow past 64 bits), and the buffer must end where
the file ends ("incomplete metadata, file not fully covered"). The README adds:
the header starts with ``{`` and duplicate keys are not allowed.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError, UsageProblem
from .base import strided_chunks

__all__ = [
    "MAX_HEADER_SIZE",
    "SafetensorsSource",
    "TensorInfo",
    "looks_like_safetensors",
    "members",
    "open_safetensors",
    "open_safetensors_stream",
    "read_header",
]

#: safetensors/src/tensor.rs: ``const MAX_HEADER_SIZE: usize = 100_000_000``
MAX_HEADER_SIZE = 100_000_000
_U64_MAX = (1 << 64) - 1

#: the dtypes cosloss reads, as stored (little-endian); BF16 is stored as uint16 and
#: widened to float32 exactly.
_DTYPES: dict[str, np.dtype[Any]] = {
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "I16": np.dtype("<i2"),
    "U16": np.dtype("<u2"),
    "I32": np.dtype("<i4"),
    "U32": np.dtype("<u4"),
    "I64": np.dtype("<i8"),
    "U64": np.dtype("<u8"),
}
#: the other dtypes of the format, by bit size (checked for layout, refused when read)
_OTHER_BITS = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "C64": 64,
}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the header; ``begin`` / ``end`` are absolute file offsets."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def looks_like_safetensors(head: bytes) -> bool:
    """A sniff for the first bytes of a file: a plausible header size, then ``{``."""
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= MAX_HEADER_SIZE and head[8:9] == b"{"


def _bad(detail: str, name: str) -> InputError:
    return InputError(f"not a valid safetensors file ({detail})", source=name)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _is_count(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= _U64_MAX


def _bits(dtype: str) -> int:
    return 8 * _DTYPES[dtype].itemsize if dtype in _DTYPES else _OTHER_BITS[dtype]


def read_header(f: BinaryIO, name: str, file_size: int | None) -> tuple[dict[str, str], list[TensorInfo]]:
    """The ``__metadata__`` map and the tensors in file order, every rule above checked.

    ``file_size`` None: a pipe, whose end is checked when the data is read instead."""
    size_bytes = f.read(8)
    if len(size_bytes) < 8:
        raise _bad("header too small: fewer than 8 bytes", name)
    n = int.from_bytes(size_bytes, "little")
    if n > MAX_HEADER_SIZE:
        raise _bad(f"header size {n} bytes exceeds the format's limit of {MAX_HEADER_SIZE}", name)
    if file_size is not None and 8 + n > file_size:
        raise _bad(f"header of {n} bytes runs past the end of the {file_size}-byte file", name)
    raw = f.read(n)
    if len(raw) < n:
        raise _bad(f"header of {n} bytes runs past the end of the file", name)
    if not raw.startswith(b"{"):
        raise _bad("the header does not start with '{'", name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(f"invalid UTF-8 in header at byte {exc.start}", name) from None
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as exc:  # JSONDecodeError, and a duplicate key
        raise _bad(f"invalid JSON in header: {str(exc).splitlines()[0]}", name) from None
    except RecursionError:
        raise _bad("invalid header: JSON nested too deeply", name) from None
    if not isinstance(header, dict):
        raise _bad("the header is not a JSON object", name)
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _bad("__metadata__ must map strings to strings", name)
    data_start = 8 + n
    tensors: list[TensorInfo] = []
    for key, info in header.items():
        if not isinstance(info, dict):
            raise _bad(f"tensor {key!r}: expected an object with dtype, shape and data_offsets", name)
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if not isinstance(dtype, str) or (dtype not in _DTYPES and dtype not in _OTHER_BITS):
            raise _bad(f"tensor {key!r}: unknown dtype {dtype!r}", name)
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise _bad(f"tensor {key!r}: shape must be a list of non-negative integers", name)
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(o) for o in offsets)):
            raise _bad(f"tensor {key!r}: data_offsets must be two non-negative integers [begin, end]", name)
        tensors.append(TensorInfo(key, dtype, tuple(shape), offsets[0], offsets[1]))
    # Metadata::validate: sorted by offsets, the tensors tile the buffer exactly.
    tensors.sort(key=lambda t: (t.begin, t.end))
    end = 0
    for t in tensors:
        if t.begin != end or t.end < t.begin:
            what = "overlaps the previous tensor" if t.begin < end else "leaves a gap" if t.begin > end else "ends"
            raise _bad(f"invalid offset for tensor {t.name!r}: [{t.begin}, {t.end}) {what}", name)
        elements = int(np.prod(t.shape, dtype=object)) if t.shape else 1
        bits = elements * _bits(t.dtype)
        if bits > _U64_MAX:
            raise _bad(f"tensor {t.name!r}: overflow computing its size from shape {list(t.shape)}", name)
        if bits % 8:
            raise _bad(f"tensor {t.name!r}: {t.dtype} data does not end on a byte boundary", name)
        if t.end - t.begin != bits // 8:
            raise _bad(
                f"tensor {t.name!r}: data_offsets span {t.end - t.begin} bytes, shape {list(t.shape)} of "
                f"{t.dtype} needs {bits // 8}",
                name,
            )
        end = t.end
    if file_size is not None and data_start + end != file_size:
        raise _bad(
            f"the tensors cover {end} bytes of data, the file holds {file_size - data_start} after the header "
            "(incomplete or truncated)",
            name,
        )
    return {str(k): v for k, v in metadata.items()}, [
        TensorInfo(t.name, t.dtype, t.shape, data_start + t.begin, data_start + t.end) for t in tensors
    ]


def _open(path: str | os.PathLike[str]) -> tuple[io.FileIO, str, list[TensorInfo]]:
    name = os.fspath(path)
    try:
        f = open(name, "rb", buffering=0)  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), source=name) from None
    try:
        _, tensors = read_header(cast(BinaryIO, f), name, os.fstat(f.fileno()).st_size)
    except BaseException:
        f.close()
        raise
    return f, name, tensors


def members(path: str | os.PathLike[str]) -> list[TensorInfo]:
    """The tensors of a file, in file order (for ``inspect`` and for choosing one)."""
    f, _, tensors = _open(path)
    f.close()
    return tensors


def _describe(t: TensorInfo) -> str:
    return f"{t.name} {t.dtype} {list(t.shape)}"


def open_safetensors(
    path: str | os.PathLike[str], member: str | None = None, *, option: str = "--pred-col / --label-col"
) -> SafetensorsSource:
    """Tensor ``member`` of the file (the only one when ``None``) as a Source."""
    f, name, tensors = _open(path)
    try:
        info = _choose(tensors, member, name, option)
        return SafetensorsSource(f, info, name)
    except BaseException:
        f.close()
        raise


def open_safetensors_stream(
    stream: BinaryIO, member: str | None = None, *, name: str = "-", option: str = "--pred-col / --label-col"
) -> SafetensorsSource:
    """A tensor of a safetensors file arriving on a pipe: the header, then the bytes up to the
    tensor skipped, then its rows in order (read once; vectors along the rows only)."""
    _, tensors = read_header(stream, name, None)
    info = _choose(tensors, member, name, option)
    # the tensors tile the buffer from its start: the first begins where the header ends
    return SafetensorsSource(stream, info, name, seekable=False, position=tensors[0].begin)  # type: ignore[arg-type]


def _choose(tensors: list[TensorInfo], member: str | None, name: str, option: str) -> TensorInfo:
    if member is None:
        if len(tensors) != 1:
            listing = "; ".join(_describe(t) for t in tensors) or "none"
            raise UsageProblem(f"{name} holds {len(tensors)} tensors ({listing}); choose one with {option}")
        return tensors[0]
    found = [t for t in tensors if t.name == member]
    if not found:
        raise UsageProblem(f"{name} has no tensor {member!r}; it holds: {', '.join(t.name for t in tensors) or 'none'}")
    return found[0]


class SafetensorsSource:
    """One tensor of a safetensors file as a :class:`~cosine_cli.readers.base.Source`.

    Rows (along axis 0) are read by seeking to their offset: memory is one chunk
    buffer whatever the file size, and :meth:`read_rows` serves any row range.
    """

    format_name = "safetensors"
    location: Any = None  #: where it was opened from (readers.location.Location)

    def __init__(self, f: io.FileIO, info: TensorInfo, name: str, *, seekable: bool = True, position: int = 0) -> None:
        if info.dtype not in _DTYPES:
            raise InputError(
                f"tensor {info.name!r} has dtype {info.dtype}; cosloss reads F16, BF16, F32, F64 and integer tensors",
                source=name,
            )
        self._f = f
        self._seekable = seekable
        self._position = position  # a pipe: the file offset it stands at
        self.info = info
        self.tensor = info.name
        self.name = f"{name}[{info.name}]"
        self.file_dtype = _DTYPES[info.dtype]
        self.dtype: np.dtype[np.generic] = (
            np.dtype(np.float32) if info.dtype == "BF16" else self.file_dtype.newbyteorder("=")
        )
        self._row_items = int(np.prod(info.shape[1:], dtype=np.int64)) if len(info.shape) > 1 else 1
        self._row_bytes = self._row_items * self.file_dtype.itemsize

    @property
    def shape(self) -> tuple[int | None, ...]:
        return self.info.shape

    def close(self) -> None:
        self._f.close()

    def _native(self, raw: NDArray[Any], out32: NDArray[np.uint32] | None = None) -> NDArray[np.generic]:
        if self.info.dtype == "BF16":
            from ..encodings import bfloat16_to_float32

            return bfloat16_to_float32(raw, out32)
        return raw if raw.dtype.isnative else raw.byteswap().view(self.dtype)

    def _read_into(self, buffer: NDArray[Any], start_row: int) -> None:
        if buffer.nbytes == 0:  # a dimension of 0 (allowed by the format): nothing stored
            return
        view = memoryview(cast(Any, buffer)).cast("B")
        offset = self.info.begin + start_row * self._row_bytes
        if self._seekable:
            self._f.seek(offset)
        else:
            self._skip_to(offset)
            self._position = offset + len(view)
        got = 0
        while got < len(view):
            n = self._f.readinto(view[got:])
            if not n:
                raise InputError(f"truncated: the data ends inside row {start_row}", source=self.name)
            got += n

    def _skip_to(self, offset: int) -> None:
        """On a pipe: read and drop the bytes before ``offset`` (the tensors stored before ours)."""
        if offset < self._position:
            raise InputError("a safetensors file on standard input is read once, front to back", source=self.name)
        self._drop(offset - self._position)

    def _drop(self, count: int) -> None:
        while count > 0:
            got = self._f.read(min(count, 1 << 20))
            if not got:
                raise InputError("truncated: the data ends before the tensor", source=self.name)
            count -= len(got)

    def read_rows(self, start: int, stop: int) -> NDArray[np.generic]:
        """Rows ``[start, stop)`` along axis 0, read by one seek (a new array)."""
        if not self.info.shape:
            raise InputError("a 0-rank tensor has no rows", source=self.name)
        stop = min(stop, self.info.shape[0])
        buffer = np.empty((max(0, stop - start), *self.info.shape[1:]), dtype=self.file_dtype)
        self._read_into(buffer, start)
        return self._native(buffer)

    def chunks(self, rows: int, axis: int = 0) -> Iterator[NDArray[np.generic]]:
        shape = self.info.shape
        if not shape:
            yield self._read_scalar()
            return
        if axis != 0 and len(shape) > 1:
            if not self._seekable:
                raise InputError("vectors along axis 0 need a seekable file, not standard input", source=self.name)
            yield from self._strided(rows, axis)
            return
        total = shape[0]
        rows = max(1, min(rows, total))
        buffer = np.empty((rows, *shape[1:]), dtype=self.file_dtype)
        out32 = np.empty(buffer.shape, dtype=np.uint32) if self.info.dtype == "BF16" else None
        for start in range(0, total, rows):
            n = min(rows, total - start)
            self._read_into(buffer[:n], start)
            yield self._native(buffer[:n], None if out32 is None else out32[:n])

    def _read_scalar(self) -> NDArray[np.generic]:
        buffer = np.empty((), dtype=self.file_dtype)
        self._read_into(buffer.reshape(1), 0)
        return self._native(buffer)

    def _strided(self, rows: int, axis: int) -> Iterator[NDArray[np.generic]]:
        # Vectors along axis 0: the slices are strided in the file (as in readers/npy.py).
        for chunk in strided_chunks(self._f.fileno(), self.info.shape, self.file_dtype, self.info.begin, rows, axis):
            yield self._native(chunk)


def open_location(loc: Any, opts: Any) -> SafetensorsSource:
    """The registry's opener: a tensor of a file on any file system, or of standard input."""
    if loc.is_stdin:
        return open_safetensors_stream(loc.stream, opts.member, option=opts.member_option)
    f = loc.open_os_file()
    try:
        size_of = getattr(f, "size", None)
        size = int(size_of()) if callable(size_of) else os.fstat(f.fileno()).st_size
        _, tensors = read_header(cast(BinaryIO, f), loc.name, size)
        info = _choose(tensors, opts.member, loc.name, opts.member_option)
        src = SafetensorsSource(f, info, loc.name)
    except BaseException:
        f.close()
        raise
    src.location = loc
    return src


def list_members(loc: Any) -> list[str]:
    return [t.name for t in members(_local(loc, "safetensors"))]


def _local(loc: Any, what: str) -> str:
    if loc.local_path is None:
        raise UsageProblem(f"{loc.name}: listing the members of a {what} file needs a local file")
    return str(loc.local_path)
