"""The GitHub side: action.yml run the way the runner runs a composite action, the step outputs
($GITHUB_OUTPUT) and the Mermaid chart of the job summary (--markdown).

The runner is simulated faithfully where it matters: each ``run`` step's ``${{ }}`` expressions
are evaluated (``github.action_path``, ``inputs.*`` with their defaults, ``steps.*.outputs.*``), the
script goes to ``bash --noprofile --norc -eo pipefail FILE`` with the step's ``env``, and the
outputs are read back from the ``$GITHUB_OUTPUT`` file in its two syntaxes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cosine_cli.cli import cli
from cosine_cli.reports.github import output_lines
from cosine_cli.reports.markdown import mermaid_histogram

yaml = pytest.importorskip("yaml", reason="PyYAML reads action.yml (it comes with dask, a test extra)")

REPO = Path(__file__).parent.parent
ACTION = REPO / "action.yml"


@pytest.fixture(autouse=True)
def _no_ci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)


def parse_github_output(text: str) -> dict[str, str]:
    """Read a $GITHUB_OUTPUT file as the runner does: ``key=value`` lines and ``key<<DELIM`` blocks."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i)
            out[key] = "\n".join(lines[i:end])
            i = end + 1
        else:
            key, value = line.split("=", 1)
            out[key] = value
    return out


# -- $GITHUB_OUTPUT -----------------------------------------------------------------------------


def test_output_lines_round_trip_and_use_a_delimiter_for_newlines() -> None:
    d = {"loss": -0.25, "rows": 3, "gates": [{"passed": True, "value": 0.5}, {"passed": False, "value": None}]}
    text = output_lines(d)
    assert text.startswith("loss=-0.25\nrows=3\npassed=false\n")
    assert parse_github_output(text) == {"loss": "-0.25", "rows": "3", "passed": "false", "gate_1": "0.5", "gate_2": ""}
    assert parse_github_output(output_lines({"loss": None, "rows": 0})) == {"loss": "", "rows": "0", "passed": "true"}
    tricky = output_lines({"loss": "a\nb=c", "rows": 1})
    assert re.match(r"loss<<(ghadelimiter_[0-9a-f]{16})\na\nb=c\n\1\n", tricky)
    assert parse_github_output(tricky)["loss"] == "a\nb=c"


def test_score_appends_the_step_outputs(tmp_path: Path, sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "github_output"
    out.write_text("earlier=step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    args = ["score", str(sample / "preds.npy"), str(sample / "labels.npy"), "--json"]
    r = CliRunner().invoke(cli, [*args, "--gate", "rows >= 64", "--gate", "cos.p01 >= 0.9"])
    assert r.exit_code == 1
    summary = json.loads(r.stdout)
    got = parse_github_output(out.read_text(encoding="utf-8"))
    assert got == {
        "earlier": "step",  # appended, never truncated
        "loss": repr(summary["loss"]),
        "rows": "64",
        "passed": "false",
        "gate_1": "64",
        "gate_2": repr(summary["cos"]["p01"]),
    }
    assert float(got["loss"]) == summary["loss"]  # unrounded


# -- Mermaid in the job summary ---------------------------------------------------------------------

_MERMAID_LINE = {
    "title": re.compile(r'^title "[^"]*"$'),
    "x-axis": re.compile(r'^x-axis (?:"[^"]*" )?\[(.*)\]$'),
    "y-axis": re.compile(r'^y-axis (?:"[^"]*" )?(-?[\d.]+) --> (-?[\d.]+)$'),
    "bar": re.compile(r"^bar \[(.*)\]$"),
}


def parse_xychart(block: list[str]) -> dict[str, Any]:
    """Check a Mermaid block against the xychart-beta syntax GitHub documents; return its parts."""
    assert block[0] == "```mermaid" and block[-1] == "```"
    body = [line.strip() for line in block[1:-1] if line.strip()]
    assert body[0] == "xychart-beta"
    parts: dict[str, Any] = {}
    for line in body[1:]:
        keyword = line.split(" ", 1)[0]
        assert keyword in _MERMAID_LINE, f"not xychart-beta syntax: {line!r}"
        m = _MERMAID_LINE[keyword].match(line)
        assert m, f"malformed {keyword}: {line!r}"
        parts[keyword] = m
    labels = re.findall(r'"([^"]*)"', parts["x-axis"].group(1))
    bars = [int(x) for x in parts["bar"].group(1).split(",")]
    return {"labels": labels, "bars": bars, "y_max": float(parts["y-axis"].group(2))}


def test_markdown_holds_a_mermaid_chart_whose_bars_are_the_counts(tmp_path: Path, sample: Path) -> None:
    md = tmp_path / "summary.md"
    args = ["score", str(sample / "preds.npy"), str(sample / "labels.npy"), "--json", "--markdown", str(md)]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.stderr
    counts = json.loads(r.stdout)["histogram"]["counts"]
    lines = md.read_text(encoding="utf-8").split("\n")
    start = lines.index("```mermaid")
    chart = parse_xychart(lines[start : lines.index("```", start + 1) + 1])
    assert chart["bars"] == counts
    assert len(chart["labels"]) == len(counts) and len(set(chart["labels"])) == len(counts)
    assert chart["y_max"] >= max(counts)
    assert "```text" in lines  # the text histogram stays, for renderers without Mermaid


def test_mermaid_chart_of_no_histogram_is_absent() -> None:
    assert mermaid_histogram({"edges": [], "counts": []}) == []


def test_markdown_has_per_slice_tables() -> None:
    from cosine_cli.reports.markdown import slice_tables

    d = {"by_group": {"de": {"rows": 2, "loss": -0.5, "cos": {"mean": 0.5}}, "a|b": {"rows": 1, "loss": -1.0}}}
    lines = slice_tables(d)
    assert "### Per group" in lines
    assert "| group | rows | loss | cos.mean |" in lines
    assert "| `de` | `2` | `-0.5` | `0.5` |" in lines
    assert "| `a\\|b` | `1` | `-1.0` | null |" in lines


# -- action.yml, run as the runner would ----------------------------------------------------------


def load_action() -> dict[str, Any]:
    action: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return action


def test_action_is_a_composite_with_a_pinned_python() -> None:
    action = load_action()
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {"pred", "label", "gates", "baseline", "args"}
    assert {k: v["value"] for k, v in action["outputs"].items()} == {
        k: f"${{{{ steps.score.outputs.{k} }}}}" for k in ("loss", "rows", "passed")
    }
    setup = action["runs"]["steps"][0]
    name, _, ref = setup["uses"].partition("@")
    assert name == "actions/setup-python" and re.fullmatch(r"[0-9a-f]{40}", ref), "pin the action to a commit"
    assert re.fullmatch(r"3\.\d+", action["inputs"]["python-version"]["default"])
    assert setup["with"]["python-version"] == "${{ inputs.python-version }}"
    for step in action["runs"]["steps"][1:]:
        assert step["shell"] == "bash"
        assert (REPO / re.search(r"\$ACTION_PATH/(\S+)\"", step["run"]).group(1)).is_file()  # type: ignore[union-attr]


class Runner:
    """Just enough of the Actions runner for this composite action's ``run`` steps."""

    def __init__(self, tmp_path: Path, inputs: dict[str, str], path: list[str]) -> None:
        action = load_action()
        self.steps = action["runs"]["steps"]
        self.outputs_spec = action["outputs"]
        self.inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()} | inputs
        missing = [k for k, v in action["inputs"].items() if v.get("required") and not self.inputs.get(k)]
        assert not missing, missing
        self.tmp = tmp_path
        self.github_output = tmp_path / "github_output"
        self.step_summary = tmp_path / "step_summary.md"
        self.step_outputs: dict[str, dict[str, str]] = {}
        self.path = path

    def expr(self, text: str) -> str:
        def value(m: re.Match[str]) -> str:
            parts = m.group(1).split(".")
            if parts == ["github", "action_path"]:
                return str(REPO)
            if parts[0] == "inputs":
                return self.inputs[parts[1]]
            if parts[0] == "steps" and parts[2] == "outputs":
                return self.step_outputs.get(parts[1], {}).get(parts[3], "")
            raise AssertionError(f"expression the simulation does not know: {m.group(0)}")

        return re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", value, text)

    def run(self, *, only: str | None = None) -> subprocess.CompletedProcess[str]:
        done = None
        for i, step in enumerate(self.steps):
            if "run" not in step or (only is not None and step.get("id") != only):
                continue
            self.github_output.write_text("", encoding="utf-8")  # a fresh file per step, as the runner does
            script = self.tmp / f"step{i}.sh"
            script.write_text(self.expr(step["run"]), encoding="utf-8")
            env = {
                "PATH": os.pathsep.join([*self.path, os.environ["PATH"]]),
                "HOME": str(self.tmp),
                "GITHUB_ACTIONS": "true",
                "GITHUB_OUTPUT": str(self.github_output),
                "GITHUB_STEP_SUMMARY": str(self.step_summary),
                "RUNNER_TEMP": str(self.tmp),
                **{k: self.expr(str(v)) for k, v in (step.get("env") or {}).items()},
            }
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=self.tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if "id" in step:
                self.step_outputs[step["id"]] = parse_github_output(self.github_output.read_text(encoding="utf-8"))
            if done.returncode:
                break
        assert done is not None
        return done

    @property
    def outputs(self) -> dict[str, str]:
        return {k: self.expr(v["value"]) for k, v in self.outputs_spec.items()}


VENV_BIN = os.path.dirname(sys.executable)  # cosloss and a python with pyarrow, as the install step leaves them


def test_install_step_installs_the_checked_out_action(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python").write_text(f'#!/bin/sh\necho "$@" > "{tmp_path}/pip_args"\n', encoding="utf-8")
    (fake / "python").chmod(0o755)
    runner = Runner(tmp_path, {"pred": "p.npy"}, [str(fake), VENV_BIN])
    install = next(s for s in runner.steps if s.get("name") == "Install cosloss")
    runner.steps = [install]
    done = runner.run()
    assert done.returncode == 0, done.stderr
    args = (tmp_path / "pip_args").read_text(encoding="utf-8").split()
    assert args[:3] == ["-m", "pip", "install"] and args[-1] == str(REPO)
    assert done.stdout.startswith("cosloss, version")


def test_action_passes_and_sets_outputs_and_summary(tmp_path: Path, sample: Path) -> None:
    inputs = {
        "pred": str(sample / "preds.npy"),
        "label": str(sample / "labels.npy"),
        "gates": "rows >= 64\n  cos.mean >= 0.5  \n\n",
        "args": "--worst 2 --loss 'negative'",
        "html": "my report.html",
    }
    runner = Runner(tmp_path, inputs, [VENV_BIN])
    done = runner.run(only="score")
    assert done.returncode == 0, done.stderr
    command = shlex.split(done.stdout.splitlines()[0].removeprefix("cosloss:"))
    assert command[command.index("--gate") :][:4] == ["--gate", "rows >= 64", "--gate", "cos.mean >= 0.5"]
    assert command[-4:] == ["--worst", "2", "--loss", "negative"]
    outputs = runner.outputs
    assert outputs["passed"] == "true" and outputs["rows"] == "64"
    assert float(outputs["loss"]) == pytest.approx(-0.8868624433393212, abs=0)
    assert runner.step_outputs["score"]["gate_1"] == "64"
    summary = runner.step_summary.read_text(encoding="utf-8")
    assert "all 2 gates passed" in summary and "```mermaid" in summary and "2 worst vectors" in summary
    assert "PASSED: all 2 gates passed" in (tmp_path / "my report.html").read_text(encoding="utf-8")


def test_action_fails_on_a_gate_and_says_so(tmp_path: Path, sample: Path) -> None:
    base = tmp_path / "base.json"
    r = CliRunner().invoke(cli, ["score", str(sample / "preds.npy"), str(sample / "labels.npy"), "--json"])
    base.write_text(r.stdout, encoding="utf-8")
    inputs = {
        "pred": str(sample / "preds.npy"),
        "label": str(sample / "labels.npy"),
        "gates": "cos.p01 >= 0.9",
        "baseline": str(base),
    }
    runner = Runner(tmp_path, inputs, [VENV_BIN])
    done = runner.run(only="score")
    assert done.returncode == 1
    assert runner.outputs["passed"] == "false"
    step = runner.step_outputs["score"]
    assert set(step) == {"loss", "rows", "passed", "gate_1", "gate_2"}  # the gate and the baseline check
    assert float(step["gate_1"]) == pytest.approx(-0.3699996995925904, abs=0)
    assert "::error title=cosloss gate::FAILED: cos.p01" in done.stderr
    summary = runner.step_summary.read_text(encoding="utf-8")
    assert "1 of 2 gates failed" in summary and "❌ FAIL" in summary


def test_action_input_error_exits_3(tmp_path: Path, sample: Path) -> None:
    runner = Runner(tmp_path, {"pred": str(sample / "preds.npy"), "label": str(tmp_path / "missing.npy")}, [VENV_BIN])
    done = runner.run(only="score")
    assert done.returncode == 3
    assert "missing.npy" in done.stderr
    assert runner.outputs == {"loss": "", "rows": "", "passed": ""}


def test_action_refuses_bad_quoting_in_args(tmp_path: Path, sample: Path) -> None:
    inputs = {"pred": str(sample / "preds.npy"), "label": str(sample / "labels.npy"), "args": "--worst '3"}
    done = Runner(tmp_path, inputs, [VENV_BIN]).run(only="score")
    assert done.returncode == 2
    assert "args is not valid shell quoting" in done.stderr
