"""Every case of the bad-input corpus (tests/corpus.py) through the CLI.

Each must end with its documented exit code, exactly one line on stderr that
names the file and the problem, nothing on stdout, no traceback and no output
file left behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from cosine_cli.cli import cli
from cosine_cli.readers import FORMATS

from . import corpus

with tempfile.TemporaryDirectory() as _dry_run:
    NAMES = [c.name for c in corpus.build(Path(_dry_run))]


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, corpus.Case]:
    return {c.name: c for c in corpus.build(tmp_path_factory.mktemp("corpus"))}


def _supported(needs: str | None) -> bool:
    if needs is None:
        return True
    if needs == "output":
        return "--output" in CliRunner().invoke(cli, ["score", "--help"]).stdout
    return needs in FORMATS


@pytest.mark.parametrize("name", NAMES)
def test_bad_input(cases: dict[str, corpus.Case], name: str) -> None:
    case = cases[name]
    if not _supported(case.needs):
        pytest.skip(f"{case.needs} is not supported yet")
    result = CliRunner().invoke(cli, ["score", *case.args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == case.exit_code, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    if case.exit_code == 3:
        assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert case.message.lower() in result.stderr.lower()
    if case.names_file:
        assert case.names_file in result.stderr
    if case.output:
        assert not Path(case.output).exists()
        assert not list(Path(case.output).parent.glob(".*tmp*")) if Path(case.output).parent.exists() else True


def test_every_case_expects_a_message() -> None:
    # an empty expected message is a substring of every stderr: such a case would check nothing
    with tempfile.TemporaryDirectory() as directory:
        empty = [case.name for case in corpus.build(Path(directory)) if not case.message.strip()]
    assert empty == []


def test_corpus_size() -> None:
    # The closing note quotes this number; keep the corpus growing, never shrinking.
    assert len(NAMES) >= 40


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_unreadable_file(request: pytest.FixtureRequest) -> None:
    # As root every file is readable, so drop to `nobody` for this run, in a directory nobody
    # can enter (pytest's own tmp_path sits under a private directory).
    shared = Path(tempfile.mkdtemp(prefix="cosloss-unreadable-"))
    request.addfinalizer(lambda: shutil.rmtree(shared, ignore_errors=True))
    shared.chmod(0o755)
    good = shared / "good.npy"
    secret = shared / "secret.npy"
    corpus._npy(good, corpus.GOOD_A)
    corpus._npy(secret, corpus.GOOD_A)
    good.chmod(0o644)
    secret.chmod(0o000)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable]
    probe = subprocess.run(
        [*as_nobody, "-c", f"import cosine_cli.cli; open({str(good)!r}, 'rb')"], capture_output=True, text=True, env=env
    )
    if probe.returncode != 0:  # a checkout or virtualenv under a private directory (mktemp -d, ~)
        pytest.skip(f"nobody cannot run cosloss or read the test files here: {probe.stderr.strip()[-200:]}")
    done = subprocess.run(
        [*as_nobody, "-m", "cosine_cli", "score", str(secret), str(good)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 3, done.stderr
    assert "secret.npy" in done.stderr and "ermission denied" in done.stderr
    assert done.stderr.count("\n") == 1
