"""The errors cosloss raises, and the exit code each one means.

The library raises these; only the CLI turns them into exit codes (see
``cli.py``), so a notebook user gets an exception, never a ``SystemExit``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["CoslossError", "InputError", "UsageProblem", "EXIT_OK", "EXIT_GATE", "EXIT_USAGE", "EXIT_INPUT"]

EXIT_OK = 0  #: scored, and every gate passed
EXIT_GATE = 1  #: scored, and a gate failed
EXIT_USAGE = 2  #: bad arguments (Click's own code)
EXIT_INPUT = 3  #: bad input data or an unreadable file
EXIT_SIGINT = 130  #: interrupted (Ctrl-C)
EXIT_SIGTERM = 143  #: terminated (SIGTERM)


class CoslossError(Exception):
    """Base class of every error cosloss reports to a user."""

    exit_code = EXIT_INPUT


class InputError(CoslossError, ValueError):
    """The data cannot be scored: unreadable, malformed or inconsistent.

    The message names the file, and the row or column where known, so one line
    on stderr tells the user what to fix.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: int | str | None = None,
        column: str | None = None,
    ) -> None:
        self.source = source
        self.row = row
        self.column = column
        # One line on stderr is the contract: library messages (pyarrow's among them)
        # can carry newlines, so fold all white space here.
        message = " ".join(str(message).split())
        self.detail = message
        where = []
        if source is not None:
            where.append(str(source))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(": ".join([*where, message]))


class UsageProblem(CoslossError, ValueError):
    """Options that cannot work together (the CLI reports these as usage errors, exit 2).

    A message may name options as ``{pred_col}``: ``str()`` spells them as the library's keyword
    arguments (``pred_col=``), :meth:`for_cli` as the command's flags (``--pred-col``).
    """

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        self.template = message
        super().__init__(self.render(lambda name: f"{name}="))

    def render(self, spell: Callable[[str], str]) -> str:
        from .roles import OPTION_FLAGS

        # only option names are placeholders: user text (a column called "{x}") stays as it is
        return _PLACEHOLDER.sub(
            lambda m: spell(m.group(1)) if m.group(1) in OPTION_FLAGS else m.group(0), self.template
        )

    def for_cli(self) -> str:
        from .roles import flag

        return self.render(flag)


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
