"""The one converter from an Arrow vector column to a 2-D NumPy array.

Every Arrow-backed reader (Parquet, CSV, IPC) hands its batches to
:func:`to_matrix`, so a ``fixed_size_list``, a ``list``, a ``large_list``, a
set of scalar columns or a column of vectors written as text all become the
same (rows, dim) array, with the same checks and the same error messages.

Where Arrow's memory already is a dense (rows, dim) block (a
``fixed_size_list``, or a ``list`` whose rows all have the same length, with no
nulls) the result is a zero-copy view of the child values buffer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..errors import InputError

__all__ = ["is_text", "is_vector_type", "is_scalar_number", "vector_dtype", "to_matrix", "strings_to_floats"]

#: A float as text: what ``cast(string -> double)`` accepts (used only to find the bad cell).
_FLOAT_TEXT = r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|(?i:inf|infinity|nan))$"


def is_text(t: pa.DataType) -> bool:
    """A text column (plain, large, view, or dictionary-encoded)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    is_view = getattr(pa.types, "is_string_view", lambda _: False)
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or is_view(t))


def is_scalar_number(t: pa.DataType) -> bool:
    return bool(pa.types.is_floating(t) or pa.types.is_integer(t))


def is_vector_type(t: pa.DataType) -> bool:
    """A list-like column of numbers: one vector a row."""
    if pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
        return is_scalar_number(t.value_type)
    return False


def vector_dtype(t: pa.DataType) -> np.dtype[np.generic]:
    """The NumPy dtype vectors of Arrow type ``t`` convert to (integers and text become float64)."""
    inner = t.value_type if is_vector_type(t) else t
    if pa.types.is_floating(inner):
        found: np.dtype[np.generic] = np.dtype(inner.to_pandas_dtype())
        return found
    return np.dtype(np.float64)


def _plain(arr: pa.Array) -> pa.Array:
    """Dictionary-encoded and string-view columns as plain ones (text vectors often arrive so)."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if is_text(arr.type) and not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    return arr


def _first_null(mask: NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def _null_mask(arr: pa.Array) -> NDArray[np.bool_]:
    if arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    return np.asarray(arr.is_null())


def _numbers(values: pa.Array) -> NDArray[np.generic]:
    """A flat numeric Arrow array as NumPy: zero-copy for floats without nulls;
    integers become float64, nulls NaN."""
    if pa.types.is_integer(values.type):
        # safe=False: integers beyond 2**53 round to the nearest float64, as NumPy's astype
        # does for the same values in a .npy file (a safe cast refuses them)
        values = values.cast(pa.float64(), safe=False)
    out: NDArray[np.generic] = values.to_numpy(zero_copy_only=False)
    return out


def _fixed_size(arr: pa.FixedSizeListArray) -> NDArray[np.generic]:
    d = arr.type.list_size
    # .values is the whole child array: take this array's slice of it (flatten() would
    # drop the slots of null vectors and break the reshape).
    flat = _numbers(_child_slice(arr))
    if flat.shape[0] != len(arr) * d:
        raise InputError(f"corrupt vector column: {flat.shape[0]} values for {len(arr)} vectors of {d}")
    return flat.reshape(len(arr), d)


def _child_slice(arr: pa.FixedSizeListArray) -> pa.Array:
    d = arr.type.list_size
    return arr.values.slice(arr.offset * d, len(arr) * d)


def _variable(arr: pa.Array, valid: NDArray[np.bool_], ctx: _Context) -> NDArray[np.generic]:
    offsets = np.asarray(arr.offsets)
    lengths = np.diff(offsets)
    n = len(arr)
    if not valid.any():
        return np.full((n, max(ctx.dim or 1, 1)), np.nan)
    d = ctx.dim if ctx.dim is not None else int(lengths[_first_null(valid)])
    wrong = valid & (lengths != d)
    if wrong.any():
        i = _first_null(wrong)
        raise InputError(
            f"vector of length {int(lengths[i])} but earlier vectors have length {d}; "
            "every vector must have the same dimension",
            source=ctx.source,
            row=ctx.offset + i,
            column=ctx.column,
        )
    values = arr.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    flat = _numbers(values)
    if valid.all():
        return flat.reshape(n, d)
    # Null rows may own any number of values: gather the valid rows by their offsets.
    out = np.full((n, d), np.nan, dtype=np.result_type(flat.dtype, np.float16))
    starts = offsets[:-1][valid] - offsets[0]
    out[valid] = flat[starts[:, None] + np.arange(d)]
    return out


def strings_to_floats(strings: pa.Array, ctx: _Context, what: str) -> pa.Array:
    """Text cells as float64 (nulls stay null); the first cell that is not a number is an error."""
    trimmed = pc.utf8_trim_whitespace(strings)
    try:
        return trimmed.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        bad = ~np.asarray(pc.fill_null(pc.match_substring_regex(trimmed, _FLOAT_TEXT), True))
        i = _first_null(bad)
        raise InputError(
            f"{what} {trimmed[i].as_py()!r} is not a number", source=ctx.source, row=ctx.offset + i, column=ctx.column
        ) from None


def _text_vectors(arr: pa.Array, ctx: _Context) -> pa.Array:
    """``"[0.1, -0.2]"`` (JSON style) or ``"0.1 -0.2"`` (NumPy repr) per cell, as list<double>."""
    inner = pc.utf8_trim_whitespace(pc.replace_substring_regex(arr, r"[\[\]]", " "))
    parts = pc.split_pattern_regex(inner, r"[,\s]+")
    try:
        return parts.cast(pa.list_(pa.float64()))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        flat = parts.flatten()
        bad = ~np.asarray(pc.fill_null(pc.match_substring_regex(flat, _FLOAT_TEXT), True))
        j = _first_null(bad)
        offsets = np.asarray(parts.offsets) - parts.offsets[0].as_py()
        i = int(np.searchsorted(offsets, j, side="right") - 1)
        # NumPy's repr (pandas to_csv of array cells) summarises arrays of over 1000 values.
        summarised = "..." in (arr[i].as_py() or "")
        hint = " (NumPy summarised the array when it was written: set np.set_printoptions(threshold=sys.maxsize) first)"
        raise InputError(
            f"text {arr[i].as_py()!r} is not a vector of numbers{hint if summarised else ''}",
            source=ctx.source,
            row=ctx.offset + i,
            column=ctx.column,
        ) from None


class _Context:
    """Where a batch sits, for error messages, and the dimension seen so far."""

    def __init__(self, source: str, column: str, offset: int, dim: int | None, skip_nulls: bool) -> None:
        self.source, self.column, self.offset, self.dim, self.skip_nulls = source, column, offset, dim, skip_nulls


def _check_elements(
    m: NDArray[np.generic], row_null: NDArray[np.bool_], src: NDArray[np.bool_] | None, ctx: _Context
) -> NDArray[np.generic]:
    """Null vectors and null elements: an error, or NaN rows under --nan-policy skip."""
    bad = row_null if src is None else (row_null | src)
    if not bad.any():
        return m
    i = _first_null(bad)
    if not ctx.skip_nulls:
        what = "null vector" if row_null[i] else "null element in the vector"
        raise InputError(
            f"{what} (use --nan-policy skip to leave such vectors out)",
            source=ctx.source,
            row=ctx.offset + i,
            column=ctx.column,
        )
    if not np.issubdtype(m.dtype, np.floating):
        m = m.astype(np.float64)
    elif not m.flags.writeable:
        m = m.copy()
    m[bad] = np.nan
    return m


def to_matrix(
    columns: Sequence[pa.Array | pa.ChunkedArray],
    *,
    source: str,
    column: str,
    offset: int = 0,
    dim: int | None = None,
    skip_nulls: bool = False,
    names: Sequence[str] | None = None,
) -> NDArray[np.generic]:
    """One batch of a vector column (or of several scalar columns, one a dimension) as (rows, dim).

    ``offset`` is the row number of the batch's first row and ``dim`` the
    dimension seen in earlier batches (both for error messages). A null vector
    or a null element is an InputError naming the row, or, with
    ``skip_nulls``, a row of NaN that the pipeline leaves out. ``names`` are
    the scalar columns' own names, for errors in one of them.
    """
    if len(columns) > 1 and (dense := _dense_wide(columns)) is not None:
        return dense
    arrays = [_plain(c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c) for c in columns]
    ctx = _Context(source, column, offset, dim, skip_nulls)
    if len(arrays) > 1 or is_scalar_number(arrays[0].type):
        return _wide(arrays, ctx, names)
    arr = arrays[0]
    if is_text(arr.type):
        arr = _text_vectors(arr, ctx)
    if not is_vector_type(arr.type):
        raise InputError(
            f"has type {arr.type}; expected a list of numbers, text vectors or number columns",
            source=source,
            column=column,
        )
    row_null = _null_mask(arr)
    if pa.types.is_fixed_size_list(arr.type):
        m = _fixed_size(arr)
        if dim is not None and m.shape[1] != dim:
            raise InputError(
                f"vectors of dimension {m.shape[1]}, earlier ones {dim}", source=source, row=offset, column=column
            )
        child = _child_slice(arr)
        elem_null: NDArray[np.bool_] | None = (
            None if child.null_count == 0 else np.asarray(np.asarray(child.is_null()).reshape(m.shape).any(axis=1))
        )
        return _check_elements(m, row_null, elem_null, ctx)
    m = _variable(arr, ~row_null, ctx)
    elem_null = (_has_null_elements(arr) & ~row_null) if arr.values.null_count else None
    return _check_elements(m, row_null, elem_null, ctx)


def _dense_wide(columns: Sequence[pa.Array | pa.ChunkedArray]) -> NDArray[np.generic] | None:
    """Number columns of one float type without nulls, as (rows, dim) in one C++ call (a wide
    CSV of 384 columns spends most of its time in per-column Python otherwise); None when the
    columns need the general path (text, mixed types, nulls: it also explains errors)."""
    t = columns[0].type
    if not pa.types.is_floating(t) or any(
        isinstance(c, pa.ChunkedArray) or c.type != t or c.null_count for c in columns
    ):
        return None
    batch = pa.RecordBatch.from_arrays(list(columns), names=[str(j) for j in range(len(columns))])
    return np.asarray(batch.to_tensor(row_major=True))


def _has_null_elements(arr: pa.Array) -> NDArray[np.bool_]:
    """Per row: does a list hold a null element (vectorised over the offsets)."""
    offsets = np.asarray(arr.offsets)
    nulls = np.asarray(arr.values.is_null()).astype(np.int64)
    csum = np.concatenate([[0], np.cumsum(nulls)])
    has: NDArray[np.bool_] = (csum[offsets[1:]] - csum[offsets[:-1]]) > 0
    return has


def _wide(arrays: list[pa.Array], ctx: _Context, names: Sequence[str] | None) -> NDArray[np.generic]:
    """Scalar columns, one a dimension (text cells are parsed as numbers)."""
    parts = []
    for j, a in enumerate(arrays):
        cell = _Context(ctx.source, names[j] if names else ctx.column, ctx.offset, ctx.dim, ctx.skip_nulls)
        if is_text(a.type):
            a = strings_to_floats(a, cell, "cell")
        elif not is_scalar_number(a.type):
            raise InputError(f"has type {a.type}; expected numbers", source=ctx.source, column=cell.column)
        parts.append(a)
    null_cols = [j for j, a in enumerate(parts) if a.null_count]
    if null_cols and not ctx.skip_nulls:
        masks = np.stack([_null_mask(parts[j]) for j in null_cols], axis=1)
        i = _first_null(np.asarray(masks.any(axis=1)))
        k = null_cols[int(np.argmax(masks[i]))]
        raise InputError(
            "empty or null cell (use --nan-policy skip to leave such vectors out)",
            source=ctx.source,
            row=ctx.offset + i,
            column=names[k] if names else ctx.column,
        )
    dtype = np.result_type(*[vector_dtype(a.type) for a in parts])
    n = len(parts[0])
    m = np.empty((n, len(parts)), dtype=dtype)
    null = np.zeros(n, dtype=bool)
    for j, a in enumerate(parts):  # a loop over columns (dimensions), never rows
        m[:, j] = _numbers(a)
        if a.null_count:
            null |= _null_mask(a)
    return _check_elements(m, np.zeros(n, dtype=bool), null if null.any() else None, ctx)
