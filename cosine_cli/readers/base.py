"""What every reader provides: a :class:`Source` of vector chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "Source",
    "ArraySource",
    "IterSource",
    "DEFAULT_CHUNK_BYTES",
    "rows_for_bytes",
    "check_numeric_dtype",
    "strided_chunks",
]

#: Per side and per chunk. Small enough to stay in the last-level cache while
#: the three dot products run over it, large enough that Python's per-chunk
#: overhead is noise.
DEFAULT_CHUNK_BYTES = 4 << 20


def rows_for_bytes(row_bytes: int, budget: int = DEFAULT_CHUNK_BYTES) -> int:
    """How many rows of ``row_bytes`` fit a chunk budget (at least one)."""
    return max(1, budget // max(1, row_bytes))


@runtime_checkable
class Source(Protocol):
    """An input of vectors, read a chunk at a time.

    ``shape`` is the shape of the whole array where the container says it
    (``.npy``, Parquet metadata), with ``None`` for an unknown row count (a
    stream). ``chunks(rows, axis)`` yields consecutive slices of at most
    ``rows`` entries along ``axis``; a yielded array may be a reused buffer, so
    a consumer must be done with it before asking for the next one.
    """

    name: str
    dtype: np.dtype[np.generic]

    @property
    def shape(self) -> tuple[int | None, ...]: ...

    def chunks(self, rows: int, axis: int = 0) -> Iterator[NDArray[np.generic]]: ...

    def close(self) -> None: ...


def check_numeric_dtype(dtype: np.dtype[np.generic], name: str) -> None:
    """Refuse dtypes that are not real numbers (object arrays are never unpickled)."""
    from ..errors import InputError

    if dtype.hasobject:
        raise InputError(
            "holds Python objects (dtype object); cosloss never unpickles data: save real numbers (float16/32/64)",
            source=name,
        )
    if dtype.names is not None or dtype.subdtype is not None:
        raise InputError(f"has a structured dtype {dtype}; expected a plain float array", source=name)
    if dtype.kind not in "fiu":
        raise InputError(f"has dtype {dtype}; expected real numbers (float16/32/64 or integers)", source=name)


class ArraySource:
    """An in-memory array as a :class:`Source` (chunks are views, never copies)."""

    format_name = "array"
    column: str | None = None
    columns: list[str] | None = None
    location: Any = None

    def __init__(self, array: NDArray[np.generic], name: str = "<array>") -> None:
        check_numeric_dtype(array.dtype, name)
        self.array = array
        self.name = name
        self.dtype = array.dtype

    @property
    def shape(self) -> tuple[int | None, ...]:
        return tuple(self.array.shape)

    def chunks(self, rows: int, axis: int = 0) -> Iterator[NDArray[np.generic]]:
        n = self.array.shape[axis] if self.array.ndim else 1
        if self.array.ndim == 0:
            yield self.array
            return
        index: list[slice] = [slice(None)] * self.array.ndim
        for start in range(0, n, rows):
            index[axis] = slice(start, min(start + rows, n))
            yield self.array[tuple(index)]

    def close(self) -> None:
        pass


class IterSource:
    """Chunks from an iterator (a stream of unknown length) as a :class:`Source`."""

    def __init__(self, chunks: Iterator[NDArray[np.generic]], name: str = "<chunks>") -> None:
        self.name = name
        self._it = iter(chunks)
        first = next(self._it, None)
        if first is None:
            from ..errors import InputError

            raise InputError("no chunks", source=name)
        self._first: NDArray[np.generic] | None = np.asarray(first)
        check_numeric_dtype(self._first.dtype, name)
        self.dtype = self._first.dtype
        self._shape: tuple[int | None, ...] = (None, *self._first.shape[1:]) if self._first.ndim else ()

    @property
    def shape(self) -> tuple[int | None, ...]:
        return self._shape

    def chunks(self, rows: int, axis: int = 0) -> Iterator[NDArray[np.generic]]:
        # The caller's chunks are passed on as they come; ``aligned`` re-cuts them.
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        for c in self._it:
            yield np.asarray(c)

    def close(self) -> None:
        pass


def strided_chunks(
    fileno: int,
    shape: tuple[int, ...],
    file_dtype: np.dtype[Any],
    offset: int,
    rows: int,
    axis: int,
    *,
    order: Literal["C", "F"] = "C",
    dtype: np.dtype[Any] | None = None,
) -> Iterator[NDArray[np.generic]]:
    """An array stored at ``offset`` of a local file, in C-order copies of ``rows`` along ``axis``
    (``dtype``: converted on the way), for layouts whose chunks are not contiguous in the file
    (Fortran order, vectors along axis 0). A read-only memory map serves the slices; its pages
    are released after every chunk, so that they do not pile up in our resident set."""
    import mmap

    mapping = mmap.mmap(fileno, 0, access=mmap.ACCESS_READ)
    array: NDArray[Any] | None = None
    try:
        array = np.ndarray(shape, dtype=file_dtype, buffer=mapping, offset=offset, order=order)
        index: list[slice] = [slice(None)] * len(shape)
        n = shape[axis]
        for start in range(0, n, rows):
            index[axis] = slice(start, min(start + rows, n))
            chunk = np.array(array[tuple(index)], dtype=dtype or file_dtype, order="C")
            if hasattr(mmap, "MADV_DONTNEED"):
                mapping.madvise(mmap.MADV_DONTNEED)
            yield chunk
    finally:
        array = None  # the map cannot close while a view of it lives
        mapping.close()
