"""Property tests (hypothesis) of the core and the streaming pipeline.

Includes scikit-learn's sample-weight invariances (check_sample_weight_invariance):
no weights equals all ones; integer weights equal repeated rows; zero weights equal
removed rows; scaling every weight changes nothing, for the weight-normalised reductions.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cosine_cli import cosine_rows, score, score_chunks

SETTINGS = settings(max_examples=60, deadline=None)

# Zero, or magnitudes that a scaling by 1e-30 or 1e30 cannot push out of float64's range.
finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False, width=64).filter(
    lambda x: x == 0 or abs(x) > 1e-200
)


@st.composite
def pairs(draw: st.DrawFn, max_rows: int = 40, max_dim: int = 12) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, max_rows))
    d = draw(st.integers(1, max_dim))
    a = draw(arrays(np.float64, (n, d), elements=finite))
    b = draw(arrays(np.float64, (n, d), elements=finite))
    return a, b


def reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact-ish cosine by long double-free rescaling, zero vectors giving 0."""
    sa = np.abs(a).max(1, keepdims=True)
    sb = np.abs(b).max(1, keepdims=True)
    a2 = np.divide(a, sa, out=np.zeros_like(a), where=sa > 0)
    b2 = np.divide(b, sb, out=np.zeros_like(b), where=sb > 0)
    den = np.linalg.norm(a2, axis=1) * np.linalg.norm(b2, axis=1)
    return np.divide((a2 * b2).sum(1), den, out=np.zeros(len(a)), where=den > 0).clip(-1, 1)


@SETTINGS
@given(pairs(), st.sampled_from(["keras", "keras3", "torch", "exact"]))
def test_cos_is_bounded_and_symmetric(pair: tuple[np.ndarray, np.ndarray], compat: str) -> None:
    a, b = pair
    ab = cosine_rows(a, b, compat).cos
    assert np.all((ab >= -1) & (ab <= 1))
    np.testing.assert_allclose(ab, cosine_rows(b, a, compat).cos, rtol=1e-12, atol=1e-15)


@SETTINGS
@given(pairs(), st.sampled_from([1e30, 1e-30, 3.0, 0.01]))
def test_positive_scaling_changes_nothing_in_exact_mode(pair: tuple[np.ndarray, np.ndarray], k: float) -> None:
    a, b = pair
    base = cosine_rows(a, b, "exact").cos
    np.testing.assert_allclose(cosine_rows(a * k, b, "exact").cos, base, atol=1e-12)
    np.testing.assert_allclose(base, reference(a, b), atol=1e-12)


@SETTINGS
@given(pairs(max_rows=60), st.data())
def test_chunking_and_streaming_change_nothing(pair: tuple[np.ndarray, np.ndarray], data: st.DataObject) -> None:
    a, b = pair
    n = len(a)
    w = data.draw(arrays(np.float64, (n,), elements=st.floats(0, 5, allow_nan=False)))
    reduction = data.draw(
        st.sampled_from(["sum_over_batch_size", "sum", "mean_with_sample_weight", "sum_by_nonzero_weights"])
    )
    whole = score(a, b, weights=w, reduction=reduction)
    chunk = data.draw(st.integers(1, n))
    assert score(a, b, weights=w, reduction=reduction, chunk_size=chunk).loss == pytest.approx(
        whole.loss, rel=1e-12, abs=1e-14
    )
    cuts = sorted(set(data.draw(st.lists(st.integers(0, n), max_size=6)) + [0, n]))
    parts = [(a[i:j], b[i:j], w[i:j]) for i, j in zip(cuts, cuts[1:], strict=False)]
    streamed = score_chunks(parts, reduction=reduction)
    assert streamed.loss == pytest.approx(whole.loss, rel=1e-12, abs=1e-14)
    assert streamed.stats.rows == whole.stats.rows == n


WEIGHT_NORMALISED = ["mean_with_sample_weight", "sum_by_nonzero_weights"]


@SETTINGS
@given(pairs())
def test_no_weights_equals_unit_weights(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    for reduction in ["sum_over_batch_size", "sum", *WEIGHT_NORMALISED]:
        assert score(a, b, reduction=reduction).loss == pytest.approx(
            score(a, b, weights=np.ones(len(a)), reduction=reduction).loss, rel=1e-12, abs=1e-15
        )


@SETTINGS
@given(pairs(), st.data())
def test_integer_weights_equal_repeated_rows(pair: tuple[np.ndarray, np.ndarray], data: st.DataObject) -> None:
    a, b = pair
    reps = data.draw(arrays(np.int64, (len(a),), elements=st.integers(1, 4)))
    for reduction in ("sum", "mean_with_sample_weight"):
        weighted = score(a, b, weights=reps.astype(float), reduction=reduction).loss
        repeated = score(
            np.repeat(a, reps, axis=0),
            np.repeat(b, reps, axis=0),
            reduction="sum" if reduction == "sum" else "sum_over_batch_size",
        ).loss
        assert weighted == pytest.approx(repeated, rel=1e-12, abs=1e-13)


@SETTINGS
@given(pairs(), st.data())
def test_zero_weights_equal_removed_rows(pair: tuple[np.ndarray, np.ndarray], data: st.DataObject) -> None:
    a, b = pair
    keep = data.draw(arrays(np.bool_, (len(a),)))
    if not keep.any():
        keep[0] = True
    w = data.draw(arrays(np.float64, (len(a),), elements=st.floats(0.1, 3)))
    w_zeroed = np.where(keep, w, 0.0)
    for reduction in ("sum", *WEIGHT_NORMALISED):
        assert score(a, b, weights=w_zeroed, reduction=reduction).loss == pytest.approx(
            score(a[keep], b[keep], weights=w[keep], reduction=reduction).loss, rel=1e-12, abs=1e-14
        )


@SETTINGS
@given(pairs(), st.floats(0.01, 100))
def test_scaling_weights_changes_nothing_when_normalised(pair: tuple[np.ndarray, np.ndarray], k: float) -> None:
    a, b = pair
    w = np.linspace(0.5, 2.0, len(a))
    assert score(a, b, weights=w * k, reduction="mean_with_sample_weight").loss == pytest.approx(
        score(a, b, weights=w, reduction="mean_with_sample_weight").loss, rel=1e-12, abs=1e-15
    )


@SETTINGS
@given(pairs(max_rows=10, max_dim=6))
def test_self_similarity_is_one_for_nonzero_rows(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, _ = pair
    cos = cosine_rows(a, a, "exact").cos
    nonzero = np.abs(a).max(1) > 0
    np.testing.assert_allclose(cos[nonzero], 1.0, atol=1e-15)
    assert (cos[~nonzero] == 0).all()
