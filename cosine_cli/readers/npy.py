"""``.npy`` files, streamed: never loaded whole.

A local file is read through a memory map, a chunk at a time: the chunk is a view of the page
cache (no copy into a buffer: about a third less CPU per chunk than ``readinto``, measured),
and the pages of each chunk are dropped from our mapping (``MADV_DONTNEED``) once the consumer
asks for the next one, so the resident set stays at a chunk or two whatever the file size.
Streams and files on other file systems are read into two reusable buffers instead. The header
is parsed by NumPy's own ``numpy.lib.format``; the data is never unpickled (object arrays are
refused from the header alone).
"""

from __future__ import annotations

import math
import mmap
import os
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np
from numpy.lib import format as npy_format
from numpy.typing import NDArray

from ..errors import InputError
from .base import check_numeric_dtype, strided_chunks

__all__ = ["NpySource", "NPY_MAGIC", "open_npy"]

NPY_MAGIC = b"\x93NUMPY"


def _header_any_version(f: BinaryIO, version: tuple[int, int]) -> tuple[Any, bool, Any]:
    """Format 3.0 (a UTF-8 header) and later: NumPy's own private reader, where this NumPy has it
    (it moved to ``numpy.lib._format_impl`` in NumPy 2)."""
    import importlib

    for module in ("numpy.lib._format_impl", "numpy.lib.format"):
        try:
            reader = getattr(importlib.import_module(module), "_read_array_header", None)
        except ImportError:
            continue
        if reader is not None:
            found: tuple[Any, bool, Any] = reader(f, version)
            return found
    raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported by this NumPy")


def _read_header(f: BinaryIO, name: str) -> tuple[tuple[int, ...], bool, np.dtype[np.generic]]:
    try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(f)
        else:
            shape, fortran, dtype = _header_any_version(f, version)
    except Exception as exc:  # noqa: BLE001 - untrusted header: NumPy raises ValueError, SyntaxError,
        # tokenize.TokenError, TypeError... for mangled bytes; every one is bad input.
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"not a readable .npy file ({detail})", source=name) from None
    if any(int(d) < 0 for d in shape):
        raise InputError(f"not a readable .npy file (negative dimension in shape {shape})", source=name)
    # Python integers: a hostile header's dimensions must not overflow NumPy's int64 products
    size = math.prod(int(d) for d in shape) * np.dtype(dtype).itemsize
    if size >= 1 << 62:
        raise InputError(f"not a readable .npy file (its header promises {size} bytes, shape {shape})", source=name)
    return tuple(int(d) for d in shape), bool(fortran), np.dtype(dtype)


def _file_size(f: BinaryIO) -> int:
    size = getattr(f, "size", None)
    if callable(size):  # a pyarrow file (object storage, remote.py) has no file descriptor
        return int(size())
    return os.fstat(f.fileno()).st_size


class NpySource:
    """A ``.npy`` file (or stream) as a :class:`~cosine_cli.readers.base.Source`."""

    format_name = "npy"
    location: Any = None  #: where it was opened from (readers.location.Location)
    column: str | None = None  #: the member of an archive, for formats that have them
    #: read the next chunk on a thread while the consumer computes (off when a pool runs ranges)
    read_ahead: bool = True
    #: serve a local file's chunks from a memory map (see the module docstring)
    use_map: bool = True

    def __init__(
        self, f: BinaryIO, name: str, *, seekable: bool | None = None, row_range: tuple[int, int] | None = None
    ) -> None:
        self._f = f
        self.name = name
        self._shape, self.fortran_order, dtype = _read_header(f, name)
        check_numeric_dtype(dtype, name)
        self.file_dtype = dtype
        self.dtype = dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype
        self._offset = f.tell()
        self._seekable = f.seekable() if seekable is None else seekable
        n_bytes = int(np.prod(self._shape, dtype=np.int64)) * dtype.itemsize
        if self._seekable:
            size = _file_size(f)
            if size - self._offset < n_bytes:
                raise InputError(
                    f"truncated: the header promises {n_bytes} bytes of data for shape "
                    f"{self._shape}, the file has {size - self._offset}",
                    source=name,
                )
        if row_range is not None:
            self._restrict(*row_range)

    def _restrict(self, start: int, stop: int) -> None:
        """Only rows [start, stop): read from where they start (a Dask task's range)."""
        if self.fortran_order and len(self._shape) > 1:
            raise InputError("is in Fortran order; a row range needs a C-order .npy file", source=self.name)
        if not self._seekable or not self._shape or not 0 <= start <= stop <= self._shape[0]:
            raise InputError(f"rows {start}..{stop} are not a range of this file", source=self.name)
        row_bytes = int(np.prod(self._shape[1:], dtype=np.int64)) * self.file_dtype.itemsize
        self._offset += start * row_bytes
        self._f.seek(self._offset)
        self._shape = (stop - start, *self._shape[1:])

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> NpySource:
        name = os.fspath(path)
        try:
            f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), source=name) from None
        try:
            return cls(f, name)
        except BaseException:
            f.close()
            raise

    @property
    def shape(self) -> tuple[int | None, ...]:
        return self._shape

    def close(self) -> None:
        self._f.close()

    def chunks(self, rows: int, axis: int = 0) -> Iterator[NDArray[np.generic]]:
        if len(self._shape) == 0:
            yield self._read_all()
            return
        if axis == 0 and not (self.fortran_order and len(self._shape) > 1):
            if self.use_map and self._mappable():
                yield from self._mapped(rows)
            else:
                yield from self._sequential(rows)
        else:
            yield from self._strided(rows, axis)

    def _fill(self, view: memoryview, done_rows: int) -> None:
        got = 0
        while got < len(view):
            n = self._f.readinto(view[got:])  # type: ignore[attr-defined]
            if not n:
                raise InputError(f"truncated: the data ends inside row {done_rows}", source=self.name)
            got += n

    def _sequential(self, rows: int) -> Iterator[NDArray[np.generic]]:
        total = self._shape[0]
        rows = max(1, min(rows, total))
        # Double buffering for files: while the consumer computes on one buffer, a thread reads
        # the next chunk into the other (``readinto`` releases the GIL), so reading both inputs
        # and computing overlap on two cores. The Source contract (a consumer is done with a
        # chunk when it asks for the next) makes the buffer being yielded safe. Not for a pipe:
        # it may stall, and a read running ahead could not be abandoned when the run stops.
        ahead = self.read_ahead and self._seekable and total > rows
        try:
            buffers = [np.empty((rows, *self._shape[1:]), dtype=self.file_dtype) for _ in range(2 if ahead else 1)]
        except MemoryError:  # a stream's header is all there is to go by (a 1-D array is one vector)
            chunk_bytes = rows * self.file_dtype.itemsize * math.prod(self._shape[1:])
            raise InputError(
                f"its header's shape {self._shape} needs chunks of {chunk_bytes} bytes, more than this "
                "machine has; the header is probably wrong",
                source=self.name,
            ) from None

        def fill(i: int) -> NDArray[np.generic]:
            start = i * rows
            chunk = buffers[i % len(buffers)][: min(rows, total - start)]
            self._fill(memoryview(chunk).cast("B"), start)  # type: ignore[arg-type]
            return chunk

        def native(chunk: NDArray[np.generic]) -> NDArray[np.generic]:
            return chunk if chunk.dtype.byteorder in ("=", "|") else chunk.byteswap().view(self.dtype)

        n_chunks = -(-total // rows)
        if not ahead:
            for i in range(n_chunks):
                yield native(fill(i))
            return
        from concurrent.futures import Future, ThreadPoolExecutor

        with ThreadPoolExecutor(1, thread_name_prefix="cosloss-npy") as pool:
            pending: Future[NDArray[np.generic]] | None = pool.submit(fill, 0)
            try:
                for i in range(n_chunks):
                    assert pending is not None
                    chunk = pending.result()
                    pending = pool.submit(fill, i + 1) if i + 1 < n_chunks else None
                    yield native(chunk)
            finally:
                if pending is not None:  # abandoned early: let the read finish before the file closes
                    pending.cancel() or pending.exception()

    def _mappable(self) -> bool:
        if not self._seekable or callable(getattr(self._f, "size", None)) or not hasattr(mmap, "MADV_DONTNEED"):
            return False
        try:
            self._f.fileno()
        except (OSError, ValueError, AttributeError):
            return False
        return True

    def _mapped(self, rows: int) -> Iterator[NDArray[np.generic]]:
        total = self._shape[0]
        rows = max(1, min(rows, total))
        row_bytes = int(np.prod(self._shape[1:], dtype=np.int64)) * self.file_dtype.itemsize
        if total == 0 or row_bytes == 0:
            yield from self._sequential(rows)
            return
        # Map only this source's rows (a range's), from the page boundary before them.
        page = mmap.ALLOCATIONGRANULARITY
        base = self._offset // page * page
        length = self._offset - base + total * row_bytes
        mapping = mmap.mmap(self._f.fileno(), length, access=mmap.ACCESS_READ, offset=base)
        array: NDArray[np.generic] | None = None
        try:
            mapping.madvise(mmap.MADV_SEQUENTIAL)
            array = np.ndarray(self._shape, dtype=self.file_dtype, buffer=mapping, offset=self._offset - base)
            fd = self._f.fileno()
            for start in range(0, total, rows):
                stop = min(start + rows, total)
                # A file cut short since it was opened (a writer replacing it in place) would be a
                # SIGBUS when the chunk's missing pages are touched, not an error: look first.
                if os.fstat(fd).st_size < self._offset + stop * row_bytes:
                    raise InputError(
                        f"truncated while being read: the data now ends before row {stop} "
                        f"(the header promised {self._shape[0]} rows)",
                        source=self.name,
                        row=start,
                    )
                chunk = array[start:stop]
                yield chunk if chunk.dtype.byteorder in ("=", "|") else chunk.byteswap().view(self.dtype)
                # The consumer is done with the chunk: drop its whole pages from our resident set
                # (the page cache keeps them; the page shared with the next chunk stays mapped).
                lo = (self._offset - base + start * row_bytes) // mmap.PAGESIZE * mmap.PAGESIZE
                hi = (self._offset - base + stop * row_bytes) // mmap.PAGESIZE * mmap.PAGESIZE
                if hi > lo:
                    mapping.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        finally:
            # Never close the map here: NumPy views keep the mmap object alive but not its export,
            # so close() would succeed and a chunk a consumer still holds would point at unmapped
            # memory (a crash, not an error). The map is unmapped when its last view goes.
            array = None
            del mapping

    def _read_all(self) -> NDArray[np.generic]:
        out = np.empty(self._shape, dtype=self.file_dtype)
        self._fill(memoryview(out.reshape(-1)).cast("B"), 0)  # type: ignore[arg-type]
        return out.astype(self.dtype, copy=False)

    def _strided(self, rows: int, axis: int) -> Iterator[NDArray[np.generic]]:
        # Fortran order, or vectors along axis 0: slices are not contiguous in
        # the file, so a memory map serves them; its pages are released after
        # every chunk so that they do not pile up in our resident set.
        if not self._seekable or callable(getattr(self._f, "size", None)):
            raise InputError(
                "a Fortran-order array (or vectors along axis 0) needs a seekable local file, "
                "not a stream or an object in object storage",
                source=self.name,
            )
        yield from strided_chunks(
            self._f.fileno(),
            self._shape,
            self.file_dtype,
            self._offset,
            rows,
            axis,
            order="F" if self.fortran_order else "C",
            dtype=self.dtype,
        )


def open_npy(loc: Any, opts: Any) -> NpySource:
    """The registry's opener: a file on any file system, or standard input."""
    if loc.is_stdin:
        return NpySource(loc.stream, "-", seekable=False)
    f = loc.open_os_file()
    try:
        src = NpySource(f, loc.name, row_range=opts.row_range)
    except BaseException:
        f.close()
        raise
    src.location = loc
    return src
