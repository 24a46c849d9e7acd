"""The one format registry: every input format cosloss reads, and how it is recognised.

Detection (by magic bytes, then by a sniffing rule, then by extension), standard-input sniffing,
the ``--pred-format`` / ``--label-format`` / ``inspect --format`` choices, the message that lists the
formats, the README's format table and the tests all read :data:`FORMATS`. Adding a format is one
reader module and one :class:`Format` entry here (see docs/architecture.md, "Adding a format").

This module imports nothing heavy (no NumPy, no pyarrow), so ``cosloss --help`` stays fast; a
reader is imported only when its format is opened (``Format.opener`` is ``"module:function"``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Format",
    "FORMATS",
    "FORMAT_NAMES",
    "COMPRESSION_SUFFIXES",
    "by_extension",
    "by_head",
    "describe_formats",
    "looks_like_json",
    "formats_markdown",
]

Kind = Literal["array", "table"]

#: Compression suffixes the text formats are read through (decompressed on the fly).
COMPRESSION_SUFFIXES: dict[str, str] = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
#: The magic bytes of those compressions (a compressed pipe is text underneath).
COMPRESSION_MAGIC: tuple[bytes, ...] = (b"\x1f\x8b", b"BZh", b"\x28\xb5\x2f\xfd")


@dataclass(frozen=True)
class Format:
    """One input format.

    ``opener(location, read_options)`` returns an array Source (``kind="array"``) or a
    TableReader (``kind="table"``); see ``cosine_cli.readers.open_location``.
    """

    name: str
    kind: Kind
    description: str
    opener: str  #: "module:function", imported when the format is opened
    extensions: tuple[str, ...] = ()
    magic: tuple[bytes, ...] = ()  #: the file starts with one of these
    #: for formats without magic: does this first chunk of (decompressed) bytes look like the format?
    sniff: Callable[[bytes], bool] | None = None
    seekable: bool = False  #: needs random access (a pipe is read into memory first)
    members: bool = False  #: holds named arrays, chosen per side with --pred-col / --label-col
    dataset: bool = False  #: a directory or glob of parts is one input
    compressible: bool = False  #: .gz / .bz2 / .zst files of it are read through decompression
    ranged: bool = False  #: can open a row range without reading what comes before (Dask tasks)
    #: a directory is this format when it holds one of these names (checked before "dataset")
    folder_marker: tuple[str, ...] = field(default=())
    #: formats with members: "module:function" listing them (``lister(location) -> [names]``)
    lister: str | None = None

    def load(self) -> Callable[..., Any]:
        return _load(self.opener)

    def load_lister(self) -> Callable[..., Any] | None:
        return _load(self.lister) if self.lister else None


def _load(spec: str) -> Callable[..., Any]:
    module, _, function = spec.partition(":")
    loaded: Callable[..., Any] = getattr(importlib.import_module(module), function)
    return loaded


def looks_like_json(head: bytes) -> bool:
    """Text whose first non-blank byte is ``{`` or ``[``: JSON, never CSV -- except a line like
    ``[0.1 -0.2 0.3]`` (no comma, no quote): NumPy's repr of a vector, a headerless text vector."""
    stripped = head.lstrip(b" \t\r\n\xef\xbb\xbf")
    if stripped[:1] == b"{":
        return True
    if stripped[:1] != b"[":
        return False
    first_line = stripped.split(b"\n", 1)[0]
    return b"," in first_line or b'"' in first_line or first_line.strip() in (b"[", b"[]")


def looks_like_safetensors(head: bytes) -> bool:
    """safetensors has no magic: an 8-byte little-endian header size (2 to 100 MB), then ``{``."""
    if len(head) < 9:
        return False
    size = int.from_bytes(head[:8], "little")
    return 2 <= size <= 100_000_000 and head[8:9] == b"{"


_R = "cosine_cli.readers"

#: Every format, in the order detection tries them (magic first, then sniffing, then extensions).
FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "npy",
            "array",
            "NumPy array (memory-light: read in chunks)",
            f"{_R}.npy:open_npy",
            extensions=(".npy",),
            magic=(b"\x93NUMPY",),
            ranged=True,
        ),
        Format(
            "npz",
            "array",
            "NumPy archive of named arrays (a member streamed out of the zip)",
            f"{_R}.npz:open_npz_location",
            extensions=(".npz",),
            magic=(b"PK\x03\x04",),
            seekable=True,
            members=True,
            lister=f"{_R}.npz:list_members",
        ),
        Format(
            "parquet",
            "table",
            "Parquet file, or a directory / glob of parts (one dataset)",
            f"{_R}.parquet:open_parquet",
            extensions=(".parquet", ".pq", ".parq"),
            magic=(b"PAR1",),
            seekable=True,
            dataset=True,
            ranged=True,
        ),
        Format(
            "arrow",
            "table",
            "Arrow IPC file (Feather v2)",
            f"{_R}.ipc:open_arrow_file",
            extensions=(".arrow", ".feather", ".ipc"),
            magic=(b"ARROW1",),
            seekable=True,
            ranged=True,
        ),
        Format(
            "arrows",
            "table",
            "Arrow IPC stream",
            f"{_R}.ipc:open_arrow_stream",
            extensions=(".arrows",),
            magic=(b"\xff\xff\xff\xff",),
        ),
        Format(
            "hdf5",
            "array",
            "HDF5 dataset by name (h5py, extra 'hdf5'; ann-benchmarks train/test files)",
            f"{_R}.hdf5:open_location",
            extensions=(".h5", ".hdf5", ".hdf"),
            magic=(b"\x89HDF\r\n\x1a\n",),
            seekable=True,
            members=True,
            lister=f"{_R}.hdf5:list_members",
        ),
        Format(
            "safetensors",
            "array",
            "safetensors tensor by name (F16, BF16, F32, F64, integers), read by row range",
            f"{_R}.safetensors:open_location",
            extensions=(".safetensors",),
            sniff=looks_like_safetensors,
            members=True,
            lister=f"{_R}.safetensors:list_members",
        ),
        Format(
            "hf",
            "table",
            "Hugging Face save_to_disk folder (Arrow stream parts in state.json order)",
            f"{_R}.hf_folder:open_location",
            seekable=True,
            folder_marker=("state.json", "dataset_dict.json"),
        ),
        Format(
            "lance",
            "table",
            "Lance dataset folder (pylance, extra 'lance')",
            f"{_R}.lance:open_location",
            extensions=(".lance",),
            seekable=True,
            folder_marker=("_versions",),
        ),
        Format(
            "json",
            "table",
            "JSON Lines (DuckDB, polars, pandas, datasets; OpenAI embedding objects and Batch output, "
            "base64 vectors) or one JSON document (read whole, up to 256 MiB)",
            f"{_R}.jsonl:open_location",
            extensions=(".jsonl", ".ndjson", ".json"),
            sniff=looks_like_json,
            compressible=True,
        ),
        Format(
            "csv",
            "table",
            "CSV: wide (a column a dimension) or a column of text vectors",
            f"{_R}.csv:open_csv",
            extensions=(".csv", ".txt"),
            compressible=True,
        ),
        Format(
            "tsv",
            "table",
            "TSV (CSV with tabs)",
            f"{_R}.csv:open_tsv",
            extensions=(".tsv",),
            compressible=True,
        ),
    )
}

FORMAT_NAMES: tuple[str, ...] = tuple(FORMATS)

#: Objects handed to the library API (pyarrow, polars, pandas, DuckDB, torch): not a file format,
#: so not in FORMATS, but described like one in the summary.
IN_MEMORY = Format("memory", "table", "an in-memory object (Arrow protocol, pandas, torch)", f"{_R}.memory:open_object")


def by_head(head: bytes) -> Format | None:
    """The format whose magic bytes start ``head``, else the first whose sniffing rule accepts it."""
    for f in FORMATS.values():
        if any(head.startswith(m) for m in f.magic):
            return f
    for f in FORMATS.values():
        if f.sniff is not None and f.sniff(head):
            return f
    return None


def split_compression(name: str) -> tuple[str, str | None]:
    """``("x.csv", "gzip")`` for ``x.csv.gz``; ``(name, None)`` when not compressed."""
    lower = name.lower()
    for suffix, codec in COMPRESSION_SUFFIXES.items():
        if lower.endswith(suffix):
            return name[: -len(suffix)], codec
    return name, None


def by_extension(name: str) -> Format | None:
    """The format the file name's extension says (under a compression suffix, if any)."""
    base, codec = split_compression(name)
    lower = base.lower()
    for f in FORMATS.values():
        if any(lower.endswith(ext) for ext in f.extensions) and (codec is None or f.compressible):
            return f
    return None


def describe_formats() -> list[dict[str, str]]:
    """One row a format (name, kind, extensions, description): the README's table and --help."""
    return [
        {
            "name": f.name,
            "kind": f.kind,
            "extensions": " ".join(f.extensions) + (" (+ .gz .bz2 .zst)" if f.compressible else ""),
            "description": f.description,
        }
        for f in FORMATS.values()
    ]


def formats_markdown() -> str:
    """The README's table of formats (tests/test_one_input_layer.py keeps the two equal)."""
    lines = ["| format | kind | extensions | what |", "|---|---|---|---|"]
    for row in describe_formats():
        lines.append(f"| `{row['name']}` | {row['kind']} | {row['extensions']} | {row['description']} |")
    return "\n".join(lines)
