"""JSON Lines, streamed by ``pyarrow.json.open_json``, and whole JSON documents.

*JSON Lines* (``.jsonl``, ``.ndjson``, a ``.json`` of one object a line, ``.gz`` / ``.bz2`` /
``.zst`` of those, or a pipe) are read block by block: memory is a few blocks whatever the
file's size. Nested objects become dotted columns (``{"meta": {"emb": [...]}}`` is the column
``meta.emb``), so ``--pred-col meta.emb`` names a nested field.

*A whole document* (a top-level array of row objects, as DuckDB ``ARRAY true`` and polars
``write_json`` write; or one object spanning lines, such as a saved OpenAI list response) has
no line boundaries to stream by: it is read whole, costing about three times its size in
memory, and refused above :data:`MAX_DOCUMENT_BYTES` with a message to write JSON Lines.

The OpenAI embedding envelopes are recognised without options (see ``openai.py``).
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from ..errors import InputError
from . import openai
from .json_depth import DepthScan
from .streams import COMPRESSION_EXTENSIONS, COMPRESSION_MAGIC, Prefixed, read_head
from .table import TableReader

__all__ = ["JsonReader", "MAX_DOCUMENT_BYTES", "looks_like_json"]

#: The largest JSON document (not JSON Lines) read whole.
MAX_DOCUMENT_BYTES = 256 << 20
#: Blocks of JSON Lines: pyarrow needs each line inside one block. Its JSON parser's working
#: memory is many times the block (measured: peak RSS ~260 MB reading with 4 MiB blocks, ~150 MB
#: with 1 MiB, Arrow's own pool under 30 MB in both), so blocks are kept small: 1 MiB holds about
#: a hundred lines of 768 floats; longer lines get a block of eight times the longest line seen.
_BLOCK = 1 << 20
#: The most read to find the end of the first line.
_MAX_HEAD = 64 << 20
#: Rows kept in a document's batches (the pipeline re-cuts them anyway).
_DOCUMENT_BATCH_ROWS = 1 << 14
_WHITESPACE = b" \t\r\n"
_BLANK_LINE = re.compile(rb"\n[ \t\r]*\n")


def looks_like_json(head: bytes) -> bool:
    """Whether the first non-blank byte opens a JSON object or array."""
    return head.lstrip(_WHITESPACE)[:1] in (b"{", b"[")


class _BlankLineWatch(io.RawIOBase):
    """A stream passed through unchanged, noting whether a blank line has gone by.

    pyarrow skips blank lines without saying so: until one is seen, row ``r`` of a JSON Lines
    file is on line ``r + 1``, and errors can name the line."""

    def __init__(self, inner: Any, name: str = "-") -> None:
        self._inner = inner
        self._tail = b"\n"  # the start of the file counts as the end of a line
        self.blank_seen = False
        self._depth = DepthScan(name)  # pyarrow's parser crashes on very deep nesting

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = bytes(self._inner.read(size if size is not None else -1))
        self._depth.feed(data)
        if data and not self.blank_seen:
            self.blank_seen = _BLANK_LINE.search(self._tail + data) is not None
            cut = data.rfind(b"\n")
            self._tail = data[cut:] if cut >= 0 and len(data) - cut < 64 else b""
        return data

    def readinto(self, buffer: Any) -> int:  # pragma: no cover - pyarrow calls read()
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        super().close()
        self._inner.close()


class JsonReader(TableReader):
    """A JSON Lines file or a JSON document, a file or a pipe (``stream``)."""

    format_name = "json"
    prunes = False  # pyarrow parses every field of a line; views pick their columns

    def __init__(self, path: str, *, stream: BinaryIO | None = None) -> None:
        self.name = path
        self._owned: list[Any] = []
        try:
            self._open(path, stream)
        except BaseException:
            for s in reversed(self._owned):
                s.close()
            raise

    def _open(self, path: str, stream: BinaryIO | None) -> None:
        name = path
        if stream is None:
            suffixes = [s.lower() for s in Path(path).suffixes]
            codec = COMPRESSION_EXTENSIONS.get(suffixes[-1]) if suffixes else None
            try:
                raw: Any = pa.OSFile(path, "rb")
            except OSError as exc:
                raise InputError(exc.strerror or str(exc), source=path) from None
        else:
            magic = read_head(stream, 4)
            codec = next((c for m, c in COMPRESSION_MAGIC if magic.startswith(m)), None)
            raw = Prefixed(magic, stream)
        self._owned.append(raw)
        plain = raw if codec is None else pa.CompressedInputStream(_native(raw), codec)
        if plain is not raw:
            self._owned.append(plain)
        head = _read_first_lines(plain, name)
        self._watch: _BlankLineWatch | None = None
        self._path: str | None = None
        self._codec: str | None = None
        self._reasons: dict[int, str] = {}  # why a row has no vector (an OpenAI error), for row_label
        self._index_rows = False  # a document's rows are numbered by the OpenAI `index`
        # The first lines (a document's start) must not nest deeper than pyarrow's parser can go.
        DepthScan(name).feed(head)
        first = _first_object(head)
        if first is not None:
            self.layout = openai.layout_of_object(first)
            self._lines = True
            if stream is None:
                # A file is handed to pyarrow as a native stream, opened afresh: its I/O threads
                # must not call into Python (a read still in flight when the interpreter shuts
                # down, after an error, aborts the process). Lines are found by a rescan, on error.
                self._path, self._codec = path, codec
                _check_line_depths(path, codec, name)
                source: Any = self._reopen()
            else:  # a pipe: read once, so blank lines are watched for as it goes by
                self._watch = _BlankLineWatch(Prefixed(head, plain, own_rest=False), name)
                source = self._watch
            explicit = openai.explicit_schema(self.layout, head)
            parse = pajson.ParseOptions(
                explicit_schema=explicit, unexpected_field_behavior="ignore" if explicit is not None else "infer"
            )
            longest = max(len(x) for x in head.split(b"\n"))
            block = max(_BLOCK, min(_MAX_HEAD * 2, 8 * longest))
            try:
                self._reader: Any = pajson.open_json(
                    source, read_options=pajson.ReadOptions(block_size=block), parse_options=parse
                )
            except (pa.ArrowInvalid, OSError) as exc:
                raise _json_error(exc, name) from None
            self._pending: pa.RecordBatch | None = None
            schema = self._shape(_empty(self._reader.schema), 0).schema
            self._document: pa.RecordBatch | None = None
        else:
            self._lines = False
            data = _read_document(head, plain, name, path if stream is None and codec is None else None)
            batch = _parse_document(data, name)
            del data
            self.layout = openai.layout_of_schema(batch.schema)
            self._index_rows = self.layout in (openai.Layout.LIST, openai.Layout.EMBEDDINGS)
            self._document = self._shape(batch, 0, whole=True)
            schema = self._document.schema
        super().__init__(name, schema)
        if self._document is not None:
            self.num_rows = self._document.num_rows

    # -- reading --------------------------------------------------------------------------------

    def _shape(self, batch: pa.RecordBatch, offset: int, *, whole: bool = False) -> pa.RecordBatch:
        """A parsed batch as the table cosloss sees: envelopes opened, base64 decoded, nested
        objects as dotted columns. ``offset``: the row number of its first row."""
        return openai.shape(batch, self.layout, source=self.name, offset=offset, whole=whole, reasons=self._reasons)

    def _batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        if self._document is not None:
            doc = self._document
            for start in range(0, max(doc.num_rows, 1), _DOCUMENT_BATCH_ROWS):
                yield doc.slice(start, _DOCUMENT_BATCH_ROWS)
            return
        offset = 0
        while True:
            try:
                b = self._reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError) as exc:
                raise _json_error(exc, self.name) from None
            shaped = self._shape(b, offset)
            offset += shaped.num_rows
            yield shaped

    def row_label(self, row: int) -> str:
        """A row as errors name it: with its line (JSON Lines), its ``index`` (an OpenAI
        document), and why it has no vector (an OpenAI error)."""
        notes = []
        line = self._line_of(row) if self._lines and self.layout != openai.Layout.LIST else None
        if line is not None:
            notes.append(f"line {line}")
        elif self._index_rows:
            notes.append(f"index {row}")
        if reason := self._reasons.get(row):
            notes.append(reason)
        return f"{row} ({'; '.join(notes)})" if notes else str(row)

    def _reopen(self) -> Any:
        """The file from its start, decompressed, as a new native stream (closed with the reader)."""
        assert self._path is not None
        raw = pa.OSFile(self._path, "rb")
        self._owned.append(raw)
        if self._codec is None:
            return raw
        plain = pa.CompressedInputStream(raw, self._codec)
        self._owned.append(plain)
        return plain

    def _line_of(self, row: int) -> int | None:
        """The line of JSON Lines row ``row`` (pyarrow skips blank lines without saying): a pipe
        knows it while no blank line has gone by; a file is read again up to that row (errors only)."""
        if self._watch is not None:
            return None if self._watch.blank_seen else row + 1
        if self._path is None:
            return None
        try:
            stream, seen, line, rest = self._reopen(), -1, 0, b""
            while piece := stream.read(1 << 20):
                lines = (rest + piece).split(b"\n")
                rest = lines.pop()
                for text in lines:
                    line += 1
                    seen += bool(text.strip(_WHITESPACE))
                    if seen == row:
                        return line
            return line + 1 if rest.strip(_WHITESPACE) and seen + 1 == row else None
        except (OSError, pa.ArrowInvalid):
            return None

    def close(self) -> None:
        super().close()
        if self.reading:  # closing a stream a thread is reading waits for that read: leave it
            return
        for s in reversed(self._owned):
            s.close()


def _native(raw: Any) -> Any:
    return raw if isinstance(raw, pa.NativeFile) else pa.PythonFile(raw, mode="r")


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in schema], schema=schema)


def _read_first_lines(plain: Any, name: str) -> bytes:
    """The stream's first bytes: past the first line with content, and a few lines more."""
    head = b""
    while len(head) < _MAX_HEAD:
        try:
            more = plain.read(1 << 16)
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputError(f"cannot decompress ({str(exc).splitlines()[0]})", source=name) from None
        if not more:
            break
        head += more
        body = head.lstrip(_WHITESPACE)
        if body.count(b"\n") >= 8:
            break
    if not head.strip(_WHITESPACE):
        raise InputError("is empty", source=name)
    if not looks_like_json(head):
        raise InputError("does not start like JSON (its first character is not { or [)", source=name)
    return head


def _first_object(head: bytes) -> dict[str, Any] | None:
    """The first line as an object when the file is JSON Lines (its first line a whole object);
    None for a document (an array, or an object spanning lines)."""
    body = head.lstrip(_WHITESPACE)
    if not body.startswith(b"{"):
        return None
    end = body.find(b"\n")
    if end < 0:
        return None  # one line, and a long one: read it as a document (its size is checked)
    try:
        obj = json.loads(body[:end])
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's json reads
        return None
    return obj if isinstance(obj, dict) else None


def _read_document(head: bytes, plain: Any, name: str, path: str | None) -> bytes:
    """The whole document, refused above the size limit before it is read where possible."""
    limit = MAX_DOCUMENT_BYTES
    advice = (
        f"is a single JSON document larger than {limit >> 20} MiB; cosloss reads a document whole, "
        "so write it as JSON Lines (one object a line, e.g. `jq -c '.[]'` for an array) to stream it"
    )
    if path is not None and os.path.getsize(path) > limit:
        raise InputError(advice, source=name)
    parts = [head]
    size = len(head)
    while size <= limit:
        more = plain.read(16 << 20)
        if not more:
            break
        parts.append(more)
        size += len(more)
    if size > limit:
        raise InputError(advice, source=name)
    return b"".join(parts)


def _check_line_depths(path: str, codec: str | None, name: str) -> None:
    """Every line of a JSON Lines file nests at most MAX_JSON_DEPTH deep, checked before pyarrow's
    parser (which crashes past ~10,000 levels) sees any of it.

    Each line is a JSON value of its own (a raw newline cannot be inside a string), so a line can
    only nest that deep if it holds that many opening brackets: blocks are passed on a count at C
    speed (0.25 ms a MiB, about 2% of the parse) while the current line holds fewer; from there the
    line is scanned exactly (json_depth.DepthScan), from its start, until it ends. A compressed
    file is decompressed twice for this (the parse is still the larger cost)."""
    from .json_depth import MAX_JSON_DEPTH

    work = np.empty(_BLOCK, dtype=np.uint8)  # reused: a fresh MiB a block costs page faults
    hits = np.empty(_BLOCK, dtype=bool)

    def count(data: bytes) -> int:
        # "[" is 0x5B and "{" 0x7B: one OR and one compare find both (7x faster than bytes.count)
        n = len(data)
        np.bitwise_or(np.frombuffer(data, dtype=np.uint8), 0x20, out=work[:n])
        np.equal(work[:n], 0x7B, out=hits[:n])
        return int(np.count_nonzero(hits[:n]))

    raw = pa.OSFile(path, "rb")
    stream = raw if codec is None else pa.CompressedInputStream(raw, codec)
    line: list[bytes] = []  # the current line's bytes so far, while it is only counted
    opens = 0  # its opening brackets
    scan: DepthScan | None = None  # the exact scan of the current line, once it has many
    try:
        while True:
            block = bytes(stream.read(_BLOCK))
            if not block:
                return
            cut = block.rfind(b"\n")
            if scan is None:
                found = count(block)
                if opens + found > MAX_JSON_DEPTH:
                    scan = DepthScan(name)
                    scan.feed(b"".join(line))
                    line, opens = [], 0
            if scan is not None:
                scan.feed(block)
                if cut >= 0:  # that line is over: count the next one from its start
                    scan = None
                    rest = block[cut + 1 :]
                    line, opens = [rest], count(rest)
                continue
            if cut < 0:
                line.append(block)
                opens += found
            else:
                rest = block[cut + 1 :]
                line, opens = [rest], count(rest)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _json_error(exc, name) from None
    finally:
        stream.close()
        if stream is not raw:
            raw.close()


def _parse_document(data: bytes, name: str) -> pa.RecordBatch:
    """A document as one record batch: an array's elements, or the objects of the file, as rows."""
    DepthScan(name).feed(data)  # pyarrow's parser crashes on very deep nesting
    body = data.strip(_WHITESPACE)
    is_array = body.startswith(b"[")
    if is_array:
        # pyarrow reads objects, not arrays: wrap the array in an object of one field.
        body = b'{"rows":' + body + b"}"
    try:
        table = pajson.read_json(
            pa.BufferReader(body),
            read_options=pajson.ReadOptions(block_size=len(body) + 1, use_threads=False),
            parse_options=pajson.ParseOptions(newlines_in_values=True),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise _json_error(exc, name) from None
    if not is_array:
        return table.combine_chunks().to_batches()[0] if table.num_rows else _empty(table.schema)
    rows = table.column("rows").combine_chunks()
    items = rows.flatten()
    if pa.types.is_struct(items.type):
        return pa.RecordBatch.from_struct_array(items)
    if pa.types.is_null(items.type):  # []
        return pa.RecordBatch.from_arrays([], names=[])
    if pa.types.is_list(items.type):  # an array of vectors: [[0.1, 0.2], ...]
        return pa.RecordBatch.from_arrays([items], names=["embedding"])
    raise InputError(f"is a JSON array of {items.type}; expected objects (rows) or arrays of numbers", source=name)


def _json_error(exc: BaseException, name: str) -> InputError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    hint = ""
    if "changed from null" in detail:
        hint = " (a field that is null in the first lines holds a value later; pyarrow types it from the first block)"
    elif "straddl" in detail:
        hint = " (a line longer than the read block; is this JSON Lines?)"
    return InputError(f"cannot parse JSON ({detail}){hint}", source=name)


def open_location(loc: Any, opts: Any) -> JsonReader:
    """The registry's opener: a local file (read natively by pyarrow), a pipe, or a file on another
    file system (read as a stream)."""
    if loc.is_stdin:
        reader = JsonReader("-", stream=loc.stream)
    elif loc.local_path is not None:
        reader = JsonReader(loc.local_path)
        reader.name = loc.name
    else:
        reader = JsonReader(loc.name, stream=loc.open_file())
    reader.location = loc
    return reader
