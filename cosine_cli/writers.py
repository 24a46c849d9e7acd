"""Per-vector results (``-o/--output``): Parquet, CSV, JSON Lines, Arrow IPC or .npy, written as the
stream goes, to a temporary file beside the target that is renamed only when the run succeeds.

One row per vector: ``row`` (the flat vector number; ``id`` instead when the chunks carry ids),
``cos``, ``loss`` (unweighted) and ``weight`` when weights were given, so ``loss * weight`` is what
``--reduction none`` prints. pyarrow is imported here, and this module only when ``-o`` is used.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import IO, Any, Final

import numpy as np
import pyarrow as pa

from .accumulate import ScoredChunk
from .errors import InputError, UsageProblem
from .outputs import StagedFile, Target

__all__ = ["OUTPUT_FORMATS", "AtomicFile", "VectorWriter", "output_format"]

#: format name -> file name endings that select it
OUTPUT_FORMATS: Final[dict[str, tuple[str, ...]]] = {
    "parquet": (".parquet", ".pq"),
    "csv": (".csv",),
    "jsonl": (".jsonl", ".ndjson", ".json"),
    "arrow": (".arrow", ".feather", ".ipc"),
    "npy": (".npy",),
}


def output_format(path: str, fmt: str | None) -> str:
    """The format named by ``--output-format``, else by the path's extension (stdout: JSON Lines)."""
    if fmt is not None:
        return fmt
    if path == "-":
        return "jsonl"
    lower = path.lower()
    for name, endings in OUTPUT_FORMATS.items():
        if lower.endswith(endings):
            return name
    known = ", ".join(e for endings in OUTPUT_FORMATS.values() for e in endings)
    raise UsageProblem(f"cannot tell the format of --output {path!r} from its extension ({known}); use --output-format")


#: kept for callers of the old name: a file staged beside its target, renamed by commit()
AtomicFile = StagedFile


def _table(chunk: ScoredChunk) -> pa.Table:
    n = len(chunk)
    cols: dict[str, Any] = {}
    if chunk.ids is not None:
        cols["id"] = pa.array(np.asarray(chunk.ids) if not isinstance(chunk.ids, pa.Array) else chunk.ids)
    else:
        cols["row"] = pa.array(np.arange(chunk.start, chunk.start + n, dtype=np.int64))
    cols["cos"] = pa.array(chunk.cos, pa.float64())
    cols["loss"] = pa.array(chunk.loss, pa.float64())
    if chunk.weight is not None:
        cols["weight"] = pa.array(chunk.weight, pa.float64())
    return pa.table(cols)


def _json_lines(table: pa.Table) -> bytes:
    """JSON Lines for one table, built column-wise by pyarrow (shortest round-trip float text).

    Every value becomes JSON text (``null`` for a null or non-finite number), so no row is ever
    dropped: a null in one column must not take the line with it.
    """
    import pyarrow.compute as pc

    parts: list[Any] = []
    for i, name in enumerate(table.column_names):
        col = table.column(name).combine_chunks()
        if pa.types.is_floating(col.type):
            text = pc.if_else(pc.is_finite(col), col.cast(pa.string()), "null")
        elif pa.types.is_integer(col.type) or pa.types.is_boolean(col.type):
            text = col.cast(pa.string())
        else:
            text = _json_values(col, name)
        parts += [("{" if i == 0 else ",") + f'"{name}":', pc.fill_null(text, "null")]
    line = pc.binary_join_element_wise(*parts, "}\n", "")
    if isinstance(line, pa.ChunkedArray):
        line = line.combine_chunks()
    if len(line) == 0:
        return b""
    # no nulls here (each part was filled), so the value buffer is exactly the lines, back to back
    offsets = np.frombuffer(line.buffers()[1], dtype=np.int32)[line.offset : line.offset + len(line) + 1]
    data: bytes = line.buffers()[2].to_pybytes()
    return data[offsets[0] : offsets[-1]]


def _not_text(name: str, fmt: str) -> InputError:
    return InputError(
        f"holds bytes that are not UTF-8 text, which {fmt} cannot hold; write .parquet or .arrow instead",
        column=name,
    )


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(
        pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)
    )


def _as_text(col: pa.Array, name: str, fmt: str) -> pa.Array:
    """A string or binary column as UTF-8 text (bytes that are not UTF-8: an input error, exit 3)."""
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    try:
        return col.cast(pa.string())
    except pa.ArrowInvalid:
        raise _not_text(name, fmt) from None


def _jsonable(value: Any, name: str, fmt: str) -> Any:
    """A Python value from pyarrow's ``to_pylist`` as something ``json.dumps`` writes faithfully."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise _not_text(name, fmt) from None
    if isinstance(value, dict):
        return {str(k): _jsonable(v, name, fmt) for k, v in value.items()}
    if isinstance(value, (list, tuple)):  # lists, and a map's (key, value) pairs
        return [_jsonable(v, name, fmt) for v in value]
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)  # dates, times, decimals: their text


def _json_text(col: pa.Array, name: str, fmt: str) -> pa.Array:
    """Each value of a nested (list, struct, map) or other column as one JSON text (null stays null)."""
    return pa.array(
        [None if v is None else json.dumps(_jsonable(v, name, fmt), separators=(",", ":")) for v in col.to_pylist()],
        pa.string(),
    )


def _json_values(col: pa.Array, name: str) -> pa.Array:
    """JSON text of a non-number column: strings quoted and escaped, nested values as JSON."""
    import pyarrow.compute as pc

    if not _is_text(col.type):
        return _json_text(col, name, "JSON Lines")
    text = _as_text(col, name, "JSON Lines")
    if pc.any(pc.match_substring_regex(text, r"[\x00-\x1f\"\\]")).as_py():
        return pa.array([None if s is None else json.dumps(s) for s in text.to_pylist()], pa.string())
    return pc.binary_join_element_wise('"', text, '"', "")


def _csv_ready(table: pa.Table) -> pa.Table:
    """Columns a CSV cell can hold: text as UTF-8 (else exit 3), nested values as their JSON text."""
    for i, f in enumerate(table.schema):
        t = f.type
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_string(t):
            continue
        col = table.column(i).combine_chunks()
        text = _as_text(col, f.name, "CSV") if _is_text(t) else _json_text(col, f.name, "CSV")
        table = table.set_column(i, f.name, text)
    return table


def _npy_header(dtype: np.dtype[Any], count: int) -> bytes:
    """A version-1.0 .npy header, always 256 bytes, so the count can be patched in at the end."""
    body = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (count,)})
    head = b"\x93NUMPY\x01\x00"
    pad = 256 - len(head) - 2 - len(body) - 1
    if pad < 0:
        raise UsageProblem("too many columns for a .npy output; use Parquet")
    return head + (len(body) + pad + 1).to_bytes(2, "little") + (body + " " * pad + "\n").encode()


class _Valve:
    """Standard output for a pyarrow writer, with a tap: once shut, writes go nowhere.

    An aborted run still has to close its pyarrow writer (its finaliser would write later), and
    closing writes the footer: on stdout that would turn a partial Parquet or Arrow file into
    one that reads as whole. Shutting the valve first keeps the footer out.
    """

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self.shut = False

    def write(self, data: Any) -> int:
        return len(memoryview(data)) if self.shut else self._out.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)


class VectorWriter:
    """A pipeline sink writing every scored chunk to ``path`` (``-``: ``stdout``) in ``fmt``.

    A file is staged beside its target: :meth:`finish` completes it (footer, header) under its
    temporary name and :meth:`commit` renames it into place, so that the caller can commit it
    last, after every report. A stream (stdout, ``/dev/fd/N``, a FIFO or device) is written as the
    run goes and cannot be taken back; :meth:`abort` keeps a partial Parquet or Arrow stream
    from ending in a footer.
    """

    def __init__(
        self, path: str, fmt: str, stdout: IO[bytes] | None = None, *, stream: IO[bytes] | None = None
    ) -> None:
        self.path, self.fmt = path, fmt
        self.staged: StagedFile | None = None
        self.spool: IO[bytes] | None = None
        self.owned: IO[bytes] | None = None  #: a stream this writer opened (and closes)
        if path == "-" and stream is None:
            assert stdout is not None
            stream = stdout
        self.stdout = stream
        if stream is not None:
            self.out: Any = _Valve(stream) if fmt in ("parquet", "arrow", "csv") else stream
            if fmt == "npy":  # the count is patched at the end: spool, then copy
                self.spool = tempfile.TemporaryFile()
                self.out = self.spool
        else:
            self.staged = StagedFile(path)
            self.out = self.staged.file
        self.writer: Any = None
        self.schema: pa.Schema | None = None
        self.count = 0
        self.npy_dtype: np.dtype[Any] | None = None

    @classmethod
    def to(cls, target: Target, fmt: str, stdout: IO[bytes] | None) -> VectorWriter:
        """The writer for a planned target (see ``outputs.classify``)."""
        if target.kind == "stdout":
            return cls("-", fmt, stdout)
        if target.kind == "file":
            return cls(target.path, fmt)
        if target.kind == "stream":
            assert target.fd is not None
            owned: IO[bytes] = os.fdopen(os.dup(target.fd), "wb")
        else:  # an existing FIFO, terminal or device: written in place, never renamed over
            owned = open(target.path, "wb")  # noqa: SIM115 - closed by commit/abort
        writer = cls(target.path, fmt, stream=owned)
        writer.owned = owned
        return writer

    def __call__(self, chunk: ScoredChunk) -> None:
        try:
            self._write_chunk(chunk)
        except OSError as exc:
            raise self._named(exc) from None

    def _named(self, exc: OSError) -> OSError:
        """The error naming the output, not the temporary file or nothing (a full disk's ENOSPC)."""
        if isinstance(exc, BrokenPipeError) or exc.filename == self.path:
            return exc
        return OSError(exc.errno, exc.strerror or " ".join(str(exc).split()), self.path)

    def _write_chunk(self, chunk: ScoredChunk) -> None:
        table = _table(chunk)
        if self.fmt == "csv":
            table = _csv_ready(table)
        if self.schema is None:
            self._open(table.schema)
        else:
            table = table.cast(self.schema)
        self._write(table)
        self.count += table.num_rows

    def _open(self, schema: pa.Schema) -> None:
        self.schema = schema
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            self.writer = pq.ParquetWriter(self.out, schema)
        elif self.fmt == "csv":
            import pyarrow.csv as pcsv

            self.writer = pcsv.CSVWriter(self.out, schema)
        elif self.fmt == "arrow":
            self.writer = pa.ipc.new_file(self.out, schema)
        elif self.fmt == "npy":
            fields = []
            for f in schema:
                if not (pa.types.is_integer(f.type) or pa.types.is_floating(f.type)):
                    raise UsageProblem(
                        f"column {f.name!r} ({f.type}) cannot go into a .npy file; "
                        "use Parquet, Arrow, CSV or JSON Lines"
                    )
                fields.append((f.name, "<i8" if pa.types.is_integer(f.type) else "<f8"))
            self.npy_dtype = np.dtype(fields)
            self.out.write(_npy_header(self.npy_dtype, 0))

    def _write(self, table: pa.Table) -> None:
        if self.fmt == "jsonl":
            self.out.write(_json_lines(table))
        elif self.fmt == "npy":
            assert self.npy_dtype is not None
            rec = np.empty(table.num_rows, self.npy_dtype)
            for name in table.column_names:
                rec[name] = table.column(name).to_numpy()
            self.out.write(rec.tobytes())
        else:
            self.writer.write_table(table)

    def finish(self) -> None:
        """Complete the data after the last chunk: a file stays under its temporary name."""
        try:
            self._finish()
        except OSError as exc:
            raise self._named(exc) from None

    def _finish(self) -> None:
        if self.schema is None:  # no vectors at all: still a valid, empty file
            self._open(pa.schema([("row", pa.int64()), ("cos", pa.float64()), ("loss", pa.float64())]))
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.close()
        if self.fmt == "npy":
            assert self.npy_dtype is not None
            self.out.seek(0)
            self.out.write(_npy_header(self.npy_dtype, self.count))
            self.out.seek(0, os.SEEK_END)
        if self.spool is not None:
            self.spool.seek(0)
            assert self.stdout is not None
            shutil.copyfileobj(self.spool, self.stdout)
            self.spool.close()
            self.spool = None
        if self.staged is not None:
            self.staged.finish()
        elif self.stdout is not None:
            self.stdout.flush()

    def commit(self) -> None:
        """Put the finished file in place (a stream: close what this writer opened)."""
        if self.staged is not None:
            self.staged.commit()
        if self.owned is not None:
            self.owned.close()
            self.owned = None

    def close(self) -> None:
        """Finish and commit at once (for callers that write nothing else)."""
        self.finish()
        self.commit()

    def abort(self) -> None:
        """Drop the partial file (failure or interrupt); a no-op once committed."""
        writer, self.writer = self.writer, None
        if isinstance(self.out, _Valve):
            self.out.shut = True
        if writer is not None:
            try:  # close it now, or its finaliser would later write to the closed file
                writer.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away anyway
                pass
        if self.staged is not None:
            self.staged.abort()
        if self.spool is not None:
            self.spool.close()
        if self.owned is not None:
            try:
                self.owned.close()
            except OSError:
                pass
            self.owned = None
