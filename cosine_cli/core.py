"""The vectorised cosine core: NumPy only, no I/O, no Python loop over rows.

Every function here takes whole chunks of vectors and returns one value per
vector. Per-vector values are float64; the dot products and squared norms are
taken in the input's own precision through BLAS (``matmul`` on stacked row
vectors is both faster and more accurate than ``einsum`` here: BLAS keeps
several partial sums), and rows whose sums overflow or underflow that
precision are recomputed after an exact power-of-two rescaling, so the result
stays right where the frameworks return 0 or NaN.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple, cast

import numpy as np
from numpy.typing import NDArray

from .losses import LOSS_REGISTRY, loss_names

__all__ = [
    "COMPAT_EPSILON",
    "LOSSES",
    "RowCosine",
    "cos_from_sums",
    "cosine_rows",
    "cosine_similarity",
    "cosine_loss",
    "loss_from_cos",
    "row_dot",
    "pair_dtype",
    "squared_norms",
    "working_pair",
]

#: The norm below which each rule stops scaling a vector to unit length.
#: keras:  tf.math.l2_normalize, x * rsqrt(max(sum x^2, 1e-12)), i.e. ||x|| floored at 1e-6
#: keras3: keras.ops.normalize, x * min(rsqrt(sum x^2), 1/1e-7), i.e. ||x|| floored at 1e-7
#: torch:  F.cosine_similarity(eps=1e-8), each norm floored at 1e-8
#: exact:  no floor; a zero vector still gives cos 0
COMPAT_EPSILON: Final[dict[str, float]] = {
    "keras": float(np.sqrt(1e-12)),
    "keras3": 1e-7,
    "torch": 1e-8,
    "exact": 0.0,
}

LOSSES: Final[tuple[str, ...]] = loss_names()  # the registry, cosine_cli.losses

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


class RowCosine(NamedTuple):
    """Per-row results of :func:`cosine_rows`."""

    cos: FloatArray  #: clipped to [-1, 1]; 0 for a zero vector; NaN for a non-finite row
    zero: BoolArray  #: either row is a zero vector
    nonfinite_a: BoolArray  #: the row of ``a`` holds NaN or inf
    nonfinite_b: BoolArray  #: the row of ``b`` holds NaN or inf


def _working_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype :func:`_working` turns an array of ``dtype`` into."""
    if dtype == np.float32 or dtype == np.float64:
        return np.dtype(dtype).newbyteorder("=")
    return np.dtype(np.float32) if dtype == np.float16 else np.dtype(np.float64)


def _working(x: NDArray[np.generic]) -> NDArray[np.floating]:
    """The array in a precision BLAS handles: float16 and integers are widened."""
    dtype = _working_dtype(x.dtype)
    out: NDArray[Any] = x if x.dtype == dtype else x.astype(dtype)
    return cast(NDArray[np.floating], out)


def _row_dot(a: NDArray[np.floating], b: NDArray[np.floating]) -> NDArray[np.floating]:
    # (n,1,d) @ (n,d,1): one BLAS dot per row, no (n,d) temporary.
    out: NDArray[np.floating] = np.matmul(a[:, None, :], b[:, :, None])[:, 0, 0]
    return out


def _scaled_rows(x: NDArray[np.floating]) -> tuple[FloatArray, NDArray[np.int64], BoolArray]:
    """Rows divided by a power of two near their max-abs (exact), the exponents,
    and which rows are not finite."""
    x64 = x.astype(np.float64)
    maxabs = np.max(np.abs(x64), axis=1)
    nonfinite = ~np.isfinite(maxabs)
    _, exponent = np.frexp(np.where(nonfinite, 1.0, maxabs))
    return np.ldexp(x64, -exponent[:, None]), exponent.astype(np.int64), nonfinite


def _divide(dot: FloatArray, den_a: FloatArray, den_b: FloatArray) -> FloatArray:
    """dot / (den_a * den_b) with 0 where a denominator is 0 (a zero vector in exact mode)."""
    den = den_a * den_b
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.where(den > 0, dot / np.where(den > 0, den, 1.0), 0.0)
    # NaN in dot or den must survive the where above (NaN > 0 is False).
    nan = np.isnan(dot) | np.isnan(den)
    if nan.any():
        cos[nan] = np.nan
    return cos


def _cosine_rescaled(a: NDArray[np.floating], b: NDArray[np.floating], eps: float) -> RowCosine:
    """Cosine of rows whose plain sums were not trustworthy (overflow, underflow, zero, NaN)."""
    with np.errstate(all="ignore"):
        return _cosine_rescaled_quiet(a, b, eps)


def _cosine_rescaled_quiet(a: NDArray[np.floating], b: NDArray[np.floating], eps: float) -> RowCosine:
    a_s, ea, bad_a = _scaled_rows(a)
    b_s, eb, bad_b = _scaled_rows(b)
    dot = _row_dot(a_s, b_s)
    na = np.sqrt(_row_dot(a_s, a_s))
    nb = np.sqrt(_row_dot(b_s, b_s))
    # The floor eps on the true norm is eps * 2**-e on the scaled one; ldexp
    # saturates to inf or 0, which is the right limit either way.
    den_a = np.maximum(na, np.ldexp(eps, -ea)) if eps else na
    den_b = np.maximum(nb, np.ldexp(eps, -eb)) if eps else nb
    zero = (na == 0) | (nb == 0)
    cos = _divide(dot.astype(np.float64, copy=False), den_a, den_b)
    cos[bad_a | bad_b] = np.nan
    return RowCosine(cos, zero & ~(bad_a | bad_b), bad_a, bad_b)


def cosine_rows(
    a: NDArray[Any], b: NDArray[Any], compat: str = "keras", *, b_sq: FloatArray | None = None
) -> RowCosine:
    """Cosine similarity of each row pair of two (n, d) arrays.

    Parameters
    ----------
    a, b : array of shape (n, d)
        Any real dtype; float16 and integers are widened.
    compat : {"keras", "keras3", "torch", "exact"}
        The normalisation rule (see ``COMPAT_EPSILON``).
    b_sq : array of shape (n,), optional
        ``squared_norms(b)``, when the caller already has it: several candidates scored against
        one reference take the reference's norms once (the same numbers, to the bit).

    Returns
    -------
    RowCosine
        ``cos`` (float64, clipped to [-1, 1], 0 where either row is a zero
        vector, NaN where a row holds NaN or inf), the ``zero`` mask and the
        per-side ``nonfinite_a`` / ``nonfinite_b`` masks.

    Examples
    --------
    >>> r = cosine_rows(np.array([[0., 1.], [1., 1.]]), np.array([[1., 0.], [1., 1.]]))
    >>> r.cos.tolist(), r.zero.tolist()
    ([0.0, 1.0], [False, False])
    """
    eps = COMPAT_EPSILON[compat]
    a, b = working_pair(a, b)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        dot = _row_dot(a, b).astype(np.float64)
        na2 = _row_dot(a, a).astype(np.float64)
        nb2 = _row_dot(b, b).astype(np.float64) if b_sq is None else b_sq
        # One square root of the product rounds once (identical vectors give
        # exactly 1); flooring the squared norm at eps^2 is Keras 2's own rule.
        eps2 = eps * eps
        prod = np.maximum(na2, eps2) * np.maximum(nb2, eps2)
        cos = dot / np.sqrt(prod)
    # Sums below ``small`` may have lost digits to subnormal squares; sums that
    # are inf or NaN overflowed or met a non-finite element; a product outside
    # the normal range under- or overflowed. Those rows, and zero rows, take the
    # exact rescaled path; everything else is done.
    info = np.finfo(a.dtype)
    small = float(info.tiny) / float(info.eps)
    bad = ~(
        (na2 >= small)
        & (nb2 >= small)
        & np.isfinite(dot)
        & (prod >= np.finfo(np.float64).tiny)
        & (prod <= np.finfo(np.float64).max)
    )
    zero = np.zeros(cos.shape, dtype=bool)
    nonfinite_a = np.zeros(cos.shape, dtype=bool)
    nonfinite_b = np.zeros(cos.shape, dtype=bool)
    if bad.any():
        idx = np.flatnonzero(bad)
        # All-zero rows (padding, sparse files) are the common "bad" row and
        # need no rescaling: cos 0, provided the other side is finite and its
        # squared norm did not overflow (else the rescaled path decides).
        ab, bb = a[idx], b[idx]
        with np.errstate(invalid="ignore"):  # a signalling NaN compared with 0 raises the flag
            trivial = (~ab.any(axis=1) & np.isfinite(nb2[idx])) | (~bb.any(axis=1) & np.isfinite(na2[idx]))
        if trivial.any():
            cos[idx[trivial]] = 0.0
            zero[idx[trivial]] = True
            keep = ~trivial
            idx, ab, bb = idx[keep], ab[keep], bb[keep]
        if idx.size:
            fix = _cosine_rescaled(ab, bb, eps)
            cos[idx], zero[idx], nonfinite_a[idx], nonfinite_b[idx] = fix
    # Rounding can push |cos| a hair above 1 (tf-keras#400); NaN passes through.
    np.clip(cos, -1.0, 1.0, out=cos)
    return RowCosine(cos, zero, nonfinite_a, nonfinite_b)


def pair_dtype(a: NDArray[Any], b: NDArray[Any]) -> np.dtype[Any]:
    """The precision :func:`cosine_rows` takes the sums of ``a`` and ``b`` in."""
    da, db = _working_dtype(a.dtype), _working_dtype(b.dtype)
    return da if da == db else np.dtype(np.float64)


def squared_norms(b: NDArray[Any], dtype: np.dtype[Any]) -> FloatArray:
    """The per-row squared norms of ``b`` as :func:`cosine_rows` takes them in ``dtype`` (its
    ``b_sq``): several candidates scored against one reference take its norms once a chunk."""
    wb = _working(b).astype(dtype, copy=False)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        out: FloatArray = _row_dot(wb, wb).astype(np.float64)
    return out


# -- building blocks for callers that take the per-row sums themselves (matryoshka.py) -----------


def working_pair(a: NDArray[np.generic], b: NDArray[np.generic]) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """``a`` and ``b`` in the one precision :func:`cosine_rows` computes their sums in."""
    dtype = pair_dtype(a, b)
    return _working(a).astype(dtype, copy=False), _working(b).astype(dtype, copy=False)


def row_dot(a: NDArray[np.floating], b: NDArray[np.floating]) -> NDArray[np.floating]:
    """One dot product per row pair, in the arrays' precision (as :func:`cosine_rows` takes them)."""
    return _row_dot(a, b)


def cos_from_sums(
    dot: FloatArray, na2: FloatArray, nb2: FloatArray, dtype: np.dtype[np.floating], compat: str = "keras"
) -> tuple[FloatArray, BoolArray]:
    """Cosine from per-row float64 sums (p.l, p.p, l.l) taken in ``dtype``, by :func:`cosine_rows`' rule.

    Returns the cosines (clipped to [-1, 1]) and the rows whose sums cannot be trusted (zero,
    overflowed, underflowed or non-finite rows): :func:`cosine_rows` recomputes those from the
    vectors, and so must the caller (their ``cos`` here is meaningless). The formula and the test
    are the ones in :func:`cosine_rows`, kept in step with it by tests/test_evaluations_core.py.
    """
    eps2 = COMPAT_EPSILON[compat] ** 2
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        prod = np.maximum(na2, eps2) * np.maximum(nb2, eps2)
        cos = dot / np.sqrt(prod)
    info = np.finfo(dtype)
    small = float(info.tiny) / float(info.eps)
    bad = ~(
        (na2 >= small)
        & (nb2 >= small)
        & np.isfinite(dot)
        & (prod >= np.finfo(np.float64).tiny)
        & (prod <= np.finfo(np.float64).max)
    )
    np.clip(cos, -1.0, 1.0, out=cos)
    return cos, bad


def _as_rows(x: NDArray[np.generic], axis: int) -> tuple[NDArray[np.generic], tuple[int, ...]]:
    moved = np.moveaxis(x, axis, -1)
    return moved.reshape(-1, moved.shape[-1]), moved.shape[:-1]


def cosine_similarity(
    pred: NDArray[np.generic] | list[object],
    label: NDArray[np.generic] | list[object],
    *,
    axis: int = -1,
    compat: str = "keras",
) -> FloatArray:
    """Per-vector cosine similarity along ``axis`` (one value per vector).

    Examples
    --------
    >>> cosine_similarity([[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]]).tolist()
    [0.0, 1.0]
    """
    p = np.asarray(pred)
    t = np.asarray(label)
    if p.shape != t.shape:
        raise ValueError(f"shapes differ: pred {p.shape}, label {t.shape}")
    rows_p, lead = _as_rows(p, axis)
    rows_t, _ = _as_rows(t, axis)
    return cosine_rows(rows_p, rows_t, compat).cos.reshape(lead)


def loss_from_cos(cos: FloatArray, kind: str = "negative") -> FloatArray:
    """Turn cosine similarities into losses by the registry's rule (-cos, 1 - cos, (1 - cos)^2, ...)."""
    loss = LOSS_REGISTRY.get(kind)
    if loss is None:
        raise ValueError(f"unknown loss {kind!r}; expected one of {', '.join(LOSSES)}")
    if loss.needs:
        raise ValueError(f"loss {kind!r} needs the per-row columns {', '.join(loss.needs)}")
    return loss.per_row(cos, {})


def cosine_loss(
    pred: NDArray[np.generic] | list[object],
    label: NDArray[np.generic] | list[object],
    *,
    axis: int = -1,
    compat: str = "keras",
    loss: str = "negative",
) -> FloatArray:
    """Per-vector cosine loss, unreduced (Keras ``reduction="none"`` without weights).

    Examples
    --------
    >>> cosine_loss([[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]]).round(6).tolist()
    [-0.0, -1.0]
    """
    return loss_from_cos(cosine_similarity(pred, label, axis=axis, compat=compat), loss)
