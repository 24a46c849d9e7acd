"""Gates and baselines: exit codes 0 / 1 / 2, exact comparison, annotations on GitHub Actions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cosine_cli.cli import cli
from cosine_cli.gates import parse_gate, parse_tolerance

PRED, LABEL, WEIGHTS = "sample_data/preds.npy", "sample_data/labels.npy", "sample_data/weights.npy"


def run(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["score", PRED, LABEL, *args], env=env)


@pytest.fixture
def summary(in_repo: Path) -> dict:  # type: ignore[type-arg]
    r = run("--json")
    assert r.exit_code == 0
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_gate_on_the_exact_value_passes_with_inclusive_ops_only(summary: dict) -> None:  # type: ignore[type-arg]
    p50 = summary["cos"]["p50"]
    assert run("--gate", f"cos.p50 >= {p50!r}", "--gate", f"cos.p50 <= {p50!r}").exit_code == 0
    r = run("--gate", f"cos.p50 > {p50!r}")
    assert r.exit_code == 1
    assert f"value {p50!r}, required > {p50!r}" in r.stdout
    assert run("--gate", f"cos.p50 < {p50!r}").exit_code == 1


def test_every_gate_is_listed_and_one_failure_fails_the_run(summary: dict) -> None:  # type: ignore[type-arg]
    r = run("--gate", "cos.min > -2", "--gate", "rows >= 65", "--gate", "zero_vectors <= 1")
    assert r.exit_code == 1
    assert "pass  cos.min > -2: value -1.0, required > -2.0" in r.stdout
    assert "FAIL  rows >= 65: value 64, required >= 65.0" in r.stdout
    assert "pass  zero_vectors <= 1" in r.stdout


def test_the_next_float_is_not_rounded_away(summary: dict) -> None:  # type: ignore[type-arg]
    import math

    loss = summary["loss"]
    assert run("--fail-above", repr(loss)).exit_code == 0
    assert run("--fail-above", repr(math.nextafter(loss, -1))).exit_code == 1


@pytest.mark.parametrize(
    "expr",
    [
        "cos.p1 >= 0.9",
        "mean_cos > 0.5",
        "cos >= 1",
        "loss => 1",
        "loss >= x",
        "loss >= nan",
        "loss",
        "histogram.counts > 1",
    ],
)
def test_unknown_names_and_malformed_gates_are_usage_errors(in_repo: Path, expr: str) -> None:
    r = run("--gate", expr)
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "--gate" in r.stderr


def test_gates_that_could_only_see_null_are_refused(in_repo: Path) -> None:
    assert run("--gate", "weights.sum > 1").exit_code == 2
    assert run("--gate", "loss < 0", "--reduction", "none").exit_code == 2
    assert run("--gate", "weights.sum > 1", "--weights", WEIGHTS).exit_code == 0


def test_annotations_on_github_actions_go_to_stderr(in_repo: Path) -> None:
    r = run("--gate", "cos.min >= 0.5", "--json", env={"GITHUB_ACTIONS": "true"})
    assert r.exit_code == 1
    assert r.stderr == "::error title=cosloss gate::FAILED: cos.min = -1.0, required >= 0.5\n"
    gates = json.loads(r.stdout)["gates"]
    assert gates == [
        {"expr": "cos.min >= 0.5", "name": "cos.min", "op": ">=", "threshold": 0.5, "value": -1.0, "passed": False}
    ]
    assert "::error" not in run("--gate", "cos.min >= 0.5").stderr


def _baseline(tmp_path: Path, summary: dict, loss: float) -> str:  # type: ignore[type-arg]
    path = tmp_path / "base.json"
    path.write_text(json.dumps({**summary, "loss": loss}))
    return str(path)


def test_baseline_exit_codes(summary: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    loss = summary["loss"]
    same = _baseline(tmp_path, summary, loss)
    assert run("--baseline", same).exit_code == 0
    better_before = _baseline(tmp_path, summary, loss - 0.25)  # this run is 0.25 worse
    assert run("--baseline", better_before, "--tolerance", "0.1").exit_code == 1
    r = run("--baseline", better_before, "--tolerance", "0.5", "--json")
    assert r.exit_code == 0
    base = json.loads(r.stdout)["baseline"]
    assert base["loss"] == loss - 0.25 and base["current"] == loss and base["delta"] == loss - (loss - 0.25)
    # relative: 0.25 of |loss - 0.25| ~ 1.137 is about 22%
    assert run("--baseline", better_before, "--tolerance", "20%").exit_code == 1
    assert run("--baseline", better_before, "--tolerance", "25%").exit_code == 0


def test_baseline_delta_exactly_on_the_tolerance_passes(summary: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    loss = summary["loss"]
    base = _baseline(tmp_path, summary, loss - 0.5)
    delta = loss - (loss - 0.5)
    assert run("--baseline", base, "--tolerance", repr(delta)).exit_code == 0
    import math

    assert run("--baseline", base, "--tolerance", repr(math.nextafter(delta, 0))).exit_code == 1


def test_baseline_usage_and_input_errors(summary: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    base = _baseline(tmp_path, summary, 0.0)
    assert run("--tolerance", "1").exit_code == 2
    assert run("--baseline", base, "--tolerance", "x%").exit_code == 2
    assert run("--baseline", base, "--tolerance", "-1").exit_code == 2
    assert run("--baseline", base, "--loss", "distance").exit_code == 2  # not comparable
    assert run("--baseline", str(tmp_path / "missing.json")).exit_code == 3
    (tmp_path / "bad.json").write_text("{")
    assert run("--baseline", str(tmp_path / "bad.json")).exit_code == 3


def test_parsers() -> None:
    g = parse_gate("  cos.p01>=0.999 ")
    assert (g.name, g.op, g.threshold) == ("cos.p01", ">=", 0.999)
    assert parse_tolerance("2%") == (2.0, True)
    assert parse_tolerance("0.001") == (0.001, False)
