"""Step outputs for GitHub Actions: ``loss``, ``rows``, ``passed`` and ``gate_N`` appended to ``$GITHUB_OUTPUT``.

A later step reads them as ``steps.<id>.outputs.loss``. The file's syntax is ``key=value`` per line;
a value that could hold a newline uses the documented delimiter form (``key<<DELIM`` ... ``DELIM``)
with a delimiter that does not occur in the value. Numbers are written with ``repr`` (unrounded,
reads back as the same float); a missing number is the empty string, as an unset output reads.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping
from typing import Any

__all__ = ["append_github_output", "output_lines", "outputs"]


def _value(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return "nan" if math.isnan(x) else repr(x)
    return str(x)


def _line(key: str, value: str) -> str:
    if "\n" not in value and "\r" not in value:
        return f"{key}={value}\n"
    delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
    while delimiter in value:  # pragma: no cover - 64 random bits
        delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
    return f"{key}<<{delimiter}\n{value}\n{delimiter}\n"


def outputs(d: Mapping[str, Any]) -> dict[str, str]:
    """The outputs of one run: ``loss``, ``rows``, ``passed`` and ``gate_1``... (each gate's value, in order)."""
    gates = d.get("gates") or []
    out = {
        "loss": _value(d.get("loss")),
        "rows": _value(d.get("rows")),
        "passed": _value(all(bool(g.get("passed")) for g in gates)),
    }
    for i, g in enumerate(gates, 1):
        out[f"gate_{i}"] = _value(g.get("value"))
    return out


def output_lines(d: Mapping[str, Any]) -> str:
    """The text to append to ``$GITHUB_OUTPUT`` for summary ``d``."""
    return "".join(_line(k, v) for k, v in outputs(d).items())


def append_github_output(d: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> bool:
    """Append the outputs when ``$GITHUB_OUTPUT`` names a file; True if it did."""
    path = (os.environ if environ is None else environ).get("GITHUB_OUTPUT")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as f:
        f.write(output_lines(d))
    return True
