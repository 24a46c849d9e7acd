"""Which options go together: every combination rule of a score, checked in one place.

The library calls :func:`check_score_options` before opening anything; its messages name options
as placeholders (``{weights}``), which the CLI spells as flags (``--weights``) and the library as
keyword names (``weights=``): see :class:`cosine_cli.errors.UsageProblem`.
"""

from __future__ import annotations

from typing import Any

from .errors import UsageProblem

__all__ = ["check_score_options"]


def check_score_options(
    pred: Any,
    label: Any,
    *,
    weights: Any = None,
    weight: float | None = None,
    reduction: str = "sum_over_batch_size",
    engine: str = "local",
    output_dir: str | None = None,
    columns: dict[str, Any] | None = None,
    loss: str = "negative",
    targets: Any = None,
    dims: tuple[int, ...] = (),
    diff: bool = False,
    candidates: int = 0,
    collect: bool = False,
) -> None:
    """Raise UsageProblem for options that cannot work together."""
    cols = columns or {}
    has_targets = targets is not None or bool(cols.get("target_col"))
    if loss in ("embedding", "mse") and not has_targets:
        raise UsageProblem(f"{{loss}} {loss} needs a target a vector: give {{targets}} FILE or {{target_col}} COL")
    if targets is not None and cols.get("target_col") and not isinstance(targets, str):
        raise UsageProblem("{target_col} names a column of a table; targets= given as an array needs no column")
    if candidates > 1 and label is None:
        raise UsageProblem("several candidates are scored against one reference: give LABEL")
    if weights is not None and weight is not None:
        raise UsageProblem("use either {weights} FILE or {weight} VALUE, not both")
    if label is None and not (cols.get("pred_col") and cols.get("label_col")):
        raise UsageProblem("give LABEL, or {pred_col} and {label_col} to read both from PRED")
    named = [x for x in (pred, label, weights, targets) if isinstance(x, str)]
    if named.count("-") > 1:
        raise UsageProblem("only one of PRED, LABEL, {weights} and {targets} can be read from standard input (-)")
    if cols.get("join_on_id") and not cols.get("id_col"):
        raise UsageProblem("{join_on_id} pairs rows by the {id_col} column: give {id_col} COL")
    if engine == "dask":
        if cols.get("join_on_id"):
            raise UsageProblem("{join_on_id} is not available with {engine} dask: rows are paired by position")
        if "-" in named:
            raise UsageProblem("{engine} dask reads files or URIs, not standard input (-)")
        if reduction == "none" and output_dir is None:
            raise UsageProblem(
                "{reduction} none is not available with {engine} dask; --output DIR writes every per-vector loss"
            )
