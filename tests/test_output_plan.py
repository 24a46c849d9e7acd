"""The output plan (issue 13, "nothing lost"): every output checked before any data is read, nothing
committed unless the whole run succeeded, inputs and the baseline never overwritten, reports atomic,
CI reporters told about input errors. Each test names the finding it guards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cosine_cli.cli import cli
from cosine_cli.outputs import REPORTS, descriptor_of, held_signals, input_identities

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX descriptors and signals")


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pred.npy and label.npy (20 x 4), a Parquet dataset of each in preds/ and labels/, and a
    baseline summary; the working directory is tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    a = np.random.default_rng(0).normal(size=(20, 4))
    np.save("pred.npy", a)
    np.save("label.npy", a + 0.1)
    for side, x in (("preds", a), ("labels", a + 0.1)):
        os.mkdir(side)
        for i in range(2):
            pq.write_table(pa.table({"v": list(x[i * 10 : (i + 1) * 10])}), f"{side}/part-{i}.parquet")
    r = CliRunner().invoke(cli, ["score", "pred.npy", "label.npy", "--json"])
    Path("base.json").write_text(r.stdout)
    return tmp_path


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, ["score", *args])


def cosloss(*args: str, **kw: object) -> subprocess.CompletedProcess[bytes]:
    """The real command in a child process (descriptors, stdin and signals as a shell gives them)."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "cosine_cli", *args], **kw)  # type: ignore[call-overload, no-any-return]


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- 1: inputs are never overwritten ---------------------------------------------------------------


@posix_only
def test_1_the_file_behind_stdin_is_refused(pair: Path) -> None:
    before = Path("pred.npy").read_bytes()
    with open("pred.npy", "rb") as stdin:
        r = cosloss("score", "-", "label.npy", "-o", "pred.npy", stdin=stdin)
    assert r.returncode == 2, r.stderr
    assert "standard input" in one_line_error(r.stderr.decode())
    assert Path("pred.npy").read_bytes() == before


@pytest.mark.parametrize("pred", ["preds/", "preds/part-*.parquet", "preds"])
def test_1_a_part_of_a_dataset_is_refused(pair: Path, pred: str) -> None:
    before = snapshot(pair)
    r = invoke(pred, "labels/", "-o", "preds/part-1.parquet")
    assert r.exit_code == 2, r.stderr  # type: ignore[attr-defined]
    assert "part-1.parquet" in one_line_error(r.stderr)  # type: ignore[attr-defined]
    assert snapshot(pair) == before


def test_1_the_local_path_of_a_file_uri_is_refused(pair: Path) -> None:
    before = snapshot(pair)
    r = invoke(f"file://{pair}/pred.npy", "label.npy", "-o", str(pair / "pred.npy"))
    assert r.exit_code == 2 and "one of the inputs" in r.stderr  # type: ignore[attr-defined]
    assert snapshot(pair) == before


def test_input_identities_lists_parts_uris_and_stdin_like_the_readers(pair: Path) -> None:
    def inode(p: str) -> int:
        return os.stat(p).st_ino

    got = {i.ino for i in input_identities(["preds/", f"file://{pair}/label.npy", None, "missing.npy"])}
    assert got == {inode("preds/part-0.parquet"), inode("preds/part-1.parquet"), inode("label.npy")}
    (pair / "preds" / "_meta").mkdir()
    (pair / "preds" / "_meta" / "x.parquet").write_bytes(b"")
    assert len(input_identities(["preds"])) == 2  # names starting with _ are not parts


# -- 2, 3: the baseline, and two outputs with one path ----------------------------------------------


@pytest.mark.parametrize("option", ["-o", "--markdown", "--junit"])
def test_2_the_baseline_is_never_overwritten(pair: Path, option: str) -> None:
    before = Path("base.json").read_bytes()
    r = invoke("pred.npy", "label.npy", "--baseline", "base.json", option, "base.json")
    assert r.exit_code == 2 and "--baseline" in one_line_error(r.stderr)  # type: ignore[attr-defined]
    assert Path("base.json").read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [
        ["-o", "r.parquet", "--junit", "r.parquet"],
        ["--markdown", "x", "--junit", "./x"],
        ["-o", "d/../r.csv", "--markdown", "r.csv"],
    ],
)
def test_3_two_outputs_with_one_path_are_refused(pair: Path, args: list[str]) -> None:
    os.mkdir("d")
    before = snapshot(pair)
    r = invoke("pred.npy", "label.npy", *args)
    assert r.exit_code == 2 and "one file" in one_line_error(r.stderr)  # type: ignore[attr-defined]
    assert snapshot(pair) == before


# -- 4: standard output by any name -----------------------------------------------------------------


def test_descriptor_paths() -> None:
    assert descriptor_of("/dev/stdout") == 1
    assert descriptor_of("/dev/fd/1") == 1
    assert descriptor_of("/proc/self/fd/1") == 1
    assert descriptor_of(f"/proc/{os.getpid()}/fd/7") == 7
    assert descriptor_of("/dev/stderr") == 2
    assert descriptor_of("/tmp/x.jsonl") is None


@posix_only
@pytest.mark.parametrize("name", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"])
def test_4_stdout_by_its_device_names_is_a_stream_never_renamed_over(pair: Path, name: str) -> None:
    assert os.path.islink("/dev/stdout")
    with open("rows.jsonl", "wb") as out:  # stdout redirected to a file, as in `> rows.jsonl`
        r = cosloss("score", "pred.npy", "label.npy", "-o", name, "--json", stdout=out, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in Path("rows.jsonl").read_text().splitlines()]
    assert [row["row"] for row in rows] == list(range(20))
    assert json.loads(r.stderr)["rows"] == 20  # the summary moved to stderr, as with -o -
    assert os.path.islink("/dev/stdout") and not [n for n in os.listdir("/dev") if n.endswith(".cosloss-tmp")]


@posix_only
def test_4_rows_and_the_json_summary_on_one_stream_is_a_usage_error(pair: Path) -> None:
    for target in ("-", "/dev/stdout"):
        r = cosloss("score", "pred.npy", "label.npy", "-o", target, "--json", stderr=subprocess.STDOUT)  # 2>&1
        assert r.returncode == 2, r.stdout
        assert b'"row"' not in r.stdout and b"Error:" in r.stdout
    r = cosloss("score", "pred.npy", "label.npy", "-o", "-", "--json", "-q", stderr=subprocess.STDOUT)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 20  # -q: no summary, nothing mixed


@posix_only
def test_4_another_descriptor_is_written_in_place(pair: Path) -> None:
    with open("fd3.jsonl", "wb") as f:
        r = subprocess.run(
            [sys.executable, "-m", "cosine_cli", "score", "pred.npy", "label.npy", "-o", f"/dev/fd/{f.fileno()}"],
            capture_output=True,
            pass_fds=(f.fileno(),),
        )
    assert r.returncode == 0, r.stderr
    assert len(Path("fd3.jsonl").read_text().splitlines()) == 20
    assert r.stdout.startswith(b"loss")  # the summary stays on stdout


# -- 5, 6: atomic reports, nothing committed unless the run succeeded ----------------------------


def test_5_reports_are_replaced_by_rename_never_rewritten_in_place(pair: Path) -> None:
    for name in ("r.md", "r.xml"):
        Path(name).write_text("previous good report\n")
        os.link(name, f"{name}.old")  # an in-place write would change this link's content too
    r = invoke("pred.npy", "label.npy", "--markdown", "r.md", "--junit", "r.xml")
    assert r.exit_code == 0, r.stderr  # type: ignore[attr-defined]
    for name in ("r.md", "r.xml"):
        assert Path(f"{name}.old").read_text() == "previous good report\n"
        assert Path(name).read_text() != "previous good report\n"
    assert not [n for n in os.listdir() if n.endswith(".cosloss-tmp")]


def test_6_an_unwritable_report_is_refused_before_any_data_is_read(pair: Path) -> None:
    r = invoke("pred.npy", "label.npy", "-o", "rows.parquet", "--junit", "no/such/dir/j.xml", "--json")
    assert r.exit_code == 3 and "no/such/dir" in one_line_error(r.stderr)  # type: ignore[attr-defined]
    assert r.stdout == "" and not os.path.exists("rows.parquet")  # type: ignore[attr-defined]


def test_6_a_failure_while_reporting_commits_nothing(pair: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cosine_cli.outputs import StagedFile

    Path("j.xml").write_text("previous\n")

    def full_disk(self: StagedFile) -> None:
        raise OSError(28, "No space left on device", self.target)

    monkeypatch.setattr(StagedFile, "finish", full_disk)
    r = invoke("pred.npy", "label.npy", "-o", "rows.parquet", "--junit", "j.xml", "--markdown", "r.md")
    assert r.exit_code == 3 and "No space left" in one_line_error(r.stderr)  # type: ignore[attr-defined]
    assert sorted(n for n in os.listdir() if not os.path.isdir(n)) == ["base.json", "j.xml", "label.npy", "pred.npy"]
    assert Path("j.xml").read_text() == "previous\n"


def test_6_the_per_vector_file_is_committed_last(pair: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cosine_cli.outputs import StagedFile

    order: list[str] = []
    real = StagedFile.commit

    def commit(self: StagedFile) -> None:
        order.append(os.path.basename(self.target))
        real(self)

    monkeypatch.setattr(StagedFile, "commit", commit)
    r = invoke("pred.npy", "label.npy", "-o", "rows.parquet", "--junit", "j.xml", "--markdown", "r.md")
    assert r.exit_code == 0, r.stderr  # type: ignore[attr-defined]
    assert order == ["r.md", "j.xml", "rows.parquet"]


@posix_only
def test_6_signals_are_held_during_the_commit_and_then_dropped() -> None:
    import threading

    seen = threading.Event()
    with held_signals():
        os.kill(os.getpid(), signal.SIGINT)  # taken note of, not raised: the commit goes on
        signal.raise_signal(signal.SIGTERM)
        seen.set()
    assert seen.is_set()  # and not raised afterwards either: the run had already succeeded
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- 7, 14: ids in -o -----------------------------------------------------------------------------


def _pairs(path: str, ids: pa.Array) -> None:
    v = [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [1.0, 1.0]]
    pq.write_table(pa.table({"pred": v, "label": v, "id": ids}), path)


def test_7_null_string_ids_are_null_rows_not_dropped(pair: Path) -> None:
    _pairs("ids.parquet", pa.array(["a", None, "c", None]))
    base = ["ids.parquet", "--pred-col", "pred", "--label-col", "label", "--id-col", "id"]
    r = invoke(*base, "-o", "x.jsonl")
    assert r.exit_code == 0, r.stderr  # type: ignore[attr-defined]
    assert [json.loads(line)["id"] for line in Path("x.jsonl").read_text().splitlines()] == ["a", None, "c", None]
    r = invoke(*base, "-o", "-")
    assert [json.loads(line)["id"] for line in r.stdout.splitlines()] == ["a", None, "c", None]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("ids", "as_json"),
    [
        (pa.array([[1], [2, 3], [], None]), [[1], [2, 3], [], None]),
        (pa.array([{"x": 1}, {"x": 2}, None, {"x": 4}]), [{"x": 1}, {"x": 2}, None, {"x": 4}]),
        (pa.array([b"ok", b"\xc3\xa9", b"", None]), ["ok", "é", "", None]),
    ],
)
def test_14_nested_and_binary_ids_are_written_as_json(pair: Path, ids: pa.Array, as_json: list[object]) -> None:
    _pairs("ids.parquet", ids)
    base = ["ids.parquet", "--pred-col", "pred", "--label-col", "label", "--id-col", "id", "--worst", "2"]
    r = invoke(*base, "-o", "x.jsonl", "--json")
    assert r.exit_code == 0, r.stderr  # type: ignore[attr-defined]
    assert [json.loads(line)["id"] for line in Path("x.jsonl").read_text().splitlines()] == as_json
    r = invoke(*base, "-o", "x.csv")
    assert r.exit_code == 0, r.stderr  # type: ignore[attr-defined]
    cells = [line.rsplit(",", 2)[0] for line in Path("x.csv").read_text().splitlines()[1:]]
    assert len(cells) == 4


@pytest.mark.parametrize("out", ["x.jsonl", "x.csv", "-"])
def test_14_ids_that_are_not_utf8_are_an_input_error(pair: Path, out: str) -> None:
    _pairs("ids.parquet", pa.array([b"\xff", b"ok", b"\xfe", b"d"]))
    r = invoke("ids.parquet", "--pred-col", "pred", "--label-col", "label", "--id-col", "id", "-o", out, "--json")
    assert r.exit_code == 3 and "not UTF-8" in one_line_error(r.stderr)  # type: ignore[attr-defined]
    assert not os.path.exists(out)
    r = invoke("ids.parquet", "--pred-col", "pred", "--label-col", "label", "--id-col", "id", "--worst", "2", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["worst"]  # type: ignore[attr-defined]  # the summary holds them


# -- 9, 12, 13: baselines and summaries -----------------------------------------------------------


def _summary_with(path: str, loss_text: str) -> None:
    text = Path("base.json").read_text()
    d = json.loads(text)
    Path(path).write_text(text.replace(f'"loss": {d["loss"]!r}', f'"loss": {loss_text}', 1))


@pytest.mark.parametrize("loss", ["1e999", "-1e999", "NaN", "Infinity"])
def test_9_a_non_finite_baseline_loss_is_an_input_error(pair: Path, loss: str) -> None:
    _summary_with("b.json", loss)
    r = invoke("pred.npy", "label.npy", "--baseline", "b.json")
    assert r.exit_code == 3 and "finite" in one_line_error(r.stderr)  # type: ignore[attr-defined]


def test_12_an_overflowing_weight_sum_is_null_in_json_and_prints_no_warning(pair: Path) -> None:
    np.save("w.npy", np.full(20, 1e308))
    r = invoke("pred.npy", "label.npy", "--weights", "w.npy", "--json", "-o", "rows.parquet")
    assert r.exit_code == 0, r.stderr  # type: ignore[attr-defined]  # (filterwarnings=error: no RuntimeWarning)
    assert json.loads(r.stdout)["weights"]["sum"] is None  # type: ignore[attr-defined]
    r = cosloss("score", "pred.npy", "label.npy", "--weights", "w.npy", "--reduction", "sum")
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert b"loss             -inf" in r.stdout  # text says what JSON cannot


def test_12_compare_json_with_inf_and_nan_differences(pair: Path) -> None:
    _summary_with("inf.json", "Infinity")
    _summary_with("nan.json", "NaN")
    for a, b in (("base.json", "inf.json"), ("inf.json", "inf.json"), ("nan.json", "base.json")):
        r = CliRunner().invoke(cli, ["compare", a, b, "--json"])
        assert r.exit_code == 0, r.stderr
        rows = {row["name"]: row for row in json.loads(r.stdout)["rows"]}
        assert rows["loss"]["delta"] is None
        assert CliRunner().invoke(cli, ["compare", a, b]).exit_code == 0


@pytest.mark.parametrize("content", ["400 digits", "5001 digits", "deep"])
def test_13_hostile_summaries_are_one_line_exit_3(pair: Path, content: str) -> None:
    if content == "deep":
        Path("h.json").write_text("[" * 100_000 + "]" * 100_000)
    else:
        _summary_with("h.json", "1" * int(content.split()[0]))
    for args in (["compare", "base.json", "h.json"], ["compare", "h.json", "base.json", "--json"]):
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 3, r.stderr
        one_line_error(r.stderr)
    r = invoke("pred.npy", "label.npy", "--baseline", "h.json")
    assert r.exit_code == 3
    one_line_error(r.stderr)  # type: ignore[attr-defined]


# -- 19: file modes ------------------------------------------------------------------------------


@posix_only
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_19_outputs_get_the_mode_the_umask_gives(pair: Path, mask: int, mode: int) -> None:
    Path("m.md").write_text("old\n")
    os.chmod("m.md", 0o664 if mask != 0o002 else 0o600)  # a replaced file takes the umask's mode too
    old = os.umask(mask)
    try:
        r = invoke("pred.npy", "label.npy", "-o", "rows.csv", "--markdown", "m.md", "--junit", "j.xml")
    finally:
        os.umask(old)
    assert r.exit_code == 0, r.stderr  # type: ignore[attr-defined]
    for name in ("rows.csv", "m.md", "j.xml"):
        assert stat.S_IMODE(os.stat(name).st_mode) == mode, name


def test_19_a_write_protected_target_is_refused(pair: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() == 0:  # root may write anything: take a user's view of the file
        import cosine_cli.outputs as outputs

        real = os.access
        monkeypatch.setattr(outputs.os, "access", lambda p, m: (p != "rows.csv" or not m & os.W_OK) and real(p, m))
    Path("rows.csv").write_text("keep\n")
    os.chmod("rows.csv", 0o444)
    for option in ("-o", "--markdown", "--junit"):
        r = invoke("pred.npy", "label.npy", option, "rows.csv")
        assert r.exit_code == 3 and "write-protected" in one_line_error(r.stderr), option  # type: ignore[attr-defined]
    assert Path("rows.csv").read_text() == "keep\n"


@posix_only
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to become nobody")
def test_19_a_write_protected_target_is_refused_for_a_real_user(pair: Path) -> None:
    os.chmod(pair, 0o777)
    for name in ("pred.npy", "label.npy"):
        os.chmod(name, 0o644)
    Path("rows.csv").write_text("keep\n")
    os.chmod("rows.csv", 0o444)
    r = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "cosine_cli"]
        + ["score", "pred.npy", "label.npy", "-o", "rows.csv"],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    if (b"Permission denied" in r.stderr and b"cosine_cli" not in r.stderr) or b"No module named" in r.stderr:
        # a checkout under a private directory (mktemp -d) is out of nobody's reach
        pytest.skip("nobody cannot read the interpreter or the checkout here")
    assert r.returncode == 3, r.stderr
    assert b"write-protected" in r.stderr and Path("rows.csv").read_text() == "keep\n"


# -- 22: CI reporters ------------------------------------------------------------------------------


def test_22_an_input_error_is_an_errored_junit_case_a_step_summary_entry_and_an_annotation(
    pair: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Path("step.md").write_text("earlier step\n")
    Path("j.xml").write_text("previous\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pair / "step.md"))
    r = invoke("pred.npy", "missing.npy", "--junit", "j.xml", "-o", "rows.parquet")
    assert r.exit_code == 3  # type: ignore[attr-defined]
    assert "::error title=cosloss::missing.npy" in r.stderr  # type: ignore[attr-defined]
    import xml.etree.ElementTree as ET

    suite = ET.parse("j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("errors") == "1"
    error = suite.find("testcase/error")
    assert error is not None and "missing.npy" in (error.get("message") or "")
    step = Path("step.md").read_text()
    assert step.startswith("earlier step\n") and "missing.npy" in step
    assert not os.path.exists("rows.parquet")


def test_22_a_bad_baseline_is_reported_to_junit_too(pair: Path) -> None:
    _summary_with("b.json", "NaN")
    r = invoke("pred.npy", "label.npy", "--baseline", "b.json", "--junit", "j.xml")
    assert r.exit_code == 3 and 'errors="1"' in Path("j.xml").read_text()  # type: ignore[attr-defined]


def test_22_a_run_without_gates_is_one_passing_test_case(pair: Path) -> None:
    r = invoke("pred.npy", "label.npy", "--junit", "j.xml")
    assert r.exit_code == 0  # type: ignore[attr-defined]
    import xml.etree.ElementTree as ET

    suite = ET.parse("j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("failures") == "0"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["score"] and not cases[0].findall("failure")


# -- one summary, one registry ----------------------------------------------------------------------


def test_the_summary_is_built_once_for_every_report(pair: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cosine_cli.pipeline import ScoreResult

    calls = []
    real = ScoreResult.to_dict

    def counted(self: ScoreResult) -> dict[str, object]:
        calls.append(1)
        return real(self)

    monkeypatch.setattr(ScoreResult, "to_dict", counted)
    r = invoke(
        "pred.npy", "label.npy", "--gate", "cos.p01 > 0", "--gate", "cos.min > 0", "--baseline", "base.json",
        "--markdown", "r.md", "--junit", "j.xml", "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr  # type: ignore[attr-defined]
    assert len(calls) == 1


def test_every_report_of_the_registry_is_an_option() -> None:
    r = CliRunner().invoke(cli, ["score", "--help"])
    for report in REPORTS:
        assert report.option in r.stdout
