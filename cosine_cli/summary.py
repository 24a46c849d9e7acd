"""The one summary object of a run: built once from the result and the gate results, read by every report.

:class:`Summary` is a read-only mapping holding the JSON summary (schema_version 1) exactly as
``--json`` prints it, so a report renders it the way it rendered the plain dict before
(``d["cos"]["p01"]``, ``d.get("gates", [])``). Besides the mapping it keeps what JSON cannot say:
the gate results as objects, the raw loss (NaN and inf read ``null`` in JSON but are shown as
they are in text), and, for a run that stopped on an input error, the error message instead
of results. Imports nothing heavy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .gates import GateResult

__all__ = ["Summary", "json_safe", "to_json"]

#: deeper than any summary cosloss writes; guards json_safe against self-referencing input
_MAX_DEPTH = 64


def json_safe(value: Any, _depth: int = 0) -> Any:
    """``value`` with every non-finite float as None and every container as a plain list or dict.

    JSON has no NaN or inf (the schema says ``null``); NumPy scalars become Python numbers; bytes
    become text (UTF-8, undecodable bytes as backslash escapes) so that ids from a binary column
    never crash the summary.
    """
    if _depth > _MAX_DEPTH:
        raise ValueError("summary nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, _depth + 1) for v in value]
    item = getattr(value, "item", None)  # NumPy scalars
    if callable(item):
        return json_safe(item(), _depth + 1)
    tolist = getattr(value, "tolist", None)  # NumPy arrays
    if callable(tolist):
        return json_safe(tolist(), _depth + 1)
    return str(value)


def to_json(value: Any) -> str:
    """Indented JSON with non-finite numbers as null: never raises on NaN or inf."""
    return json.dumps(json_safe(value), indent=2, allow_nan=False)


@dataclass(frozen=True)
class Summary(Mapping[str, Any]):
    """The JSON summary of one run (a mapping) plus the gate results and the raw loss."""

    data: Mapping[str, Any]
    gate_results: tuple[GateResult, ...] = ()
    loss: float | None = None  #: the reduced loss as computed (NaN and inf kept)
    error: str | None = None  #: set instead of results when the run stopped on an input error

    @classmethod
    def build(
        cls,
        data: Mapping[str, Any],
        gate_results: Sequence[GateResult] = (),
        *,
        baseline: Mapping[str, Any] | None = None,
        loss: float | None = None,
    ) -> Summary:
        """``data`` is ``ScoreResult.to_dict()``; the gates (and the baseline's entry) are added here."""
        merged: dict[str, Any] = dict(data)
        if gate_results:
            merged["gates"] = [r.to_dict() for r in gate_results]
        if baseline is not None:
            merged["baseline"] = dict(baseline)
        safe = json_safe(merged)
        return cls(safe, tuple(gate_results), loss)

    @classmethod
    def of_error(cls, message: str) -> Summary:
        """The summary of a run that stopped on an input error: no results, one message."""
        return cls({}, (), None, " ".join(message.split()))

    @classmethod
    def of_result(cls, result: Any) -> Summary:
        """From a ``ScoreResult`` alone (gates, if any, already in its ``extra``)."""
        return cls.build(result.to_dict(), loss=result.loss)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def failed(self) -> list[GateResult]:
        return [r for r in self.gate_results if not r.passed]

    def to_json(self) -> str:
        """The ``--json`` text (without the final newline)."""
        return to_json(self.data)
