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


# --- binfmt (issue 11): files of named members (safetensors tensors, HDF5 datasets) ---
def _members_info(path: str, fmt: str) -> dict[str, Any]:
    """Every tensor / dataset: the 2-D (or more) real-number ones as vector columns."""
    if fmt == "safetensors":
        from .readers.safetensors import _DTYPES, members

        listed = [(t.name, t.dtype, t.shape, t.dtype in _DTYPES and t.dtype != "BOOL") for t in members(path)]
    else:
        from .readers.hdf5 import members as h5_members

        listed = [(d.name, d.dtype, d.shape, np.dtype(d.dtype).kind in "fiu") for d in h5_members(path)]
    vectors = [
        {"name": n, "dim": shape[-1], "dtype": dt, "type": f"{fmt} member {list(shape)}"}
        for n, dt, shape, real in listed
        if real and len(shape) >= 2
    ]
    others = [
        {"name": n, "type": f"{dt} {list(shape)}"} for n, dt, shape, real in listed if not (real and len(shape) >= 2)
    ]
    leading = {shape[0] for _, _, shape, real in listed if real and len(shape) >= 2}
    return {
        "format": fmt,
        "rows": leading.pop() if len(leading) == 1 else None,
        "row_groups": None,
        "vector_columns": vectors,
        "other_columns": others,
    }


# --- end binfmt ---


def describe(
    path: str, fmt: str | None = None, *, delimiter: str | None = None, header: bool = True, key: str | None = None
) -> dict[str, Any]:
    """A JSON-ready description of ``path`` (``"-"``: standard input)."""
    from .inputs import InputOptions, open_any
    from .readers import MEMBER_FORMATS, detect_format  # binfmt (issue 11)

    if path != "-" and (member_fmt := detect_format(path, fmt)) in MEMBER_FORMATS:  # binfmt (issue 11)
        return {"schema_version": 1, "path": path, **_members_info(path, member_fmt)}
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
