"""``--join-on-id``: pair rows by id when the two inputs are in different orders.

Both sides' ids and vectors are loaded into memory (the vectors of both
inputs, plus one index per row): pairing by id needs random access to one side.
The pairing itself is Arrow's vectorised ``index_in`` (a hash lookup), the
reordering one NumPy ``take``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from .errors import InputError
from .readers.base import ArraySource

__all__ = ["join_on_id", "IdArray"]


class IdArray:
    """Ids held in memory, cut into chunks like a Source."""

    dtype = np.dtype(object)

    def __init__(self, ids: NDArray[Any], name: str) -> None:
        self.ids, self.name = ids, name

    @property
    def shape(self) -> tuple[int | None, ...]:
        return (len(self.ids),)

    def chunks(self, rows: int, axis: int = 0) -> Iterator[NDArray[Any]]:
        for start in range(0, len(self.ids), rows):
            yield self.ids[start : start + rows]

    def close(self) -> None:
        pass


def _all(source: Any) -> NDArray[Any]:
    # A source may hand out one reused buffer (``.npy``): keep a copy of each chunk.
    parts = [np.array(c, copy=True) for c in source.chunks(1 << 16)]
    return np.concatenate(parts) if parts else np.empty((0, *source.shape[1:]))


def _check_unique(ids: pa.Array, name: str, column: str) -> None:
    if ids.null_count:
        raise InputError(f"{ids.null_count} rows have no id", source=name, column=column)
    counts = pc.value_counts(ids)
    dup = np.asarray(counts.field("counts")) > 1
    if dup.any():
        first = counts.field("values")[int(np.flatnonzero(dup)[0])].as_py()
        raise InputError(
            f"{int(dup.sum())} ids occur more than once (for example {first!r}); --join-on-id needs unique ids",
            source=name,
            column=column,
        )


def join_on_id(inputs: Any, *, weights_follow_label: bool, follow_label: dict[str, bool] | None = None) -> Any:
    """The same inputs with LABEL's rows (and its weights) reordered to PRED's ids."""
    pid_src, tid_src = inputs.ids
    pred_v, label_v = _all(inputs.pred), _all(inputs.label)
    pred_ids, label_ids = _all(pid_src), _all(tid_src)
    # Sources are read in lockstep elsewhere; here each is read whole, so the id views
    # (sharing a reader with the vectors) already hold their batches.
    p_arr, t_arr = pa.array(pred_ids), pa.array(label_ids)
    if p_arr.type != t_arr.type:
        p_arr, t_arr = p_arr.cast(pa.string()), t_arr.cast(pa.string())
    column = pid_src.column
    _check_unique(p_arr, inputs.pred.name, column)
    _check_unique(t_arr, inputs.label.name, column)
    index = pc.index_in(p_arr, value_set=t_arr)
    missing_in_label = index.null_count
    matched = len(p_arr) - missing_in_label
    missing_in_pred = len(t_arr) - matched
    if missing_in_label or missing_in_pred:
        example = ""
        if missing_in_label:
            first = p_arr[int(np.flatnonzero(np.asarray(index.is_null()))[0])].as_py()
            example = f" (for example {first!r})"
        raise InputError(
            f"{missing_in_label} ids of {inputs.pred.name} are not in {inputs.label.name}{example}, and "
            f"{missing_in_pred} ids of {inputs.label.name} are not in {inputs.pred.name}; "
            "--join-on-id needs the same ids on both sides",
            source=inputs.pred.name,
            column=column,
        )
    take = np.asarray(index).astype(np.intp)
    inputs.pred = _named(ArraySource(pred_v, inputs.pred.name), inputs.pred)
    inputs.label = _named(ArraySource(label_v[take], inputs.label.name), inputs.label)
    if inputs.weights is not None:
        w = _all(inputs.weights)
        inputs.weights = ArraySource(w[take] if weights_follow_label else w, inputs.weights.name)
    # per-row columns beyond the weights (targets, groups): reordered with LABEL when they come from it
    for attr, follows in (follow_label or {}).items():
        src = getattr(inputs, attr)
        if src is not None:
            values = _all(src)
            held = IdArray(values[take] if follows else values, src.name)
            held.column = getattr(src, "column", None)  # type: ignore[attr-defined]
            setattr(inputs, attr, held)
    inputs.ids = (IdArray(pred_ids, inputs.pred.name), None)
    return inputs


def _named(src: ArraySource, like: Any) -> ArraySource:
    for attr in ("format_name", "column", "columns"):
        if hasattr(like, attr):
            setattr(src, attr, getattr(like, attr))
    src.location = getattr(like, "location", None) or getattr(getattr(like, "reader", None), "location", None)
    return src
