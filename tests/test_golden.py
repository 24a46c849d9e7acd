"""Golden files for every report and per-vector output format (``pytest --update-golden`` rewrites them)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cosine_cli import __version__, score
from cosine_cli.cli import cli
from cosine_cli.report import write_summary

from .test_outputs import FORMATS, read_back

PRED, LABEL, WEIGHTS = "sample_data/preds.npy", "sample_data/labels.npy", "sample_data/weights.npy"
GATES = ["--gate", "cos.p01 >= 0.999", "--gate", "cos.min > -1.5", "--fail-above", "-0.5"]


def _stable(text: str) -> str:
    return text.replace(json.dumps(__version__), '"VERSION"')


@pytest.fixture
def base_json(in_repo: Path, tmp_path: Path) -> str:
    r = CliRunner().invoke(cli, ["score", PRED, LABEL, "--json"])
    path = tmp_path / "base.json"
    summary = json.loads(r.stdout)
    summary["loss"] -= 0.001  # the current run is 0.001 worse than this baseline
    path.write_text(json.dumps(summary))
    return str(path)


def test_summary_text_json_markdown_junit(in_repo: Path, tmp_path: Path, base_json: str, golden) -> None:  # type: ignore[no-untyped-def]
    md, xml = tmp_path / "summary.md", tmp_path / "gates.xml"
    args = [
        "score",
        PRED,
        LABEL,
        "--weights",
        WEIGHTS,
        "--worst",
        "3",
        *GATES,
        "--baseline",
        base_json,
        "--tolerance",
        "0.01",
        "--markdown",
        str(md),
        "--junit",
        str(xml),
    ]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 1 and r.stderr == ""
    golden("summary.txt", r.stdout.replace(base_json, "BASE.json"))
    golden("summary.md", md.read_text().replace(base_json, "BASE.json"))
    golden("gates.xml", xml.read_text().replace(base_json, "BASE.json"))
    r = CliRunner().invoke(cli, [*args, "--json"])
    assert r.exit_code == 1
    golden("summary.json", _stable(r.stdout).replace(base_json, "BASE.json"))


def test_terminal_summary_with_histogram(in_repo: Path, golden, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "100")  # rich sizes to the terminal: fix it

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    result = score(PRED, LABEL, worst=2)
    result.extra["gates"] = [
        {"expr": "cos.min > 0", "name": "cos.min", "op": ">", "threshold": 0.0, "value": -1.0, "passed": False}
    ]
    write_summary(result, out)
    golden("summary_terminal.txt", re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue()))


def test_markdown_appends_to_the_step_summary(in_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    step = tmp_path / "step.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    for _ in range(2):
        assert CliRunner().invoke(cli, ["score", PRED, LABEL, "--markdown", str(step)]).exit_code == 0
    text = step.read_text()
    assert text.startswith("earlier step\n") and text.count("## cosloss") == 2


def test_compare(in_repo: Path, base_json: str, tmp_path: Path, golden) -> None:  # type: ignore[no-untyped-def]
    r = CliRunner().invoke(cli, ["score", PRED, LABEL, "--compat", "exact", "--json"])
    b = tmp_path / "b.json"
    b.write_text(r.stdout)
    r = CliRunner().invoke(cli, ["compare", base_json, str(b)])
    assert r.exit_code == 0, r.stderr
    golden("compare.txt", r.stdout.replace(base_json, "A.json").replace(str(b), "B.json"))
    r = CliRunner().invoke(cli, ["compare", base_json, str(b), "--json"])
    rows = {row["name"]: row for row in json.loads(r.stdout)["rows"]}
    assert rows["loss"]["delta"] == rows["loss"]["b"] - rows["loss"]["a"]
    assert CliRunner().invoke(cli, ["compare", base_json, PRED]).exit_code == 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_per_vector_outputs(in_repo: Path, tmp_path: Path, fmt: str, golden) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / f"out{FORMATS[fmt]}"
    r = CliRunner().invoke(cli, ["score", PRED, LABEL, "--weights", WEIGHTS, "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    if fmt in ("csv", "jsonl"):  # text formats: the bytes themselves
        golden(f"vectors{FORMATS[fmt]}", out.read_text())
    else:  # binary formats carry writer versions: compare what reads back
        cols = read_back(out, fmt)
        text = "\n".join(
            ",".join(repr(float(v)) if k != "row" else str(int(v)) for k, v in zip(cols, row, strict=True))
            for row in zip(*cols.values(), strict=True)
        )
        golden(f"vectors.{fmt}.txt", ",".join(cols) + "\n" + text + "\n")
    assert np.array_equal(read_back(out, fmt)["row"], np.arange(64))
