"""HDF5 files through h5py (the ``hdf5`` extra): one dataset, read a row range at a time.

A file may hold many datasets (ann-benchmarks: ``train``, ``test``, ``neighbors``,
``distances``): the one to read is named (``--pred-col`` / ``--label-col``, a path
such as ``group/emb`` for a nested one), or is the file's only 2-D dataset. h5py
reads a hyperslab straight into our buffer (``read_direct``), so memory is one chunk.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InputError, UsageProblem
from .base import check_numeric_dtype

__all__ = ["HDF5_MAGIC", "DatasetInfo", "Hdf5Source", "members", "open_hdf5", "require_h5py"]

#: the HDF5 superblock signature (at offset 0, or 512, 1024, ... after a user block)
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


#: what h5py raises for damaged bytes (its C library's errors come as any of these)
_DAMAGED = (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError, OverflowError)


def _detail(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def require_h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise UsageProblem("reading HDF5 files needs h5py, an optional extra: pip install 'cosine-cli[hdf5]'") from None
    return h5py


@dataclass(frozen=True)
class DatasetInfo:
    name: str  #: the path inside the file, without the leading "/"
    dtype: str
    shape: tuple[int, ...]


def _open_file(path: str | os.PathLike[str] | Any, name: str) -> Any:
    h5py = require_h5py()
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise InputError("No such file or directory", source=name) from None
    except OSError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"not a readable HDF5 file ({detail})", source=name) from None


def _datasets(f: Any) -> list[DatasetInfo]:
    h5py = require_h5py()
    found: list[DatasetInfo] = []

    def visit(key: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            found.append(DatasetInfo(key, str(obj.dtype), tuple(int(d) for d in obj.shape or ())))

    f.visititems(visit)
    return found


def members(path: str | os.PathLike[str] | Any, name: str | None = None) -> list[DatasetInfo]:
    """Every dataset of the file (nested ones by their path), in h5py's visiting order."""
    f = _open_file(path, name or str(path))
    try:
        return _datasets(f)
    except (InputError, UsageProblem):
        raise
    except _DAMAGED as exc:
        raise InputError(f"not a readable HDF5 file ({_detail(exc)})", source=name or str(path)) from None
    finally:
        f.close()


def _describe(d: DatasetInfo) -> str:
    return f"{d.name} {d.dtype} {list(d.shape)}"


def open_hdf5(
    path: str | os.PathLike[str] | Any,
    member: str | None = None,
    *,
    name: str | None = None,
    option: str = "--pred-col / --label-col",
) -> Hdf5Source:
    """Dataset ``member`` (else the only 2-D dataset) of an HDF5 file (a path or a file object)."""
    label = (name or os.fspath(path)) if isinstance(path, (str, os.PathLike)) else (name or "<hdf5>")
    f = _open_file(path, label)
    try:
        found = _datasets(f)
        if member is None:
            two_d = [d for d in found if len(d.shape) == 2]
            if len(two_d) != 1:
                listing = "; ".join(_describe(d) for d in found) or "none"
                raise UsageProblem(f"{label} holds {len(two_d)} 2-D datasets ({listing}); choose one with {option}")
            member = two_d[0].name
        key = member.strip("/")
        if key not in {d.name for d in found}:
            raise UsageProblem(
                f"{label} has no dataset {member!r}; it holds: {', '.join(d.name for d in found) or 'none'}"
            )
        return Hdf5Source(f, f[key], f"{label}[{key}]")
    except (InputError, UsageProblem):
        f.close()
        raise
    except _DAMAGED as exc:
        f.close()
        raise InputError(f"not a readable HDF5 file ({_detail(exc)})", source=label) from None
    except BaseException:
        f.close()
        raise


class Hdf5Source:
    """One HDF5 dataset as a :class:`~cosine_cli.readers.base.Source`, read by row range."""

    format_name = "hdf5"

    def __init__(self, file: Any, dataset: Any, name: str) -> None:
        self._file = file
        self._ds = dataset
        self.name = name
        dtype = np.dtype(dataset.dtype)
        check_numeric_dtype(dtype, name)
        self.file_dtype = dtype
        self.dtype: np.dtype[np.generic] = dtype.newbyteorder("=") if not dtype.isnative else dtype

    @property
    def shape(self) -> tuple[int | None, ...]:
        return tuple(int(d) for d in self._ds.shape or ())

    def close(self) -> None:
        self._file.close()

    def _read(self, selection: tuple[slice, ...], out: NDArray[Any]) -> None:
        try:
            self._ds.read_direct(out, source_sel=selection)
        except _DAMAGED as exc:  # a corrupt chunk, a filter h5py lacks
            raise InputError(f"cannot be read ({_detail(exc)})", source=self.name) from None

    def read_rows(self, start: int, stop: int, axis: int = 0) -> NDArray[np.generic]:
        """Entries ``[start, stop)`` along ``axis`` (a new array)."""
        shape = list(self._ds.shape)
        stop = min(stop, shape[axis])
        shape[axis] = max(0, stop - start)
        out = np.empty(shape, dtype=self.dtype)
        index: list[slice] = [slice(None)] * len(shape)
        index[axis] = slice(start, stop)
        if shape[axis]:
            self._read(tuple(index), out)
        return out

    def chunks(self, rows: int, axis: int = 0) -> Iterator[NDArray[np.generic]]:
        shape = self._ds.shape or ()
        if not shape:
            try:
                value = np.asarray(self._ds[()], dtype=self.dtype)
            except _DAMAGED as exc:
                raise InputError(f"cannot be read ({_detail(exc)})", source=self.name) from None
            yield value
            return
        total = int(shape[axis])
        rows = max(1, min(rows, total))
        if axis != 0:
            for start in range(0, total, rows):
                yield self.read_rows(start, start + rows, axis)
            return
        buffer = np.empty((rows, *shape[1:]), dtype=self.dtype)
        for start in range(0, total, rows):
            n = min(rows, total - start)
            out = buffer[:n]
            self._read((slice(start, start + n),), out)
            yield out


def _local(loc: Any) -> str:
    if loc.is_stdin:
        raise UsageProblem("an HDF5 file cannot be read from standard input (it needs seeking): save it to a file")
    if loc.local_path is None:
        raise UsageProblem(f"{loc.name}: HDF5 files are read from a local disk (h5py); copy it here first")
    return str(loc.local_path)


def open_location(loc: Any, opts: Any) -> Hdf5Source:
    """The registry's opener: a dataset (``--pred-col`` / ``--label-col``) of a local HDF5 file."""
    src = open_hdf5(_local(loc), opts.member, name=loc.name, option=opts.member_option)
    src.location = loc  # type: ignore[attr-defined]
    return src


def list_members(loc: Any) -> list[str]:
    return [d.name for d in members(_local(loc), loc.name)]
