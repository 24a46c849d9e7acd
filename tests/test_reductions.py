"""Reductions and weights: Keras 2/3 and TF1 semantics, chunk-size invariance, merging."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cosine_cli import Accumulator, InputError, score, score_chunks

# semantics.md section 2, worked example `sample_weight_with_zero_f32`:
# per-row Keras losses [-0, -1, -0.948683, 1] (a zero row, identical, cos 3/sqrt(10), opposite)
PRED = np.array([[0.0, 0.0], [1.0, 2.0], [3.0, 1.0], [1.0, 1.0]], dtype=np.float32)
LABEL = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 0.0], [-1.0, -1.0]], dtype=np.float32)
W = np.array([1.0, 0.0, 3.0, 0.5], dtype=np.float32)
C = 3 / math.sqrt(10)


@pytest.mark.parametrize(
    ("loss", "reduction", "weights", "expected"),
    [
        ("negative", "sum_over_batch_size", W, (-0 - 0 - 3 * C + 0.5) / 4),  # -0.586512
        ("negative", "mean", W, (-3 * C + 0.5) / 4),
        ("negative", "mean_with_sample_weight", W, (-3 * C + 0.5) / 4.5),  # -0.521344
        ("negative", "sum", W, -3 * C + 0.5),  # -2.346050
        ("negative", "sum_over_batch_size", None, (0 - 1 - C + 1) / 4),
        ("negative", "mean_with_sample_weight", None, (0 - 1 - C + 1) / 4),
        # TF1 cosine_distance on unit vectors: distances [1, 0, 1-C, 2]
        ("distance", "sum_by_nonzero_weights", W, (1 + 3 * (1 - C) + 1) / 3),  # 0.717983
        ("distance", "sum_over_batch_size", W, (1 + 3 * (1 - C) + 1) / 4),  # 0.538488
        ("distance", "sum_by_nonzero_weights", None, (1 + 0 + (1 - C) + 2) / 4),
        ("squared", "sum", None, 1 + 0 + (1 - C) ** 2 + 4),
    ],
)
def test_reference_worked_example(loss: str, reduction: str, weights: np.ndarray | None, expected: float) -> None:
    result = score(PRED, LABEL, weights=weights, loss=loss, reduction=reduction)
    assert result.loss == pytest.approx(expected, rel=1e-6)


def test_scalar_weight_keras3_and_tf1_divisors() -> None:
    # semantics.md: scalar weight 2.0: Keras 3 mean_with_sample_weight divides by 2 (= the
    # unweighted sum); TF1 SUM_BY_NONZERO_WEIGHTS divides by N.
    unweighted_sum = score(PRED, LABEL, reduction="sum").loss
    assert score(PRED, LABEL, weights=2.0, reduction="mean_with_sample_weight").loss == pytest.approx(unweighted_sum)
    got = score(PRED, LABEL, weights=2.0, reduction="sum_by_nonzero_weights", loss="distance").loss
    assert got == pytest.approx(2 * (1 + 0 + (1 - C) + 2) / 4)
    assert score(PRED, LABEL, weights=0.0, reduction="sum_by_nonzero_weights").loss == 0.0


def test_all_zero_weights_give_zero_for_every_reduction() -> None:
    for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight", "sum_by_nonzero_weights"):
        assert score(PRED, LABEL, weights=np.zeros(4), reduction=reduction).loss == 0.0


def test_none_returns_weighted_per_vector_losses() -> None:
    result = score(PRED, LABEL, weights=W, reduction="none")
    assert result.loss is None
    np.testing.assert_allclose(result.losses, np.array([-0.0, -1.0, -C, 1.0]) * W, rtol=1e-7)


def test_keras_docstring_examples() -> None:
    y_true = [[0.0, 1.0], [1.0, 1.0]]
    y_pred = [[1.0, 0.0], [1.0, 1.0]]
    assert score(y_pred, y_true).loss == -0.5
    assert score(y_pred, y_true, weights=np.array([0.8, 0.2])).loss == pytest.approx(-0.1)
    assert score(y_pred, y_true, reduction="sum").loss == -1.0
    assert score(y_pred, y_true, reduction="none").losses.tolist() == [-0.0, -1.0]


def test_nd_input_with_per_row_weights_like_keras2() -> None:
    # rank-3 (batch, time, dim): a (batch,) weight applies to the whole row (Keras 2 expand_dims)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    y = rng.standard_normal((2, 3, 4)).astype(np.float32)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    per = -(x64 * y64).sum(-1) / np.linalg.norm(x64, axis=-1) / np.linalg.norm(y64, axis=-1)
    w = np.array([1.0, 0.0])
    result = score(x, y, weights=w)
    assert result.loss == pytest.approx(per[0].sum() / 6, rel=1e-6)  # divisor B*T = 6
    assert result.stats.rows == 6
    full = np.array([[1.0, 2.0, 0.0], [0.5, 0.0, 1.0]])
    assert score(x, y, weights=full, reduction="sum").loss == pytest.approx((per * full).sum(), rel=1e-6)
    # mean_with_sample_weight divides by the weights as given (Keras 3): (B,) -> sum over B
    got = score(x, y, weights=w, reduction="mean_with_sample_weight").loss
    assert got == pytest.approx(per[0].sum() / 1.0, rel=1e-6)
    assert score(x, y, reduction="none").losses.shape == (2, 3)


def test_nan_policies() -> None:
    p = PRED.copy()
    p[1, 0] = np.nan
    with pytest.raises(InputError, match="row 1: NaN or inf"):
        score(p, LABEL)
    r = score(p, LABEL, nan_policy="propagate", weights=np.array([1.0, 0.0, 1.0, 1.0]))
    assert math.isnan(r.loss)  # NaN * 0 is NaN, as in Keras
    r = score(p, LABEL, nan_policy="skip")
    assert r.stats.skipped == 1 and r.stats.rows == 3
    assert r.loss == pytest.approx((0 - C + 1) / 3)


def test_bad_weights() -> None:
    with pytest.raises(InputError, match="negative"):
        score(PRED, LABEL, weights=np.array([1.0, -1.0, 1.0, 1.0]))
    with pytest.raises(InputError, match="not finite"):
        score(PRED, LABEL, weights=np.array([1.0, np.nan, 1.0, 1.0]))
    with pytest.raises(InputError, match="has 3 weights .* 4 vectors"):
        score(PRED, LABEL, weights=np.ones(3))
    with pytest.raises(InputError, match="has 5 weights .* 4 vectors"):
        score(PRED, LABEL, weights=np.ones(5))


def _random_pair(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, d))
    b = a + rng.standard_normal((n, d))
    return a, b, rng.uniform(0, 2, n)


@pytest.mark.parametrize(
    "reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight", "sum_by_nonzero_weights"]
)
def test_chunk_size_does_not_change_the_result(reduction: str) -> None:
    a, b, w = _random_pair(1000, 16, 1)
    results = [score(a, b, weights=w, reduction=reduction, chunk_size=c) for c in (1, 7, None)]
    ref = results[-1]
    for r in results:
        assert r.loss == pytest.approx(ref.loss, rel=1e-12)
        assert r.stats.cos_mean == pytest.approx(ref.stats.cos_mean, rel=1e-12)
        assert r.stats.cos_std == pytest.approx(ref.stats.cos_std, rel=1e-9)
        assert (r.stats.cos_min, r.stats.cos_max) == (ref.stats.cos_min, ref.stats.cos_max)


def test_ragged_chunks_and_merge_equal_one_pass() -> None:
    a, b, w = _random_pair(500, 8, 2)
    cuts = [0, 3, 4, 100, 250, 251, 500]
    parts = [(a[i:j], b[i:j], w[i:j]) for i, j in zip(cuts, cuts[1:], strict=False)]
    whole = score(a, b, weights=w, reduction="mean_with_sample_weight")
    streamed = score_chunks(parts, reduction="mean_with_sample_weight")
    assert streamed.loss == pytest.approx(whole.loss, rel=1e-12)
    # two accumulators on two halves, merged
    left = score(a[:123], b[:123], weights=w[:123]).stats
    right = score(a[123:], b[123:], weights=w[123:]).stats
    merged = Accumulator().merge(left).merge(right)
    for attr in ("rows", "zero_vectors", "nonzero_weights"):
        assert getattr(merged, attr) == getattr(whole.stats, attr)
    assert merged.sum_weighted_loss.value == pytest.approx(whole.stats.sum_weighted_loss.value, rel=1e-12)
    assert merged.cos_mean == pytest.approx(whole.stats.cos_mean, rel=1e-12)
    assert merged.cos_std == pytest.approx(np.std(score(a, b, reduction="none").losses), rel=1e-9)
    assert merged.cos_min == whole.stats.cos_min and merged.cos_max == whole.stats.cos_max


def test_stats_match_numpy() -> None:
    a, b, _ = _random_pair(300, 5, 4)
    r = score(a, b, chunk_size=13)
    cos = -score(a, b, reduction="none").losses
    assert r.stats.cos_mean == pytest.approx(cos.mean(), rel=1e-12)
    assert r.stats.cos_std == pytest.approx(cos.std(), rel=1e-10)
    assert r.stats.cos_min == cos.min() and r.stats.cos_max == cos.max()


def test_unknown_options_are_usage_problems() -> None:
    from cosine_cli import UsageProblem

    with pytest.raises(UsageProblem, match="unknown reduction"):
        score(PRED, LABEL, reduction="avg")
    with pytest.raises(UsageProblem, match="unknown compat"):
        score(PRED, LABEL, compat="tf")
