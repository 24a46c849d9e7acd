"""Per-vector losses that take a target per pair: CosineEmbeddingLoss and the MSE of CosineSimilarityLoss.

* ``embedding``: ``torch.nn.CosineEmbeddingLoss``. The target is +1 (the pair should be similar:
  loss ``1 - cos``) or -1 (dissimilar: loss ``max(0, cos - margin)``). Any other target, NaN
  included, is refused with the row named: torch silently gives such a row a loss of 0.
* ``mse``: sentence-transformers ``CosineSimilarityLoss`` with its default ``MSELoss``:
  ``(cos - target)**2`` against a gold similarity score.

Both take the cosines from the caller (``core.cosine_rows`` for every compat mode), except that
``--compat torch`` with ``embedding`` must use :func:`embedding_cos_torch`: CosineEmbeddingLoss
computes its own cosine with an additive epsilon, unlike ``F.cosine_similarity``'s floor.

The reductions are the accumulator's: torch's ``mean`` is ``sum_over_batch_size``
(``output.sum() / numel`` in older torch, ``output.mean()`` now), ``sum`` and ``none`` map by name.

NumPy only.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .core import RowCosine, row_dot, working_pair
from .errors import InputError, UsageProblem

__all__ = [
    "TARGET_LOSSES",
    "TORCH_CEL_EPSILON",
    "check_sign_targets",
    "embedding_cos_torch",
    "embedding_loss",
    "mse_loss",
]

#: The loss names that need a target per vector (``--loss NAME``).
TARGET_LOSSES: Final[tuple[str, ...]] = ("embedding", "mse")

#: The epsilon CosineEmbeddingLoss adds to each squared norm. pytorch
#: aten/src/ATen/native/Loss.cpp (cosine_embedding_loss) declares it ``constexpr float EPSILON =
#: 1e-12`` and computes, per row along the vector dim::
#:
#:     prod_sum    = (input1 * input2).sum(dim)
#:     mag_square1 = (input1 * input1).sum(dim) + EPSILON
#:     mag_square2 = (input2 * input2).sum(dim) + EPSILON
#:     denom       = (mag_square1 * mag_square2).sqrt_()
#:     cos         = prod_sum / denom
#:
#: The constant is a C++ float, so a float64 tensor gets float(1e-12) widened to double,
#: 9.999999960041972e-13, not the double 1e-12 (torch releases before ~1.0 had
#: ``#define EPSILON 1e-12``, a double). Checked against torch 2.13 in the tests.
TORCH_CEL_EPSILON: Final[float] = float(np.float32(1e-12))

FloatArray = NDArray[np.float64]


def _numeric_targets(target: ArrayLike, n: int, source: str | None) -> FloatArray:
    t = np.asarray(target)
    if t.dtype.kind not in "iuf":
        # bool would pass True as 1 silently; strings are a wrong column
        raise InputError(f"targets must be numbers, not {t.dtype}", source=source)
    t = t.astype(np.float64, copy=False).reshape(-1)
    if t.shape[0] != n:
        raise InputError(f"has {t.shape[0]} targets for {n} vectors", source=source)
    return t


def check_sign_targets(target: ArrayLike, n: int, *, offset: int = 0, source: str | None = None) -> FloatArray:
    """The targets as float64, if every one is exactly +1 or -1; else an InputError naming the first row."""
    t = _numeric_targets(target, n, source)
    ok = (t == 1.0) | (t == -1.0)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise InputError(
            f"target {float(t[i])!r} is not 1 or -1 "
            "(--loss embedding takes 1 for a similar pair, -1 for a dissimilar one)",
            source=source,
            row=offset + i,
        )
    return t


def embedding_loss(
    cos: FloatArray,
    target: ArrayLike,
    margin: float = 0.0,
    *,
    offset: int = 0,
    source: str | None = None,
) -> FloatArray:
    """CosineEmbeddingLoss per vector: ``1 - cos`` where the target is 1, ``max(0, cos - margin)`` where it is -1.

    ``offset`` is the row number of the first vector (error messages name ``offset + i``); a NaN
    cosine gives a NaN loss on either side, as torch's ``clamp_min`` does.

    Examples
    --------
    >>> embedding_loss(np.array([0.5, 0.5, 0.1]), [1, -1, -1], margin=0.25).tolist()
    [0.5, 0.25, 0.0]
    """
    if not math.isfinite(margin):
        raise UsageProblem(f"--margin must be a finite number, not {margin!r}")
    c = np.asarray(cos, dtype=np.float64)
    t = check_sign_targets(target, c.shape[0], offset=offset, source=source)
    with np.errstate(invalid="ignore"):
        return np.where(t == 1.0, 1.0 - c, np.maximum(c - margin, 0.0))


def mse_loss(cos: FloatArray, target: ArrayLike, *, offset: int = 0, source: str | None = None) -> FloatArray:
    """``(cos - target)**2`` per vector (CosineSimilarityLoss's default MSE); a NaN or inf target is an InputError.

    Examples
    --------
    >>> mse_loss(np.array([0.5, 1.0]), [1.0, 0.0]).tolist()
    [0.25, 1.0]
    """
    c = np.asarray(cos, dtype=np.float64)
    t = _numeric_targets(target, c.shape[0], source)
    bad = ~np.isfinite(t)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"target {float(t[i])!r} is not a finite number (--loss mse)", source=source, row=offset + i)
    return np.square(c - t)


def _power_of_two_scaled(x: NDArray[np.floating]) -> tuple[FloatArray, NDArray[np.int64], NDArray[np.bool_]]:
    """Rows divided exactly by a power of two near their max-abs, the exponents, and the non-finite rows."""
    x64 = x.astype(np.float64)
    maxabs = np.max(np.abs(x64), axis=1)
    nonfinite = ~np.isfinite(maxabs)
    _, e = np.frexp(np.where(nonfinite, 1.0, maxabs))
    return np.ldexp(x64, -e[:, None]), e.astype(np.int64), nonfinite


def embedding_cos_torch(a: NDArray[np.generic], b: NDArray[np.generic]) -> RowCosine:
    """The cosine CosineEmbeddingLoss uses: ``dot / sqrt((|a|^2 + eps) * (|b|^2 + eps))``, eps = TORCH_CEL_EPSILON.

    The sums are taken as ``core.cosine_rows`` takes them (BLAS in the input's precision, then
    float64), in torch's order of operations. Rows whose sums overflow or underflow are recomputed
    after an exact power-of-two rescaling (where torch in float32 would return 0 or NaN); a zero
    vector gives 0 (0 / sqrt(eps * ...)), a row holding NaN or inf gives NaN, as in torch. The result
    is clipped to [-1, 1] like every cosine here (torch does not clip; that moves a value by at most
    one rounding, 2.2e-16).

    Examples
    --------
    >>> r = embedding_cos_torch(np.array([[3., 4.], [0., 0.]]), np.array([[3., 4.], [1., 0.]]))
    >>> r.cos.round(12).tolist(), r.zero.tolist()
    ([1.0, 0.0], [False, True])
    """
    a, b = working_pair(a, b)
    eps = TORCH_CEL_EPSILON
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        dot = row_dot(a, b).astype(np.float64)
        na2 = row_dot(a, a).astype(np.float64)
        nb2 = row_dot(b, b).astype(np.float64)
        cos = dot / np.sqrt((na2 + eps) * (nb2 + eps))
    info = np.finfo(a.dtype)
    small = float(info.tiny) / float(info.eps)
    bad = ~((na2 >= small) & (nb2 >= small) & np.isfinite(cos))
    n = cos.shape[0]
    zero = np.zeros(n, dtype=bool)
    nonfinite_a = np.zeros(n, dtype=bool)
    nonfinite_b = np.zeros(n, dtype=bool)
    if bad.any():
        idx = np.flatnonzero(bad)
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            a_s, ea, bad_a = _power_of_two_scaled(a[idx])
            b_s, eb, bad_b = _power_of_two_scaled(b[idx])
            sa2 = row_dot(a_s, a_s)
            sb2 = row_dot(b_s, b_s)
            # (|a|^2 + eps) = 4**ea * (|a_s|^2 + eps * 4**-ea); the powers of two cancel against
            # dot = 2**(ea+eb) * dot_s. ldexp saturates to inf for tiny rows: cos 0, the limit.
            den = np.sqrt(sa2 + np.ldexp(eps, -2 * ea)) * np.sqrt(sb2 + np.ldexp(eps, -2 * eb))
            fixed = row_dot(a_s, b_s) / den
        fixed[bad_a | bad_b] = np.nan
        cos[idx] = fixed
        zero[idx] = ((sa2 == 0) | (sb2 == 0)) & ~(bad_a | bad_b)
        nonfinite_a[idx], nonfinite_b[idx] = bad_a, bad_b
    np.clip(cos, -1.0, 1.0, out=cos)
    return RowCosine(cos, zero, nonfinite_a, nonfinite_b)
