"""The NumPy cores of the evaluations (issue 12): target losses, correlations, Matryoshka dims,
groups, parity statistics and the per-slice summary.

Golden values are computed by hand from the documented formulas (torch.nn.CosineEmbeddingLoss:
1 - cos for y = 1, max(0, cos - margin) for y = -1; its cosine dot / sqrt((|a|^2 + eps)(|b|^2 + eps))
with eps = float(1e-12), pytorch aten/src/ATen/native/Loss.cpp) or with float64 NumPy; scipy is the
reference for the correlations; torch, where installed, for CosineEmbeddingLoss itself.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosine_cli.accumulate import Accumulator, ScoredChunk
from cosine_cli.core import COMPAT_EPSILON, cosine_rows, loss_from_cos
from cosine_cli.correlation import Correlations, PearsonAccumulator, SpearmanAccumulator, average_ranks
from cosine_cli.errors import InputError, UsageProblem
from cosine_cli.groups import MAX_GROUPS, GroupedAccumulator
from cosine_cli.matryoshka import PrefixBuffer, check_dims, matryoshka_cos, matryoshka_rows, parse_dims
from cosine_cli.parity import DiffAccumulator, diff_rows
from cosine_cli.sketch import WorstK
from cosine_cli.slice_stats import STATS_KEYS, stats_dict
from cosine_cli.target_losses import TORCH_CEL_EPSILON, embedding_cos_torch, embedding_loss, mse_loss

scipy_stats = pytest.importorskip("scipy.stats")

CHUNKS = (1, 7, None)  # None: everything in one chunk


def chunked(n: int, size: int | None) -> list[slice]:
    size = size or max(n, 1)
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


# -- target losses --------------------------------------------------------------------------------

COS = np.array([0.5, 0.5, 0.1, -0.3])
SIGNS = np.array([1, -1, -1, -1])


@pytest.mark.parametrize(
    ("margin", "expected"),
    [
        (0.0, [0.5, 0.5, 0.1, 0.0]),
        (0.25, [0.5, 0.25, 0.0, 0.0]),
        (-0.5, [0.5, 1.0, 0.6, 0.2]),
    ],
)
def test_embedding_loss_by_hand(margin: float, expected: list[float]) -> None:
    loss = embedding_loss(COS, SIGNS, margin)
    np.testing.assert_allclose(loss, expected, rtol=0, atol=1e-15)
    # torch's reductions: mean is sum / numel (= sum_over_batch_size), sum, none
    assert loss.sum() == pytest.approx(sum(expected), abs=1e-15)
    assert loss.mean() == pytest.approx(sum(expected) / 4, abs=1e-15)


def test_embedding_loss_nan_cos_propagates_on_both_sides() -> None:
    loss = embedding_loss(np.array([np.nan, np.nan]), [1, -1])
    assert np.isnan(loss).all()


@pytest.mark.parametrize(
    ("targets", "row", "shown"),
    [([1, 0, -1], 12, "0.0"), ([1, -1, 0.5], 13, "0.5"), ([np.nan, 1, 1], 11, "nan"), ([1, 2, -1], 12, "2.0")],
)
def test_embedding_target_not_plus_minus_one_names_the_row(targets: list[float], row: int, shown: str) -> None:
    with pytest.raises(InputError) as info:
        embedding_loss(np.zeros(3), targets, offset=11, source="t.csv")
    assert info.value.row == row
    assert str(info.value).startswith(f"t.csv: row {row}: target {shown} is not 1 or -1")


def test_embedding_targets_must_be_numbers() -> None:
    with pytest.raises(InputError, match="must be numbers"):
        embedding_loss(np.zeros(2), np.array([True, False]))
    with pytest.raises(InputError, match="2 targets for 3 vectors"):
        embedding_loss(np.zeros(3), [1, 1])
    with pytest.raises(UsageProblem, match="--margin"):
        embedding_loss(np.zeros(1), [1], math.inf)


def test_mse_loss_by_hand_and_bad_targets() -> None:
    np.testing.assert_allclose(mse_loss(np.array([0.5, 1.0, -1.0]), [1.0, 0.0, 0.5]), [0.25, 1.0, 2.25])
    with pytest.raises(InputError) as info:
        mse_loss(np.zeros(2), [0.0, np.inf], offset=5)
    assert info.value.row == 6


def test_cel_epsilon_is_the_float_constant_widened() -> None:
    # Loss.cpp: constexpr float EPSILON = 1e-12; a double tensor gets the float widened
    assert TORCH_CEL_EPSILON == float(np.float32(1e-12)) == 9.999999960041972e-13


def test_embedding_cos_torch_by_hand() -> None:
    e = 9.999999960041972e-13
    a = np.array([[3.0, 4.0], [1e-7, 0.0], [0.0, 0.0], [0.0, 0.0], [2.0, 0.0]])
    b = np.array([[4.0, 3.0], [1e-7, 0.0], [1.0, 1.0], [0.0, 0.0], [-5.0, 0.0]])
    r = embedding_cos_torch(a, b)
    expected = [24 / math.sqrt((25 + e) * (25 + e)), 1e-14 / (1e-14 + e), 0.0, 0.0, -10 / math.sqrt((4 + e) * (25 + e))]
    np.testing.assert_allclose(r.cos, expected, rtol=1e-15, atol=0)
    # torch 2.13: CosineEmbeddingLoss(reduction="none")(a, a, [1]) for a = [1e-7, 0] in float64
    assert 1 - r.cos[1] == pytest.approx(0.9900990098618194, rel=1e-15)
    assert r.zero.tolist() == [False, False, True, True, False]


def test_embedding_cos_torch_special_rows() -> None:
    big = np.array([[1e30, 2e30], [3e-30, 1e-30], [np.nan, 1.0], [1.0, 1.0]], dtype=np.float32)
    other = np.array([[2e30, 1e30], [1e-30, 3e-30], [1.0, 1.0], [np.inf, 1.0]], dtype=np.float32)
    r = embedding_cos_torch(big, other)
    # 1e30 scale: eps is nothing, cos 4/5; 1e-30 scale: eps dominates, cos ~ dot / eps = 6e-60 / 1e-12
    assert r.cos[0] == pytest.approx(0.8, rel=1e-6)
    assert r.cos[1] == pytest.approx(float(np.float32(3e-30)) * float(np.float32(1e-30)) * 2 / 1e-12, rel=1e-5)
    assert np.isnan(r.cos[2:]).all()
    assert r.nonfinite_a.tolist() == [False, False, True, False]
    assert r.nonfinite_b.tolist() == [False, False, False, True]


@pytest.mark.parametrize("margin", [0.0, 0.25, -0.5])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_embedding_loss_matches_torch(margin: float, reduction: str, dtype: type) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    a = rng.standard_normal((200, 16)).astype(dtype)
    b = (a + rng.standard_normal((200, 16)) * rng.uniform(0, 2, (200, 1))).astype(dtype)
    a[3] = 0.0  # a zero vector
    b[5] = 1e-7  # a tiny one: the epsilon shows
    y = rng.choice([-1.0, 1.0], 200)
    cel = torch.nn.CosineEmbeddingLoss(margin=margin, reduction=reduction)
    expected = cel(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(y.astype(dtype))).numpy()
    loss = embedding_loss(embedding_cos_torch(a, b).cos, y, margin)
    ours = {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(ours, expected.astype(np.float64), rtol=tol, atol=tol)


# -- correlations ---------------------------------------------------------------------------------


def sts_data(n: int, seed: int = 0, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gold = rng.uniform(0, 5, n)
    cos = np.tanh(gold / 5 + rng.normal(0, 0.3, n))
    if ties:
        gold = np.round(gold)  # STS gold scores are often whole numbers
        cos = np.round(cos, 2)
    return cos, gold


@pytest.mark.parametrize("size", CHUNKS)
@pytest.mark.parametrize("ties", [False, True])
def test_correlations_match_scipy_for_any_chunking(size: int | None, ties: bool) -> None:
    cos, gold = sts_data(500, ties=ties)
    c = Correlations()
    for s in chunked(500, size):
        c.update(cos[s], gold[s])
    got = c.to_dict()
    assert got["pearson"] == pytest.approx(scipy_stats.pearsonr(cos, gold).statistic, abs=1e-12)
    assert got["spearman"] == pytest.approx(scipy_stats.spearmanr(cos, gold).statistic, abs=1e-12)


def test_correlations_merge_and_keep_mask() -> None:
    cos, gold = sts_data(300, seed=1)
    keep = np.ones(300, dtype=bool)
    keep[::5] = False
    left, right = Correlations(), Correlations()
    left.update(cos[:100], gold[:100], keep[:100])
    right.update(cos[100:], gold[100:], keep[100:])
    got = left.merge(right).to_dict()
    assert got["pearson"] == pytest.approx(scipy_stats.pearsonr(cos[keep], gold[keep]).statistic, abs=1e-12)
    assert got["spearman"] == pytest.approx(scipy_stats.spearmanr(cos[keep], gold[keep]).statistic, abs=1e-12)


def test_correlations_undefined_are_none() -> None:
    for cos, gold in (([0.5], [1.0]), ([], []), ([0.1, 0.1, 0.1], [1.0, 2.0, 3.0]), ([0.1, 0.2], [3.0, 3.0])):
        c = Correlations()
        c.update(np.array(cos), np.array(gold))
        assert c.to_dict() == {"pearson": None, "spearman": None}
    c = Correlations()
    c.update(np.array([0.1, np.nan, 0.3]), np.array([1.0, 2.0, 3.0]))
    assert c.to_dict() == {"pearson": None, "spearman": None}


def test_pearson_constant_column_is_exact_across_chunks() -> None:
    # the running mean of 0.1s is not exactly 0.1, so m2 is not exactly 0: constancy is tracked apart
    p = PearsonAccumulator()
    for _ in range(3):
        p.update(np.full(3, 0.1), np.array([1.0, 2.0, 3.0]))
    assert p.result() is None
    p.update(np.array([0.2]), np.array([4.0]))
    assert p.result() == pytest.approx(scipy_stats.pearsonr([0.1] * 9 + [0.2], [1, 2, 3] * 3 + [4]).statistic)


def test_spearman_spills_to_disk_and_pickles() -> None:
    cos, gold = sts_data(1000, seed=2, ties=True)
    s = SpearmanAccumulator(memory_budget=16 * 100)
    for sl in chunked(1000, 37):
        s.update(cos[sl], gold[sl])
    assert s.spilled_rows > 0 and len(s) == 1000
    expected = scipy_stats.spearmanr(cos, gold).statistic
    assert s.result() == pytest.approx(expected, abs=1e-12)
    clone = pickle.loads(pickle.dumps(s))
    assert clone.result() == pytest.approx(expected, abs=1e-12)
    both = SpearmanAccumulator(memory_budget=16 * 50)
    both.update(cos[:10], gold[:10])
    both.merge(SpearmanAccumulator().merge(s))  # from memory and from a spill file
    s.close()
    assert len(both) == 1010
    full_c, full_g = np.concatenate((cos[:10], cos)), np.concatenate((gold[:10], gold))
    assert both.result() == pytest.approx(scipy_stats.spearmanr(full_c, full_g).statistic, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-3, 3).map(float), st.floats(-1, 1, allow_nan=False, allow_subnormal=False)),
        min_size=2,
        max_size=40,
    ),
    st.integers(1, 9),
)
def test_rank_and_correlations_property(pairs: list[tuple[float, float]], size: int) -> None:
    gold = np.array([p[0] for p in pairs])
    cos = np.array([p[1] for p in pairs])
    np.testing.assert_array_equal(average_ranks(cos), scipy_stats.rankdata(cos))
    c = Correlations(spearman=SpearmanAccumulator(memory_budget=16 * 8))
    for s in chunked(len(pairs), size):
        c.update(cos[s], gold[s])
    got = c.to_dict()
    if np.all(gold == gold[0]) or np.all(cos == cos[0]):
        assert got == {"pearson": None, "spearman": None}
        return
    assert got["spearman"] == pytest.approx(scipy_stats.spearmanr(cos, gold).statistic, abs=1e-12)
    assert got["pearson"] == pytest.approx(scipy_stats.pearsonr(cos, gold).statistic, abs=1e-9)


# -- Matryoshka -----------------------------------------------------------------------------------


def special_pairs(dtype: type, d: int = 96) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((40, d))
    b = a + rng.standard_normal((40, d)) * 0.5
    big, tiny = (1e200, 1e-200) if dtype == np.float64 else (1e30, 1e-30)
    a[0] = 0.0  # zero vector
    b[1, :10] = 0.0  # zero in a prefix only
    a[2] *= big  # overflow
    b[3] *= tiny  # underflow
    a[4, 70] = np.nan  # NaN beyond the first dims
    b[5, 5] = np.inf
    a[6, :8] = 1e-9  # tiny norm: the compat floors decide
    a[6, 8:] = 0.0
    b[7] = a[7]  # identical: cos exactly 1
    return a.astype(dtype), b.astype(dtype)


@pytest.mark.parametrize("compat", list(COMPAT_EPSILON))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dims", [(8, 32, 64, 96), (5, 13, 96), (96,)])
def test_matryoshka_equals_separate_cosine_rows(compat: str, dtype: type, dims: tuple[int, ...]) -> None:
    a, b = special_pairs(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        out = matryoshka_rows(a, b, dims, compat)
    assert list(out) == list(dims)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    for d in dims:
        ref = cosine_rows(a[:, :d], b[:, :d], compat)
        np.testing.assert_allclose(out[d].cos, ref.cos, rtol=0, atol=tol, err_msg=f"dim {d}")
        for got, want in zip(out[d][1:], ref[1:], strict=True):
            np.testing.assert_array_equal(got, want)


def test_matryoshka_scratch_copies_give_the_same_bits() -> None:
    # the contiguous copies of the prefixes (PrefixBuffer) change where the sums read, not the sums;
    # one buffer serves chunks of other sizes and dtypes, and a released one is made again
    scratch = PrefixBuffer()
    for dtype, rows, dims in ((np.float32, 40, (8, 32, 64)), (np.float64, 7, (5, 13, 96)), (np.float32, 40, (64,))):
        a, b = special_pairs(dtype)
        a, b = a[:rows], b[:rows]
        with np.errstate(over="ignore", invalid="ignore"):
            plain = matryoshka_cos(a, b, dims, "keras")
            copied = matryoshka_cos(a, b, dims, "keras", scratch=scratch)
        for got, want in zip(copied, plain, strict=True):
            np.testing.assert_array_equal(got, want)
        scratch.release()


def test_evaluations_with_dims_travel_light() -> None:
    # a Dask task sends its Evaluations back pickled: once flushed, the prefix scratch buffer
    # (8 MiB or more) and the held-back batch are gone, and the per-dim numbers are all there
    from cosine_cli.evaluations import Evaluations

    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(50, 32)).astype(np.float32), rng.normal(size=(50, 32)).astype(np.float32)
    evals = Evaluations(loss="negative", compat="keras", dims=(8, 16, 32))
    r = cosine_rows(a, b)
    chunk = scored(r.cos)
    evals.update(chunk, a, b)
    evals.flush()
    assert len(pickle.dumps(evals)) < 200_000
    top = Accumulator()
    top.update(chunk)
    got = pickle.loads(pickle.dumps(evals)).to_dict("sum_over_batch_size", top=top)["by_dim"]
    assert got["32"] == stats_dict(top, "sum_over_batch_size")  # the full width is the top level
    want8 = cosine_rows(a[:, :8], b[:, :8]).cos
    assert got["8"]["rows"] == 50 and got["8"]["cos"]["mean"] == pytest.approx(want8.mean(), abs=1e-6)


def test_matryoshka_by_hand_and_dims_errors() -> None:
    out = matryoshka_rows(np.array([[1.0, 0.0, 1.0, 0.0]]), np.array([[1.0, 1.0, 0.0, 0.0]]), [4, 1, 2])
    assert list(out) == [1, 2, 4]
    assert out[2].cos[0] == pytest.approx(1 / math.sqrt(2), rel=1e-15)
    with pytest.raises(UsageProblem, match="--dims 5 is larger than the vectors' dimension 4"):
        matryoshka_rows(np.ones((1, 4)), np.ones((1, 4)), [2, 5])
    assert parse_dims("768,64, 128,64") == (64, 128, 768)
    with pytest.raises(UsageProblem, match="'x' is not a whole number"):
        parse_dims("64,x")
    with pytest.raises(UsageProblem, match="at least 1"):
        check_dims([0, 8])


# -- groups and the per-slice summary -------------------------------------------------------------


def scored(cos: np.ndarray, start: int = 0, weight: np.ndarray | None = None) -> ScoredChunk:
    skipped = np.zeros(cos.shape[0], dtype=bool)
    return ScoredChunk(start, cos, loss_from_cos(cos, "negative"), cos == 0, skipped, weight)


def group_data(n: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    cos = np.clip(rng.normal(0.8, 0.15, n), -1, 1)
    cos[::17] = 0.0
    groups = rng.choice(np.array(["de", "en", "fr"]), n)
    weight = rng.uniform(0, 2, n)
    return cos, groups, weight


def test_stats_dict_has_the_top_level_keys_and_values() -> None:
    from cosine_cli.pipeline import ScoreOptions, ScoreResult

    cos, _, weight = group_data()
    acc = Accumulator(worst=WorstK(3))
    acc.update(scored(cos, weight=weight))
    opts = ScoreOptions(reduction="mean_with_sample_weight")
    top = ScoreResult(loss=-1.0, options=opts, stats=acc, inputs={}, loss_shape=(300,)).to_dict()
    mine = stats_dict(acc, opts.reduction)
    assert list(mine) == list(STATS_KEYS)
    for key in STATS_KEYS:
        if key != "loss":
            assert mine[key] == top[key], key
    assert mine["loss"] == pytest.approx(float(np.sum(-cos * weight) / np.sum(weight)))


@pytest.mark.parametrize("size", CHUNKS)
def test_groups_equal_separate_accumulators(size: int | None) -> None:
    cos, groups, weight = group_data()
    g = GroupedAccumulator(worst=4)
    for s in chunked(300, size):
        g.update(scored(cos[s], s.start, weight[s]), groups[s])
    got = g.to_dict("sum")
    assert list(got) == ["de", "en", "fr"]
    for name in ("de", "en", "fr"):
        rows = np.flatnonzero(groups == name)
        ref = Accumulator()
        ref.update(scored(cos[rows], 0, weight[rows]))
        want = stats_dict(ref, "sum")
        mine = got[name]
        assert mine["rows"] == rows.size and mine["zero_vectors"] == want["zero_vectors"]
        assert mine["loss"] == pytest.approx(want["loss"], abs=1e-12)
        for k in ("mean", "std", "min", "max", "p01", "p50", "p99"):
            assert mine["cos"][k] == pytest.approx(want["cos"][k], abs=1e-12)
        assert mine["histogram"] == want["histogram"]
        assert mine["weights"]["nonzero"] == want["weights"]["nonzero"]
        # the worst vectors carry their rows in the whole input
        worst_rows = [w["row"] for w in mine["worst"]]
        order = np.lexsort((rows, cos[rows]))[:4]  # highest loss = lowest cos, ties to the lower row
        assert worst_rows == rows[order].tolist()


def test_groups_merge_and_limits() -> None:
    cos, groups, _ = group_data()
    whole, left, right = GroupedAccumulator(2), GroupedAccumulator(2), GroupedAccumulator(2)
    whole.update(scored(cos), groups)
    left.update(scored(cos[:120]), groups[:120])
    right.update(scored(cos[120:], 120), groups[120:])
    merged = left.merge(right).to_dict("sum_over_batch_size")
    for name, want in whole.to_dict("sum_over_batch_size").items():
        assert merged[name]["rows"] == want["rows"] and merged[name]["worst"] == want["worst"]
        assert merged[name]["loss"] == pytest.approx(want["loss"], abs=1e-12)
    many = GroupedAccumulator(source="p.parquet", column="lang")
    with pytest.raises(InputError, match=f"more than {MAX_GROUPS} distinct group values \\(1001 so far\\)"):
        many.update(scored(np.full(1001, 0.5)), np.arange(1001))
    small = GroupedAccumulator(max_groups=2)
    small.update(scored(np.full(2, 0.5)), np.array([1, 2]))
    other = GroupedAccumulator()
    other.update(scored(np.full(1, 0.5)), np.array([3]))
    with pytest.raises(InputError, match="3 so far"):
        small.merge(other)
    with pytest.raises(InputError) as info:
        GroupedAccumulator(column="lang").update(scored(np.full(3, 0.5), 10), np.array(["de", None, "en"], object))
    assert info.value.row == 11 and info.value.column == "lang"


def test_groups_of_numbers_and_one_group_chunks() -> None:
    g = GroupedAccumulator(worst=1)
    g.update(scored(np.array([0.5, 0.25]), 0), np.array([7, 7]))
    g.update(scored(np.array([0.75]), 2), np.array([3]))
    got = g.to_dict("sum")
    assert list(got) == ["3", "7"]
    assert got["7"]["loss"] == -0.75 and got["7"]["worst"] == [{"row": 1, "cos": 0.25, "loss": -0.25}]


# -- parity ---------------------------------------------------------------------------------------


def parity_reference(p: np.ndarray, label: np.ndarray) -> dict[str, float]:
    p64, l64 = p.astype(np.float64), label.astype(np.float64)
    rel = np.linalg.norm(p64 - l64, axis=1) / np.linalg.norm(l64, axis=1)
    ratio = np.linalg.norm(p64, axis=1) / np.linalg.norm(l64, axis=1)
    return {
        "max_abs": float(np.max(np.abs(p64 - l64))),
        "rel_mean": float(rel.mean()),
        "rel_max": float(rel.max()),
        "ratio_mean": float(ratio.mean()),
        "ratio_min": float(ratio.min()),
        "ratio_max": float(ratio.max()),
    }


@pytest.mark.parametrize("size", CHUNKS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_diff_matches_float64_reference(size: int | None, dtype: type) -> None:
    rng = np.random.default_rng(5)
    label = rng.standard_normal((200, 32)).astype(dtype)
    pred = (label + rng.standard_normal((200, 32)) * 1e-4).astype(dtype)
    acc = DiffAccumulator()
    for s in chunked(200, size):
        acc.update(pred[s], label[s])
    got = acc.to_dict()
    ref = parity_reference(pred, label)
    assert got["diff"]["max_abs"] == ref["max_abs"]  # exact: the float64 difference of float32 is exact
    assert got["diff"]["rel_l2"]["mean"] == pytest.approx(ref["rel_mean"], rel=1e-12)
    assert got["diff"]["rel_l2"]["max"] == pytest.approx(ref["rel_max"], rel=1e-12)
    assert got["norm_ratio"] == pytest.approx(
        {"mean": ref["ratio_mean"], "min": ref["ratio_min"], "max": ref["ratio_max"]}, rel=1e-12
    )


def test_diff_near_identical_does_not_cancel() -> None:
    # cos of these is 1 to the last bit; the relative error is still 1e-12
    label = np.full((1, 4), 1.0)
    pred = label + np.array([[1e-12, 0.0, 0.0, 0.0]])
    r = diff_rows(pred, label)
    assert r.rel_l2[0] == pytest.approx(float(pred[0, 0] - 1.0) / 2.0, rel=1e-15)
    assert r.max_abs[0] == float(pred[0, 0] - 1.0)


def test_diff_zero_labels_overflow_and_nan() -> None:
    label = np.array([[0.0, 0.0], [0.0, 0.0], [3e200, 4e200], [1.0, 1.0]])
    pred = np.array([[0.0, 0.0], [1.0, 0.0], [3e200, 4e200], [1.0, 1.0]])
    r = diff_rows(pred, label)
    assert r.rel_l2.tolist() == [0.0, math.inf, 0.0, 0.0]
    assert r.norm_ratio.tolist() == [1.0, math.inf, 1.0, 1.0]
    assert r.zero_label.tolist() == [True, True, False, False]
    acc = DiffAccumulator()
    acc.update(pred, label)
    d = acc.to_dict()
    assert d["diff"]["rel_l2"] == {"mean": None, "max": None}  # infinite: null, a gate on it fails
    assert d["diff"]["zero_label"] == 2 and d["norm_ratio"]["min"] == 1.0
    ok = DiffAccumulator()
    ok.update(pred, label, keep=np.array([True, False, True, True]))
    assert ok.to_dict()["diff"]["rel_l2"] == {"mean": 0.0, "max": 0.0}
    nan = DiffAccumulator()
    nan.update(np.array([[np.nan, 1.0]]), np.array([[1.0, 1.0]]))
    assert nan.to_dict()["diff"]["max_abs"] is None
    merged = DiffAccumulator().merge(ok).merge(nan)
    assert merged.rows == 4 and merged.to_dict()["norm_ratio"]["mean"] is None


def test_every_accumulator_pickles_for_dask() -> None:
    cos, groups, weight = group_data()
    g = GroupedAccumulator(worst=2)
    g.update(scored(cos, weight=weight), groups)
    c = Correlations()
    c.update(cos, weight)
    d = DiffAccumulator()
    d.update(np.ones((3, 4)), np.full((3, 4), 2.0))
    for obj, view in ((g, lambda x: x.to_dict("sum")), (c, lambda x: x.to_dict()), (d, lambda x: x.to_dict())):
        assert view(pickle.loads(pickle.dumps(obj))) == view(obj)
