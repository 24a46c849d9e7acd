"""Where an input lives: a file system and a path (or standard input), resolved once.

Every reader opens its bytes through a :class:`Location`, so a plain path, a ``file://`` URI and
an ``s3://`` key are read by the same code with the same options. Plain paths use pyarrow's
``LocalFileSystem``, as pyarrow itself does; ``.npy`` files on a local disk are opened with the
operating system's own file (their reads go straight into NumPy buffers).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError

__all__ = ["Location", "resolve_location", "list_parts", "hive_keys"]


@dataclass
class Location:
    """One input: ``name`` as the user wrote it, ``fs`` and ``path`` within it.

    Standard input has ``fs=None`` and a ``stream`` (a pipe, or a buffer when the format needs
    to seek). A dataset (a directory or a glob of parts) has its ``parts``, in sorted path order.
    """

    name: str
    fs: Any | None
    path: str
    stream: Any = None
    parts: list[Location] | None = None
    #: Hive partition keys of this part (``key=value`` directories under the dataset's root)
    partitions: tuple[tuple[str, str], ...] = field(default=())
    #: whether ``path`` is a directory or a glob (a dataset), known when resolved
    is_dataset: bool = False

    @property
    def is_stdin(self) -> bool:
        return self.fs is None and self.name == "-"

    @property
    def local_path(self) -> str | None:
        """The path on this machine's disk, for a local file (plain path or ``file://``)."""
        from ..remote import is_local

        return self.path if is_local(self.fs) else None

    def open_file(self) -> Any:
        """A seekable binary file: pyarrow's ``RandomAccessFile`` (read, readinto, seek, tell, size)."""
        if self.fs is None:
            if self.stream is None or not getattr(self.stream, "seekable", lambda: False)():
                raise InputError("cannot seek in standard input", source=self.name)
            return self.stream
        try:
            return self.fs.open_input_file(self.path)
        except FileNotFoundError:
            raise InputError("no such file", source=self.name) from None
        except IsADirectoryError:
            raise InputError("is a directory", source=self.name) from None
        except OSError as exc:
            raise InputError(_strerror(exc), source=self.name) from None

    def open_os_file(self) -> Any:
        """A local file as the operating system's unbuffered file (``fileno`` for memory maps);
        pyarrow's file for anything else."""
        local = self.local_path
        if local is None:
            return self.open_file()
        try:
            return open(local, "rb", buffering=0)  # noqa: SIM115 - the caller closes it
        except IsADirectoryError:
            raise InputError("is a directory", source=self.name) from None
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), source=self.name) from None

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes of a file (fewer when it is shorter)."""
        local = self.local_path
        if local is not None:  # without pyarrow: sniffing a local .npy file does not import it
            try:
                with open(local, "rb") as f:
                    return f.read(n)
            except IsADirectoryError:
                raise InputError("is a directory", source=self.name) from None
            except OSError as exc:
                raise InputError(exc.strerror or str(exc), source=self.name) from None
        f = self.open_file()
        try:
            return bytes(f.read(n))
        finally:
            f.close()


def _strerror(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    # pyarrow's messages repeat the path before the reason: "... Detail: [errno 13] Permission denied"
    return text.rsplit("Detail:", 1)[-1].strip() if "Detail:" in text else text


def resolve_location(arg: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None) -> Location:
    """The Location of a path or URI (``"-"``: standard input, opened by the caller).

    A directory or a glob pattern is a dataset: its parts are listed when the format is known
    (:func:`list_parts`).
    """
    from .. import remote

    name = os.fspath(arg)
    if name == "-":
        return Location("-", None, "")
    fs, path = remote.resolve(name, storage_options)
    if remote.has_glob(path):
        return Location(name, fs, path, is_dataset=True)
    if isinstance(fs, remote.LocalFiles):
        import stat

        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise InputError("no such file or directory", source=name) from None
        except OSError as exc:
            raise InputError(exc.strerror or str(exc), source=name) from None
        return Location(name, fs, path, is_dataset=stat.S_ISDIR(mode))
    import pyarrow.fs as pafs

    try:
        info = fs.get_file_info(path)
    except OSError as exc:
        raise InputError(_strerror(exc), source=name) from None
    if info.type == pafs.FileType.NotFound:
        raise InputError("no such file or directory", source=name)
    return Location(name, fs, path, is_dataset=info.type == pafs.FileType.Directory)


def list_parts(loc: Location, suffixes: tuple[str, ...]) -> list[Location]:
    """The parts of a dataset Location, in sorted path order (the one dataset lister).

    In a directory, files ending in one of ``suffixes`` count, except those under a name that
    starts with ``_`` or ``.`` (``_metadata``, ``_SUCCESS``, ``.tmp`` parts of a writer still at
    work); a glob takes every file it matches.
    """
    from .. import remote

    files, root = remote.list_files(loc.fs, loc.path, loc.name, suffixes)
    return [
        Location(
            f"{loc.name}/{f[len(root) :].lstrip('/')}" if root else f, loc.fs, f, partitions=hive_keys(f[len(root) :])
        )
        for f in files
    ]


def hive_keys(relative: str) -> tuple[tuple[str, str], ...]:
    """The ``key=value`` directories of a part's path under its dataset root.

    >>> hive_keys("/part=3/data_0.parquet")
    (('part', '3'),)
    """
    keys = []
    for segment in relative.strip("/").split("/")[:-1]:
        key, sep, value = segment.partition("=")
        if sep and key:
            keys.append((key, value))
    return tuple(keys)
