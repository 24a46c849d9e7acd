"""Per-vector results (``-o/--output``): Parquet, CSV, JSON Lines, Arrow IPC or .npy, written as the
stream goes, to a temporary file beside the target that is renamed only when the run succeeds.

One row per vector: ``row`` (the flat vector number; ``id`` instead when the chunks carry ids),
``cos``, ``loss`` (unweighted) and ``weight`` when weights were given, so ``loss * weight`` is what
``--reduction none`` prints. pyarrow is imported here, and this module only when ``-o`` is used.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from typing import IO, Any, Final

import numpy as np
import pyarrow as pa

from .accumulate import ScoredChunk
from .errors import UsageProblem

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


class AtomicFile:
    """A file written under a temporary name in the target's directory, renamed over the target by
    :meth:`commit` (same file system, so the rename is atomic) or removed by :meth:`abort`.

    A target that exists and is not a regular file (``/dev/full``, a FIFO, a terminal) is written
    in place: renaming over it would replace the device or pipe with a plain file.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.tmp: str | None = None
        if os.path.exists(target) and not stat.S_ISREG(os.stat(target).st_mode):
            self.file: IO[bytes] = open(target, "wb")  # noqa: SIM115 - closed by commit/abort
            return
        directory = os.path.dirname(os.path.abspath(target))
        try:
            fd, self.tmp = tempfile.mkstemp(
                dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".cosloss-tmp"
            )
        except OSError as exc:  # name the file asked for, not the temporary one beside it
            raise OSError(exc.errno, f"cannot write here ({exc.strerror})", target) from None
        self.file = os.fdopen(fd, "w+b")

    def commit(self) -> None:
        self.file.close()
        if self.tmp is not None:
            os.replace(self.tmp, self.target)

    def abort(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass  # the close flushes, and a full device fails again: the run has already failed
        finally:
            if self.tmp is not None and os.path.exists(self.tmp):
                os.unlink(self.tmp)


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
    """JSON Lines for one table, built column-wise by pyarrow (shortest round-trip float text)."""
    import pyarrow.compute as pc

    parts: list[Any] = []
    for i, name in enumerate(table.column_names):
        col = table.column(name).combine_chunks()
        if pa.types.is_floating(col.type):
            text = pc.if_else(pc.is_finite(col), col.cast(pa.string()), "null")
        elif pa.types.is_integer(col.type):
            text = col.cast(pa.string())
        else:  # string ids: escape as JSON does (rare characters via the json module)
            text = _json_strings(col.cast(pa.string()))
        parts += [("{" if i == 0 else ",") + f'"{name}":', text]
    line = pc.binary_join_element_wise(*parts, "}\n", "")
    if isinstance(line, pa.ChunkedArray):
        line = line.combine_chunks()
    if len(line) == 0:
        return b""
    # no nulls here, so the value buffer is exactly the lines, back to back
    offsets = np.frombuffer(line.buffers()[1], dtype=np.int32)[line.offset : line.offset + len(line) + 1]
    data: bytes = line.buffers()[2].to_pybytes()
    return data[offsets[0] : offsets[-1]]


def _json_strings(col: pa.Array) -> pa.Array:
    import json

    import pyarrow.compute as pc

    if pc.any(pc.match_substring_regex(col, r"[\x00-\x1f\"\\]")).as_py():
        return pa.array([json.dumps(s) for s in col.to_pylist()], pa.string())
    return pc.binary_join_element_wise('"', col, '"', "")


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
    """A pipeline sink writing every scored chunk to ``path`` (``-``: ``stdout``) in ``fmt``."""

    def __init__(self, path: str, fmt: str, stdout: IO[bytes] | None = None) -> None:
        self.path, self.fmt = path, fmt
        self.stdout = stdout
        self.atomic: AtomicFile | None = None
        self.spool: IO[bytes] | None = None
        if path == "-":
            assert stdout is not None
            self.out = _Valve(stdout) if fmt in ("parquet", "arrow", "csv") else stdout  # type: ignore[assignment]
            if fmt == "npy":  # the count is patched at the end: spool, then copy
                self.spool = tempfile.TemporaryFile()
                self.out = self.spool
        else:
            self.atomic = AtomicFile(path)
            self.out = self.atomic.file
        self.writer: Any = None
        self.schema: pa.Schema | None = None
        self.count = 0
        self.npy_dtype: np.dtype[Any] | None = None

    def __call__(self, chunk: ScoredChunk) -> None:
        table = _table(chunk)
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

    def close(self) -> None:
        """Finish the file (after the last chunk) and put it in place."""
        if self.schema is None:  # no vectors at all: still a valid, empty file
            self._open(pa.schema([("row", pa.int64()), ("cos", pa.float64()), ("loss", pa.float64())]))
        if self.writer is not None:
            self.writer.close()
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
        if self.atomic is not None:
            self.atomic.commit()
        elif self.stdout is not None:
            self.stdout.flush()

    def abort(self) -> None:
        """Drop the partial file (failure or interrupt)."""
        writer, self.writer = self.writer, None
        if isinstance(self.out, _Valve):
            self.out.shut = True
        if writer is not None:
            try:  # close it now, or its finaliser would later write to the closed file
                writer.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away anyway
                pass
        if self.atomic is not None:
            self.atomic.abort()
        if self.spool is not None:
            self.spool.close()
