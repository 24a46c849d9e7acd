"""Quantiles within 1e-6 of numpy.quantile, mergeable; worst K independent of chunking."""

from __future__ import annotations

import numpy as np
import pytest

from cosine_cli import Accumulator, ScoredChunk, score
from cosine_cli.sketch import QUANTILES, CosSketch, WorstK


def _chunk(start: int, cos: np.ndarray) -> ScoredChunk:
    n = cos.size
    return ScoredChunk(start, cos, -cos, np.zeros(n, bool), np.zeros(n, bool))


def _samples(kind: str, n: int = 1_000_000) -> np.ndarray:
    rng = np.random.default_rng(42)
    if kind == "uniform":
        return rng.uniform(-1, 1, n)
    if kind == "near_one":  # parity runs: everything within 1e-4 of 1
        return 1 - rng.exponential(1e-5, n).clip(0, 2)
    if kind == "ties":  # few distinct values, exactly 1 included
        return rng.choice([-1.0, 0.0, 0.5, 0.999999, 1.0], n)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["uniform", "near_one", "ties"])
def test_quantiles_match_numpy_on_a_million_values(kind: str) -> None:
    cos = _samples(kind)
    acc = Accumulator()
    for start in range(0, cos.size, 100_000):
        acc.update(_chunk(start, cos[start : start + 100_000]))
    got = acc.cos_quantiles()
    want = np.quantile(cos, list(QUANTILES.values()))
    for (name, value), exact in zip(got.items(), want, strict=True):
        assert value is not None and abs(value - exact) <= 1e-6, (name, value, exact)


def test_two_merged_accumulators_give_the_same_quantiles() -> None:
    cos = _samples("uniform")
    a, b = Accumulator(), Accumulator()
    a.update(_chunk(0, cos[:300_000]))
    b.update(_chunk(300_000, cos[300_000:]))
    merged = a.merge(b).cos_quantiles()
    want = np.quantile(cos, list(QUANTILES.values()))
    assert max(abs(v - w) for v, w in zip(merged.values(), want, strict=True)) <= 1e-6  # type: ignore[operator]
    single = Accumulator()
    single.update(_chunk(0, cos))
    assert merged == single.cos_quantiles()


def test_small_inputs_are_exact_at_the_ends() -> None:
    s = CosSketch()
    s.update(np.array([0.25]))
    assert s.quantiles({"p50": 0.5}, 0.25, 0.25) == {"p50": 0.25}
    assert Accumulator().cos_quantiles()["p50"] is None


def test_histogram_counts_every_value() -> None:
    cos = _samples("near_one", 10_000)
    s = CosSketch()
    s.update(cos)
    h = s.histogram(bins=20)
    assert sum(h["counts"]) == cos.size
    assert len(h["edges"]) == len(h["counts"]) + 1 <= 21
    assert h["edges"][0] <= cos.min() and h["edges"][-1] >= cos.max()


def test_worst_k_does_not_depend_on_chunking_or_merging() -> None:
    rng = np.random.default_rng(1)
    cos = rng.choice(np.linspace(-1, 1, 7), 5_000)  # many ties: the lower row must win
    one = WorstK(5)
    one.update(0, cos, -cos)
    parts = [WorstK(5) for _ in range(3)]
    for i, start in enumerate(range(0, 5_000, 1_700)):
        part = parts[i]
        for s in range(start, min(start + 1_700, 5_000), 333):
            e = min(s + 333, start + 1_700, 5_000)
            part.update(s, cos[s:e], -cos[s:e])
    merged = parts[2].merge(parts[0]).merge(parts[1])
    assert merged.to_list() == one.to_list()
    order = np.lexsort((np.arange(cos.size), cos))[:5]
    assert [w["row"] for w in one.to_list()] == order.tolist()


def test_worst_in_the_summary_with_ids_and_skipped() -> None:
    w = WorstK(2)
    cos = np.array([0.5, -1.0, np.nan, 0.1])
    w.update(10, cos, -cos, keep=np.array([True, False, True, True]), ids=["a", "b", "c", "d"])
    assert w.to_list() == [
        {"row": 13, "id": "d", "cos": 0.1, "loss": -0.1},
        {"row": 10, "id": "a", "cos": 0.5, "loss": -0.5},
    ]


def test_score_reports_quantiles_and_worst() -> None:
    pred = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0]])
    label = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    d = score(pred, label, worst=1, chunk_size=1).to_dict()
    cos = np.array([1.0, 0.0, np.sqrt(0.5), np.sqrt(0.5)])
    assert abs(d["cos"]["p50"] - np.quantile(cos, 0.5)) <= 1e-6
    assert d["worst"] == [{"row": 1, "cos": 0.0, "loss": -0.0}]


def test_a_long_lower_tail_gets_its_own_bin() -> None:
    cos = np.concatenate(([-0.5, 0.0], np.linspace(0.99, 1.0, 998)))
    s = CosSketch()
    s.update(cos)
    h = s.histogram(bins=20)
    assert h["edges"][0] <= -0.5 and 0.99 <= h["edges"][1] < 0.991
    assert h["counts"][0] == np.count_nonzero(cos < h["edges"][1]) < 20  # the tail, not the bulk
    assert sum(h["counts"]) == 1000 and 15 <= len(h["counts"]) <= 20
    assert max(h["counts"]) < 100  # the bulk is spread over the other bins
