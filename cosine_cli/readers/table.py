"""Table-backed inputs: a reader of record batches, and views that present one column as a Source.

A :class:`TableReader` (Parquet, CSV, Arrow IPC) yields record batches. Several
views can read the same table at once (a one-file pair's prediction and label
columns, its id and weight columns): every view registers the columns it
needs, the reader reads the file once, and hands each batch to every view.
The pipeline consumes the views in lockstep, so at most a batch or two is held.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from ..errors import InputError
from .arrow_convert import is_text, is_vector_type, to_matrix, vector_dtype
from .readahead import Readahead

__all__ = ["TableReader", "VectorView", "ScalarView", "IdView", "column_label"]


def column_label(columns: list[str], spec: str | None = None) -> str:
    """How errors and reports name a column choice: the name, the glob, or the first..last."""
    if spec is not None:
        return spec
    return columns[0] if len(columns) == 1 else f"{columns[0]}..{columns[-1]}"


class TableReader:
    """Record batches from a table file; subclasses provide ``_batches`` and the metadata."""

    format_name = "table"
    #: whether ``_batches`` reads only the columns asked for (else it reads them all)
    prunes = True
    num_rows: int | None = None
    row_groups: int | None = None
    #: where the table was opened from (readers.location.Location)
    location: Any = None
    #: only rows [start, stop) are read (a Dask task's range); None: all
    row_range: tuple[int, int] | None = None

    def __init__(self, name: str, schema: pa.Schema) -> None:
        self.name = name
        _check_names(schema, name)
        self.schema = schema
        self._columns: list[str] = []
        self._queues: list[deque[pa.RecordBatch]] = []
        self._it: Readahead[pa.RecordBatch] | None = None
        self._head: pa.RecordBatch | None = None  # the first batch, kept for non-pruning readers
        self._dispatched = 0  # batches read after the first
        #: a read-ahead thread still reads (a stalled pipe) after close()
        self.reading = False
        #: columns whose consumers want numbers (a reader of text, CSV, may parse them as such)
        self.number_columns: set[str] = set()

    # -- subclass interface ---------------------------------------------------------------------

    def _batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def _sample(self, columns: list[str]) -> pa.RecordBatch | None:
        """A few first rows of ``columns`` (to tell a text vector from a number), without
        disturbing the main read; None for an empty table."""
        head = self._first()
        return None if head is None else head.select(columns)

    def close(self) -> None:
        if self._it is not None and not self._it.close():
            self.reading = True  # its thread is stuck in a read: subclasses leave its stream open
        self._it = None

    def _start(self, columns: list[str]) -> Readahead[pa.RecordBatch]:
        # Batches are decoded on a thread of their own: two inputs decode in
        # parallel, and decoding overlaps the NumPy work (see readahead.py).
        return Readahead(iter(self._batches(columns)), name=f"cosloss-read-{self.format_name}")

    # -- shared reading -------------------------------------------------------------------------

    def _first(self) -> pa.RecordBatch | None:
        """The first batch (all columns), read once and handed to every view too."""
        if self._it is None:
            self._it = self._start(list(self.schema.names))
            self._head = self._pull()
            if self._head is not None:
                for q in self._queues:
                    q.append(self._head)
        return self._head

    def _pull(self) -> pa.RecordBatch | None:
        """The next batch, checked; a decoder's complaint becomes an InputError naming the file."""
        assert self._it is not None
        try:
            batch = next(self._it, None)
            if batch is not None:
                # Cheap (buffer sizes, not values): corrupt IPC/Parquet data can decode into
                # arrays whose buffers are shorter than their length says.
                batch.validate()
            return batch
        except InputError:
            raise
        except (pa.ArrowException, OSError, ValueError, UnicodeDecodeError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"cannot be read ({detail})", source=self.name) from None
        except MemoryError:  # a corrupt length field asks the reader for more than there is
            raise InputError(
                "cannot be read (a length in the data asks for more memory than this machine "
                "has; the file is probably corrupt)",
                source=self.name,
            ) from None

    def register(self, columns: list[str], *, as_numbers: bool = False) -> int:
        """A new consumer of ``columns``; returns its id for :meth:`next_batch`.

        ``as_numbers``: the consumer reads each column as one number a row."""
        if self._it is not None and (self.prunes or self._dispatched):
            raise RuntimeError("register every view before reading")
        known = set(self._columns)  # a set: a wide table has tens of thousands of columns
        for c in columns:
            if c not in known:
                known.add(c)
                self._columns.append(c)
        if as_numbers:
            self.number_columns.update(columns)
        self._queues.append(deque([self._head] if self._head is not None else []))
        return len(self._queues) - 1

    def next_batch(self, consumer: int, peek: bool = False) -> pa.RecordBatch | None:
        q = self._queues[consumer]
        if not q:
            if self._it is None:
                self._it = self._start(self._columns if self.prunes else list(self.schema.names))
            b = self._pull()
            if b is None:
                return None
            self._dispatched += 1
            for other in self._queues:
                other.append(b)
        return q[0] if peek else q.popleft()

    def sample(self, columns: list[str]) -> pa.RecordBatch | None:
        return self._sample(columns) if columns else None

    def boundaries(self) -> list[int] | None:
        """Rows where a task may start without decoding data twice; None: anywhere."""
        return None


def _check_names(schema: pa.Schema, name: str) -> None:
    """Column names must decode and be unique: pyarrow decodes them lazily (a UnicodeDecodeError
    far from here) and looks them up by name (a KeyError for a duplicate)."""
    try:
        names = list(schema.names)
    except UnicodeDecodeError:
        raise InputError("has a column name that is not valid UTF-8", source=name) from None
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise InputError(f"has two columns named {n!r}; column names must be unique", source=name)
        seen.add(n)


class _View:
    """Common part of the views: one consumer of a shared :class:`TableReader`."""

    def __init__(self, reader: TableReader, columns: list[str], label: str) -> None:
        self.reader = reader
        self.columns = columns
        self.column = label
        self.name = reader.name
        self.format_name = reader.format_name
        self._consumer = reader.register(columns, as_numbers=self._wants_numbers(reader, columns))
        self._offset = 0

    def _wants_numbers(self, reader: TableReader, columns: list[str]) -> bool:
        """Whether this view reads its columns as one number a row each."""
        return False

    def _batches(self) -> Iterator[tuple[int, list[pa.Array]]]:
        while True:
            b = self.reader.next_batch(self._consumer)
            if b is None:
                return
            offset = self._offset
            self._offset += b.num_rows
            # one select call: looking each column up by name is quadratic in a wide table
            yield offset, b.select(self.columns).columns

    def _relabel(self, exc: InputError) -> InputError:
        """The error with its row named as the reader counts rows (CSV: and the line)."""
        label = getattr(self.reader, "row_label", None)
        if label is None or not isinstance(exc.row, int):
            return exc
        return InputError(exc.detail, source=exc.source, row=label(exc.row), column=exc.column)

    def _located(self, it: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from it
        except InputError as exc:
            raise self._relabel(exc) from None

    def close(self) -> None:
        self.reader.close()


class VectorView(_View):
    """One vector column (or several scalar columns, one a dimension) as a :class:`Source`."""

    def _wants_numbers(self, reader: TableReader, columns: list[str]) -> bool:
        t = reader.schema.field(columns[0]).type
        return len(columns) > 1 or not (is_vector_type(t) or is_text(t))

    def __init__(self, reader: TableReader, columns: list[str], label: str, *, skip_nulls: bool = False) -> None:
        super().__init__(reader, columns, label)
        self.skip_nulls = skip_nulls
        types = [reader.schema.field(c).type for c in columns]
        if len(columns) > 1 or not (is_vector_type(types[0]) or is_text(types[0])):
            self._dim: int | None = len(columns)
        elif pa.types.is_fixed_size_list(types[0]):
            self._dim = types[0].list_size
        else:
            self._dim = None  # a list or text column: seen in the first vector
        self.dtype = np.result_type(*[vector_dtype(t) for t in types])
        if len(columns) == 1 and is_text(types[0]):
            self.dtype = np.dtype(np.float64)

    @property
    def dim(self) -> int:
        if self._dim is None:
            first = self.reader.next_batch(self._consumer, peek=True)
            if first is None or first.num_rows == 0:
                raise InputError("holds no vectors", source=self.name, column=self.column)
            try:
                m = to_matrix([first.column(self.columns[0])], source=self.name, column=self.column, skip_nulls=True)
            except InputError as exc:
                raise self._relabel(exc) from None
            self._dim = int(m.shape[1])
        return self._dim

    @property
    def shape(self) -> tuple[int | None, ...]:
        return (self.reader.num_rows, self.dim)

    def chunks(self, rows: int, axis: int = 0) -> Iterator[NDArray[np.generic]]:
        if axis != 0:
            raise InputError(
                "a table column holds one vector a row: --axis must be -1 (or 1)", source=self.name, column=self.column
            )
        dim = self.dim
        yield from self._located(
            to_matrix(
                cols,
                source=self.name,
                column=self.column,
                offset=offset,
                dim=dim,
                skip_nulls=self.skip_nulls,
                names=self.columns,
            )
            for offset, cols in self._batches()
        )


class ScalarView(_View):
    """One number a row (a weight column) as a 1-D float64 :class:`Source`."""

    dtype = np.dtype(np.float64)

    def _wants_numbers(self, reader: TableReader, columns: list[str]) -> bool:
        return True

    @property
    def shape(self) -> tuple[int | None, ...]:
        return (self.reader.num_rows,)

    def chunks(self, rows: int, axis: int = 0) -> Iterator[NDArray[np.generic]]:
        yield from self._located(self._weights())

    def _weights(self) -> Iterator[NDArray[np.generic]]:
        for offset, cols in self._batches():
            if is_vector_type(cols[0].type):
                raise InputError(
                    f"has type {cols[0].type}; expected one number a row", source=self.name, column=self.column
                )
            # The converter's wide path: numbers or numeric text, nulls refused with their row.
            m = to_matrix(cols, source=self.name, column=self.column, offset=offset, names=self.columns)
            yield m.reshape(-1).astype(np.float64, copy=False)


class IdView(_View):
    """An id column, chunk by chunk, as NumPy arrays (numbers, or objects for text)."""

    dtype = np.dtype(object)

    @property
    def shape(self) -> tuple[int | None, ...]:
        return (self.reader.num_rows,)

    def chunks(self, rows: int, axis: int = 0) -> Iterator[NDArray[Any]]:
        for _, (col,) in self._batches():
            yield col.to_numpy(zero_copy_only=False)

    def arrow_type(self) -> pa.DataType:
        return self.reader.schema.field(self.columns[0]).type
