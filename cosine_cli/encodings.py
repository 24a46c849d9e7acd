"""Decode quantised embeddings back to floats: a Source wrapper, vectorised.

The encodings are those sentence-transformers' ``quantize_embeddings`` writes
(UKPLab/sentence-transformers; ``sentence_transformers/quantization.py`` at 85ec645,
``sentence_transformers/util/quantization.py`` in 6.2.0):

* ``uint8``: ``q = floor((x - min) / step)`` clipped to 0..255, ``step = (max - min) / 255``,
  ``ranges = [min, max]`` a (2, dim) array, one column a dimension (older releases:
  ``((x - min) / step).astype(np.uint8)``, the same for in-range values);
* ``int8``: the same minus 128 (older releases truncated ``(x - min) / step - 128``
  toward zero, so negative codes round up there);
* ``ubinary``: ``np.packbits(x > 0)`` a row; ``binary``: the same bytes minus 128, as int8;

plus ``bfloat16`` stored as raw 16-bit integers (the high half of a float32).

Decoding rule (the documented choice): an integer code is mapped back by the exact
inverse of the quantising formula, ``x = min + (q [+ 128]) * step``, the bin's
*start*, computed in float64. The bin centre would sit closer to the source on average
(on the fixtures: loss -0.999984 against -0.999941 for the start, the source itself
-1), but the reference "the float64 reference loss" names is the cosine, in float64, of
the decoded vectors against the float source, and the one decoded vector anyone can
recompute from the issue's formula alone is its literal inverse.
Binary codes decode to +1 for a set bit and -1 for a clear one (the sign the bit
recorded), trimmed to ``dim`` when the width is not a multiple of 8.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import InputError, UsageProblem
from .readers.base import Source

__all__ = ["ENCODINGS", "DecodedSource", "bfloat16_to_float32", "decode", "load_ranges"]

ENCODINGS: tuple[str, ...] = ("int8", "uint8", "binary", "ubinary", "bfloat16")

#: the stored integer dtype each encoding expects (a wider integer array is accepted if its values fit)
_STORED: dict[str, np.dtype[Any]] = {
    "int8": np.dtype(np.int8),
    "uint8": np.dtype(np.uint8),
    "binary": np.dtype(np.int8),
    "ubinary": np.dtype(np.uint8),
    "bfloat16": np.dtype(np.uint16),
}


def bfloat16_to_float32(bits: NDArray[Any], out: NDArray[np.uint32] | None = None) -> NDArray[np.float32]:
    """bfloat16 values stored as 16-bit integers, as float32 (exact: bfloat16 is float32's top half)."""
    if out is None:
        out = np.empty(bits.shape, dtype=np.uint32)
    np.copyto(out, bits.view(np.uint16), casting="safe")
    out <<= 16
    return out.view(np.float32)


def load_ranges(path: str) -> NDArray[np.float64]:
    """A ``--ranges`` file: a (2, dim) array of per-dimension minimum and maximum (.npy, or a
    .safetensors / .npz holding one array); never unpickled."""
    from .readers import is_table, open_input

    opened = open_input(path)
    src: Any = opened.reader
    if is_table(src):
        src.close()
        raise UsageProblem(
            f"--ranges {path}: expected an array file (.npy, or a one-array .npz / .safetensors), "
            f"not {opened.format.name}"
        )
    try:
        shape = src.shape
        if len(shape) != 2 or shape[0] != 2:
            raise InputError(
                f"--ranges must be a (2, dim) array of minimum and maximum, not shape {shape}", source=path
            )
        # a copy of each chunk: a source may hand out a reused buffer or a view of a memory map
        ranges = np.concatenate([np.array(c, dtype=np.float64) for c in src.chunks(2)], axis=0)
    finally:
        src.close()
    if not np.isfinite(ranges).all():
        raise InputError("--ranges holds a NaN or an infinity", source=path)
    if (ranges[1] < ranges[0]).any():
        d = int(np.argmax(ranges[1] < ranges[0]))
        raise InputError(f"--ranges: maximum below minimum in dimension {d}", source=path)
    return ranges


def decode(
    codes: NDArray[Any],
    encoding: str,
    ranges: NDArray[np.float64] | None = None,
    dim: int | None = None,
    name: str = "<codes>",
) -> NDArray[np.floating[Any]]:
    """One chunk of codes (vectors along the last axis) as floats."""
    if encoding == "bfloat16":
        return bfloat16_to_float32(codes)
    if encoding in ("int8", "uint8"):
        assert ranges is not None
        starts = ranges[0]
        steps = (ranges[1] - ranges[0]) / 255
        q = codes.astype(np.float64)
        if encoding == "int8":
            q += 128.0
        decoded: NDArray[np.float64] = q * steps + starts  # float64: the exact inverse, as a reference computes it
        return decoded
    # binary / ubinary: bits, most significant first (np.packbits' default order)
    packed = codes.astype(np.uint8) if encoding == "ubinary" else (codes.astype(np.int16) + 128).astype(np.uint8)
    bits = np.unpackbits(packed, axis=-1, count=dim)
    out: NDArray[np.float32] = bits.astype(np.float32)
    out *= 2.0
    out -= 1.0
    return out


class DecodedSource:
    """``inner``'s codes decoded to floats, with the same Source interface.

    ``ranges`` ((2, dim) min and max) is required for int8 / uint8; ``dim`` trims the
    unpacked bits of binary / ubinary (default: 8 per stored byte). Vectors lie along
    the last axis; chunks run along axis 0.
    """

    def __init__(
        self, inner: Source, encoding: str, ranges: NDArray[Any] | None = None, dim: int | None = None
    ) -> None:
        if encoding not in ENCODINGS:
            raise UsageProblem(f"unknown encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")
        self.inner = inner
        self.encoding = encoding
        self.name = inner.name
        shape = inner.shape
        if len(shape) < 1:
            raise InputError(f"a {encoding} encoding needs an array of vectors, not a scalar", source=self.name)
        stored = shape[-1]
        assert stored is not None
        self._check_stored_dtype(inner.dtype)
        self.ranges: NDArray[np.float64] | None = None
        if encoding in ("int8", "uint8"):
            if ranges is None:
                raise UsageProblem(
                    f"the {encoding} encoding needs --ranges FILE (a (2, dim) array of each dimension's "
                    "minimum and maximum, the ranges the embeddings were quantised with)"
                )
            r = np.asarray(ranges, dtype=np.float64)
            if r.shape != (2, stored):
                raise UsageProblem(f"--ranges has shape {r.shape}; {self.name} needs (2, {stored})")
            self.ranges = r
        elif ranges is not None:
            raise UsageProblem(f"--ranges applies to int8 and uint8 encodings, not {encoding}")
        if encoding in ("binary", "ubinary"):
            if dim is None:
                dim = 8 * stored
            if not 8 * stored - 7 <= dim <= 8 * stored:
                raise UsageProblem(
                    f"--dim {dim} does not fit {stored} packed bytes a vector (expected {8 * stored - 7}..{8 * stored})"
                )
            self.dim: int = dim
        elif dim is not None and dim != stored:
            raise UsageProblem(f"--dim {dim}: {self.name} holds {stored} values a vector ({encoding} is not packed)")
        else:
            self.dim = stored
        self.dtype: np.dtype[np.generic] = np.dtype(np.float32)

    def _check_stored_dtype(self, dtype: np.dtype[Any]) -> None:
        want = _STORED[self.encoding]
        if dtype == want:
            return
        # A raw bfloat16 array is often saved as int16; a packed one as the other 8-bit type.
        if dtype.kind in "iu" and dtype.itemsize == want.itemsize:
            return
        raise InputError(f"holds {dtype} values; the {self.encoding} encoding expects {want} codes", source=self.name)

    @property
    def shape(self) -> tuple[int | None, ...]:
        return (*self.inner.shape[:-1], self.dim)

    def chunks(self, rows: int, axis: int = 0) -> Iterator[NDArray[np.generic]]:
        if axis != 0 and len(self.inner.shape) > 1:
            raise InputError(
                f"{self.encoding} codes hold one vector along the last axis: --axis must be -1", source=self.name
            )
        for chunk in self.inner.chunks(rows, axis):
            codes = chunk
            if self.encoding != "bfloat16" and codes.dtype != _STORED[self.encoding]:
                codes = codes.view(_STORED[self.encoding])
            yield decode(codes, self.encoding, self.ranges, self.dim, self.name)

    def close(self) -> None:
        self.inner.close()
