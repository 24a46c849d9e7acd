"""A pair of datasets cut into row ranges that a worker can open on its own.

A *side* is one input (Parquet dataset or ``.npy`` file, local or in object
storage) with what its metadata says: files, rows per row group, vector
dimension and dtype. :func:`plan_ranges` cuts the common row space at row-group
boundaries; :meth:`Side.range` gives a small picklable :class:`RangeSpec` of one
range, and ``RangeSpec.open()`` the :class:`~cosine_cli.readers.base.Source`
that the pipeline scores, the same as for the local engine.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from numpy.typing import NDArray

from .. import remote
from ..errors import InputError, UsageProblem
from ..readers.arrow_convert import to_matrix
from ..readers.base import check_numeric_dtype
from ..readers.npy import NpySource

__all__ = ["Side", "RangeSpec", "open_side", "plan_ranges"]


def _vector_type(t: pa.DataType) -> pa.DataType | None:
    if pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
        return t.value_type
    return None


@dataclass(frozen=True)
class Piece:
    """Rows [lo, hi) of one row group of one Parquet file."""

    path: str
    row_group: int
    lo: int
    hi: int


@dataclass(frozen=True)
class RangeSpec:
    """One side of one task: enough to open its rows anywhere (it pickles with its file system)."""

    name: str
    fs: pafs.FileSystem
    kind: str  #: "parquet" or "npy"
    shape: tuple[int, ...]  #: of this range
    dtype: np.dtype[Any]
    column: str | None = None
    pieces: tuple[Piece, ...] = ()  #: parquet
    path: str = ""  #: npy
    start: int = 0  #: npy: first row

    def open(self) -> Any:
        if self.kind == "npy":
            return NpyRowRange(
                remote.open_input(self.fs, self.path, self.name), self.name, self.start, self.start + self.shape[0]
            )
        return ParquetRangeSource(self)


class ParquetRangeSource:
    """Rows of a Parquet dataset as a Source: row group by row group, in batches of ``rows``."""

    format_name = "parquet"

    def __init__(self, spec: RangeSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.dtype = spec.dtype

    @property
    def shape(self) -> tuple[int | None, ...]:
        return self.spec.shape

    def chunks(self, rows: int, axis: int = 0) -> Iterator[NDArray[np.generic]]:
        if axis != 0:
            raise UsageProblem(f"{self.name}: a Parquet dataset holds one vector per row; use --axis -1")
        dim = self.spec.shape[1]
        done = 0
        for path, pieces in itertools.groupby(self.spec.pieces, key=lambda p: p.path):
            with remote.open_input(self.spec.fs, path, self.name) as f:
                pf = pq.ParquetFile(f)
                for piece in pieces:
                    seen = 0  # rows of this row group decoded so far
                    for batch in pf.iter_batches(
                        batch_size=rows, row_groups=[piece.row_group], columns=[self.spec.column], use_threads=False
                    ):
                        lo, hi = max(piece.lo - seen, 0), min(piece.hi - seen, batch.num_rows)
                        seen += batch.num_rows
                        if hi > lo:
                            part = batch.column(0).slice(lo, hi - lo)
                            # the readers' one Arrow -> NumPy converter (zero-copy where it can be)
                            yield to_matrix([part], source=self.name, column=self.spec.column, offset=done, dim=dim)
                            done += hi - lo
                        if seen >= piece.hi:
                            break

    def close(self) -> None:
        pass


class NpyRowRange(NpySource):
    """Rows [start, stop) of a C-order ``.npy`` file, read from where they start."""

    def __init__(self, f: BinaryIO, name: str, start: int, stop: int) -> None:
        super().__init__(f, name)
        row_bytes = int(np.prod(self._shape[1:], dtype=np.int64)) * self.file_dtype.itemsize
        f.seek(self._offset + start * row_bytes)
        self._shape = (stop - start, *self._shape[1:])


@dataclass
class Side:
    """One input as its metadata describes it."""

    name: str
    fs: pafs.FileSystem
    kind: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    files: list[str]
    column: str | None = None
    row_groups: list[list[int]] | None = None  #: parquet: rows of each row group of each file

    def boundaries(self) -> list[int] | None:
        """Rows where a task may start (row-group starts); None: anywhere (.npy)."""
        if self.row_groups is None:
            return None
        return [0, *itertools.accumulate(n for groups in self.row_groups for n in groups)]

    def range(self, start: int, stop: int) -> RangeSpec:
        shape = (stop - start, *self.shape[1:])
        if self.kind == "npy":
            return RangeSpec(self.name, self.fs, "npy", shape, self.dtype, path=self.files[0], start=start)
        pieces = []
        first = 0
        for path, groups in zip(self.files, self.row_groups or [], strict=True):
            for i, n in enumerate(groups):
                lo, hi = max(start - first, 0), min(stop - first, n)
                if hi > lo:
                    pieces.append(Piece(path, i, lo, hi))
                first += n
        return RangeSpec(self.name, self.fs, "parquet", shape, self.dtype, self.column, tuple(pieces))


def open_side(uri: str, storage_options: Mapping[str, Any] | None = None, column: str | None = None) -> Side:
    """Read the metadata of a ``.npy`` file or a Parquet dataset (file, directory or glob)."""
    if uri.lower().endswith(".npy"):
        fs, path = remote.resolve(uri, storage_options)
        with remote.open_input(fs, path, uri) as f:
            src = NpySource(f, uri)
            if src.fortran_order and len(src.shape) > 1:
                raise InputError("is in Fortran order; the dask engine reads C-order .npy files", source=uri)
            shape = tuple(int(d) for d in src.shape)  # type: ignore[arg-type]
            return Side(uri, fs, "npy", shape, src.dtype, [path])
    fs, files = remote.list_dataset(uri, storage_options)
    with ThreadPoolExecutor(max_workers=min(16, len(files))) as pool:  # one footer request per file
        footers = list(pool.map(lambda p: _footer(fs, p, uri), files))
    col = column or _vector_column(footers[0][1], uri)
    value_types = set()
    for path, schema, _ in footers:
        if col not in schema.names:
            raise InputError(f"has no column {col!r} (columns: {', '.join(schema.names)})", source=path)
        value_types.add(_vector_type(schema.field(col).type))
    if None in value_types or len(value_types) != 1:
        raise InputError(f"column {col!r} must be a list of numbers of one type in every file", source=uri)
    dtype = np.dtype(value_types.pop().to_pandas_dtype())
    check_numeric_dtype(dtype, uri)
    row_groups = [groups for _, _, groups in footers]
    dim = _dim(fs, footers, col, uri)
    return Side(uri, fs, "parquet", (sum(map(sum, row_groups)), dim), dtype, files, col, row_groups)


def _footer(fs: pafs.FileSystem, path: str, name: str) -> tuple[str, pa.Schema, list[int]]:
    with remote.open_input(fs, path, name) as f:
        try:
            meta = pq.ParquetFile(f).metadata
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"not a readable Parquet file ({exc})", source=path) from None
        return path, meta.schema.to_arrow_schema(), [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def _vector_column(schema: pa.Schema, name: str) -> str:
    found = [f.name for f in schema if _vector_type(f.type) is not None]
    if len(found) != 1:
        raise InputError(
            f"has {len(found)} list columns ({', '.join(found) or 'none'}); name the vector column", source=name
        )
    return found[0]


def _dim(fs: pafs.FileSystem, footers: list[tuple[str, pa.Schema, list[int]]], col: str, name: str) -> int:
    t = footers[0][1].field(col).type
    if pa.types.is_fixed_size_list(t):
        return int(t.list_size)
    for path, _, groups in footers:  # a plain list: the first vector's length
        if sum(groups):
            with remote.open_input(fs, path, name) as f:
                batch = next(pq.ParquetFile(f).iter_batches(batch_size=1, columns=[col]))
                return int(batch.column(0).value_lengths()[0].as_py())
    raise InputError("has no rows", source=name)


def plan_ranges(a: list[int] | None, b: list[int] | None, total: int, target: int) -> list[tuple[int, int]]:
    """Row ranges [start, stop) covering ``total`` rows, cut only where both sides may be cut.

    ``a`` and ``b`` are each side's row-group starts (None: anywhere). A range
    ends at the first boundary shared by both sides past ``target`` rows; when
    the sides' row groups never line up it ends at the first boundary of either
    past ``2 * target`` (a task then decodes part of a row group it does not
    score, at most once per edge).

    >>> plan_ranges([0, 3, 6], [0, 2, 4, 6], 6, 2)
    [(0, 4), (4, 6)]
    >>> plan_ranges([0, 2, 4, 6], [0, 4, 6], 6, 1)
    [(0, 4), (4, 6)]
    >>> plan_ranges([0, 2, 4, 6], None, 6, 3)
    [(0, 4), (4, 6)]
    """
    if a is None and b is None:
        return [(s, min(s + target, total)) for s in range(0, total, target)] or [(0, 0)]
    cuts = sorted(set(a or []) | set(b or []) | {total})
    common = set(cuts) if a is None or b is None else set(a) & set(b)
    common.add(total)
    ranges, start = [], 0
    for cut in cuts:
        n = cut - start
        if n > 0 and (cut == total or (cut in common and n >= target) or n >= 2 * target):
            ranges.append((start, cut))
            start = cut
    return ranges or [(0, 0)]
