"""The cosine core against the frameworks' measured behaviour.

Golden values are computed by hand from each framework's documented formula
(shared reference: semantics.md, sections 1 and 3) or quoted from its docs.
Rows used by the reference's near-zero cases: cos 3/sqrt(10), 1 and 0.28:
    a = s*[3, 1], b = s*[1, 0]     dot 3 s^2
    a = s*[3, 0], b = s*[3, 0]     dot 9 s^2
    a = s*[3, 4], b = s*[-3, 4]    dot 7 s^2
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cosine_cli.core import cosine_loss, cosine_rows, cosine_similarity, loss_from_cos

A = np.array([[3.0, 1.0], [3.0, 0.0], [3.0, 4.0]])
B = np.array([[1.0, 0.0], [3.0, 0.0], [-3.0, 4.0]])
EXACT = [3 / math.sqrt(10), 1.0, 0.28]
DOTS = np.array([3.0, 9.0, 7.0])


def floored(scale: float, floor: float) -> list[float]:
    """dot / (max(|a|, floor) * max(|b|, floor)) in exact arithmetic (Python floats)."""
    na = np.linalg.norm(A, axis=1) * scale
    nb = np.linalg.norm(B, axis=1) * scale
    return [float(d * scale * scale / (max(x, floor) * max(y, floor))) for d, x, y in zip(DOTS, na, nb, strict=True)]


def cos_of(scale: float, dtype: type, compat: str) -> np.ndarray:
    return cosine_rows((A * scale).astype(dtype), (B * scale).astype(dtype), compat).cos


def close(actual: np.ndarray, expected: list[float], dtype: type) -> None:
    tol = 1e-6 if dtype in (np.float32, np.float16) else 1e-12
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * 1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1.0, 1e-4])
@pytest.mark.parametrize("compat", ["keras", "keras3", "torch", "exact"])
def test_ordinary_vectors_agree_everywhere(dtype: type, scale: float, compat: str) -> None:
    close(cos_of(scale, dtype, compat), EXACT, dtype)


@pytest.mark.parametrize(
    ("compat", "scale", "dtype", "expected"),
    [
        # semantics.md section 3: tf_keras at 1e-7 gives 0.03, 0.09, 0.07
        ("keras", 1e-7, np.float32, [0.03, 0.09, 0.07]),
        ("keras", 1e-7, np.float64, [0.03, 0.09, 0.07]),
        # Keras 3 (TF backend) keeps 1e-7 exact but not 1e-8: 0.03, 0.09, 0.07
        ("keras3", 1e-7, np.float32, EXACT),
        ("keras3", 1e-8, np.float32, [0.03, 0.09, 0.07]),
        # torch eps=1e-8: exact at 1e-8, 0.03 ... at 1e-9 (float64)
        ("torch", 1e-8, np.float32, EXACT),
        ("torch", 1e-9, np.float64, [0.03, 0.09, 0.07]),
        # tf_keras at 1e-20 float32: 3e-28, 9e-28, 7e-28
        ("keras", 1e-20, np.float32, [3e-28, 9e-28, 7e-28]),
    ],
)
def test_epsilon_rules_match_the_frameworks(compat: str, scale: float, dtype: type, expected: list[float]) -> None:
    got = cos_of(scale, dtype, compat)
    # the inputs are representable: neither flushed to zero nor overflowed, within the dtype's rounding
    for exact in (A * scale, B * scale):
        np.testing.assert_allclose(exact.astype(dtype), exact, rtol=float(np.finfo(dtype).eps), atol=0)
    np.testing.assert_allclose(got, expected, rtol=2e-6 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize(
    ("scale", "dtype"),
    [(1e20, np.float32), (1e-20, np.float32), (1e200, np.float64), (1e-170, np.float64), (1e-300, np.float64)],
)
def test_exact_mode_survives_overflow_and_underflow(scale: float, dtype: type) -> None:
    # Keras, torch and sklearn return 0 (or NaN) here; DuckDB 2.0 and we get the true cosine.
    close(cos_of(scale, dtype, "exact"), EXACT, dtype)


@pytest.mark.parametrize(("scale", "dtype"), [(1e20, np.float32), (1e200, np.float64)])
@pytest.mark.parametrize("compat", ["keras", "keras3", "torch"])
def test_huge_norms_are_not_corrupted_by_overflow(scale: float, dtype: type, compat: str) -> None:
    # The epsilon rules only matter for small norms; a huge vector is normalised exactly.
    close(cos_of(scale, dtype, compat), EXACT, dtype)


def test_tiny_float64_keras_rule_is_the_formula() -> None:
    np.testing.assert_allclose(cos_of(1e-170, np.float64, "keras"), floored(1e-170, 1e-6), rtol=1e-9)


@pytest.mark.parametrize("compat", ["keras", "keras3", "torch", "exact"])
def test_zero_vectors_give_cos_zero(compat: str) -> None:
    a = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    b = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    r = cosine_rows(a, b, compat)
    assert r.cos.tolist() == [0.0, 0.0, 0.0]
    assert r.zero.tolist() == [True, True, True]
    loss = loss_from_cos(r.cos, "negative")
    assert all(math.copysign(1.0, x) == -1.0 for x in loss)  # -0.0, as Keras returns


@pytest.mark.parametrize("compat", ["keras", "exact"])
def test_zero_rows_beside_non_finite_huge_and_tiny_rows(compat: str) -> None:
    # The shortcut for all-zero rows must not hide the other side's NaN or inf,
    # nor a tiny row whose squares underflow to a zero sum.
    z = [0.0, 0.0]
    a = np.array([z, z, z, z, [1e-30, 1e-30]], dtype=np.float32)
    b = np.array([[np.nan, 1.0], [np.inf, 0.0], [1e30, 1e30], [-0.0, 0.0], [1e-30, 2e-30]], dtype=np.float32)
    r = cosine_rows(a, b, compat)
    assert np.isnan(r.cos[:2]).all()
    assert r.nonfinite_b.tolist() == [True, True, False, False, False]
    assert r.cos[2:4].tolist() == [0.0, 0.0] and r.zero.tolist() == [False, False, True, True, False]
    expected = 3 / np.sqrt(10) if compat == "exact" else 0.0  # keras floors the 1e-30 norms at 1e-6
    assert r.cos[4] == pytest.approx(expected, abs=1e-7)


def test_identical_and_opposite_are_exactly_one() -> None:
    a = np.array([[0.0, 2.0, 3.0], [1.0, 1.0, 1.0]], dtype=np.float32)
    # float32 Keras/torch give 1.0000001 here (tf-keras#400); we give exactly 1 and -1.
    assert cosine_rows(a, a).cos.tolist() == [1.0, 1.0]
    assert cosine_rows(a, -a).cos.tolist() == [-1.0, -1.0]


def test_nan_and_inf_rows_are_reported_per_side() -> None:
    a = np.array([[np.nan, 1.0], [1.0, 1.0], [1.0, 2.0]])
    b = np.array([[1.0, 1.0], [np.inf, 0.0], [2.0, 1.0]])
    r = cosine_rows(a, b)
    assert np.isnan(r.cos[:2]).all() and r.cos[2] == pytest.approx(0.8)
    assert r.nonfinite_a.tolist() == [True, False, False]
    assert r.nonfinite_b.tolist() == [False, True, False]


@pytest.mark.parametrize("dtype", [np.float16, np.int32, np.int64, np.dtype(">f4"), np.dtype(">f8")])
def test_other_dtypes_are_widened(dtype: np.dtype) -> None:
    np.testing.assert_allclose(cosine_rows(A.astype(dtype), B.astype(dtype)).cos, EXACT, rtol=1e-6)


def test_mixed_dtypes() -> None:
    np.testing.assert_allclose(cosine_rows(A.astype(np.float32), B).cos, EXACT, rtol=1e-7)


def test_one_dimensional_vectors() -> None:
    # dim 1: cos is the product of the signs; zero gives 0 (semantics.md `dim1_f32`)
    a = np.array([[2.0], [3.0], [0.0]], dtype=np.float32)
    b = np.array([[5.0], [-1.0], [4.0]], dtype=np.float32)
    assert cosine_rows(a, b).cos.tolist() == [1.0, -1.0, 0.0]


def test_axis_and_nd_shapes() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4))
    y = rng.standard_normal((2, 3, 4))
    expect = (x * y).sum(-1) / np.linalg.norm(x, axis=-1) / np.linalg.norm(y, axis=-1)
    np.testing.assert_allclose(cosine_similarity(x, y), expect, rtol=1e-12)
    np.testing.assert_allclose(
        cosine_similarity(x, y, axis=1),
        (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1),
        rtol=1e-12,
    )
    assert cosine_similarity(x, y).shape == (2, 3)


def test_loss_kinds() -> None:
    cos = np.array([1.0, 0.0, -1.0, 0.5])
    assert loss_from_cos(cos, "negative").tolist() == [-1.0, -0.0, 1.0, -0.5]
    assert loss_from_cos(cos, "distance").tolist() == [0.0, 1.0, 2.0, 0.5]
    assert loss_from_cos(cos, "squared").tolist() == [0.0, 1.0, 4.0, 0.25]
    with pytest.raises(ValueError, match="unknown loss"):
        loss_from_cos(cos, "cosh")


def test_keras_docstring_example_unreduced() -> None:
    # tf.keras.losses.CosineSimilarity docs: y_true [[0,1],[1,1]], y_pred [[1,0],[1,1]] -> [-0., -0.999]
    loss = cosine_loss([[1.0, 0.0], [1.0, 1.0]], [[0.0, 1.0], [1.0, 1.0]])
    assert loss.tolist() == [-0.0, -1.0]


def test_random_against_float64_reference_high_dim() -> None:
    rng = np.random.default_rng(7)
    for d in (384, 768, 4096):
        a = rng.standard_normal((50, d)).astype(np.float32)
        b = (a + 0.01 * rng.standard_normal((50, d))).astype(np.float32)
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        ref = (a64 * b64).sum(1) / np.sqrt((a64 * a64).sum(1) * (b64 * b64).sum(1))
        np.testing.assert_allclose(cosine_rows(a, b).cos, ref, atol=1e-6)
        np.testing.assert_allclose(cosine_rows(a64, b64).cos, ref, atol=1e-12)


def test_signalling_nan_beside_a_zero_row_raises_no_warning() -> None:
    # Fuzzed Arrow data: a signalling NaN compared with 0 sets the invalid flag (the suite turns
    # warnings into errors); the row is non-finite, the zero row beside it still gives 0.
    snan = np.array([0x7FA00000], dtype=np.uint32).view(np.float32)[0]
    a = np.array([[snan, 1.0], [0.0, 0.0]], dtype=np.float32)
    b = np.array([[0.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    r = cosine_rows(a, b)
    assert np.isnan(r.cos[0]) and r.cos[1] == 0.0
    assert r.nonfinite_a.tolist() == [True, False] and r.zero.tolist() == [False, True]
