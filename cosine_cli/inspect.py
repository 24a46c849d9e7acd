"""``cosloss inspect FILE``: what a file holds, before scoring it.

Format, rows, the vector columns found (dimension, dtype), the other columns
and the row groups. Row counts come from the metadata where the format keeps
one (Parquet, Arrow files, .npy); CSV and Arrow streams are counted by reading
them through, batch by batch.
"""

from __future__ import annotations

import json
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

    from .readers.arrow_convert import is_text, vector_dtype
    from .readers.columns import ID_LIKE, classify

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
    wide = [c["name"] for c in others if c["type"].startswith("number") or kinds[c["name"]] == "number"]
    wide = [n for n in wide if not ID_LIKE.match(n)]
    if not vectors and len(wide) > 1:
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
        "format": reader.format_name,
        "rows": rows,
        "row_groups": reader.row_groups,
        "vector_columns": vectors,
        "other_columns": others,
    }


def describe(
    path: str, fmt: str | None = None, *, delimiter: str | None = None, header: bool = True, key: str | None = None
) -> dict[str, Any]:
    """A JSON-ready description of ``path`` (``"-"``: standard input)."""
    from .inputs import InputOptions, open_any

    opened = open_any(path, fmt, InputOptions(delimiter=delimiter, header=header, key=key))
    try:
        if hasattr(opened, "schema") and hasattr(opened, "register"):
            info = _table_info(opened)
        else:
            info = _array_info(opened, getattr(opened, "format_name", "npy"))
    finally:
        opened.close()
    return {"schema_version": 1, "path": path, **info}


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
