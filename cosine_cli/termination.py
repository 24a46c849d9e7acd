"""SIGTERM acts within about a second, even while the main thread waits in native code.

Python runs a signal handler only when the main thread is back in the interpreter. While it
waits in a pyarrow call (an S3 request to a server that accepted the connection and never
answers: the AWS SDK retries for many seconds) ``cli.handled_errors``'s handler cannot run.
A watchdog thread learns of the signal at once through :func:`signal.set_wakeup_fd`; when the
handler has not run within :data:`GRACE` seconds, the watchdog does the clean-up the handler
would have led to (the staged temporary files are removed: nothing was committed) and leaves
with 143. It stays out of the way of the commit: while ``outputs.held_signals`` holds SIGTERM
(another Python handler is installed) it does nothing.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

__all__ = ["GRACE", "install", "handler_ran", "temporaries", "committed"]

#: seconds the main thread has to run its own SIGTERM handler before the watchdog acts
GRACE = 1.0

#: temporary files staged for outputs and not yet committed or removed (outputs.StagedFile)
temporaries: set[str] = set()

_ran = threading.Event()
#: set by the first rename of an output: from then on an exit of 143 would be a lie
committed = threading.Event()
_installed = False


def handler_ran() -> None:
    """Called by the SIGTERM handler: the main thread is in Python and cleans up itself."""
    _ran.set()


def install(handler: Callable[..., object], code: int, message: str) -> None:
    """Watch for SIGTERM while ``handler`` is its Python handler (call from the main thread)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    try:
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except ValueError:
        os.close(read_fd)
        os.close(write_fd)
        return
    _installed = True
    thread = threading.Thread(
        target=_watch, args=(read_fd, handler, code, message), name="cosloss-sigterm", daemon=True
    )
    thread.start()


def _watch(read_fd: int, handler: Callable[..., object], code: int, message: str) -> None:
    while True:
        try:
            data = os.read(read_fd, 64)
        except OSError:
            return
        if not data:
            return
        # Judged when the signal arrives: during the commit (outputs.held_signals installs its
        # own handler) a SIGTERM is dropped, and must stay dropped once the commit is over.
        if signal.SIGTERM not in data or signal.getsignal(signal.SIGTERM) is not handler or _ran.wait(GRACE):
            continue
        if signal.getsignal(signal.SIGTERM) is not handler or committed.is_set():
            continue  # the commit holds SIGTERM, or the run is over: not ours to act on
        for path in list(temporaries):
            try:
                os.unlink(path)
            except OSError:
                pass
        try:
            os.write(2, f"{message}\n".encode())
        finally:
            os._exit(code)
