"""The Accumulator's statistics do not depend on how the vectors were chunked: its float sums are
folded a block of arriving vectors at a time (accumulate.BLOCK), so chunk sizes 1, 7 and the
default, and the thread pool, give the same bits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cosine_cli import accumulate
from cosine_cli.accumulate import Accumulator, ScoredChunk, reduce_loss
from cosine_cli.cli import cli
from cosine_cli.sketch import WorstK


def _chunk(start: int, cos: np.ndarray, weight: np.ndarray | None, skipped: np.ndarray) -> ScoredChunk:
    return ScoredChunk(start, cos, -cos, cos == 0, skipped, weight)


def _fold(cos: np.ndarray, weight: np.ndarray | None, skipped: np.ndarray, cuts: list[int], block: int) -> Accumulator:
    acc = Accumulator(worst=WorstK(3), block=block)
    edges = [0, *sorted(set(c for c in cuts if 0 < c < len(cos))), len(cos)]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        acc.update(_chunk(lo, cos[lo:hi], None if weight is None else weight[lo:hi], skipped[lo:hi]))
    return acc


def _stats(acc: Accumulator) -> tuple[object, ...]:
    return (
        acc.rows,
        acc.skipped,
        acc.zero_vectors,
        acc.sum_cos.value,
        acc.cos_m2,
        acc.cos_min,
        acc.cos_max,
        acc.sum_weight_share.value,
        reduce_loss(acc, "sum_over_batch_size"),
        acc.cos_quantiles(),
        acc.worst.to_list(),
    )


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
    block=st.sampled_from([1, 7, 64, accumulate.BLOCK]),
    weighted=st.booleans(),
    data=st.data(),
)
def test_any_chunking_gives_the_same_bits(n: int, seed: int, block: int, weighted: bool, data: st.DataObject) -> None:
    rng = np.random.default_rng(seed)
    cos = np.clip(rng.normal(0.9, 0.2, n), -1, 1)
    cos[rng.random(n) < 0.05] = 0.0
    weight = rng.uniform(0, 2, n) if weighted else None
    skipped = rng.random(n) < 0.1
    cuts = data.draw(st.lists(st.integers(1, max(1, n - 1)), max_size=20))
    whole = _fold(cos, weight, skipped, [], block)
    assert _stats(_fold(cos, weight, skipped, cuts, block)) == _stats(whole)
    # one chunk per vector, too
    assert _stats(_fold(cos, weight, skipped, list(range(1, n)), block)) == _stats(whole)
    # and the sums are the sums (to rounding), not just stable
    kept = cos[~skipped]
    assert whole.rows == kept.size
    if kept.size:
        assert whole.sum_cos.value == pytest.approx(float(np.sum(kept)), rel=1e-12, abs=1e-12)
        assert whole.cos_std == pytest.approx(float(np.std(kept)), rel=1e-9, abs=1e-12)


def test_reading_a_statistic_folds_what_is_staged() -> None:
    acc = Accumulator(block=1000)
    acc.update(_chunk(0, np.array([0.5, 1.0]), None, np.zeros(2, bool)))
    assert acc.rows == 2 and acc.sum_cos.value == 1.5 and acc.cos_min == 0.5
    other = Accumulator(block=1000)
    other.update(_chunk(2, np.array([0.25]), None, np.zeros(1, bool)))
    merged = acc.merge(other)
    assert merged.rows == 3 and merged.cos_min == 0.25


@pytest.mark.parametrize("threads", ["1", "2"])
def test_chunk_sizes_give_the_same_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: str) -> None:
    # blocks of 64 vectors, so that 1,000 rows cross many block edges at every chunk size
    monkeypatch.setattr(accumulate, "BLOCK", 64)
    rng = np.random.default_rng(3)
    a = rng.standard_normal((1000, 16)).astype(np.float32)
    b = (a + 0.3 * rng.standard_normal((1000, 16))).astype(np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    np.save(tmp_path / "w.npy", rng.uniform(0, 1, 1000))
    outs = []
    for chunk in (["--chunk-size", "1"], ["--chunk-size", "7"], []):
        r = CliRunner().invoke(
            cli,
            [
                "score",
                str(tmp_path / "a.npy"),
                str(tmp_path / "b.npy"),
                "--weights",
                str(tmp_path / "w.npy"),
                "--json",
                "--threads",
                threads,
                *chunk,
            ],
        )
        assert r.exit_code == 0, r.stderr
        d = json.loads(r.stdout)
        d.pop("engine", None)
        d.get("options", {}).pop("chunk_size", None)
        outs.append(d)
    assert outs[0] == outs[1] == outs[2]
    assert outs[0]["cos"]["mean"] == pytest.approx(
        float(np.mean(np.sum(a * b, 1) / np.sqrt(np.sum(a * a, 1) * np.sum(b * b, 1)))), rel=1e-6
    )


def test_a_refilled_weight_buffer_does_not_change_staged_sums() -> None:
    # a reader (an .npy stream) or a score_chunks caller may refill one buffer for every chunk;
    # the staged chunks must not see the later contents
    buf = np.empty(4)
    acc = Accumulator()
    cos = np.array([0.5, 0.5, 0.5, 0.5])
    for w in (1.0, 2.0, 3.0):
        buf[:] = w
        acc.update(ScoredChunk(0, cos.copy(), -cos, cos == 0, np.zeros(4, bool), buf))
    assert acc.sum_weighted_loss.value == pytest.approx(-0.5 * 4 * (1 + 2 + 3))
    assert acc.sum_weight_share.value == pytest.approx(4 * (1 + 2 + 3))


def test_the_worst_list_is_exact_whatever_the_blocks() -> None:
    # staged with the sums: ties at the K-th loss go to the lower row, ids follow their rows
    rng = np.random.default_rng(9)
    cos = np.round(rng.uniform(-1, 1, 500), 2)  # many ties
    ids = np.array([f"doc{i}" for i in range(500)], dtype=object)
    order = np.lexsort((np.arange(500), cos))[:7]  # the highest loss (-cos): lowest cos, then lower row
    for block, cuts in ((7, [3, 100, 101, 499]), (64, list(range(1, 500, 13))), (accumulate.BLOCK, [])):
        acc = Accumulator(worst=WorstK(7), block=block)
        edges = [0, *cuts, 500]
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            acc.update(
                ScoredChunk(lo, cos[lo:hi], -cos[lo:hi], cos[lo:hi] == 9, np.zeros(hi - lo, bool), ids=ids[lo:hi])
            )
        got = acc.worst.to_list()
        assert [w["row"] for w in got] == order.tolist()
        assert [w["id"] for w in got] == [f"doc{i}" for i in order]
