"""The OpenAI embedding envelopes, recognised without options, as plain tables.

* ``{"object": "embedding", "index": i, "embedding": [...]}`` a row (lines, or an array):
  the ``embedding`` column. In a document the rows are put in ``index`` order, and the
  indices must be 0..n-1.
* The list response ``{"object": "list", "data": [<embedding objects>], ...}``: one row per
  element of ``data``, in ``index`` order (0..k-1 in each response).
* The Batch API output ``{"id", "custom_id", "response": {"status_code": 200, "body": <list
  response of one embedding>}, "error": null}``: the columns ``id``, ``custom_id`` and
  ``embedding``. Lines come back in any order: pair them with ``--id-col custom_id
  --join-on-id``. A line whose ``error`` is set, whose status is not 200 or that holds no
  embedding gets a null vector, so that the row is an input error naming the line (and why),
  or, under ``--nan-policy skip``, left out and counted.

``encoding_format="base64"`` embeddings (text of little-endian float32 bytes) are decoded to
float32 vectors. Other JSON gets its nested objects flattened to dotted column names.
"""

from __future__ import annotations

import enum
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..errors import InputError
from .arrow_convert import is_text
from .base64vec import decode_base64_float32

__all__ = ["Layout", "layout_of_object", "layout_of_schema", "explicit_schema", "shape", "flatten"]

#: Reasons kept for rows without a vector: enough for the first error; a file of failures
#: read under --nan-policy skip must not grow the dict without bound.
_MAX_REASONS = 10_000
_EMBEDDING_START = re.compile(rb'"embedding"\s*:\s*(["\[])')


class Layout(enum.Enum):
    PLAIN = "plain"  #: rows of fields, nested objects flattened
    EMBEDDINGS = "embeddings"  #: rows that are OpenAI embedding objects
    LIST = "list"  #: rows that are OpenAI list responses (one row per element of `data`)
    BATCH = "batch"  #: rows that are OpenAI Batch API output lines


def layout_of_object(obj: dict[str, Any]) -> Layout:
    """The layout a JSON Lines file has, from its first object."""
    if "custom_id" in obj and ("response" in obj or "error" in obj):
        return Layout.BATCH
    if obj.get("object") == "list" and isinstance(obj.get("data"), list):
        return Layout.LIST
    if obj.get("object") == "embedding" and "embedding" in obj:
        return Layout.EMBEDDINGS
    return Layout.PLAIN


def layout_of_schema(schema: pa.Schema) -> Layout:
    """The layout of a parsed document, from its fields."""
    names = set(schema.names)
    if "custom_id" in names and ("response" in names or "error" in names):
        return Layout.BATCH
    if {"object", "data"} <= names:
        t = schema.field("data").type
        if pa.types.is_list(t) and pa.types.is_struct(t.value_type) and t.value_type.get_field_index("embedding") >= 0:
            return Layout.LIST
    if {"object", "embedding"} <= names:
        return Layout.EMBEDDINGS
    return Layout.PLAIN


def explicit_schema(layout: Layout, head: bytes) -> pa.Schema | None:
    """The fields pyarrow must parse for an envelope, typed up front.

    pyarrow types each field from the first block and fails when a later line disagrees (an
    ``error`` null for a thousand lines, then an object). The envelope's fields are known:
    they are typed here, and everything else (model, usage, ...) is ignored."""
    if layout not in (Layout.BATCH, Layout.LIST):
        return None
    m = _EMBEDDING_START.search(head)
    embedding = pa.string() if m is not None and m.group(1) == b'"' else pa.list_(pa.float64())
    item = pa.struct([("index", pa.int64()), ("embedding", embedding)])
    if layout == Layout.LIST:
        return pa.schema([("object", pa.string()), ("data", pa.list_(item))])
    error = pa.struct([("code", pa.string()), ("message", pa.string())])
    body = pa.struct([("data", pa.list_(item)), ("error", error)])
    response = pa.struct([("status_code", pa.int64()), ("body", body)])
    return pa.schema([("id", pa.string()), ("custom_id", pa.string()), ("response", response), ("error", error)])


def flatten(names: list[str], arrays: list[pa.Array]) -> pa.RecordBatch:
    """Struct columns as dotted columns (``meta.emb``), recursively; parents' nulls kept."""
    out_names: list[str] = []
    out: list[pa.Array] = []

    def add(name: str, arr: pa.Array) -> None:
        if pa.types.is_struct(arr.type):
            for f, child in zip(arr.type, arr.flatten(), strict=True):
                add(f"{name}.{f.name}", child)
        else:
            out_names.append(name)
            out.append(arr)

    for n, a in zip(names, arrays, strict=True):
        add(n, a)
    return pa.RecordBatch.from_arrays(out, names=out_names)


def _field(arr: pa.Array | None, name: str) -> pa.Array | None:
    """A struct's child with the struct's nulls (None when there is no such child)."""
    if arr is None or not pa.types.is_struct(arr.type) or arr.type.get_field_index(name) < 0:
        return None
    return pc.struct_field(arr, [arr.type.get_field_index(name)])


def _vectors(arr: pa.Array, source: str, offset: int) -> pa.Array:
    if is_text(arr.type):
        return decode_base64_float32(arr, source=source, column="embedding", offset=offset)
    return arr


def _index_order(index: pa.Array | None, groups: NDArray[np.int64], source: str, offset: int) -> NDArray[np.int64]:
    """The order that sorts each group's rows by ``index``; each group's indices must be 0..k-1.

    ``groups``: the group (list response) of every row, non-decreasing."""
    n = len(groups)
    if index is None or n == 0:
        return np.arange(n)
    if index.null_count:
        i = int(np.flatnonzero(np.asarray(index.is_null()))[0])
        raise InputError("an embedding object without its index", source=source, row=offset + i)
    idx = np.asarray(index.cast(pa.int64()))
    order = np.lexsort((idx, groups))
    starts = np.searchsorted(groups, groups)  # first row of each row's group
    expected = np.arange(n) - starts
    got = idx[order]
    bad = np.flatnonzero(got != expected)
    if bad.size:
        k = int(bad[0])
        raise InputError(
            f"the embeddings' indices are not 0..n-1 in each response (index {int(expected[k])} "
            f"{'is missing' if got[k] > expected[k] else 'appears twice'})",
            source=source,
            row=offset + k,
        )
    return order


def shape(
    batch: pa.RecordBatch, layout: Layout, *, source: str, offset: int, whole: bool, reasons: dict[int, str]
) -> pa.RecordBatch:
    """A parsed batch as a plain table (see the module docstring). ``offset``: the row number of
    the output's first row; ``whole``: the batch is a whole document (sort by ``index``)."""
    names = list(batch.schema.names)
    cols = dict(zip(names, batch.columns, strict=True))
    if layout == Layout.BATCH:
        return _batch_output(cols, batch.num_rows, source, offset, reasons)
    if layout == Layout.LIST:
        return _list_responses(cols, batch.num_rows, source, offset)
    if layout == Layout.EMBEDDINGS:
        cols.pop("object", None)
        if "embedding" in cols:
            cols["embedding"] = _vectors(cols["embedding"], source, offset)
        if whole:
            order = _index_order(cols.get("index"), np.zeros(batch.num_rows, np.int64), source, offset)
            cols = {k: v.take(pa.array(order)) for k, v in cols.items()}
    return flatten(list(cols), list(cols.values()))


def _list_responses(cols: dict[str, pa.Array], n: int, source: str, offset: int) -> pa.RecordBatch:
    data = cols["data"]
    if data.null_count:
        i = int(np.flatnonzero(np.asarray(data.is_null()))[0])
        raise InputError("a list response without its data", source=source, row=offset + i)
    offsets = np.asarray(data.offsets)
    counts = np.diff(offsets)
    items = data.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    groups = np.repeat(np.arange(n, dtype=np.int64), counts)
    order = _index_order(_field(items, "index"), groups, source, offset)
    items = items.take(pa.array(order))
    out = {"index": _field(items, "index"), "embedding": _field(items, "embedding")}
    present = {k: v for k, v in out.items() if v is not None}
    if "embedding" in present:
        present["embedding"] = _vectors(present["embedding"], source, offset)
    return flatten(list(present), list(present.values()))


def _batch_output(
    cols: dict[str, pa.Array], n: int, source: str, offset: int, reasons: dict[int, str]
) -> pa.RecordBatch:
    response, error = cols.get("response"), cols.get("error")
    failed = np.zeros(n, bool)
    if error is not None and not pa.types.is_null(error.type):
        failed = np.asarray(error.is_valid())
    status_col = _field(response, "status_code")
    status = np.asarray(pc.fill_null(status_col, 200)) if status_col is not None else np.full(n, 200)
    body = _field(response, "body")
    data = _field(body, "data")
    if data is None or not pa.types.is_list(data.type):
        data = pa.nulls(n, pa.list_(pa.struct([("embedding", pa.list_(pa.float64()))])))
    count = np.asarray(pc.fill_null(pc.list_value_length(data), 0))
    ok = ~failed & (status == 200) & (count >= 1)
    many = np.flatnonzero(ok & (count > 1))
    if many.size:
        i = int(many[0])
        raise InputError(
            f"the response holds {int(count[i])} embeddings; cosloss pairs one embedding with each custom_id "
            "(send one input a request)",
            source=source,
            row=offset + i,
        )
    items = _field(data.values, "embedding")
    if items is None:
        embedding: pa.Array = pa.nulls(n, pa.list_(pa.float64()))
    else:
        starts = np.asarray(data.offsets)[:-1]
        embedding = items.take(pa.array(np.where(ok, starts, 0), mask=~ok))
    missing = np.asarray(embedding.is_null()) if embedding.null_count else np.zeros(n, bool)
    for i in np.flatnonzero(missing)[: max(0, _MAX_REASONS - len(reasons))]:
        reasons[offset + int(i)] = _why(int(i), failed, status, count, error, body)
    out: dict[str, pa.Array] = {k: cols[k] for k in ("id", "custom_id") if k in cols}
    out["embedding"] = _vectors(embedding, source, offset)
    return pa.RecordBatch.from_arrays(list(out.values()), names=list(out))


def _why(
    i: int,
    failed: NDArray[np.bool_],
    status: NDArray[np.int64],
    count: NDArray[np.int64],
    error: pa.Array | None,
    body: pa.Array | None,
) -> str:
    """Why Batch API line ``i`` has no embedding, in a few words (its error's code and message)."""
    if failed[i] and error is not None:
        e = error[i].as_py() or {}
        return "the request failed: " + ": ".join(str(e[k]) for k in ("code", "message") if e.get(k))
    if status[i] != 200:
        message = _field(_field(body, "error"), "message")
        text = message[i].as_py() if message is not None else None
        return f"the response has status {int(status[i])}" + (f": {text}" if text else "")
    if count[i] == 0:
        return "the response holds no embedding"
    return "the embedding is null"
