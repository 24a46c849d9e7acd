"""Wait for an observable event instead of sleeping a fixed time before asserting.

A fixed sleep is too short on a busy machine (the test then checks the wrong moment) and wasted
time on an idle one. These helpers poll a condition that says the moment has come.
"""

from __future__ import annotations

import array
import fcntl
import os
import subprocess
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest

POLL = 0.005  #: seconds between two looks at the condition


def wait_for(
    condition: Callable[[], bool], what: str, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Return as soon as ``condition()`` holds; fail after ``timeout`` s or when ``process`` ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout} s")
        time.sleep(POLL)


def require_proc() -> None:
    """Skip on systems without Linux's /proc (the events below are read from it)."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc")


def open_files(pid: int) -> set[str]:
    """The paths that process ``pid`` has open (empty when it is gone)."""
    found: set[str] = set()
    try:
        entries = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for entry in entries:
        try:
            found.add(os.readlink(f"/proc/{pid}/fd/{entry}"))
        except OSError:
            continue  # closed while we looked
    return found


def pipe_pending(fd: int) -> int:
    """Bytes written to the pipe ``fd`` (either end) that its reader has not read yet."""
    count = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, count)
    return count[0]


def all_threads_sleeping(pid: int) -> bool:
    """Whether every thread of ``pid`` is blocked (state S: waiting on a pipe, a lock, ...), none running."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        # the state follows the parenthesised command name, which may itself hold spaces
        states = [Path(f"/proc/{pid}/task/{t}/stat").read_text().rpartition(")")[2].split()[0] for t in tasks]
    except OSError:
        return False
    return bool(states) and all(state == "S" for state in states)
