"""Which columns of a table hold the vectors, the ids and the weights."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable

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
    # columns by position, not by name: a lookup by name scans the schema (quadratic when wide)
    sampled = dict(zip(sample.schema.names, sample.columns, strict=True)) if sample is not None else {}
    empty = pa.array([], pa.string())
    for name in text:
        col = sampled.get(name, empty)
        if col.null_count == 0 and len(col):
            kinds[name] = _kind_of_text(col[0].as_py(), kinds[name])
            continue
        values = pc.drop_null(col)
        if len(values):
            kinds[name] = _kind_of_text(values[0].as_py(), kinds[name])
    return kinds


def _kind_of_text(first: str, kind: str) -> str:
    """A text column by its first value: vectors as text, numbers as text, or plain text."""
    if _SCALAR.match(first):  # checked first: the cheap, common case of a wide CSV
        return "number"
    if _TEXT_VECTOR.match(first):
        return "vector"
    return kind


def _describe(reader: TableReader, kinds: dict[str, str], names: list[str]) -> str:
    return ", ".join(f"{n} ({kinds[n]})" for n in names) or "none"


def check_column(reader: TableReader, name: str, option: str) -> None:
    if name not in reader.schema.names:
        raise UsageProblem(
            f"{reader.name} has no column {name!r} ({option}); its columns: {', '.join(reader.schema.names) or 'none'}"
        )


def choose_vectors(
    reader: TableReader,
    spec: str | None,
    *,
    exclude: set[str],
    option: str,
    notify: Callable[[str], None] | None = None,
) -> list[str]:
    """The vector column(s) of ``reader``: ``spec`` (a name or a glob of scalar columns), else the
    only vector-like column, else the numbered number columns of a wide table (one a dimension)."""
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
        # A text column numbered like the dimensions (e1 whose first cell is "#DIV/0!") is one of
        # them: taken in, its bad cell is an error naming the row, never a dimension left out.
        prefixes = {m.group(1) for m in map(_NUMBERED.match, numbers) if m}
        numbered_text = {
            n
            for n in names
            if kinds[n] == "text" and n not in exclude and (m := _NUMBERED.match(n)) and m.group(1) in prefixes
        }
        chosen = numbered_text | set(numbers)
        candidates = [n for n in names if n in chosen]
        return wide_dimensions(reader.name, candidates, option, notify)
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
    return str(numbers[0])


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def _numbered_groups(names: list[str]) -> dict[str, list[tuple[int, str]]]:
    """Number columns that share a prefix and end in a number (``e0``, ``e1``...), by prefix."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for n in names:
        m = _NUMBERED.match(n)
        if m and m.group(1) and _is_float(n):
            continue  # a name that is a number ("-0.52", from a header forced on data) is no numbering
        if m:
            groups.setdefault(m.group(1), []).append((int(m.group(2)), n))
    return {k: sorted(v) for k, v in groups.items() if len(v) > 1}


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _span(members: list[tuple[int, str]]) -> str:
    return f"{members[0][1]}..{members[-1][1]} ({len(members)} columns)"


def wide_dimensions(
    name: str, numbers: list[str], option: str, notify: Callable[[str], None] | None = None
) -> list[str]:
    """The dimensions of a wide table: its number columns that share a prefix and are numbered
    0..n-1 (or 1..n), in that order. Number columns beside them (``doc_id``, ``score``) are never
    mixed in silently: the numbered group is taken and the rest named in a note; several numbered
    groups are refused with each listed; without any, every number column is a dimension (noted)."""
    if len(numbers) == 1:
        return numbers
    groups = _numbered_groups(numbers)
    if len(groups) > 1:
        listed = "; ".join(f"{prefix or '(no prefix)'}: {_span(m)}" for prefix, m in groups.items())
        first = next(iter(groups))
        raise UsageProblem(
            f"{name} has {len(groups)} groups of numbered columns ({listed}); choose one with "
            f"{option} '{first}*' (or --columns)"
        )
    if not groups:
        # No numbered dimensions to tell the vector from metadata: every number column is a
        # dimension, and the note says which were taken.
        if notify is not None:
            notify(
                f"{name}: the vector is all {len(numbers)} number columns ({', '.join(numbers[:8])}"
                f"{', ...' if len(numbers) > 8 else ''}); choose its columns with {option} GLOB"
            )
        return numbers
    prefix, members = next(iter(groups.items()))
    indices = [i for i, _ in members]
    start = indices[0]
    if start not in (0, 1) or indices != list(range(start, start + len(indices))):
        missing = sorted(set(range(start, indices[-1] + 1)) - set(indices))
        problem = f"misses {prefix}{missing[0]}" if missing else f"starts at {prefix}{start}"
        raise UsageProblem(
            f"{name}: the numbered columns {_span(members)} are not the dimensions 0..n-1 ({problem}); "
            f"name the vector's columns with {option} GLOB"
        )
    dims = [n for _, n in members]
    in_dims = set(dims)
    others = [n for n in numbers if n not in in_dims]
    if others and notify is not None:
        notify(
            f"{name}: the vector is the numbered columns {_span(members)}; other number "
            f"columns are left out ({', '.join(others)}); choose otherwise with {option} GLOB"
        )
    return dims
