"""Base64 text of little-endian float32 bytes (OpenAI's ``encoding_format="base64"``) as vectors.

Decoded with NumPy over a whole batch at once: every cell of a column of one dimension has
the same length, so the cells form a (rows, characters) byte matrix that a lookup table and
a few shifts turn into (rows, dim) float32 (no Python loop over rows, no bytes objects).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from ..errors import InputError

__all__ = ["decode_base64_float32"]

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_INVALID = 255
_LUT = np.full(256, _INVALID, dtype=np.uint8)
_LUT[np.frombuffer(_ALPHABET, dtype=np.uint8)] = np.arange(64, dtype=np.uint8)
_PAD = ord("=")


def _bytes_matrix(arr: pa.Array, valid: NDArray[np.bool_], source: str, column: str, offset: int) -> NDArray[np.uint8]:
    """The valid cells' characters as a (valid rows, length) uint8 matrix (all the same length)."""
    offsets = _offsets(arr)
    lengths = np.diff(offsets)[valid]
    rows = np.flatnonzero(valid)
    length = int(lengths[0])
    wrong = np.flatnonzero(lengths != length)
    if wrong.size:
        i = int(rows[wrong[0]])
        raise InputError(
            f"base64 embedding of {int(lengths[wrong[0]])} characters but earlier ones have {length}; "
            "every vector must have the same dimension",
            source=source,
            row=offset + i,
            column=column,
        )
    if length == 0 or length % 4:
        raise InputError(
            f"base64 embedding of {length} characters (not a positive multiple of 4)",
            source=source,
            row=offset + int(rows[0]),
            column=column,
        )
    buffer = arr.buffers()[2]
    data: NDArray[np.uint8] = np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.empty(0, np.uint8)
    starts = offsets[:-1][valid].astype(np.int64)
    if np.all(np.diff(starts) == length):  # contiguous (no nulls between): a view, no gather
        return data[int(starts[0]) : int(starts[0]) + length * len(starts)].reshape(len(starts), length)
    gathered: NDArray[np.uint8] = data[starts[:, None] + np.arange(length)]
    return gathered


def _offsets(arr: pa.Array) -> NDArray[np.int32]:
    """A string array's n + 1 offsets into its data buffer (a slice's own part of them)."""
    return np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]


def decode_base64_float32(arr: pa.Array, *, source: str, column: str, offset: int = 0) -> pa.Array:
    """A text column of base64 float32 vectors as ``list<float>`` (nulls stay null).

    ``offset`` is the row number of the batch's first row (for errors)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    n = len(arr)
    valid = ~np.asarray(arr.is_null()) if arr.null_count else np.ones(n, dtype=bool)
    if not valid.any():
        return pa.nulls(n, pa.list_(pa.float32()))
    chars = _bytes_matrix(arr, valid, source, column, offset)
    length = chars.shape[1]
    pad = int(chars[0, -1] == _PAD) + int(chars[0, -2] == _PAD)
    sextets = _LUT[chars]
    body = sextets[:, : length - pad]
    bad = (body == _INVALID).any(axis=1) | (chars[:, length - pad :] != _PAD).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(valid)[int(np.flatnonzero(bad)[0])])
        raise InputError("embedding is not valid base64 text", source=source, row=offset + i, column=column)
    sextets = np.where(sextets == _INVALID, 0, sextets).reshape(len(chars), length // 4, 4).astype(np.uint32)
    word = (sextets[..., 0] << 18) | (sextets[..., 1] << 12) | (sextets[..., 2] << 6) | sextets[..., 3]
    triples = np.stack([(word >> 16) & 0xFF, (word >> 8) & 0xFF, word & 0xFF], axis=-1).astype(np.uint8)
    nbytes = length // 4 * 3 - pad
    if nbytes % 4:
        raise InputError(
            f"base64 embedding of {nbytes} bytes, not a whole number of float32 values",
            source=source,
            row=offset + int(np.flatnonzero(valid)[0]),
            column=column,
        )
    dim = nbytes // 4
    vectors = np.ascontiguousarray(triples.reshape(len(chars), -1)[:, :nbytes]).view("<f4")
    values = np.zeros((n, dim), dtype=np.float32)  # null rows keep zeros behind their null bit
    values[valid] = vectors
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * dim, pa.int32())
    mask = None if valid.all() else pa.array(~valid)
    return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1)), mask=mask)
