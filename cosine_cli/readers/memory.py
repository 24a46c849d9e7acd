"""In-memory objects as inputs of the library API, streamed like files.

* Anything that speaks the Arrow PyCapsule protocol (``__arrow_c_stream__`` or
  ``__arrow_c_array__``): pyarrow Tables, RecordBatchReaders, RecordBatches and ChunkedArrays,
  polars DataFrames and Series (``Array`` or ``List`` columns), pandas DataFrames, DuckDB
  relations. Tables go through the table path batch by batch, with the same column options as
  files; a single array (a Series, a ChunkedArray) is a table of one column.
* pandas Series of arrays, and torch tensors (CPU or not, ``requires_grad``, bfloat16), become
  NumPy arrays. torch is never imported: a tensor is known by its type's module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import InputError
from .base import ArraySource
from .table import TableReader

__all__ = ["is_arrow_object", "is_table_object", "open_object", "to_numpy"]


def is_arrow_object(x: Any) -> bool:
    return hasattr(x, "__arrow_c_stream__") or hasattr(x, "__arrow_c_array__")


def _module(x: Any) -> str:
    return type(x).__module__ or ""


def _is_pandas_series(x: Any) -> bool:
    return _module(x).startswith("pandas") and type(x).__name__ == "Series"


def _is_torch_tensor(x: Any) -> bool:
    return _module(x).startswith("torch") and hasattr(x, "detach")


def is_table_object(x: Any) -> bool:
    """An in-memory object read through the table path (columns chosen as in a file)."""
    return is_arrow_object(x) and not isinstance(x, np.ndarray) and not _is_pandas_series(x)


def to_numpy(x: Any) -> Any:
    """A torch tensor or a pandas Series of arrays as a NumPy array; anything else unchanged."""
    if _is_torch_tensor(x):
        t = x.detach()
        if str(getattr(t, "device", "cpu")) != "cpu":
            t = t.cpu()
        if str(t.dtype) in ("torch.bfloat16", "torch.float16"):
            t = t.float()  # NumPy has no bfloat16; float16 is widened as the core widens it anyway
        return t.numpy()
    if _is_pandas_series(x):
        values = x.to_numpy()
        if values.dtype == object:
            try:
                return np.stack([np.asarray(v) for v in values])
            except ValueError as exc:
                raise InputError(f"a Series of vectors of different lengths ({exc})", source=str(x.name)) from None
        return values
    return x


class ArrowObjectReader(TableReader):
    """An Arrow stream or array in memory, read once front to back (views share the read)."""

    format_name = "arrow-object"
    prunes = False

    def __init__(self, obj: Any, name: str) -> None:
        self._reader = _as_reader(obj, name)
        super().__init__(name, self._reader.schema)
        self.num_rows = getattr(obj, "num_rows", None) if isinstance(obj, (pa.Table, pa.RecordBatch)) else None

    def _batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        yield from self._reader


def _as_reader(obj: Any, name: str) -> pa.RecordBatchReader:
    try:
        if isinstance(obj, pa.Table):
            return obj.to_reader()
        if isinstance(obj, pa.RecordBatch):
            return pa.RecordBatchReader.from_batches(obj.schema, [obj])
        if isinstance(obj, pa.RecordBatchReader):
            return obj
        if hasattr(obj, "__arrow_c_stream__"):
            try:
                return pa.RecordBatchReader.from_stream(obj)
            except (TypeError, pa.ArrowInvalid):  # a stream of plain arrays (a Series): one column
                chunked = pa.chunked_array(obj)
                return pa.table({_column_name(obj, name): chunked}).to_reader()
        array = pa.array(obj)
        if pa.types.is_struct(array.type):
            batch = pa.RecordBatch.from_struct_array(array)
            return pa.RecordBatchReader.from_batches(batch.schema, [batch])
        return pa.table({_column_name(obj, name): array}).to_reader()
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InputError(f"cannot be read as Arrow data ({exc})", source=name) from None


def _column_name(obj: Any, name: str) -> str:
    found = getattr(obj, "name", None)
    return found if isinstance(found, str) and found else name


def open_object(obj: Any, name: str) -> Any:
    """A TableReader for an Arrow object, else an ArraySource for anything NumPy can hold."""
    if hasattr(obj, "chunks") and hasattr(obj, "shape") and hasattr(obj, "name"):
        return obj  # already a Source
    if is_table_object(obj):
        return ArrowObjectReader(obj, name)
    return ArraySource(np.asarray(to_numpy(obj)), name)
