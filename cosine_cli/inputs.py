"""From paths and column options to the Sources the pipeline scores.

One place decides, for PRED, LABEL (or one file holding both) and the weights: which reader opens
each path, URI or standard input (through the format registry), which columns or members hold the
vectors, the ids and the weights, and whether rows are paired by position (ids checked row by row)
or by id (``join_on_id``, in memory). What it had to infer is reported as notes, and what looks
wrong but may be meant (a file scored against itself, a Hive dataset paired by position) as
warnings; an ambiguous input is refused with a message that says what to pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageProblem
from .formats import Format
from .readers import Opened, ReadOptions, Source, is_table, open_input

__all__ = ["InputOptions", "Inputs", "open_inputs", "open_any"]


@dataclass(frozen=True)
class InputOptions:
    """The column and format options of ``cosloss score`` (all optional)."""

    pred_col: str | None = None  #: a column name, a glob of scalar columns, or an archive's member
    label_col: str | None = None
    columns: str | None = None  #: a glob of scalar columns for both sides (``--columns 'emb_*'``)
    pred_format: str | None = None
    label_format: str | None = None
    key: str | None = None  #: an archive's member for both sides (prefer pred_col / label_col)
    delimiter: str | None = None
    header: bool | None = None  #: CSV: True / False, None to detect
    id_col: str | None = None
    join_on_id: bool = False
    weight_col: str | None = None
    pred_encoding: str | None = None  #: quantised codes to decode (cosine_cli.encodings.ENCODINGS)
    label_encoding: str | None = None
    ranges: str | None = None  #: int8 / uint8: a (2, dim) array of per-dimension min and max
    dim: int | None = None  #: binary / ubinary: the vector width before packing
    target_col: str | None = None  #: a target a vector (roles.ROLES["target"]): from PRED, LABEL or --targets
    group_col: str | None = None  #: a group value a vector (roles.ROLES["group"]): from PRED or LABEL


@dataclass
class Inputs:
    pred: Source
    label: Source
    weights: Source | None = None
    ids: tuple[Any, Any] = (None, None)  #: id sources of pred and label (either may be None)
    closers: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  #: what was inferred, and warnings
    targets: Source | None = None  #: one target a vector (``--targets`` / ``--target-col``)
    groups: Any = None  #: one group value a vector (``--group-col``)


Notify = Callable[[str], None]


class _Notes:
    """Collects notes and passes each on as it comes (the CLI prints them on stderr)."""

    def __init__(self, notify: Notify | None) -> None:
        self.items: list[str] = []
        self._notify = notify

    def __call__(self, message: str) -> None:
        if message not in self.items:
            self.items.append(message)
            if self._notify is not None:
                self._notify(message)


def _side_options(
    opts: InputOptions, member: str | None, option: str, row_range: tuple[int, int] | None, notes: Notify
) -> Callable[[Format], ReadOptions]:
    """Read options for one side, once its format is known: a column option names a member of an
    archive (formats with members), a column of a table otherwise."""

    def for_format(fmt: Format) -> ReadOptions:
        return ReadOptions(
            delimiter=opts.delimiter,
            header=opts.header,
            member=(member or opts.key) if fmt.members else None,
            member_option=option,
            row_range=row_range,
            notify=notes,
        )

    return for_format


def open_any(
    path: Any,
    fmt: str | None,
    opts: InputOptions,
    *,
    member: str | None = None,
    option: str = "--pred-col",
    row_range: tuple[int, int] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    notify: Notify | None = None,
) -> Opened:
    """Open one input (``"-"``: standard input; an in-memory object) with its format's reader."""
    if not isinstance(path, (str, os.PathLike)):
        from .formats import IN_MEMORY
        from .readers.location import Location
        from .readers.memory import open_object

        name = {"--pred-col": "pred", "--label-col": "label", "--target-col": "targets"}.get(option, "weights")
        return Opened(open_object(path, name), IN_MEMORY, Location(name, None, "", stream=path))
    return open_input(
        path, fmt, _side_options(opts, member, option, row_range, notify or (lambda m: None)), storage_options
    )


def _has(x: Any, column: str | None) -> bool:
    return column is not None and is_table(x) and column in x.schema.names


def _vector_view(reader: Any, spec: str | None, exclude: set[str], option: str, skip_nulls: bool, notes: Notify) -> Any:
    from .readers.columns import choose_vectors
    from .readers.table import VectorView, column_label

    cols = choose_vectors(reader, spec, exclude=exclude, option=option, notify=notes)
    return VectorView(reader, cols, column_label(cols, spec), skip_nulls=skip_nulls)


def _same_input(a: Opened, b: Opened) -> bool:
    la, lb = a.location, b.location
    if la.fs is None or lb.fs is None:  # standard input, or objects in memory
        return la.fs is None and lb.fs is None and la.stream is not None and la.stream is lb.stream
    pa_, pb_ = la.local_path, lb.local_path
    if pa_ is not None and pb_ is not None:
        try:
            return os.path.samefile(pa_, pb_)
        except OSError:
            return pa_ == pb_
    from .remote import is_local

    same_fs = (is_local(la.fs) and is_local(lb.fs)) or type(la.fs) is type(lb.fs)
    return same_fs and la.path == lb.path


def _partition_keys(opened: Opened) -> set[str]:
    parts = opened.location.parts or []
    return {key for part in parts for key, _ in part.partitions}


def _check_hive_order(p: Opened, t: Opened, opts: InputOptions, notes: Notify) -> None:
    """A Hive-partitioned dataset comes back in path order (part=0 first), not in the order it was
    written: paired by position with an input that is not partitioned the same way, rows mismatch."""
    if opts.join_on_id:
        return
    kp, kt = _partition_keys(p), _partition_keys(t)
    if kp == kt:
        return
    hive, other = (p, t) if kp else (t, p)
    keys = ", ".join(sorted(kp or kt))
    notes(
        f"warning: {hive.location.name} is a Hive-partitioned dataset ({keys}=...): its rows are read part "
        f"by part in path order, not in the order they were written, and {other.location.name} is not "
        f"partitioned the same way; pairing them by position is probably wrong: pair rows by id with "
        f"--id-col COL --join-on-id"
    )


def open_inputs(
    pred: Any,
    label: Any | None,
    weights: Any | None,
    opts: InputOptions,
    *,
    skip_nulls: bool = False,
    row_range: tuple[int, int] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    notify: Notify | None = None,
    targets: Any | None = None,
) -> Inputs:
    """Open everything a score needs. ``label=None``: PRED holds both sides (two columns of a
    table, or two members of an archive). ``row_range``: only rows [start, stop) of every input.
    ``targets``: a file of one target a vector (else ``opts.target_col`` names a column)."""
    if sum(isinstance(x, str) and x == "-" for x in (pred, label, weights, targets)) > 1:
        raise UsageProblem("only one of PRED, LABEL and {weights} can be read from standard input (-)")
    notes = _Notes(notify)
    closers: list[Any] = []

    def open_side(path: Any, fmt: str | None, member: str | None, option: str) -> Opened:
        opened = open_any(
            path,
            fmt,
            opts,
            member=member,
            option=option,
            row_range=row_range,
            storage_options=storage_options,
            notify=notes,
        )
        closers.append(opened)
        return opened

    try:
        po = open_side(pred, opts.pred_format, opts.pred_col, "--pred-col")
        p = po.reader
        if label is None:
            if po.format.members and not po.location.is_stdin:
                if opts.pred_col is None or opts.label_col is None:
                    raise UsageProblem(
                        f"{po.location.name} holds both sides: name its arrays with {{pred_col}} and {{label_col}}"
                    )
                to = open_side(pred, opts.pred_format, opts.label_col, "--label-col")
            elif is_table(p):
                if opts.pred_col is None and opts.label_col is None:
                    raise UsageProblem(
                        f"one file holds both sides: choose its columns with {{pred_col}} and {{label_col}} "
                        f"(columns of {po.location.name}: {', '.join(p.schema.names)})"
                    )
                to = po
            else:
                raise UsageProblem(
                    f"a one-file pair (no LABEL) needs a table or an archive; {po.location.name} is one array"
                )
        else:
            to = open_side(label, opts.label_format, opts.label_col, "--label-col")
        t = to.reader
        # Columns that are not vectors: ids and weights, in whichever table has them.
        reserved = {c for c in (opts.id_col, opts.weight_col, opts.target_col, opts.group_col) if c is not None}
        w_opened = None
        if weights is not None:
            w_opened = open_side(weights, None, opts.weight_col, "--weight-col")
        t_opened = None
        if targets is not None:
            t_opened = open_side(targets, None, opts.target_col, "--target-col")
        pv_exclude = set(reserved)
        if t is p and opts.label_col is not None and not any(ch in opts.label_col for ch in "*?["):
            pv_exclude.add(opts.label_col)
        p_spec = opts.pred_col or opts.columns
        l_spec = opts.label_col or opts.columns
        pv: Any = _vector_view(p, p_spec, pv_exclude, "--pred-col", skip_nulls, notes) if is_table(p) else p
        if is_table(t):
            tv_exclude = set(reserved) | (set(pv.columns) if t is p else set())
            tv: Any = _vector_view(t, l_spec, tv_exclude, "--label-col", skip_nulls, notes)
        else:
            tv = t
        if _same_input(po, to) and getattr(pv, "column", None) == getattr(tv, "column", None):
            notes(
                f"warning: PRED and LABEL are the same input ({po.location.name}"
                + (f", {pv.column}" if getattr(pv, "column", None) else "")
                + "): it is scored against itself; name each side's column or array with --pred-col / --label-col"
            )
        _check_hive_order(po, to, opts, notes)
        ids = _id_views(p, t, opts)
        if opts.join_on_id and (ids[0] is None or (ids[1] is None and t is not p)):
            raise UsageProblem("{join_on_id} needs the {id_col} column in both PRED and LABEL")
        w = _weight_view(p, t, w_opened, opts)
        tg = _scalar_view(p, t, t_opened, opts.target_col, opts, "target_col", "targets")
        grp = _group_view(p, t, opts)
        pv, tv = _decoded(pv, opts.pred_encoding, opts), _decoded(tv, opts.label_encoding, opts)
        inputs = Inputs(pv, tv, w, ids, closers, notes.items, tg, grp)
        if opts.join_on_id and t is not p:
            from .join import join_on_id

            inputs = join_on_id(
                inputs,
                weights_follow_label=w is not None and getattr(w, "reader", None) is t,
                follow_label={
                    "targets": tg is not None and getattr(tg, "reader", None) is t,
                    "groups": grp is not None and getattr(grp, "reader", None) is t,
                },
            )
            inputs.notes = notes.items
        return inputs
    except BaseException:
        for c in closers:
            c.close()
        raise


def _decoded(source: Any, encoding: str | None, opts: InputOptions) -> Any:
    """``source``'s codes decoded (cosine_cli.encodings), or ``source`` when it holds no codes."""
    if encoding is None:
        return source
    from .encodings import DecodedSource, load_ranges

    if encoding in ("int8", "uint8") and opts.ranges is None:
        raise UsageProblem(f"{encoding} codes need the calibration they were made with: --ranges FILE")
    ranges = load_ranges(opts.ranges) if opts.ranges is not None and encoding in ("int8", "uint8") else None
    return DecodedSource(source, encoding, ranges, opts.dim)


def _id_views(p: Any, t: Any, opts: InputOptions) -> tuple[Any, Any]:
    if opts.id_col is None:
        return (None, None)
    from .readers.columns import check_column
    from .readers.table import IdView

    pid = IdView(p, [opts.id_col], opts.id_col) if _has(p, opts.id_col) else None
    tid = (IdView(t, [opts.id_col], opts.id_col) if _has(t, opts.id_col) else None) if t is not p else None
    if pid is None and tid is None:
        for x in (p, t):
            if is_table(x):
                check_column(x, opts.id_col, "--id-col")
        raise UsageProblem(f"{{id_col}} {opts.id_col}: neither input is a table with that column")
    return (pid, tid)


def _weight_view(p: Any, t: Any, w_opened: Opened | None, opts: InputOptions) -> Any:
    if w_opened is None and opts.weight_col is None:
        return None
    from .readers.columns import choose_scalar
    from .readers.table import ScalarView

    if w_opened is not None:
        w_reader = w_opened.reader
        if not is_table(w_reader):
            return w_reader
        exclude = {opts.id_col} if opts.id_col else set()
        col = choose_scalar(w_reader, opts.weight_col, exclude=exclude, option="--weight-col")
        return ScalarView(w_reader, [col], col)
    owner = p if _has(p, opts.weight_col) else t if _has(t, opts.weight_col) else None
    if owner is None:
        tables = [x for x in (p, t) if is_table(x)]
        if not tables:
            raise UsageProblem("{weight_col} needs a table input (Parquet, CSV, Arrow); both inputs are array files")
        raise UsageProblem(f"{{weight_col}} {opts.weight_col}: no such column in {' or '.join(x.name for x in tables)}")
    column = str(opts.weight_col)
    return ScalarView(owner, [column], column)


def open_candidate(
    path: Any,
    opts: InputOptions,
    inputs: Inputs,
    *,
    storage_options: Mapping[str, Any] | None = None,
    notify: Notify | None = None,
    row_range: tuple[int, int] | None = None,
) -> Any:
    """One more candidate scored against the LABEL of ``inputs`` (``cosloss score CAND... --label REF``):
    opened as PRED is (its format, ``pred_col`` / ``columns``, its encoding); closed with ``inputs``.
    ``row_range``: only rows [start, stop), as :func:`open_inputs` (a range of the thread pool)."""
    if opts.join_on_id:
        raise UsageProblem("{join_on_id} pairs one PRED with LABEL; several candidates are paired by position")
    opened = open_any(
        path,
        opts.pred_format,
        opts,
        member=opts.pred_col,
        row_range=row_range,
        storage_options=storage_options,
        notify=notify,
    )
    inputs.closers.append(opened)
    reader = opened.reader
    ids = None
    if is_table(reader):
        if opts.id_col is not None and _has(reader, opts.id_col):
            from .readers.table import IdView

            # checked row by row against the reference's ids (pipeline: a candidate in another
            # order is an error, never a silent wrong number)
            ids = IdView(reader, [opts.id_col], opts.id_col)
        reserved = {c for c in (opts.id_col, opts.weight_col, opts.target_col, opts.group_col) if c is not None}
        reader = _vector_view(
            reader, opts.pred_col or opts.columns, reserved, "--pred-col", False, notify or (lambda m: None)
        )
    source = _decoded(reader, opts.pred_encoding, opts)
    if ids is not None:
        source.candidate_ids = ids
    return source


def _scalar_view(
    p: Any, t: Any, opened: Opened | None, column: str | None, opts: InputOptions, col_option: str, file_option: str
) -> Any:
    """A per-row number column (targets): a file of its own, else ``column`` of PRED or LABEL (as the weights)."""
    if opened is None and column is None:
        return None
    from .readers.columns import choose_scalar
    from .readers.table import ScalarView

    if opened is not None:
        reader = opened.reader
        if not is_table(reader):
            return reader
        exclude = {c for c in (opts.id_col, opts.weight_col, opts.group_col) if c}
        col = choose_scalar(reader, column, exclude=exclude, option=f"--{col_option.replace('_', '-')}")
        return ScalarView(reader, [col], col)
    owner = p if _has(p, column) else t if _has(t, column) else None
    if owner is None:
        tables = [x for x in (p, t) if is_table(x)]
        if not tables:
            raise UsageProblem(
                f"{{{col_option}}} needs a table input (Parquet, CSV, Arrow); both inputs are array files: "
                f"give {{{file_option}}} FILE"
            )
        raise UsageProblem(f"{{{col_option}}} {column}: no such column in {' or '.join(x.name for x in tables)}")
    return ScalarView(owner, [str(column)], str(column))


def _group_view(p: Any, t: Any, opts: InputOptions) -> Any:
    """The group column (``--group-col``), from PRED or LABEL, as an id-like view (text or numbers)."""
    if opts.group_col is None:
        return None
    from .readers.table import IdView

    owner = p if _has(p, opts.group_col) else t if _has(t, opts.group_col) else None
    if owner is None:
        tables = [x for x in (p, t) if is_table(x)]
        if not tables:
            raise UsageProblem("{group_col} needs a table input (Parquet, CSV, Arrow); both inputs are array files")
        raise UsageProblem(f"{{group_col}} {opts.group_col}: no such column in {' or '.join(x.name for x in tables)}")
    return IdView(owner, [opts.group_col], opts.group_col)


def path_like(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))
