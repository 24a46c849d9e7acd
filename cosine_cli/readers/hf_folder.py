"""Hugging Face ``Dataset.save_to_disk`` folders: one table over the folder's Arrow parts.

The folder holds ``dataset_info.json`` (the features), ``state.json`` (its
``_data_files`` list names the parts, in row order) and the parts
``data-0000K-of-0000N.arrow``, which are Arrow IPC *streams*. The parts are read one
after the other, a record batch at a time, through pyarrow's IPC reader; the row
count comes from the batches' metadata (memory-mapped, no data is read for it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from ..errors import InputError
from .table import TableReader

__all__ = ["HfFolderReader", "is_hf_folder", "data_files"]


def is_hf_folder(path: str | os.PathLike[str]) -> bool:
    """A ``save_to_disk`` folder of one Dataset (or of a DatasetDict: refused with its splits)."""
    p = Path(path)
    return p.is_dir() and ((p / "state.json").is_file() or (p / "dataset_dict.json").is_file())


def data_files(folder: str) -> list[Path]:
    """The parts ``state.json`` lists, in its order, each checked to be inside the folder."""
    root = Path(folder)
    if (root / "dataset_dict.json").is_file() and not (root / "state.json").is_file():
        splits = sorted(p.name for p in root.iterdir() if (p / "state.json").is_file())
        raise InputError(
            f"is a DatasetDict folder; give one split's folder ({', '.join(splits) or 'none found'})",
            source=folder,
        )
    try:
        state = json.loads((root / "state.json").read_text(encoding="utf-8"))
        files = state["_data_files"]
        names = [entry["filename"] for entry in files]
    except OSError as exc:
        raise InputError(f"cannot read state.json ({exc.strerror or exc})", source=folder) from None
    except (ValueError, KeyError, TypeError, RecursionError):
        raise InputError(
            "state.json is not a save_to_disk state (expected _data_files: [{filename: ...}, ...])",
            source=folder,
        ) from None
    if not names:
        raise InputError("state.json lists no data files", source=folder)
    parts = []
    for name in names:
        if not isinstance(name, str) or Path(name).name != name:
            raise InputError(f"state.json names a data file outside the folder: {name!r}", source=folder)
        part = root / name
        if not part.is_file():
            raise InputError(f"state.json lists {name}, which is missing", source=folder)
        parts.append(part)
    return parts


def _count_rows(part: Path, name: str) -> tuple[pa.Schema, int]:
    with pa.memory_map(str(part), "r") as source:
        try:
            reader = ipc.open_stream(source)
            rows = 0
            for batch in reader:  # zero-copy from the map: only message headers are touched
                rows += batch.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"{part.name} is not a readable Arrow IPC stream ({exc})", source=name) from None
        return reader.schema, rows


class HfFolderReader(TableReader):
    """A ``save_to_disk`` folder as one table: its parts' record batches, in ``state.json``'s order."""

    format_name = "hf"
    prunes = True

    def __init__(self, folder: str) -> None:
        self._parts = data_files(folder)
        schema: pa.Schema | None = None
        total = 0
        for part in self._parts:
            part_schema, rows = _count_rows(part, folder)
            if schema is None:
                schema = part_schema
            elif not part_schema.equals(schema, check_metadata=False):
                raise InputError(f"{part.name} has a different schema from {self._parts[0].name}", source=folder)
            total += rows
        assert schema is not None
        # the "huggingface" metadata describes features; the columns are what we read
        super().__init__(folder, schema.remove_metadata())
        self.num_rows = total
        self.row_groups = None
        self._open: list[Any] = []

    def _batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        for part in self._parts:
            source = pa.OSFile(str(part), "rb")
            self._open.append(source)
            try:
                reader = ipc.open_stream(source)
                while True:
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        break
                    yield batch.select(columns)
            except pa.ArrowInvalid as exc:
                raise InputError(f"{part.name}: broken Arrow IPC stream ({exc})", source=self.name) from None
            finally:
                source.close()

    def _sample(self, columns: list[str]) -> pa.RecordBatch | None:
        # read (not mapped): the batch's buffers outlive the file
        with pa.OSFile(str(self._parts[0]), "rb") as source:
            for batch in ipc.open_stream(source):
                if batch.num_rows:
                    return batch.select(columns).slice(0, 16)
        return None

    def close(self) -> None:
        super().close()
        if not self.reading:
            for source in self._open:
                source.close()


def _refuse_stdin(loc: Any) -> None:
    if loc.is_stdin:
        from ..errors import UsageProblem

        raise UsageProblem("a hf_folder input cannot be read from standard input (it is a folder): give its path")


def open_location(loc: Any, opts: Any) -> HfFolderReader:
    """The registry's opener: a ``save_to_disk`` folder on a local disk."""
    if loc.local_path is None:
        from ..errors import UsageProblem

        raise UsageProblem(f"{loc.name}: a save_to_disk folder is read from a local disk")
    reader = HfFolderReader(loc.local_path)
    reader.name = loc.name
    reader.location = loc
    return reader
