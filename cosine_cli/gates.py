"""Gates (``--gate 'cos.p01 >= 0.999'``) and the baseline check (``--baseline prev.json``).

A gate names a number of the JSON summary by its dotted name. Names and expressions are checked
before any data is read (an unknown name is a usage error, never a silent pass); values are
compared as the float64 they are, never rounded, and printed with ``repr`` so the printed value
explains the verdict. Imports nothing heavy.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .errors import InputError, UsageProblem

__all__ = ["METRICS", "Gate", "GateResult", "Baseline", "parse_gate", "parse_tolerance", "lookup"]

_QUANTILE_NAMES: Final = ("p01", "p05", "p10", "p50", "p90", "p95", "p99")
#: every number of the JSON summary a gate may name
METRICS: Final[tuple[str, ...]] = (
    "loss",
    "rows",
    "skipped",
    "zero_vectors",
    "nonfinite",
    *(f"cos.{k}" for k in ("mean", "std", "min", "max", *_QUANTILE_NAMES)),
    "weights.sum",
    "weights.nonzero",
)
#: the slices of a summary (issue 12): ``by_dim.256.cos.p01``, ``by_group.de.loss``; ``*`` for every slice
SLICE_KEYS: Final[tuple[str, ...]] = ("by_dim", "by_group", "by_candidate")
#: the evaluations' numbers beside the slices
EVALUATION_METRICS: Final[tuple[str, ...]] = (
    "correlation.pearson",
    "correlation.spearman",
    "diff.max_abs",
    "diff.rel_l2.mean",
    "diff.rel_l2.max",
    "diff.zero_label",
    "norm_ratio.mean",
    "norm_ratio.min",
    "norm_ratio.max",
)


def known_metric(name: str) -> bool:
    """Whether ``name`` is a number a summary may hold: a top-level metric, an evaluation's, or a
    slice's (``by_dim.<dim>.<metric>``, ``<dim>`` a name or ``*``)."""
    if name in METRICS or name in EVALUATION_METRICS:
        return True
    head, _, rest = name.partition(".")
    key, _, metric = rest.partition(".")
    return head in SLICE_KEYS and bool(key) and metric in METRICS


def for_candidates(gate: Gate, names: list[str]) -> list[Gate]:
    """A gate without a slice prefix, checked on every candidate (``cos.min`` -> ``by_candidate.X.cos.min``)."""
    if gate.name.split(".", 1)[0] in SLICE_KEYS or gate.name in EVALUATION_METRICS or gate.name == "loss - baseline":
        return [gate]
    return [Gate(f"by_candidate.{n}.{gate.name}", gate.op, gate.threshold, f"{n}: {gate.text}") for n in names]


_OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_GATE_RE: Final = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.*-]*?)\s*(<=|>=|<|>)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Gate:
    name: str
    op: str
    threshold: float
    text: str  #: the expression as the user wrote it

    def check(self, summary: Mapping[str, Any]) -> GateResult:
        value = lookup(summary, self.name)
        # NaN or a missing value (null) fails: a gate never passes on nothing
        passed = value is not None and not math.isnan(value) and _OPS[self.op](value, self.threshold)
        return GateResult(self.text, self.name, self.op, self.threshold, value, passed)

    def check_all(self, summary: Mapping[str, Any]) -> list[GateResult]:
        """One result, or one per slice for a wildcard (``by_group.*.cos.min``: every group; none
        present is one failing result, never a silent pass)."""
        head, _, rest = self.name.partition(".")
        key, _, metric = rest.partition(".")
        if head not in SLICE_KEYS or key != "*":
            return [self.check(summary)]
        slices = summary.get(head)
        if not isinstance(slices, Mapping) or not slices:
            return [GateResult(self.text, self.name, self.op, self.threshold, None, False, detail=f"no {head}")]
        out = []
        for name in slices:
            concrete = f"{head}.{name}.{metric}"
            r = Gate(concrete, self.op, self.threshold, self.text).check(summary)
            out.append(GateResult(f"{self.text} [{name}]", concrete, r.op, r.threshold, r.value, r.passed))
        return out


@dataclass(frozen=True)
class GateResult:
    expr: str
    name: str
    op: str
    threshold: float
    value: float | None
    passed: bool
    detail: str = ""  #: extra words (the baseline check says what it compared)

    @property
    def message(self) -> str:
        """One line that explains the verdict with unrounded numbers."""
        verdict = "passed" if self.passed else "FAILED"
        value = "null" if self.value is None else repr(self.value)
        text = (
            f"{self.name} = {value} {self.op} {self.threshold!r}"
            if self.passed
            else (f"{self.name} = {value}, required {self.op} {self.threshold!r}")
        )
        return f"{verdict}: {text}" + (f" ({self.detail})" if self.detail else "")

    def to_dict(self) -> dict[str, Any]:
        d = {
            "expr": self.expr,
            "name": self.name,
            "op": self.op,
            "threshold": self.threshold,
            "value": self.value,
            "passed": self.passed,
        }
        if self.detail:
            d["detail"] = self.detail
        return d


def parse_gate(text: str) -> Gate:
    """``NAME OP NUMBER`` with OP one of < <= > >=; a usage error otherwise."""
    m = _GATE_RE.match(text)
    if m is None:
        raise UsageProblem(
            f"--gate {text!r}: expected NAME OP NUMBER, such as 'cos.p01 >= 0.999' (OP is one of <, <=, >, >=)"
        )
    name, op, number = m.groups()
    if not known_metric(name):
        raise UsageProblem(
            f"--gate {text!r}: unknown statistic {name!r}; known: {', '.join(METRICS)}, "
            f"{', '.join(EVALUATION_METRICS)}, and {', '.join(SLICE_KEYS)}.<slice or *>.<one of the first>"
        )
    try:
        threshold = float(number)
    except ValueError:
        raise UsageProblem(f"--gate {text!r}: {number!r} is not a number") from None
    if math.isnan(threshold):
        raise UsageProblem(f"--gate {text!r}: the threshold cannot be NaN")
    return Gate(name, op, threshold, text.strip())


#: more digits than any count or float64 a summary holds (int64 has 19): longer is hostile input
_MAX_DIGITS: Final = 40


class _Hostile(Exception):
    """A number no summary holds, found while parsing (raised through json's hooks)."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_DIGITS:
        raise _Hostile(f"an integer of {len(text.lstrip('-'))} digits")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > 400:  # float() of any length is exact but slow: no real summary needs this
        raise _Hostile(f"a number written with {len(text)} characters")
    return float(text)


def read_summary(path: str) -> dict[str, Any]:
    """A ``cosloss score --json`` summary from a file; an InputError (exit 3) when it is not one.

    Hostile files end as one line too: a huge integer, a huge number text, or nesting deep enough
    to exhaust the parser's recursion.
    """
    try:
        with open(path, encoding="utf-8") as f:
            summary = json.load(f, parse_int=_parse_int, parse_float=_parse_float)
    except json.JSONDecodeError as exc:
        raise InputError(f"not a JSON summary ({exc.msg}, line {exc.lineno})", source=path) from None
    except UnicodeDecodeError:
        raise InputError("not a JSON summary (not UTF-8 text)", source=path) from None
    except _Hostile as exc:
        raise InputError(f"not a cosloss JSON summary (it holds {exc})", source=path) from None
    except RecursionError:
        raise InputError("not a cosloss JSON summary (nested too deeply)", source=path) from None
    except (ValueError, OverflowError) as exc:
        raise InputError(f"not a JSON summary ({exc})", source=path) from None
    if not isinstance(summary, dict) or summary.get("schema_version") != 1:
        raise InputError("is not a cosloss JSON summary (schema_version 1)", source=path)
    return summary


def lookup(summary: Mapping[str, Any], name: str) -> float | None:
    """The number at a dotted name of the summary (None when the summary has null there)."""
    node: Any = summary
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if node is None or isinstance(node, bool) or not isinstance(node, (int, float)):
        return None
    return node


def check_gates_apply(gates: list[Gate], *, reduction: str, weighted: bool) -> None:
    """Refuse, before reading data, gates that could only see null in this run."""
    for g in gates:
        if g.name == "loss" and reduction == "none":
            raise UsageProblem(f"--gate {g.text!r}: there is no reduced loss with --reduction none")
        if g.name.startswith("weights.") and not weighted:
            raise UsageProblem(f"--gate {g.text!r}: no weights were given (--weights or --weight)")


def parse_tolerance(text: str) -> tuple[float, bool]:
    """``0.001`` (absolute) or ``2%`` (relative to the baseline's loss): (amount, relative)."""
    raw = text.strip()
    relative = raw.endswith("%")
    try:
        value = float(raw[:-1] if relative else raw)
    except ValueError:
        raise UsageProblem(f"--tolerance {text!r}: expected a number, or a percentage such as 2%") from None
    if not math.isfinite(value) or value < 0:
        raise UsageProblem(f"--tolerance {text!r}: must be a finite number >= 0")
    return value, relative


@dataclass(frozen=True)
class Baseline:
    """An earlier run's JSON summary; this run's loss may not be higher by more than the tolerance."""

    path: str
    summary: dict[str, Any]
    tolerance: float = 0.0
    relative: bool = False

    @classmethod
    def load(cls, path: str, tolerance: str | None) -> Baseline:
        tol, rel = parse_tolerance(tolerance) if tolerance is not None else (0.0, False)
        summary = read_summary(path)
        loss = lookup(summary, "loss")
        if loss is None:
            raise InputError('has no numeric "loss"; expected a `cosloss score --json` summary', source=path)
        if not math.isfinite(loss):
            # inf would let every run pass, NaN gives no verdict: neither is a baseline
            raise InputError(f'its "loss" is {loss!r}, not a finite number; it cannot be a baseline', source=path)
        return cls(path, summary, tol, rel)

    def check_compatible(self, *, loss_kind: str, reduction: str) -> None:
        """Losses of different kinds or reductions cannot be compared: a usage error up front."""
        for key, mine in (("loss_kind", loss_kind), ("reduction", reduction)):
            theirs = self.summary.get(key)
            if theirs is not None and theirs != mine:
                raise UsageProblem(
                    f"--baseline {self.path!r} was made with {key} {theirs!r}, "
                    f"this run uses {mine!r}; the losses are not comparable"
                )

    def check_all(self, summary: Mapping[str, Any]) -> tuple[list[GateResult], dict[str, Any]]:
        """The check of this run's loss, and with several candidates of every candidate's (each
        against the baseline's entry of the same name in its by_candidate, else its loss): the run
        fails if any candidate's loss went up by more than the tolerance, as an unprefixed gate."""
        result, info = self.check(summary)
        candidates = summary.get("by_candidate")
        if not isinstance(candidates, Mapping) or len(candidates) < 2:
            return [result], info
        theirs = self.summary.get("by_candidate")
        results, per = [], {}
        for name, entry in candidates.items():
            base_entry = theirs.get(name) if isinstance(theirs, Mapping) else None
            base = lookup(base_entry, "loss") if isinstance(base_entry, Mapping) else None
            r, i = self.check(entry, base=base, label=f"{name}: ")
            results.append(r)
            per[name] = i
        info = {**info, "passed": all(r.passed for r in results), "by_candidate": per}
        return results, info

    def check(
        self, summary: Mapping[str, Any], *, base: float | None = None, label: str = ""
    ) -> tuple[GateResult, dict[str, Any]]:
        """This run's loss against the baseline's (``base``: another number of the baseline's, for one
        candidate; ``label`` prefixes the check's text)."""
        if base is None or not math.isfinite(base):
            base = float(self.summary["loss"])
        current = lookup(summary, "loss")
        allowed = self.tolerance * abs(base) / 100 if self.relative else self.tolerance
        delta = None if current is None else current - base
        passed = delta is not None and not math.isnan(delta) and delta <= allowed
        tol_text = f"{self.tolerance!r}%" if self.relative else repr(self.tolerance)
        result = GateResult(
            f"{label}loss - baseline <= {tol_text}",
            "loss - baseline",
            "<=",
            allowed,
            delta,
            passed,
            detail=f"loss {current!r} vs baseline {base!r} from {self.path}",
        )
        info = {
            "path": self.path,
            "loss": base,
            "current": current,
            "delta": delta,
            "tolerance": tol_text,
            "allowed": allowed,
            "passed": passed,
        }
        return result, info
