"""Lance datasets (a ``.lance`` folder) through ``pylance`` (the ``lance`` extra), as one table.

The dataset's scanner yields record batches of the columns asked for; its row count
comes from the manifest, before any data is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from ..errors import InputError, UsageProblem
from .table import TableReader

__all__ = ["LanceReader"]

#: rows a scanner batch (Lance's own default is 1024, small for vectors of a few hundred floats)
_BATCH_ROWS = 8192


def _require_lance() -> Any:
    try:
        import lance
    except ImportError:
        raise UsageProblem(
            "reading Lance datasets needs pylance, an optional extra: pip install 'cosine-cli[lance]'"
        ) from None
    return lance


class LanceReader(TableReader):
    """A Lance dataset's record batches, in the dataset's row order."""

    format_name = "lance"

    def __init__(self, path: str) -> None:
        lance = _require_lance()
        try:
            self._ds = lance.dataset(path)
            num_rows = int(self._ds.count_rows())
        except (OSError, ValueError, RuntimeError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"not a readable Lance dataset ({detail})", source=path) from None
        super().__init__(path, self._ds.schema)
        self.num_rows = num_rows

    def _batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._ds.to_batches(columns=columns, batch_size=_BATCH_ROWS)
        except (OSError, ValueError, RuntimeError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"cannot be read ({detail})", source=self.name) from None

    def _sample(self, columns: list[str]) -> pa.RecordBatch | None:
        table = self._ds.head(16, columns=columns)
        return None if table.num_rows == 0 else table.combine_chunks().to_batches()[0]


def _refuse_stdin(loc: Any) -> None:
    if loc.is_stdin:
        from ..errors import UsageProblem

        raise UsageProblem("a lance input cannot be read from standard input (it is a folder): give its path")


def open_location(loc: Any, opts: Any) -> LanceReader:
    """The registry's opener: a Lance dataset (a local folder, or a URI lance can open)."""
    _refuse_stdin(loc)
    reader = LanceReader(loc.local_path if loc.local_path is not None else loc.name)
    reader.location = loc
    return reader
