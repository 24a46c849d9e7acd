"""One way out: the pieces of the output plan (see ``output_options.OutputPlan``).

Every output of a run (the per-vector file, each report, the summary on a stream) is a
:class:`Target`, classified and checked before any data is read: distinct from each other and from
every resolved input (:func:`input_identities`), and writable. Files are written to a
:class:`StagedFile` beside the target, with the mode the umask gives, and renamed into place only
when the whole run has succeeded (:func:`held_signals` keeps Ctrl-C and SIGTERM out of the few
renames, so an exit code of 130 or 143 always means nothing was committed).

Reports are one registry, :data:`REPORTS`: a new report is one :class:`Report` entry (its option,
and a function rendering the one :class:`~cosine_cli.summary.Summary`); the option, the checks and
the atomic write come with it. Imports nothing heavy: ``cosloss --help`` reads :data:`REPORTS`.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Final, Literal, NamedTuple, TextIO

from . import termination
from .errors import EXIT_INPUT, CoslossError, InputError, UsageProblem

if TYPE_CHECKING:
    from .summary import Summary

__all__ = [
    "REPORTS",
    "InputIdentity",
    "Report",
    "StagedFile",
    "Target",
    "classify",
    "descriptor_of",
    "failure_message",
    "file_mode",
    "held_signals",
    "input_identities",
    "stream_key",
]


# -- the report registry --------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """One report a run can write: ``--OPTION PATH`` renders the run's Summary into PATH."""

    option: str  #: the command-line option, e.g. "--junit"
    dest: str  #: the keyword the command receives, e.g. "junit_path"
    help: str
    #: "module:function"; the function takes the Summary and returns str (UTF-8) or bytes. Imported
    #: only when the report is written.
    render: str
    #: also written when the run stops on an input error (the renderer then gets
    #: ``Summary.of_error(message)``: ``summary.error`` set, no results)
    on_error: bool = False
    #: PATH naming the file $GITHUB_STEP_SUMMARY names is appended to (other steps write there too)
    step_summary: bool = False
    metavar: str = "PATH"

    def render_summary(self, summary: Summary) -> bytes:
        module, _, name = self.render.partition(":")
        text = getattr(importlib.import_module(module), name)(summary)
        return text.encode("utf-8") if isinstance(text, str) else bytes(text)


#: Every report, in the order they are written. Add one entry to add a report.
REPORTS: Final[list[Report]] = [
    Report(
        "--markdown",
        "markdown_path",
        "Write the summary as Markdown (appends when PATH is $GITHUB_STEP_SUMMARY).",
        "cosine_cli.reports.markdown:render_markdown",
        step_summary=True,
    ),
    Report(
        "--junit",
        "junit_path",
        "Write JUnit XML: one test case per gate ('score' when there are none); an input error "
        "is one errored test case.",
        "cosine_cli.reports.junit:render_junit",
        on_error=True,
    ),
    Report(
        "--html",
        "html_path",
        "Write a self-contained HTML report (chart, tables, gates); also when the run fails on its input.",
        "cosine_cli.reports.html:render_report",
        on_error=True,
    ),
]


# -- resolved inputs ------------------------------------------------------------------------------


class InputIdentity(NamedTuple):
    dev: int
    ino: int
    display: str  #: how to name it in a message


_GLOB = re.compile(r"[*?\[]")


def _local_path(arg: str) -> str | None:
    """The local path of a plain path or a ``file://`` URI; None for other URIs (not ours to check)."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", arg) is None:
        return arg
    from urllib.parse import unquote, urlsplit  # here: --help must stay fast

    parts = urlsplit(arg)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        return None
    return unquote(parts.path)


def _expand(path: str) -> list[str]:
    """A path's files as the input layer reads them: a glob's matches, a directory's Parquet parts
    (recursively, leaving out names starting with ``_`` or ``.``), else the path itself; sorted."""
    if _GLOB.search(path):
        import glob

        return sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
    if os.path.isdir(path):
        parts = []
        for root, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
            parts += [os.path.join(root, f) for f in files if f.endswith(".parquet") and not f.startswith(("_", "."))]
        return sorted(parts)
    return [path]


def _stdin_fd() -> int | None:
    try:
        return sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # replaced (a test runner) or closed
        return None


def input_identities(args: Sequence[str | None]) -> list[InputIdentity]:
    """(device, inode, name) of every file the inputs resolve to: each part of a directory or glob,
    the local path of a ``file://`` URI, and the file (or pipe) behind standard input for ``-``.

    Inputs that do not exist (yet) or live on other file systems are left out: the input layer
    reports them. The lead's input layer will supply this list from its own lister.
    """
    found: list[InputIdentity] = []
    for arg in args:
        if arg is None:
            continue
        if arg == "-":
            fd = _stdin_fd()
            try:
                st = os.fstat(fd) if fd is not None else None
            except OSError:
                st = None
            if st is not None:
                found.append(InputIdentity(st.st_dev, st.st_ino, "the file behind standard input"))
            continue
        path = _local_path(arg)
        if path is None:
            continue
        for p in _expand(path):
            try:
                st = os.stat(p)
            except OSError:
                continue
            if p == arg:
                display = p
            elif path != arg and p == path:
                display = f"{p}, the local path of {arg}"
            else:
                display = f"{p}, part of {arg}"
            found.append(InputIdentity(st.st_dev, st.st_ino, display))
    return found


# -- targets --------------------------------------------------------------------------------------

Kind = Literal["file", "stdout", "stream", "device", "append"]

_STD_PATHS: Final = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
_FD_PATH: Final = re.compile(r"^/(?:dev/fd|proc/self/fd|proc/thread-self/fd|proc/(\d+)/fd)/(\d+)$")


def descriptor_of(path: str) -> int | None:
    """The descriptor a path stands for (``/dev/stdout``, ``/dev/fd/N``, ``/proc/self/fd/N``, or a
    symlink leading to one of them), else None. Such a path is never renamed over: it is a stream.
    """
    p = path
    for _ in range(40):  # the kernel's own limit on symlink hops
        p = os.path.abspath(p)
        if p in _STD_PATHS:
            return _STD_PATHS[p]
        m = _FD_PATH.match(p)
        if m is not None and (m.group(1) is None or int(m.group(1)) == os.getpid()):
            return int(m.group(2))
        try:
            link = os.readlink(p)
        except OSError:
            return None
        p = os.path.join(os.path.dirname(p), link)
    return None


@dataclass(frozen=True)
class Target:
    """Where one output goes, decided before any data is read."""

    option: str  #: "--output", "--junit", ...
    path: str  #: as given
    #: file: staged beside the target and renamed at the end; stdout / stream: written to
    #: descriptor 1 / ``fd`` as the run goes or at the end, never renamed; device: an existing
    #: FIFO, terminal or device file, written in place; append: $GITHUB_STEP_SUMMARY, appended to
    kind: Kind
    fd: int | None = None

    def describe(self) -> str:
        return f"{self.option} {self.path!r}"


def classify(option: str, path: str, *, step_summary: bool = False) -> Target:
    """The kind of target ``path`` is (``-`` is standard output)."""
    fd = 1 if path == "-" else descriptor_of(path)
    if fd == 1:
        return Target(option, path, "stdout", 1)
    if fd == 0:
        raise UsageProblem(f"{option} {path!r} is standard input; it cannot be written")
    if fd is not None:
        return Target(option, path, "stream", fd)
    if step_summary:
        summary_file = os.environ.get("GITHUB_STEP_SUMMARY") or ""
        if summary_file and os.path.abspath(summary_file) == os.path.abspath(path):
            return Target(option, path, "append")
    try:
        st = os.stat(path)
    except OSError:
        return Target(option, path, "file")
    if stat.S_ISDIR(st.st_mode):
        raise UsageProblem(f"{option} {path!r} is a directory")
    # /dev/null, a FIFO, a terminal: renaming over it would replace the device with a plain file
    return Target(option, path, "file" if stat.S_ISREG(st.st_mode) else "device")


def check_writable(t: Target) -> None:
    """Refuse, before any data is read, a target that cannot be written: exit 3, as the failed
    ``open()`` would have been (the run stops before reading anything)."""
    if t.kind in ("stdout", "stream"):
        return
    exists = os.path.exists(t.path)
    if exists and not os.access(t.path, os.W_OK):
        # Renaming would replace it regardless, but a write-protected file says "keep": refuse,
        # as opening it would (root may write anything, as everywhere else)
        raise InputError(f"{t.describe()} is write-protected; refusing to replace it")
    if t.kind == "device" or (t.kind == "append" and exists):
        return
    directory = os.path.dirname(os.path.abspath(t.path))
    shown = os.path.dirname(t.path) or "."
    if not os.path.isdir(directory):
        raise InputError(f"{t.describe()}: directory {shown!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InputError(f"{t.describe()}: cannot create a file in {shown!r} (permission denied)")


def file_key(t: Target) -> tuple[Any, ...]:
    """What makes two file targets the same file: the inode if it exists, else the resolved name."""
    try:
        st = os.stat(t.path)
        return ("inode", st.st_dev, st.st_ino)
    except OSError:
        directory = os.path.realpath(os.path.dirname(os.path.abspath(t.path)))
        return ("name", directory, os.path.basename(t.path))


def stream_key(fd: int, stream: Any = None) -> tuple[Any, ...]:
    """What makes two streams one: the (device, inode) behind them (a pipe, a file), except that a
    terminal is its own reader's screen (mixing there is expected) and a stream without a
    descriptor (a test runner's buffer) is only itself."""
    try:
        real = stream.fileno() if stream is not None else fd
        if os.isatty(real):
            return ("tty", fd)
        st = os.fstat(real)
    except (AttributeError, OSError, ValueError):
        return ("fd", fd)
    return ("inode", st.st_dev, st.st_ino)


def stream_identity(fd: int, stream: Any = None) -> tuple[int, int] | None:
    key = stream_key(fd, stream)
    return (key[1], key[2]) if key[0] == "inode" else None


# -- writing --------------------------------------------------------------------------------------


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: read it the old way (set, then put it back at once)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets from ``open()``: 0666 less the umask."""
    return 0o666 & ~_umask()


class StagedFile:
    """A file written under a temporary name in the target's directory (same file system, so the
    final rename is atomic), with the mode the umask gives; :meth:`commit` renames it over the
    target, :meth:`abort` removes it."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.committed = False
        import tempfile

        directory = os.path.dirname(os.path.abspath(target))
        try:
            fd, self.tmp = tempfile.mkstemp(
                dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".cosloss-tmp"
            )
        except OSError as exc:  # name the file asked for, not the temporary one beside it
            raise OSError(exc.errno, f"cannot write here ({exc.strerror})", target) from None
        try:
            os.fchmod(fd, file_mode())  # mkstemp makes 0600 whatever the umask
        except OSError:
            pass  # a file system without modes
        self.file: IO[bytes] = os.fdopen(fd, "w+b")
        termination.temporaries.add(self.tmp)  # removed by a SIGTERM the main thread cannot take

    def finish(self) -> None:
        """Flush and sync everything written (errors name the target, not the temporary file)."""
        if self.file.closed:
            return
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, self.target) from None

    def commit(self) -> None:
        self.finish()
        termination.committed.set()
        os.replace(self.tmp, self.target)
        self.committed = True
        termination.temporaries.discard(self.tmp)

    def abort(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass  # the close flushes, and a full device fails again: the run has already failed
        if not self.committed:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
        termination.temporaries.discard(self.tmp)


def write_in_place(t: Target, data: bytes, stdout: IO[bytes] | None) -> None:
    """A report to a stream, a device or the step summary (appended): written at once."""
    if t.kind == "stdout":
        if stdout is None:
            stdout = sys.stdout.buffer
        stdout.write(data)
        stdout.flush()
        return
    if t.kind == "stream":
        assert t.fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(t.fd, view) :]
        return
    with open(t.path, "ab" if t.kind == "append" else "wb") as f:
        f.write(data)


_HELD: Final = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def held_signals() -> Iterator[None]:
    """Keep Ctrl-C and SIGTERM out of the commit, and drop any that came meanwhile: the run has
    succeeded once the first rename is done, and an exit code of 130 / 143 must keep meaning that
    nothing was committed.

    The Python-level handlers are swapped (not the thread's signal mask: a process-directed
    signal would go to one of pyarrow's threads, and Python would still raise it here). A signal
    that arrived just before is raised at the first statement inside, before any rename.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    try:
        for sig in _HELD:
            previous[sig] = signal.signal(sig, _ignore_for_now)
    except (OSError, ValueError):
        pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore_for_now(signum: int, frame: object) -> None:
    """Stands in for the usual handlers during the commit (see held_signals)."""


# -- failures -------------------------------------------------------------------------------------


def failure_message(exc: BaseException) -> str | None:
    """The one line an input or data error (exit 3) prints, as ``cli.handled_errors`` words it;
    None for anything else (usage errors, interrupts, a closed stdout)."""
    if isinstance(exc, CoslossError):
        return " ".join(str(exc).split()) if exc.exit_code == EXIT_INPUT else None
    if isinstance(exc, MemoryError):
        return "out of memory; try a smaller --chunk-size"
    if isinstance(exc, BrokenPipeError):
        return None
    if isinstance(exc, OSError):
        name = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return " ".join(f"{name}{exc.strerror or exc}".split())
    return None


def escape_command(text: str) -> str:
    """Escape a GitHub workflow-command message (% CR LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def on_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def annotate(stderr: TextIO, title: str, messages: Sequence[str]) -> None:
    """``::error`` workflow commands, on stderr: the runner reads both streams, and stdout keeps
    only results (JSON, per-vector rows) that a later step may parse."""
    for m in messages:
        stderr.write(f"::error title={title}::{escape_command(m)}\n")
    stderr.flush()


def error_markdown(message: str) -> str:
    """The job-summary entry of a run that stopped on an input error."""
    fence = "```"
    while fence in message:
        fence += "`"
    return f"## cosloss: error (exit 3)\n\n{fence}text\n{message}\n{fence}\n"


def render_all(targets: Sequence[tuple[Target, Report]], summary: Summary) -> list[tuple[Target, bytes]]:
    return [(t, report.render_summary(summary)) for t, report in targets]


def quietly(action: Callable[..., None], *args: Any) -> None:
    """Run a best-effort step of error reporting: the original error is what the user must see."""
    try:
        action(*args)
    except OSError:
        pass
