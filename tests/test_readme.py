"""The README stays true: its first block's shape, and every `cosloss` example on sample_data runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from cosine_cli.cli import cli

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", README, flags=re.S)


def _commands() -> list[str]:
    out = []
    for block in BLOCKS:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith("cosloss ") and "sample_data/" in line:
                out.append(line.split(" | ")[0])  # the pipeline's tail is the shell's business
    return out


def test_first_block_is_two_one_line_commands() -> None:
    lines = [ln for ln in BLOCKS[0].splitlines() if ln.strip()]
    assert len(lines) == 2
    assert "sample_data/" in lines[0] and "cosloss score" in lines[0]
    assert "pytest" in lines[1] and ".[test]" in lines[1]


@pytest.mark.parametrize("command", _commands())
def test_readme_example_runs(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sample_data").symlink_to(REPO / "sample_data")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, shlex.split(command)[1:])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in ((0, 1) if "--gate" in command else (0,)), result.stderr


def test_there_are_examples() -> None:
    assert len(_commands()) >= 6
