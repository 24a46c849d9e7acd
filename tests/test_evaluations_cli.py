"""Issue 12 through the command line and the library: target losses, correlations, --dims, --group-col,
several candidates, --diff, and their gates. References are float64 NumPy, scipy, hand-computed values
and torch's documented formulas (CosineEmbeddingLoss: 1 - cos for y = 1, max(0, cos - margin) for
y = -1; its cosine adds EPSILON = 1e-12, a C++ float, to each squared norm)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cosine_cli import score
from cosine_cli.cli import cli
from cosine_cli.groups import MAX_GROUPS

scipy_stats = pytest.importorskip("scipy.stats")

N, D = 60, 16


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["score", *args])


def js(*args: str) -> dict[str, Any]:
    r = run(*args, "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def cos64(p: np.ndarray, lab: np.ndarray) -> np.ndarray:
    p, lab = p.astype(np.float64), lab.astype(np.float64)
    return np.einsum("ij,ij->i", p, lab) / (np.linalg.norm(p, axis=1) * np.linalg.norm(lab, axis=1))


def torch_cel_cos(p: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """aten cosine_embedding_loss's cosine: dot / sqrt((|p|^2 + EPS) * (|lab|^2 + EPS)), EPS float(1e-12)."""
    p, lab = p.astype(np.float64), lab.astype(np.float64)
    eps = float(np.float32(1e-12))
    return np.einsum("ij,ij->i", p, lab) / np.sqrt(
        (np.einsum("ij,ij->i", p, p) + eps) * (np.einsum("ij,ij->i", lab, lab) + eps)
    )


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Any]:
    rng = np.random.default_rng(12)
    p = rng.normal(size=(N, D))
    lab = p + 0.4 * rng.normal(size=(N, D))
    q = p + 0.1 * rng.normal(size=(N, D))
    y = rng.choice([-1.0, 1.0], N)
    s = np.round(rng.uniform(0, 1, N), 1)  # ties, for Spearman's average ranks
    lang = rng.choice(["de", "en", "fr"], N)
    out: dict[str, Any] = {"dir": tmp_path, "p": p, "l": lab, "q": q, "y": y, "s": s, "lang": lang}
    for name in ("p", "l", "q", "y", "s"):
        np.save(tmp_path / f"{name}.npy", out[name])
        np.save(tmp_path / f"{name}32.npy", out[name].astype(np.float32))
    pq.write_table(
        pa.table({"pred": list(p), "label": list(lab), "lang": lang, "score": s, "y": y}), tmp_path / "pairs.parquet"
    )
    return out


def path(data: dict[str, Any], name: str) -> str:
    return str(data["dir"] / f"{name}.npy")


# -- --loss embedding ------------------------------------------------------------------------------


def test_embedding_golden_by_hand(tmp_path: Path) -> None:
    # cos = 1, 0, 1/sqrt(2); y = 1, -1, -1
    p = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    lab = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "lab.npy", lab)
    np.save(tmp_path / "y.npy", np.array([1.0, -1.0, -1.0]))
    r2 = 1 / math.sqrt(2)
    for margin, losses in ((0.0, [0.0, 0.0, r2]), (0.25, [0.0, 0.0, r2 - 0.25]), (-0.5, [0.0, 0.5, r2 + 0.5])):
        args = [str(tmp_path / "p.npy"), str(tmp_path / "lab.npy"), "--targets", str(tmp_path / "y.npy")]
        args += ["--loss", "embedding", "--margin", str(margin)]
        r = run(*args, "--reduction", "none")
        assert r.exit_code == 0, r.stderr
        assert [float(x) for x in r.stdout.split()] == pytest.approx(losses, abs=1e-15)
        assert js(*args, "--reduction", "sum")["loss"] == pytest.approx(sum(losses), abs=1e-15)
        assert js(*args, "--reduction", "mean")["loss"] == pytest.approx(sum(losses) / 3, abs=1e-15)


@pytest.mark.parametrize("margin", [0.0, 0.25, -0.5])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", ["", "32"])
@pytest.mark.parametrize("compat", ["keras", "torch"])
def test_embedding_against_the_formula(
    data: dict[str, Any], margin: float, reduction: str, dtype: str, compat: str
) -> None:
    p, lab = np.load(path(data, "p" + dtype)), np.load(path(data, "l" + dtype))
    y = data["y"]
    cos = torch_cel_cos(p, lab) if compat == "torch" else cos64(p, lab)
    expected = np.where(y == 1, 1 - cos, np.maximum(0.0, cos - margin))
    args = [path(data, "p" + dtype), path(data, "l" + dtype), "--targets", path(data, "y"), "--loss", "embedding"]
    args += ["--margin", str(margin), "--compat", compat, "--reduction", reduction]
    tol = 1e-12 if dtype == "" else 1e-6
    if reduction == "none":
        r = run(*args)
        assert r.exit_code == 0, r.stderr
        np.testing.assert_allclose([float(x) for x in r.stdout.split()], expected, rtol=0, atol=tol)
    else:
        want = expected.sum() if reduction == "sum" else expected.mean()
        assert js(*args)["loss"] == pytest.approx(want, rel=0, abs=tol * N)


def test_torch_epsilon_is_the_float_constant(tmp_path: Path) -> None:
    # tiny vectors: |p|^2 = 1e-12 is of the size of EPSILON, so the cosine moves far from 1
    p = np.full((1, 1), 1e-6)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "y.npy", np.array([1.0]))
    args = [str(tmp_path / "p.npy"), str(tmp_path / "p.npy"), "--targets", str(tmp_path / "y.npy")]
    d = js(*args, "--loss", "embedding", "--compat", "torch")
    eps = float(np.float32(1e-12))
    assert d["loss"] == pytest.approx(1 - 1e-12 / (1e-12 + eps), rel=1e-12)


def test_embedding_refuses_other_targets(data: dict[str, Any], tmp_path: Path) -> None:
    y = data["y"].copy()
    y[17] = 0.5
    np.save(tmp_path / "bad.npy", y)
    r = run(path(data, "p"), path(data, "l"), "--targets", str(tmp_path / "bad.npy"), "--loss", "embedding")
    assert r.exit_code == 3
    assert "row 17" in r.stderr and "0.5" in r.stderr and r.stdout == ""
    r = run(path(data, "p"), path(data, "l"), "--loss", "embedding")
    assert r.exit_code == 2 and "--targets" in r.stderr


@pytest.mark.parametrize("chunk", ["1", "7", None])
def test_mse_and_correlations(data: dict[str, Any], chunk: str | None) -> None:
    extra = ["--chunk-size", chunk] if chunk else []
    d = js(path(data, "p"), path(data, "l"), "--targets", path(data, "s"), "--loss", "mse", *extra)
    cos = cos64(data["p"], data["l"])
    assert d["loss"] == pytest.approx(np.mean((cos - data["s"]) ** 2), abs=1e-12)
    assert d["correlation"]["pearson"] == pytest.approx(scipy_stats.pearsonr(cos, data["s"])[0], abs=1e-9)
    assert d["correlation"]["spearman"] == pytest.approx(scipy_stats.spearmanr(cos, data["s"])[0], abs=1e-9)


def test_target_col_from_the_table_and_library(data: dict[str, Any]) -> None:
    pairs = str(data["dir"] / "pairs.parquet")
    d = js(pairs, "--pred-col", "pred", "--label-col", "label", "--target-col", "score")
    lib = score(data["p"], data["l"], targets=data["s"]).to_dict()
    assert d["correlation"] == pytest.approx(lib["correlation"], abs=1e-12)
    assert "correlation" not in js(path(data, "p"), path(data, "l"))


# -- --dims, --group-col, candidates, --diff: the same numbers as separate runs ------------------------

SAME = ("loss", "rows", "cos")


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["rows"] == b["rows"]
    assert a["loss"] == pytest.approx(b["loss"], abs=1e-12)
    for k, v in b["cos"].items():
        assert a["cos"][k] == pytest.approx(v, abs=1e-12), k


@pytest.mark.parametrize("chunk", ["1", "7", None])
def test_dims_equal_separate_runs(data: dict[str, Any], chunk: str | None) -> None:
    extra = ["--chunk-size", chunk] if chunk else []
    d = js(path(data, "p"), path(data, "l"), "--dims", "4,8,16", *extra)
    assert list(d["by_dim"]) == ["4", "8", "16"]
    for dim in (4, 8):
        np.save(data["dir"] / "pd.npy", data["p"][:, :dim])
        np.save(data["dir"] / "ld.npy", data["l"][:, :dim])
        assert_same(d["by_dim"][str(dim)], js(path(data, "pd"), path(data, "ld")))
    assert_same(d["by_dim"]["16"], d)
    r = run(path(data, "p"), path(data, "l"), "--dims", "4,32")
    assert r.exit_code == 2 and "32" in r.stderr


@pytest.mark.parametrize(
    "extra",
    [
        ["--worst", "3", "--weights", "w.npy", "--reduction", "mean_with_sample_weight"],
        ["--targets", "y.npy", "--loss", "embedding", "--margin", "0.25", "--compat", "torch", "--worst", "2"],
        ["--targets", "s.npy", "--loss", "mse", "--nan-policy", "skip"],
    ],
)
def test_dims_do_not_depend_on_the_batches(
    data: dict[str, Any], extra: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the per-dim cosines are held back and scored a batch of BATCH_ROWS rows at a time; batches
    # that cut chunks anywhere must give the very same numbers (no tolerance)
    import cosine_cli.evaluations as evaluations

    np.save(data["dir"] / "w.npy", np.linspace(0.0, 2.0, N))
    p = data["p"].copy()
    p[5, 2] = np.nan  # within dim 4..16 only: skipped there, not at dim 2
    p[9, :2] = 0.0  # zero in the first two components only
    np.save(data["dir"] / "pn.npy", p)
    args = [path(data, "pn"), path(data, "l"), "--dims", "2,4,8,16", "--json"]
    args += [str(data["dir"] / x) if x.endswith(".npy") else x for x in extra]
    if "skip" not in extra:
        args[0] = path(data, "p")
    whole = run(*args)
    assert whole.exit_code == 0, whole.stderr
    for batch, chunk in ((5, "7"), (1, "3"), (13, "1")):
        monkeypatch.setattr(evaluations, "BATCH_ROWS", batch)
        cut = run(*args, "--chunk-size", chunk)
        assert cut.exit_code == 0, cut.stderr
        assert json.loads(cut.stdout)["by_dim"] == json.loads(whole.stdout)["by_dim"]
    by_dim = json.loads(whole.stdout)["by_dim"]
    if "skip" in extra:
        assert by_dim["2"]["rows"] == N and by_dim["4"]["rows"] == N - 1
        assert by_dim["2"]["zero_vectors"] == 1


def test_groups_equal_separate_runs(data: dict[str, Any]) -> None:
    pairs = str(data["dir"] / "pairs.parquet")
    d = js(pairs, "--pred-col", "pred", "--label-col", "label", "--group-col", "lang", "--chunk-size", "7")
    assert sorted(d["by_group"]) == ["de", "en", "fr"]
    for g in ("de", "en", "fr"):
        m = data["lang"] == g
        assert_same(d["by_group"][g], score(data["p"][m], data["l"][m]).to_dict())


def test_too_many_groups(tmp_path: Path) -> None:
    n = MAX_GROUPS + 1
    v = np.ones((n, 2))
    pq.write_table(pa.table({"pred": list(v), "label": list(v), "g": np.arange(n)}), tmp_path / "t.parquet")
    r = run(str(tmp_path / "t.parquet"), "--pred-col", "pred", "--label-col", "label", "--group-col", "g")
    assert r.exit_code == 3 and str(MAX_GROUPS) in r.stderr


def test_candidates_equal_separate_runs(data: dict[str, Any]) -> None:
    d = js(path(data, "p"), "fine=" + path(data, "q"), "--label", path(data, "l"), "--chunk-size", "7")
    assert list(d["by_candidate"]) == ["p", "fine"]
    assert_same(d["by_candidate"]["p"], js(path(data, "p"), path(data, "l")))
    assert_same(d["by_candidate"]["fine"], js(path(data, "q"), path(data, "l")))
    assert_same(d, d["by_candidate"]["p"])  # the top level is the first candidate's
    # PRED LABEL is unchanged
    assert "by_candidate" not in js(path(data, "p"), path(data, "l"))


def test_diff_against_float64(data: dict[str, Any]) -> None:
    d = js(path(data, "p"), path(data, "l"), "--diff", "--chunk-size", "7")
    p, lab = data["p"], data["l"]
    rel = np.linalg.norm(p - lab, axis=1) / np.linalg.norm(lab, axis=1)
    ratio = np.linalg.norm(p, axis=1) / np.linalg.norm(lab, axis=1)
    assert d["diff"]["max_abs"] == np.abs(p - lab).max()
    assert d["diff"]["rel_l2"]["mean"] == pytest.approx(rel.mean(), rel=1e-13)
    assert d["diff"]["rel_l2"]["max"] == pytest.approx(rel.max(), rel=1e-13)
    assert d["norm_ratio"] == pytest.approx({"mean": ratio.mean(), "min": ratio.min(), "max": ratio.max()}, rel=1e-13)


# -- gates on the new numbers fail at the threshold ----------------------------------------------------


def _at_threshold(base: list[str], name: str, value: float, op: str = ">=") -> None:
    above = np.nextafter(value, math.inf) if op == ">=" else np.nextafter(value, -math.inf)
    ok = run(*base, "--gate", f"{name} {op} {value!r}")
    assert ok.exit_code == 0, ok.stderr
    bad = run(*base, "--gate", f"{name} {op} {float(above)!r}")
    assert bad.exit_code == 1, bad.stderr
    assert "FAIL" in bad.stdout


def _lookup(d: Any, name: str) -> float:
    for part in name.split("."):
        d = d[part]
    return float(d)


def test_gates_fail_at_the_threshold(data: dict[str, Any]) -> None:
    base = [path(data, "p"), path(data, "l"), "--targets", path(data, "s"), "--dims", "4,8", "--diff"]
    d = js(*base)
    for name in ("by_dim.4.cos.p01", "correlation.spearman"):
        _at_threshold(base, name, _lookup(d, name))
    _at_threshold(base, "diff.max_abs", d["diff"]["max_abs"], "<=")
    pairs = str(data["dir"] / "pairs.parquet")
    gbase = [pairs, "--pred-col", "pred", "--label-col", "label", "--group-col", "lang"]
    g = js(*gbase)
    _at_threshold(gbase, "by_group.de.cos.min", g["by_group"]["de"]["cos"]["min"])
    worst = min(v["cos"]["min"] for v in g["by_group"].values())
    _at_threshold(gbase, "by_group.*.cos.min", worst)
    cbase = [path(data, "p"), "fine=" + path(data, "q"), "--label", path(data, "l")]
    c = js(*cbase)
    # a gate without a prefix holds for every candidate: the threshold is the lower candidate's
    low = min(v["cos"]["min"] for v in c["by_candidate"].values())
    _at_threshold(cbase, "cos.min", low)
    _at_threshold(cbase, "by_candidate.fine.cos.min", c["by_candidate"]["fine"]["cos"]["min"])


def test_unknown_slice_metric_is_a_usage_error(data: dict[str, Any]) -> None:
    r = run(path(data, "p"), path(data, "l"), "--gate", "by_dim.4.cos.median >= 0.5")
    assert r.exit_code == 2


def test_reports_show_the_slices(data: dict[str, Any]) -> None:
    pairs = str(data["dir"] / "pairs.parquet")
    out = data["dir"]
    args = [pairs, "--pred-col", "pred", "--label-col", "label", "--group-col", "lang", "--dims", "4,8"]
    args += ["--markdown", str(out / "m.md"), "--junit", str(out / "j.xml"), "--html", str(out / "h.html")]
    args += ["--gate", "by_group.*.cos.min >= 0"]
    r = run(*args)
    assert r.exit_code == 0, r.stderr
    assert "per group" in r.stdout and "per dim" in r.stdout
    md = (out / "m.md").read_text()
    assert "### Per group" in md and "### Per dim" in md
    xml = (out / "j.xml").read_text()
    assert xml.count("<testcase ") == 3 and 'classname="cosloss.by_group.de"' in xml
    assert 'name="by_dim.4.cos.mean"' in xml
    html = (out / "h.html").read_text()
    assert "Per group" in html and "Per dimension" in html


def test_targets_and_groups_follow_a_join_on_id(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n = 30
    p = rng.normal(size=(n, 4))
    lab = p + 0.3 * rng.normal(size=(n, 4))
    s = rng.uniform(size=n)
    g = rng.choice(["a", "b"], n)
    perm = rng.permutation(n)
    pq.write_table(pa.table({"id": np.arange(n), "pred": list(p), "lang": g}), tmp_path / "P.parquet")
    pq.write_table(pa.table({"id": perm, "label": list(lab[perm]), "score": s[perm]}), tmp_path / "L.parquet")
    r = score(
        str(tmp_path / "P.parquet"),
        str(tmp_path / "L.parquet"),
        id_col="id",
        join_on_id=True,
        target_col="score",
        group_col="lang",
        pred_col="pred",
        label_col="label",
    ).to_dict()
    assert r["correlation"] == pytest.approx(score(p, lab, targets=s).to_dict()["correlation"], abs=1e-12)
    for k in ("a", "b"):
        assert_same(r["by_group"][k], score(p[g == k], lab[g == k]).to_dict())


def test_candidate_names_and_usage_errors(data: dict[str, Any]) -> None:
    r = run(path(data, "p"), path(data, "q"), path(data, "l"))
    assert r.exit_code == 2 and "--label REF" in r.stderr
    r = run(path(data, "p"), "x=" + path(data, "q"), "x=" + path(data, "l"), "--label", path(data, "l"))
    assert r.exit_code == 2 and "'x'" in r.stderr
    r = run(path(data, "p"), path(data, "q"), "--label", path(data, "l"), "--reduction", "none")
    assert r.exit_code == 2
    assert list(js(path(data, "p"), path(data, "q"), "--label", path(data, "l"))["by_candidate"]) == ["p", "q"]


def test_library_takes_the_same_options(data: dict[str, Any]) -> None:
    p, lab, y = data["p"], data["l"], data["y"]
    r = score(p, lab, targets=y, loss="embedding", margin=0.25, reduction="sum", dims="4,8", diff=True)
    cos = cos64(p, lab)
    assert r.loss == pytest.approx(np.where(y == 1, 1 - cos, np.maximum(0, cos - 0.25)).sum(), abs=1e-12)
    d = r.to_dict()
    assert set(d) >= {"correlation", "by_dim", "diff", "norm_ratio"}
    c = score({"a": p, "b": data["q"]}, lab).to_dict()
    assert list(c["by_candidate"]) == ["a", "b"]
    from cosine_cli.errors import UsageProblem

    with pytest.raises(UsageProblem, match="targets="):
        score(p, lab, loss="mse")


@pytest.mark.parametrize("chunk", ["1", "7"])
def test_slices_do_not_depend_on_the_chunking(data: dict[str, Any], chunk: str) -> None:
    pairs = str(data["dir"] / "pairs.parquet")
    np.save(data["dir"] / "w.npy", np.linspace(0.5, 2.0, N))
    args = [pairs, "--pred-col", "pred", "--label-col", "label", "--group-col", "lang", "--dims", "4,16"]
    args += ["--worst", "3", "--weights", str(data["dir"] / "w.npy"), "--reduction", "mean_with_sample_weight"]
    a, b = js(*args), js(*args, "--chunk-size", chunk)
    for key in ("by_group", "by_dim"):
        for name, entry in a[key].items():
            assert_same(b[key][name], entry)
            assert [w["row"] for w in b[key][name]["worst"]] == [w["row"] for w in entry["worst"]]
            assert b[key][name]["weights"] == pytest.approx(entry["weights"])


@pytest.mark.parametrize("threads", ["1", "2"])
def test_candidate_ids_are_checked_against_the_reference(tmp_path: Path, threads: str) -> None:
    # --id-col: every candidate's own id column is checked row by row, not only PRED's; a candidate
    # written in another order is an input error naming the row, never a silent wrong number
    rng = np.random.default_rng(5)
    ref = rng.normal(size=(40, 4))
    ids = np.arange(40)

    def write(name: str, x: np.ndarray, order: np.ndarray) -> str:
        table = pa.table(
            {"id": pa.array(ids[order]), "emb": pa.FixedSizeListArray.from_arrays(pa.array(x[order].ravel()), 4)}
        )
        pq.write_table(table, tmp_path / name, row_group_size=8)
        return str(tmp_path / name)

    same = np.arange(40)
    swapped = same.copy()
    swapped[[20, 21]] = swapped[[21, 20]]
    label = write("ref.parquet", ref, same)
    good = write("fp16.parquet", ref + 0.01, same)
    bad = write("int8.parquet", ref + 0.02, swapped)
    ok = run(good, "a=" + good, "--label", label, "--id-col", "id", "--json", "--threads", threads)
    assert ok.exit_code == 0, ok.stderr
    r = run(good, bad, "--label", label, "--id-col", "id", "--json", "--threads", threads, "--chunk-size", "7")
    assert r.exit_code == 3 and r.stdout == ""
    assert "int8.parquet" in r.stderr and "row 20" in r.stderr and "reference's row order" in r.stderr


def test_baseline_is_checked_for_every_candidate(data: dict[str, Any], tmp_path: Path) -> None:
    # --baseline with several candidates: each candidate's loss against the baseline's entry of the
    # same name (else its loss); any one going up beyond the tolerance fails the run
    q, p, lab = path(data, "p"), path(data, "q"), path(data, "l")  # LABEL is p + noise: q scores worse
    base = js("a=" + q, "b=" + q, "--label", lab)
    (tmp_path / "base.json").write_text(json.dumps(base))
    same = run("a=" + q, "b=" + q, "--label", lab, "--baseline", str(tmp_path / "base.json"), "--json")
    assert same.exit_code == 0, same.stderr
    d = json.loads(same.stdout)
    assert set(d["baseline"]["by_candidate"]) == {"a", "b"} and d["baseline"]["passed"] is True
    # b is now the worse file: b fails, a passes
    worse = run("a=" + q, "b=" + p, "--label", lab, "--baseline", str(tmp_path / "base.json"), "--json")
    assert worse.exit_code == 1, worse.stderr
    d = json.loads(worse.stdout)
    assert d["baseline"]["by_candidate"]["a"]["passed"] is True
    assert d["baseline"]["by_candidate"]["b"]["passed"] is False
    assert d["baseline"]["passed"] is False
    assert d["baseline"]["by_candidate"]["b"]["loss"] == base["by_candidate"]["b"]["loss"]
    # a one-PRED baseline: every candidate is compared with its loss
    (tmp_path / "one.json").write_text(json.dumps(js(q, lab)))
    r = run("a=" + q, "b=" + p, "--label", lab, "--baseline", str(tmp_path / "one.json"), "--json")
    assert r.exit_code == 1
    assert json.loads(r.stdout)["baseline"]["by_candidate"]["b"]["loss"] == js(q, lab)["loss"]


def test_candidates_of_other_dtypes_equal_separate_runs(tmp_path: Path) -> None:
    # the reference's squared norms are taken once a chunk per working precision: a float16, a
    # float32 and a float64 candidate against a float32 reference give each separate run's bits
    rng = np.random.default_rng(8)
    ref = rng.normal(size=(300, 12)).astype(np.float32)
    np.save(tmp_path / "ref.npy", ref)
    names = {}
    for dt in ("float16", "float32", "float64"):
        np.save(tmp_path / f"{dt}.npy", (ref + 0.05 * rng.normal(size=ref.shape)).astype(dt))
        names[dt] = str(tmp_path / f"{dt}.npy")
    d = js(*(f"{k}={v}" for k, v in names.items()), "--label", str(tmp_path / "ref.npy"), "--chunk-size", "7")
    for k, v in names.items():
        alone = js(v, str(tmp_path / "ref.npy"), "--chunk-size", "7")
        assert d["by_candidate"][k]["loss"] == alone["loss"], k
        assert d["by_candidate"][k]["cos"] == alone["cos"], k
