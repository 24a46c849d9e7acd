"""Cosine of the same pairs at several truncation dims (Matryoshka embeddings), in one pass.

The cosine of the first ``d`` components needs only prefix sums of p.l, p.p and l.l along the vector
axis. For dims d1 < d2 < ... <= D, :func:`matryoshka_cos` takes the three sums on each segment
[d_{k-1}, d_k) once (in the input's precision, as ``core.cosine_rows`` does), cumulates them
in float64 and turns each prefix into a cosine with ``core.cos_from_sums``: the cost is one
cosine over the first max(dims) components plus O(rows) per dim.

Rows whose prefix sums cannot be trusted (a zero vector, overflow, underflow, NaN) are recomputed
with ``core.cosine_rows`` on the truncated slice, so every compat mode and every special case is
exactly the one a separate run at that dim gives.

NumPy only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from .core import BoolArray, RowCosine, cos_from_sums, cosine_rows, working_pair
from .errors import UsageProblem

__all__ = ["MatryoshkaRows", "PrefixBuffer", "check_dims", "matryoshka_cos", "matryoshka_rows", "parse_dims"]

FloatArray = NDArray[np.float64]


def parse_dims(text: str) -> tuple[int, ...]:
    """``"64,128,256"`` -> (64, 128, 256): whole numbers of at least 1, sorted, each once.

    Examples
    --------
    >>> parse_dims("256, 64,128")
    (64, 128, 256)
    """
    dims = []
    for part in text.split(","):
        part = part.strip()
        try:
            dims.append(int(part))
        except ValueError:
            raise UsageProblem(f"--dims {text!r}: {part!r} is not a whole number (expected e.g. 64,128,256)") from None
    return check_dims(dims)


def check_dims(dims: Iterable[int], dim: int | None = None) -> tuple[int, ...]:
    """The dims sorted and unique; each at least 1 and (when the vectors' ``dim`` is known) at most ``dim``."""
    out = sorted(set(int(d) for d in dims))
    if not out:
        raise UsageProblem("--dims needs at least one dimension (e.g. 64,128,256)")
    if out[0] < 1:
        raise UsageProblem(f"--dims {out[0]}: a dimension must be at least 1")
    if dim is not None and out[-1] > dim:
        raise UsageProblem(f"--dims {out[-1]} is larger than the vectors' dimension {dim}")
    return tuple(out)


class MatryoshkaRows(NamedTuple):
    """Per-dim results of :func:`matryoshka_cos`: each field is a (len(dims), n) array whose row j is
    what :func:`core.cosine_rows` gives at the j-th dim (sorted)."""

    cos: FloatArray
    zero: BoolArray
    nonfinite_a: BoolArray
    nonfinite_b: BoolArray


class PrefixBuffer:
    """Scratch memory for the first components of a chunk's rows, reused from chunk to chunk.

    The segment sums run over contiguous copies of the prefixes, not over the strided rows of the
    input: on a memory-mapped ``.npy`` (4 KiB pages, rows of 3 KiB of which 1 KiB is read) the
    three einsum passes over the map cost about a third more than one copy plus the same passes
    over the copy (docs/performance.md, third round). The buffer is at least 8 MiB, so NumPy backs
    it with huge pages. One buffer per Evaluations (a pool range has its own), grown when a chunk
    needs more.
    """

    MIN_BYTES = 8 << 20

    def __init__(self) -> None:
        self._buf: NDArray[np.generic] | None = None

    def copy(
        self, a: NDArray[np.floating], b: NDArray[np.floating]
    ) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
        """C-contiguous copies of ``a`` and ``b`` (one shape and dtype), valid until the next call."""
        need = 2 * a.size
        buf = self._buf
        if buf is None or buf.dtype != a.dtype or buf.size < need:
            buf = self._buf = np.empty(max(need, self.MIN_BYTES // a.itemsize), dtype=a.dtype)
        pair: NDArray[np.floating] = buf[:need].reshape(2, *a.shape)  # type: ignore[assignment]
        np.copyto(pair[0], a)
        np.copyto(pair[1], b)
        return pair[0], pair[1]

    def release(self) -> None:
        """Let the memory go (an Evaluations is done with its chunks, or is sent back by a Dask task)."""
        self._buf = None


def matryoshka_cos(
    a: NDArray[np.generic],
    b: NDArray[np.generic],
    dims: Iterable[int],
    compat: str = "keras",
    *,
    scratch: PrefixBuffer | None = None,
) -> MatryoshkaRows:
    """``core.cosine_rows(a[:, :d], b[:, :d], compat)`` for every d in ``dims`` (sorted), in one pass
    over a and b, as (len(dims), n) arrays.

    ``a`` and ``b`` are (n, D) row vectors; a dim above D is a UsageProblem. Values agree with
    separate ``cosine_rows`` calls to rounding (1e-12 in float64; the float32 segment sums are
    cumulated in float64, so a float32 cosine may differ by ~1e-7 from one float32 BLAS sum over d).
    Every dim is turned into cosines by one ``cos_from_sums`` call on the stacked sums: the per-call
    cost of a dozen NumPy operations is paid once a chunk, not once a dim. With ``scratch``, the
    sums are taken over its contiguous copies of the first max(dims) components (same bits).
    """
    a, b = working_pair(a, b)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"expected two (n, d) arrays of one shape, got {a.shape} and {b.shape}")
    n, full = a.shape
    todo = check_dims(dims, full)
    if scratch is not None:
        head_a, head_b = scratch.copy(a[:, : todo[-1]], b[:, : todo[-1]])
        sums = _prefix_sums(head_a, head_b, todo)
    else:
        sums = _prefix_sums(a, b, todo)
    cos, bad = cos_from_sums(sums[0], sums[1], sums[2], a.dtype, compat)
    flags = np.zeros((3, len(todo), n), dtype=bool)
    if bad.any():
        for j, d in enumerate(todo):
            idx = np.flatnonzero(bad[j])
            if idx.size:
                fix = cosine_rows(a[idx, :d], b[idx, :d], compat)
                cos[j, idx], flags[0, j, idx], flags[1, j, idx], flags[2, j, idx] = fix
    return MatryoshkaRows(cos, flags[0], flags[1], flags[2])


def matryoshka_rows(
    a: NDArray[np.generic], b: NDArray[np.generic], dims: Iterable[int], compat: str = "keras"
) -> dict[int, RowCosine]:
    """``{d: core.cosine_rows(a[:, :d], b[:, :d], compat)}`` for every d in ``dims``: :func:`matryoshka_cos`
    by dim.

    Examples
    --------
    >>> out = matryoshka_rows(np.array([[1., 0., 1., 0.]]), np.array([[1., 1., 0., 0.]]), [1, 2, 4])
    >>> {d: round(float(r.cos[0]), 6) for d, r in out.items()}
    {1: 1.0, 2: 0.707107, 4: 0.5}
    """
    todo = check_dims(dims)
    r = matryoshka_cos(a, b, todo, compat)
    return {d: RowCosine(r.cos[j], r.zero[j], r.nonfinite_a[j], r.nonfinite_b[j]) for j, d in enumerate(todo)}


#: Blocks at least this wide are summed as one (n, k, w) view; narrower common divisors of the dims
#: (e.g. 100,250) are summed segment by segment instead (many tiny blocks are slow).
_MIN_BLOCK = 32


def _prefix_sums(a: NDArray[np.floating], b: NDArray[np.floating], dims: tuple[int, ...]) -> FloatArray:
    """Per-row (p.l, p.p, l.l) over [0, d) for each d, as a (3, len(dims), n) float64 array: sums over
    segments in the input's precision, cumulated in float64 in segment order."""
    n = a.shape[0]
    width = math.gcd(*dims)
    if width >= _MIN_BLOCK:
        bounds = list(range(0, dims[-1] + 1, width))
    else:
        bounds = [0, *dims]
    k = len(bounds) - 1
    seg = np.empty((3, k, n), dtype=a.dtype)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        if width >= _MIN_BLOCK:
            # a view, not a copy: rows keep their stride, blocks of `width` are contiguous; the
            # sums land in (k, n) rows so the float64 cumulation below runs along n
            xa = a[:, : dims[-1]].reshape(n, k, width)
            xb = b[:, : dims[-1]].reshape(n, k, width)
            for dest, (u, v) in zip(seg, ((xa, xb), (xa, xa), (xb, xb)), strict=True):
                _dot_last(u, v, dest.T)
        else:
            for j in range(k):
                sa, sb = a[:, bounds[j] : bounds[j + 1]], b[:, bounds[j] : bounds[j + 1]]
                for p, (u, v) in enumerate(((sa, sb), (sa, sa), (sb, sb))):
                    _dot_last(u, v, seg[p, j])
        # cumulate along the segments in float64, in segment order, then keep the dims' columns
        cum = seg.astype(np.float64, copy=False)
        for j in range(1, k):
            np.add(cum[:, j - 1], cum[:, j], out=cum[:, j])
        ends = {end: j for j, end in enumerate(bounds[1:])}
        out: FloatArray = cum[:, [ends[d] for d in dims]]
    return out


def _dot_last(x: NDArray[np.floating], y: NDArray[np.floating], out: NDArray[np.floating]) -> None:
    """Sum of x*y over the last axis into ``out``, in the arrays' precision, without an (n, d) temporary."""
    # einsum's sum-of-products loop is SIMD and about 3.5x faster than np.vecdot (NumPy 2.4) on
    # (n, k, 64) float32 blocks; a BLAS dot per short row would pay a call per row
    np.einsum("...i,...i->...", x, y, out=out)
