"""``cosloss inspect FILE``: what a file holds, before scoring it.

Format, rows, the vector columns found (dimension, dtype), the other columns
and the row groups. Row counts come from the metadata where the format keeps
one (Parquet, Arrow files, .npy); CSV and Arrow streams are counted by reading
them through, batch by batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TextIO

import numpy as np

__all__ = ["describe", "write_description"]


def _array_info(src: Any, fmt: str) -> dict[str, Any]:
    shape = list(src.shape)
    return {
        "format": fmt,
        "rows": shape[0] if shape else None,
        "shape": shape,
        "row_groups": None,
        "vector_columns": [
            {
                "name": src.name,
                "dim": shape[-1] if shape else None,
                "dtype": str(np.dtype(src.dtype)),
                "type": f"array{tuple(shape)}",
            }
        ],
        "other_columns": [],
    }


def _first_dim(reader: Any, column: str) -> int | None:
    from .readers.arrow_convert import to_matrix

    sample = reader.sample([column])
    if sample is None or sample.num_rows == 0:
        return None
    m = to_matrix([sample.column(column)], source=reader.name, column=column, skip_nulls=True)
    return int(m.shape[1])


def _count_rows(reader: Any) -> int:
    consumer = reader.register([])
    rows = 0
    while (b := reader.next_batch(consumer)) is not None:
        rows += b.num_rows
    return rows


def _table_info(reader: Any) -> dict[str, Any]:
    import pyarrow as pa

    from .errors import UsageProblem
    from .readers.arrow_convert import is_text, vector_dtype
    from .readers.columns import ID_LIKE, classify, wide_dimensions

    kinds = classify(reader)
    vectors, others = [], []
    for f in reader.schema:
        if kinds[f.name] == "vector":
            dim = f.type.list_size if pa.types.is_fixed_size_list(f.type) else _first_dim(reader, f.name)
            vectors.append(
                {
                    "name": f.name,
                    "dim": dim,
                    "dtype": str(vector_dtype(f.type)),
                    "type": "text vectors" if is_text(f.type) else str(f.type),
                }
            )
        else:
            others.append(
                {
                    "name": f.name,
                    "type": "number (text)" if kinds[f.name] == "number" and is_text(f.type) else str(f.type),
                }
            )
    numbers = [c["name"] for c in others if c["type"].startswith("number") or kinds[c["name"]] == "number"]
    numbers = [n for n in numbers if not ID_LIKE.match(n)]
    problem = None
    if not vectors and len(numbers) > 1:
        try:
            wide = wide_dimensions(reader.name, numbers, "--pred-col")
        except UsageProblem as exc:  # several groups, or none: say so, as score would
            wide, problem = [], exc.for_cli()
        if wide:
            dtypes = {str(vector_dtype(reader.schema.field(n).type)) for n in wide}
            vectors.append(
                {
                    "name": f"{wide[0]}..{wide[-1]}",
                    "dim": len(wide),
                    "dtype": ",".join(sorted(dtypes)),
                    "type": "wide (one column a dimension)",
                    "columns": wide,
                }
            )
            others = [c for c in others if c["name"] not in wide]
    rows = reader.num_rows if reader.num_rows is not None else _count_rows(reader)
    return {
        **({"problem": problem} if problem else {}),
        "format": reader.format_name,
        "rows": rows,
        "row_groups": reader.row_groups,
        "vector_columns": vectors,
        "other_columns": others,
    }


def describe(
    path: str,
    fmt: str | None = None,
    *,
    delimiter: str | None = None,
    header: bool | None = None,
    key: str | None = None,
    notify: Callable[[str], None] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON-ready description of ``path`` (``"-"``: standard input; a URI; a dataset)."""
    from .inputs import InputOptions, open_any
    from .readers import detect_format, resolve_location

    opts = InputOptions(delimiter=delimiter, header=header)
    if path != "-" and key is None:
        fmt_found = detect_format(resolve_location(path, storage_options), fmt)
        lister = fmt_found.load_lister()
        if lister is not None:
            return {"schema_version": 1, "path": path, **_members_info(path, fmt_found, lister, storage_options)}
    opened = open_any(path, fmt, opts, member=key, storage_options=storage_options, notify=notify)
    try:
        reader = opened.reader
        if hasattr(reader, "schema") and hasattr(reader, "register"):
            info = _table_info(reader)
        else:
            info = _array_info(reader, opened.format.name)
    finally:
        opened.close()
    return {"schema_version": 1, "path": path, **info}


def _members_info(path: str, fmt: Any, lister: Any, storage_options: Any) -> dict[str, Any]:
    """An archive's named arrays: each one vector column (chosen with --pred-col / --label-col)."""
    from .inputs import InputOptions, open_any
    from .readers import resolve_location

    columns, others = [], []
    rows = set()
    for member in lister(resolve_location(path, storage_options)):
        opened = open_any(path, fmt.name, InputOptions(), member=member, storage_options=storage_options)
        try:
            part = _array_info(opened.reader, fmt.name)
        finally:
            opened.close()
        column = part["vector_columns"][0]
        if len(part["shape"]) >= 2:
            columns.append({**column, "name": member})
            rows.add(part["rows"])
        else:
            others.append({"name": member, "type": f"{column['dtype']} {part['shape']}"})
    return {
        "format": fmt.name,
        "rows": rows.pop() if len(rows) == 1 else None,
        "row_groups": None,
        "vector_columns": columns,
        "other_columns": others,
    }


def write_description(info: dict[str, Any], out: TextIO, *, as_json: bool = False) -> None:
    if as_json:
        out.write(json.dumps(info, indent=2) + "\n")
        return
    lines = [
        f"file:        {info['path']}",
        f"format:      {info['format']}",
        f"rows:        {info['rows'] if info['rows'] is not None else '?'}",
    ]
    if info.get("row_groups") is not None:
        lines.append(f"row groups:  {info['row_groups']}")
    lines.append("vector columns:" if info["vector_columns"] else "vector columns: none")
    for v in info["vector_columns"]:
        dim = v["dim"] if v["dim"] is not None else "?"
        lines.append(f"  {v['name']}  dim {dim}  {v['dtype']}  ({v['type']})")
    if info["other_columns"]:
        lines.append("other columns:")
        lines.extend(f"  {c['name']}  {c['type']}" for c in info["other_columns"])
    out.write("\n".join(lines) + "\n")
