"""Which columns of a table hold the vectors, the ids and the weights."""

from __future__ import annotations

import fnmatch
import re

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError, UsageProblem
from .arrow_convert import is_scalar_number, is_text, is_vector_type
from .table import TableReader

__all__ = ["classify", "choose_vectors", "choose_scalar", "check_column", "ID_LIKE"]

#: Columns never taken as dimensions of a wide table unless asked for by name or glob:
#: ids, weights, and the unnamed index pandas writes.
ID_LIKE = re.compile(
    r"^(|id|_id|ids|idx|index|key|row|row_id|uid|uuid|weight|weights|sample_weight|"
    r"unnamed: ?\d+|__index_level_\d+__)$",
    re.IGNORECASE,
)
_NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|(?i:inf|infinity|nan))"
_TEXT_VECTOR = re.compile(
    rf"^\s*\[\s*(?:{_NUMBER}(?:\s*,?\s*{_NUMBER})*)?\s*,?\s*\]\s*$|"
    rf"^\s*{_NUMBER}(?:[\s,]+{_NUMBER})+\s*$|"
    # NumPy's summarised repr ("[ 0.1 0.2 ... 0.9]"): a vector column, refused by the converter with why
    r"^\s*\[[^\]]*\.\.\.[^\]]*\]\s*$"
)
_SCALAR = re.compile(rf"^\s*{_NUMBER}\s*$")


def _is_glob(spec: str) -> bool:
    return any(ch in spec for ch in "*?[")


def classify(reader: TableReader) -> dict[str, str]:
    """Each column: ``vector`` (a list of numbers, or text holding vectors), ``number``, or its type."""
    kinds: dict[str, str] = {}
    text = []
    for f in reader.schema:
        if is_vector_type(f.type):
            kinds[f.name] = "vector"
        elif is_scalar_number(f.type):
            kinds[f.name] = "number"
        elif is_text(f.type):
            text.append(f.name)
            kinds[f.name] = "text"
        else:
            kinds[f.name] = str(f.type)
    sample = reader.sample(text)
    for name in text:
        col = sample.column(name) if sample is not None else pa.array([], pa.string())
        values = pc.drop_null(col)
        first = values[0].as_py() if len(values) else None
        if first is None:
            continue
        if _TEXT_VECTOR.match(first):
            kinds[name] = "vector"
        elif _SCALAR.match(first):
            kinds[name] = "number"
    return kinds


def _describe(reader: TableReader, kinds: dict[str, str], names: list[str]) -> str:
    return ", ".join(f"{n} ({kinds[n]})" for n in names) or "none"


def check_column(reader: TableReader, name: str, option: str) -> None:
    if name not in reader.schema.names:
        raise UsageProblem(
            f"{reader.name} has no column {name!r} ({option}); its columns: {', '.join(reader.schema.names) or 'none'}"
        )


def choose_vectors(reader: TableReader, spec: str | None, *, exclude: set[str], option: str) -> list[str]:
    """The vector column(s) of ``reader``: ``spec`` (a name or a glob of scalar columns), else the
    only vector-like column, else every number column (one a dimension)."""
    names = list(reader.schema.names)
    if spec is not None:
        if _is_glob(spec):
            matched = [n for n in names if fnmatch.fnmatchcase(n, spec) and n not in exclude]
            if not matched:
                raise UsageProblem(
                    f"no column of {reader.name} matches {spec!r} ({option}); its columns: {', '.join(names) or 'none'}"
                )
            return matched
        check_column(reader, spec, option)
        return [spec]
    kinds = classify(reader)
    vectors = [n for n in names if kinds[n] == "vector" and n not in exclude]
    if len(vectors) == 1:
        return vectors
    if len(vectors) > 1:
        raise UsageProblem(
            f"{reader.name} has {len(vectors)} vector columns: {', '.join(vectors)}; choose one with {option}"
        )
    numbers = [n for n in names if kinds[n] == "number" and n not in exclude and not ID_LIKE.match(n)]
    if numbers:
        return numbers
    # Nothing to choose from is a property of the data (exit 3), not of the options.
    raise InputError(
        f"has no vector column (a list of numbers, or number columns); its columns: {_describe(reader, kinds, names)}",
        source=reader.name,
    )


def choose_scalar(reader: TableReader, spec: str | None, *, exclude: set[str], option: str) -> str:
    """One number column (weights): ``spec``, else the only number column."""
    if spec is not None:
        check_column(reader, spec, option)
        return spec
    kinds = classify(reader)
    numbers = [n for n in reader.schema.names if kinds[n] == "number" and n not in exclude]
    if len(numbers) != 1:
        raise UsageProblem(
            f"{reader.name} has {len(numbers)} number columns "
            f"({', '.join(numbers) or 'none'}); choose one with {option}"
        )
    return numbers[0]
