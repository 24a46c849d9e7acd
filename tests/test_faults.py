"""Faults from outside: a closed stdout, SIGINT and SIGTERM mid-run (real processes)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .waiting import all_threads_sleeping, open_files, pipe_pending, require_proc, wait_for

COSLOSS = [sys.executable, "-m", "cosine_cli"]

# slow: real processes on a 200 000-row pair (and a 60 000-row CSV pipe)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def long_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    d = tmp_path_factory.mktemp("long")
    rng = np.random.default_rng(0)
    np.save(d / "a.npy", rng.standard_normal((200_000, 8)))
    np.save(d / "b.npy", rng.standard_normal((200_000, 8)))
    return str(d / "a.npy"), str(d / "b.npy")


def test_closed_stdout_is_quiet(long_pair: tuple[str, str]) -> None:
    proc = subprocess.Popen(
        [*COSLOSS, "score", *long_pair, "--reduction", "none", "--chunk-size", "100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141
    assert float(first)
    assert "Traceback" not in err and "Error" not in err


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_signals_exit_with_their_codes(long_pair: tuple[str, str], sig: int, code: int, word: str) -> None:
    require_proc()
    proc = subprocess.Popen(
        [*COSLOSS, "score", *long_pair, "--chunk-size", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    # past start-up: both inputs are open (inside the CLI's error handling, whose SIGTERM handler is then
    # in place), and the run takes far longer at one row a chunk
    inputs = {str(Path(path).resolve()) for path in long_pair}
    wait_for(lambda: inputs <= open_files(proc.pid), "both inputs open", process=proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err.decode()
    assert out == b""
    assert word in err.decode() and "Traceback" not in err.decode()


@pytest.mark.parametrize("fmt", ["npy", "csv"])
def test_a_signal_is_prompt_while_stdin_stalls(long_pair: tuple[str, str], fmt: str) -> None:
    # A pipe that sends part of its data and then nothing: no read running ahead on a thread may
    # hold the exit up until the pipe moves again.
    if fmt == "npy":
        with open(long_pair[0], "rb") as f:
            head = f.read(1 << 20)  # header and the first rows
    else:
        rows = np.random.default_rng(1).standard_normal((20_000, 8))
        head = ("d0,d1,d2,d3,d4,d5,d6,d7\n" + "\n".join(",".join(map(repr, r.tolist())) for r in rows)).encode()
    proc = subprocess.Popen(
        [*COSLOSS, "score", "-", long_pair[1], "--pred-format", fmt, "--chunk-size", "100"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(head)
    proc.stdin.flush()

    def waiting_on_the_pipe() -> bool:
        # started, consumed what there is (the pipe is empty), and no thread is running any more
        assert proc.stdin is not None
        return pipe_pending(proc.stdin.fileno()) == 0 and all_threads_sleeping(proc.pid)

    wait_for(waiting_on_the_pipe, "cosloss blocked on the stalled pipe", process=proc)
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
        elapsed = time.monotonic() - start
    finally:
        proc.kill()  # if it did not stop (the assertions below then say so)
        proc.wait()
        proc.stdin.close()
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == 143, err
    assert elapsed < 3.0, f"took {elapsed:.1f} s to stop"
    assert out == b"" and "Traceback" not in err.decode()


def test_early_exit_while_pyarrow_reads_a_pipe(tmp_path) -> None:  # noqa: ANN001
    # `| head -1` on CSV from a pipe, and an error in the other input: pyarrow's reader may still
    # be reading stdin; the process must still exit at once with its own code (was 134 at times).
    import pyarrow as pa
    import pyarrow.csv as pacsv

    m = np.random.default_rng(2).standard_normal((60_000, 16)).astype(np.float32)
    pacsv.write_csv(pa.table({f"d{j}": m[:, j] for j in range(16)}), tmp_path / "a.csv")
    bad = m.copy()
    bad[5, 0] = np.nan
    np.save(tmp_path / "b.npy", m)
    np.save(tmp_path / "nan.npy", bad)
    data = (tmp_path / "a.csv").read_bytes()
    for _ in range(4):
        proc = subprocess.Popen(
            [*COSLOSS, "score", "-", str(tmp_path / "b.npy"), "--reduction", "none"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            proc.stdin.write(data[: len(data) // 2])  # the rest never comes before the exit
            proc.stdin.flush()
            proc.stdout.readline()
            proc.stdout.close()
            assert proc.wait(timeout=30) == 141
        finally:
            proc.kill()
            proc.stdin.close()
            proc.stderr.close()
        done = subprocess.run(
            [*COSLOSS, "score", "-", str(tmp_path / "nan.npy")], input=data, capture_output=True, timeout=60
        )
        assert done.returncode == 3 and done.stderr.count(b"\n") == 1, done.stderr


def test_closed_stdin_is_an_input_error(long_pair: tuple[str, str]) -> None:
    import os

    done = subprocess.run(
        [*COSLOSS, "score", "-", long_pair[1]],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.close(0),
    )  # noqa: PLW1509 - the point of the test
    assert done.returncode == 3, done.stderr
    assert done.stderr == "Error: -: standard input is closed\n"


def test_library_reads_what_the_caller_left_in_sys_stdin(long_pair: tuple[str, str]) -> None:
    # The caller has read a line, and sys.stdin.buffer holds more than that: the library reads on
    # from there (the command reads through a descriptor of its own; see inputs.RAW_STDIN).
    code = f"import sys, cosine_cli; sys.stdin.buffer.readline(); print(cosine_cli.score('-', {long_pair[0]!r}).loss)"
    with open(long_pair[0], "rb") as f:
        data = b"run-id\n" + f.read()
    done = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert float(done.stdout) == pytest.approx(-1.0)


def test_ctrl_c_inside_a_string_exec_still_exits_130(tmp_path: Path) -> None:
    # CPython marks a KeyboardInterrupt that leaves a string exec (a dataclass being made during a
    # lazy import, where a real Ctrl-C lands now and then) as unhandled even when it is caught; under
    # `python -m` the process then died by SIGINT (-2) after printing our message. Made deterministic:
    (tmp_path / "interrupt_probe.py").write_text(
        "from cosine_cli import cli as c\n"
        "@c.cli.command('probe')\n"
        "def probe() -> None:\n"
        "    with c.handled_errors():\n"
        "        exec('raise KeyboardInterrupt', {})\n"
        "if __name__ == '__main__':\n"
        "    c.main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "interrupt_probe", "probe"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 130, done.stderr
    assert done.stderr == "cosloss: interrupted\n"
