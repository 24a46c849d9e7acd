"""From paths and column options to the Sources the pipeline scores.

One place decides, for PRED, LABEL (or one file holding both) and the weights:
which reader opens each path (or standard input), which columns hold the
vectors, the ids and the weights, and whether rows are paired by position
(ids checked row by row) or by id (``join_on_id``, in memory).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError, UsageProblem
from .readers import (
    MEMBER_FORMATS,
    OPENERS,
    TABLE_FORMATS,
    Source,
    detect_format,
    format_from_head,
    open_member,
    open_table,
)

__all__ = ["InputOptions", "Inputs", "open_inputs", "open_any"]


@dataclass(frozen=True)
class InputOptions:
    """The column and format options of ``cosloss score`` (all optional)."""

    pred_col: str | None = None  #: a column name, or a glob of scalar columns (one a dimension)
    label_col: str | None = None
    columns: str | None = None  #: a glob of scalar columns for both sides (``--columns 'emb_*'``)
    pred_format: str | None = None
    label_format: str | None = None
    key: str | None = None  #: the array of an .npz archive
    delimiter: str | None = None
    header: bool = True
    id_col: str | None = None
    join_on_id: bool = False
    weight_col: str | None = None
    # --- binfmt (issue 11): quantised codes decoded by cosine_cli.encodings ---
    pred_encoding: str | None = None  #: int8, uint8, binary, ubinary, bfloat16
    label_encoding: str | None = None
    ranges: str | None = None  #: a (2, dim) array file of per-dimension min and max (int8 / uint8)
    dim: int | None = None  #: binary / ubinary: the vector width before packing
    # --- end binfmt ---


@dataclass
class Inputs:
    pred: Source
    label: Source
    weights: Source | None = None
    ids: tuple[Any, Any] = (None, None)  #: id sources of pred and label (either may be None)
    closers: list[Any] = field(default_factory=list)


#: Set by the ``cosloss`` command (cli.main), which owns the process: read standard input
#: through a descriptor of its own. A library caller's ``sys.stdin.buffer`` may already hold
#: bytes it read ahead, so the library reads through it.
RAW_STDIN = False
#: Whether this process has opened standard input as an input (cli.main then exits at once:
#: a pyarrow thread may still be reading the pipe, and the interpreter's shutdown would wait
#: for it or abort on it).
stdin_used = False


def _stdin() -> tuple[Any, bool]:
    """Standard input, and whether the returned file is ours to close.

    Under the command, an unbuffered duplicate of descriptor 0: a reader thread may sit in a
    read on a pipe that stalls when the run stops; on ``sys.stdin.buffer`` that read holds the
    buffer's lock, and the interpreter, closing ``sys.stdin`` on the way out, would abort on it.
    """
    global stdin_used
    if sys.stdin is None:  # descriptor 0 was closed (`<&-`)
        raise InputError("standard input is closed", source="-")
    stdin_used = True
    if RAW_STDIN:
        try:
            return open(os.dup(sys.stdin.fileno()), "rb", buffering=0), True  # noqa: SIM115
        except (AttributeError, OSError, ValueError):  # replaced by a test runner
            pass
    return sys.stdin.buffer, False


def open_any(path: str, fmt: str | None, opts: InputOptions, member: tuple[str | None, str] | None = None) -> Any:
    """A Source (array formats) or a TableReader (table formats) for ``path`` ("-": stdin).

    ``member``: the tensor / dataset of a safetensors or HDF5 file, and the option naming it."""
    if path == "-":
        return _open_stdin(fmt, opts, member)
    fmt = detect_format(path, fmt)
    # --- binfmt (issue 11) ---
    if fmt in MEMBER_FORMATS:
        name, option = member if member is not None else (None, "--pred-col / --label-col")
        return open_member(path, fmt, name, option)
    # --- end binfmt ---
    if fmt == "npz":
        from .readers.npz import open_npz

        return open_npz(path, opts.key)
    if fmt in OPENERS:
        return OPENERS[fmt](path)
    return open_table(path, fmt, delimiter=opts.delimiter, header=opts.header)


def _open_stdin(fmt: str | None, opts: InputOptions, member: tuple[str | None, str] | None = None) -> Any:
    """Standard input: the format from its first bytes (or ``fmt``). Parquet, Arrow files and
    .npz need seeking, so they are read into memory first; the others stream."""
    stream, owned = _stdin()
    try:
        return _open_stream(stream, fmt, opts, owned, member)
    except BaseException:
        if owned:
            stream.close()
        raise


def _open_stream(
    stream: Any, fmt: str | None, opts: InputOptions, owned: bool, member: tuple[str | None, str] | None = None
) -> Any:
    from .readers.npy import NpySource
    from .readers.streams import Prefixed, read_all, read_head

    head = read_head(stream, 16)  # binfmt: safetensors is sniffed from its 9th byte
    if not head:
        raise InputError("is empty", source="-")
    fmt = fmt or format_from_head(head) or "csv"
    # --- binfmt (issue 11): safetensors streams (header, then the tensor's rows); the rest need seeking ---
    if fmt == "safetensors":
        from .readers.safetensors import open_safetensors_stream

        return open_safetensors_stream(Prefixed(head, stream, own_rest=owned), member[0] if member else None)  # type: ignore[arg-type]
    if fmt in (*MEMBER_FORMATS, "hf", "lance"):
        raise UsageProblem(f"a {fmt} input cannot be read from standard input (it needs seeking): save it to a file")
    # --- end binfmt ---
    if fmt in ("parquet", "arrow", "npz"):
        data = head + read_all(stream)
        if owned:
            stream.close()
        if fmt == "npz":
            import io

            from .readers.npz import open_npz

            return open_npz(io.BytesIO(data), opts.key, name="-")  # type: ignore[arg-type]
        import pyarrow as pa

        return open_table("-", fmt, stream=pa.BufferReader(data))
    raw = Prefixed(head, stream, own_rest=owned)
    if fmt == "npy":
        return NpySource(raw, "-", seekable=False)  # type: ignore[arg-type]
    if fmt not in TABLE_FORMATS:
        raise UsageProblem(f"unknown format {fmt!r}; expected one of {', '.join(('npy', 'npz', *TABLE_FORMATS))}")
    return open_table("-", fmt, stream=raw, delimiter=opts.delimiter, header=opts.header)


def _is_table(x: Any) -> bool:
    return hasattr(x, "schema") and hasattr(x, "register")


def _has(x: Any, column: str | None) -> bool:
    return column is not None and _is_table(x) and column in x.schema.names


def _vector_view(reader: Any, spec: str | None, exclude: set[str], option: str, skip_nulls: bool) -> Any:
    from .readers.columns import choose_vectors
    from .readers.table import VectorView, column_label

    cols = choose_vectors(reader, spec, exclude=exclude, option=option)
    return VectorView(reader, cols, column_label(cols, spec), skip_nulls=skip_nulls)


def _needs_table(x: Any, what: str, name: str) -> None:
    if not _is_table(x):
        raise UsageProblem(f"{what} needs a table input (Parquet, CSV, Arrow); {name} is an array file")


def open_inputs(
    pred: str, label: str | None, weights: str | None, opts: InputOptions, *, skip_nulls: bool = False
) -> Inputs:
    """Open everything a score needs. ``label=None``: PRED holds both vector columns."""
    if [pred, label, weights].count("-") > 1:
        raise UsageProblem("only one of PRED, LABEL and --weights can be read from standard input (-)")
    closers: list[Any] = []
    try:
        p = open_any(pred, opts.pred_format, opts, (opts.pred_col, "--pred-col"))
        closers.append(p)
        # --- binfmt (issue 11): one safetensors / HDF5 file holding both sides ---
        both_members = False
        if (
            label is None
            and not _is_table(p)
            and pred != "-"
            and detect_format(pred, opts.pred_format) in MEMBER_FORMATS
        ):
            if opts.pred_col is None or opts.label_col is None:
                raise UsageProblem(
                    f"{pred} holds both sides: name its tensors (or datasets) with --pred-col and --label-col"
                )
            t = open_any(pred, opts.pred_format, opts, (opts.label_col, "--label-col"))
            closers.append(t)
            label, both_members = pred, True
        # --- end binfmt ---
        if label is None:
            _needs_table(p, "a one-file pair (no LABEL)", pred)
            if opts.pred_col is None and opts.label_col is None:
                raise UsageProblem(
                    f"one file holds both sides: choose its columns with --pred-col and "
                    f"--label-col (columns of {pred}: {', '.join(p.schema.names)})"
                )
            t = p
        elif not both_members:
            t = open_any(label, opts.label_format, opts, (opts.label_col, "--label-col"))
            closers.append(t)
        # Columns that are not vectors: ids and weights, in whichever table has them.
        reserved = {c for c in (opts.id_col, opts.weight_col) if c is not None}
        w_reader = None
        if weights is not None:
            w_reader = open_any(weights, None, opts)
            closers.append(w_reader)
        pv_exclude = set(reserved)
        if label is None and opts.label_col is not None and not any(ch in opts.label_col for ch in "*?["):
            pv_exclude.add(opts.label_col)
        p_spec = opts.pred_col or opts.columns
        l_spec = opts.label_col or opts.columns
        if _is_table(p):
            pv: Any = _vector_view(p, p_spec, pv_exclude, "--pred-col", skip_nulls)
        else:
            pv = p
        if _is_table(t):
            tv_exclude = set(reserved) | (set(pv.columns) if t is p else set())
            tv: Any = _vector_view(t, l_spec, tv_exclude, "--label-col", skip_nulls)
        else:
            tv = t
        ids: tuple[Any, Any] = (None, None)
        if opts.id_col is not None:
            from .readers.columns import check_column
            from .readers.table import IdView

            pid = IdView(p, [opts.id_col], opts.id_col) if _has(p, opts.id_col) else None
            tid = (IdView(t, [opts.id_col], opts.id_col) if _has(t, opts.id_col) else None) if t is not p else None
            if pid is None and tid is None:
                for x in (p, t):
                    if _is_table(x):
                        check_column(x, opts.id_col, "--id-col")
                raise UsageProblem(f"--id-col {opts.id_col}: neither input is a table with that column")
            ids = (pid, tid)
        if opts.join_on_id and (ids[0] is None or (ids[1] is None and t is not p)):
            raise UsageProblem("--join-on-id needs the --id-col column in both PRED and LABEL")
        w: Any = None
        if w_reader is not None or opts.weight_col is not None:
            from .readers.columns import choose_scalar
            from .readers.table import ScalarView
        if w_reader is not None:
            if _is_table(w_reader):
                col = choose_scalar(
                    w_reader, opts.weight_col, exclude={opts.id_col} if opts.id_col else set(), option="--weight-col"
                )
                w = ScalarView(w_reader, [col], col)
            else:
                w = w_reader
        elif opts.weight_col is not None:
            owner = p if _has(p, opts.weight_col) else t if _has(t, opts.weight_col) else None
            if owner is None:
                tables = [x for x in (p, t) if _is_table(x)]
                if not tables:
                    raise UsageProblem(
                        "--weight-col needs a table input (Parquet, CSV, Arrow); both inputs are array files"
                    )
                raise UsageProblem(
                    f"--weight-col {opts.weight_col}: no such column in {' or '.join(x.name for x in tables)}"
                )
            w = ScalarView(owner, [opts.weight_col], opts.weight_col)
        pv, tv = _decoded(pv, opts.pred_encoding, opts), _decoded(tv, opts.label_encoding, opts)  # binfmt
        inputs = Inputs(pv, tv, w, ids, closers)
        if opts.join_on_id and t is not p:
            from .join import join_on_id

            inputs = join_on_id(inputs, weights_follow_label=w is not None and getattr(w, "reader", None) is t)
        return inputs
    except BaseException:
        for c in closers:
            c.close()
        raise


# --- binfmt (issue 11) ---
def _decoded(source: Any, encoding: str | None, opts: InputOptions) -> Any:
    """``source``'s codes decoded (cosine_cli.encodings), or ``source`` when not encoded."""
    if encoding is None:
        return source
    from .encodings import DecodedSource, load_ranges

    ranges = load_ranges(opts.ranges) if opts.ranges is not None and encoding in ("int8", "uint8") else None
    return DecodedSource(source, encoding, ranges, opts.dim)


# --- end binfmt ---


def path_like(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))
