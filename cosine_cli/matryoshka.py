"""Cosine of the same pairs at several truncation dims (Matryoshka embeddings), in one pass.

The cosine of the first ``d`` components needs only prefix sums of p.l, p.p and l.l along the vector
axis. For dims d1 < d2 < ... <= D, :func:`matryoshka_rows` takes the three sums on each segment
[d_{k-1}, d_k) once (in the input's precision, as ``core.cosine_rows`` does), cumulates them
in float64 and turns each prefix into a cosine with ``core.cos_from_sums``: the cost is one
cosine over D components plus O(rows) per dim.

Rows whose prefix sums cannot be trusted (a zero vector, overflow, underflow, NaN) are recomputed
with ``core.cosine_rows`` on the truncated slice, so every compat mode and every special case is
exactly the one a separate run at that dim gives.

NumPy only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from .core import RowCosine, cos_from_sums, cosine_rows, working_pair
from .errors import UsageProblem

__all__ = ["check_dims", "matryoshka_rows", "parse_dims"]

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


def matryoshka_rows(
    a: NDArray[np.generic], b: NDArray[np.generic], dims: Iterable[int], compat: str = "keras"
) -> dict[int, RowCosine]:
    """``{d: core.cosine_rows(a[:, :d], b[:, :d], compat)}`` for every d in ``dims``, in one pass over a and b.

    ``a`` and ``b`` are (n, D) row vectors; a dim above D is a UsageProblem. Values agree with
    separate ``cosine_rows`` calls to rounding (1e-12 in float64; the float32 segment sums are
    cumulated in float64, so a float32 cosine may differ by ~1e-7 from one float32 BLAS sum over d).

    Examples
    --------
    >>> out = matryoshka_rows(np.array([[1., 0., 1., 0.]]), np.array([[1., 1., 0., 0.]]), [1, 2, 4])
    >>> {d: round(float(r.cos[0]), 6) for d, r in out.items()}
    {1: 1.0, 2: 0.707107, 4: 0.5}
    """
    a, b = working_pair(a, b)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"expected two (n, d) arrays of one shape, got {a.shape} and {b.shape}")
    n, full = a.shape
    todo = check_dims(dims, full)
    out: dict[int, RowCosine] = {}
    for d, (dot, na2, nb2) in _prefix_sums(a, b, todo).items():
        cos, bad = cos_from_sums(dot, na2, nb2, a.dtype, compat)
        zero = np.zeros(n, dtype=bool)
        nonfinite_a = np.zeros(n, dtype=bool)
        nonfinite_b = np.zeros(n, dtype=bool)
        if bad.any():
            idx = np.flatnonzero(bad)
            fix = cosine_rows(a[idx, :d], b[idx, :d], compat)
            cos[idx], zero[idx], nonfinite_a[idx], nonfinite_b[idx] = fix
        out[d] = RowCosine(cos, zero, nonfinite_a, nonfinite_b)
    return out


#: Blocks at least this wide are summed as one (n, k, w) view; narrower common divisors of the dims
#: (e.g. 100,250) are summed segment by segment instead (many tiny blocks are slow).
_MIN_BLOCK = 32


def _dot_last(x: NDArray[np.floating], y: NDArray[np.floating]) -> NDArray[np.floating]:
    """Sum of x*y over the last axis, in the arrays' precision, without an (n, d) temporary."""
    # einsum's sum-of-products loop is SIMD and about 3.5x faster than np.vecdot (NumPy 2.4) on
    # (n, k, 64) float32 blocks; a BLAS dot per short row would pay a call per row
    out: NDArray[np.floating] = np.einsum("...i,...i->...", x, y)
    return out


def _prefix_sums(
    a: NDArray[np.floating], b: NDArray[np.floating], dims: tuple[int, ...]
) -> dict[int, tuple[FloatArray, FloatArray, FloatArray]]:
    """Per-row float64 (p.l, p.p, l.l) over [0, d) for each d: segment sums in the input's precision,
    cumulated in float64."""
    n = a.shape[0]
    width = math.gcd(*dims)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        if width >= _MIN_BLOCK:
            k = dims[-1] // width
            # a view, not a copy: rows keep their stride, blocks of `width` are contiguous
            xa = a[:, : dims[-1]].reshape(n, k, width)
            xb = b[:, : dims[-1]].reshape(n, k, width)
            cum = [np.cumsum(_dot_last(u, v), axis=1, dtype=np.float64) for u, v in ((xa, xb), (xa, xa), (xb, xb))]
            return {d: (cum[0][:, d // width - 1], cum[1][:, d // width - 1], cum[2][:, d // width - 1]) for d in dims}
        sums = [np.zeros(n), np.zeros(n), np.zeros(n)]
        out = {}
        lo = 0
        for d in dims:
            sa, sb = a[:, lo:d], b[:, lo:d]
            for acc, (u, v) in zip(sums, ((sa, sb), (sa, sa), (sb, sb)), strict=True):
                acc += _dot_last(u, v)
            out[d] = (sums[0].copy(), sums[1].copy(), sums[2].copy())
            lo = d
        return out
