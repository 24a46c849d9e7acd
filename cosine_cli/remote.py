"""Inputs and outputs anywhere pyarrow's file systems reach: ``s3://``, ``gs://``, ``hdfs://``, ``file://``.

:func:`resolve` turns a URI or a plain path into ``(pyarrow.fs.FileSystem, path)``.
S3 is configured from the usual AWS environment variables, overridden by
``--storage-option KEY=VALUE`` (any keyword of :class:`pyarrow.fs.S3FileSystem`).
A scheme pyarrow has no file system for goes through fsspec, imported only then
(fsspec is never a dependency of cosloss).

pyarrow.fs is imported only when a URI is resolved or a local file is opened through pyarrow
(:class:`LocalFiles`), so :func:`is_uri` and a run on local ``.npy`` files cost nothing.
"""

from __future__ import annotations

import fnmatch
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO, Final
from urllib.parse import urlsplit

from .errors import InputError, UsageProblem

if TYPE_CHECKING:
    import pyarrow.fs as pafs

__all__ = [
    "is_uri",
    "parse_storage_options",
    "s3_options_from_env",
    "resolve",
    "list_dataset",
    "list_files",
    "has_glob",
    "open_input",
    "atomic_output",
    "join",
]

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
#: S3FileSystem keywords that are not strings, and how to read them from KEY=VALUE text
_S3_TYPES: dict[str, type] = {
    "anonymous": bool,
    "background_writes": bool,
    "allow_delayed_open": bool,
    "allow_bucket_creation": bool,
    "allow_bucket_deletion": bool,
    "force_virtual_addressing": bool,
    "check_directory_existence_before_creation": bool,
    "request_timeout": float,
    "connect_timeout": float,
    "load_frequency": int,
}


def is_uri(path: str | os.PathLike[str]) -> bool:
    """True for ``scheme://...`` (a Windows drive letter ``C:\\`` is not a URI)."""
    return isinstance(path, str) and bool(_URI.match(path))


def _as_bool(key: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise UsageProblem(f"--storage-option {key}={value}: expected true or false")


def parse_storage_options(items: Iterable[str]) -> dict[str, Any]:
    """``["region=eu-west-1", "anonymous=true"]`` -> ``{"region": "eu-west-1", "anonymous": True}``."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageProblem(f"--storage-option {item!r}: expected KEY=VALUE")
        kind = _S3_TYPES.get(key)
        if kind is bool:
            options[key] = _as_bool(key, value)
            continue
        try:
            options[key] = kind(value) if kind else value
        except ValueError:
            raise UsageProblem(f"--storage-option {item}: {key} takes a number") from None
    return options


def _endpoint(url: str) -> dict[str, str]:
    """``http://host:9000`` -> endpoint_override and scheme, as S3FileSystem wants them."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    return {"endpoint_override": parts.netloc + parts.path.rstrip("/"), "scheme": parts.scheme}


def s3_options_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """S3 options from the AWS variables that the AWS CLI and boto3 read too.

    Credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
    AWS_PROFILE) are passed on explicitly where set, so that a file system
    pickled to a Dask worker carries them; otherwise the AWS SDK's default chain
    (profiles, instance roles) applies where the file system is used.
    """
    env = os.environ if env is None else env
    options: dict[str, Any] = {}
    url = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if url:
        options.update(_endpoint(url))
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        options["access_key"] = env["AWS_ACCESS_KEY_ID"]
        options["secret_key"] = env["AWS_SECRET_ACCESS_KEY"]
        if env.get("AWS_SESSION_TOKEN"):
            options["session_token"] = env["AWS_SESSION_TOKEN"]
    if env.get("AWS_NO_SIGN_REQUEST", "").strip().lower() in _TRUE:
        options["anonymous"] = True
    return options


def _s3(options: Mapping[str, Any]) -> pafs.FileSystem:
    import pyarrow.fs as pafs

    merged = {**s3_options_from_env(), **options}
    if "endpoint_url" in merged:  # the boto3 / fsspec spelling
        merged.update(_endpoint(str(merged.pop("endpoint_url"))))
    if merged.get("anonymous"):
        for key in ("access_key", "secret_key", "session_token"):
            merged.pop(key, None)
    try:
        return pafs.S3FileSystem(**merged)
    except TypeError as exc:
        raise UsageProblem(f"--storage-option: {exc} (see pyarrow.fs.S3FileSystem for the keys)") from None


class LocalFiles:
    """pyarrow's ``LocalFileSystem``, made on first use. A plain path resolves to this, so a run on
    local ``.npy`` files never imports pyarrow (a tenth of a second of start-up); every method
    is pyarrow's."""

    _fs: Any = None

    def real(self) -> pafs.LocalFileSystem:
        if LocalFiles._fs is None:
            import pyarrow.fs as pafs

            LocalFiles._fs = pafs.LocalFileSystem()
        return LocalFiles._fs

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # pickle and copy probe dunders: they are not pyarrow's business
            raise AttributeError(name)
        return getattr(self.real(), name)

    def __repr__(self) -> str:
        return "LocalFiles()"


#: the local file system (see LocalFiles)
LOCAL: Final = LocalFiles()


def is_local(fs: Any) -> bool:
    """Whether ``fs`` is this machine's file system (a plain path's, or a ``file://`` URI's)."""
    if isinstance(fs, LocalFiles):
        return True
    if fs is None or type(fs).__module__.split(".")[0] != "pyarrow":
        return False
    import pyarrow.fs as pafs

    return isinstance(fs, pafs.LocalFileSystem)


def resolve(
    uri: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
) -> tuple[pafs.FileSystem, str]:
    """The file system and the path within it for a URI or a local path."""
    text = os.fspath(uri)
    options = dict(storage_options or {})
    if not is_uri(text):
        return LOCAL, os.path.abspath(text)
    import pyarrow.fs as pafs

    scheme = text.split("://", 1)[0].lower()
    if scheme in ("s3", "s3a"):
        bucket_and_key = text.split("://", 1)[1]
        return _s3(options), bucket_and_key.split("?", 1)[0]
    try:
        fs, path = pafs.FileSystem.from_uri(text)
    except (ValueError, OSError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        if "Unrecognized filesystem type" not in str(exc):
            raise InputError(str(exc), source=text) from None
        return _fsspec(scheme, text, options)
    if options:
        if scheme in ("gs", "gcs"):
            fs = pafs.GcsFileSystem(**options)
        else:
            raise UsageProblem(f"--storage-option is not used for {scheme}:// (put options in the URI)")
    return fs, path


def _fsspec(scheme: str, text: str, options: Mapping[str, Any]) -> tuple[pafs.FileSystem, str]:
    """A file system pyarrow does not have, through fsspec (if it is installed)."""
    import pyarrow.fs as pafs

    try:
        import fsspec  # type: ignore[import-untyped]  # noqa: PLC0415 - optional, only for schemes pyarrow lacks
    except ImportError:
        raise UsageProblem(f"{scheme}:// needs fsspec (pip install fsspec and its {scheme} package)") from None
    fs = fsspec.filesystem(scheme, **options)
    path = fs._strip_protocol(text)  # noqa: SLF001 - fsspec's own path normalisation
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


_GLOB = re.compile(r"[*?\[]")


def has_glob(path: str) -> bool:
    return bool(_GLOB.search(path))


def list_files(fs: pafs.FileSystem, path: str, name: str, suffixes: tuple[str, ...]) -> tuple[list[str], str]:
    """The files of a dataset in sorted path order, and the root their relative paths start from.

    ``path`` is one file, a directory (searched recursively) or a glob. In a directory, only files
    ending in one of ``suffixes`` count, and not those under a name starting with ``_`` or ``.``
    (``_metadata``, ``_SUCCESS``, ``.tmp`` parts); a glob takes whatever it matches.
    """
    import pyarrow.fs as pafs

    match = _GLOB.search(path)
    if match:
        base = path[: match.start()].rsplit("/", 1)[0]
        infos = _listing(fs, base, name)
        files = [i.path for i in infos if i.type == pafs.FileType.File and fnmatch.fnmatchcase(i.path, path)]
        if not files:
            raise InputError("matches no file", source=name)
        return sorted(files), base
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [path], ""
    if info.type == pafs.FileType.NotFound:
        raise InputError("no such file or directory", source=name)
    files = [
        i.path
        for i in _listing(fs, path, name)
        if i.type == pafs.FileType.File and not any(p.startswith(("_", ".")) for p in i.path[len(path) :].split("/"))
    ]
    files = [f for f in files if f.lower().endswith(suffixes)]
    if not files:
        raise InputError(
            f"is a directory holding no {' / '.join(suffixes)} file; expected a file, or a directory or glob of parts",
            source=name,
        )
    return sorted(files), path


def list_dataset(
    uri: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None, *, suffix: str = ".parquet"
) -> tuple[pafs.FileSystem, list[str]]:
    """The file system and files of a dataset (see :func:`list_files`)."""
    text = os.fspath(uri)
    fs, path = resolve(text, storage_options)
    files, _ = list_files(fs, path, text, (suffix,))
    return fs, files


def _listing(fs: pafs.FileSystem, base: str, name: str) -> list[pafs.FileInfo]:
    import pyarrow.fs as pafs

    try:
        return list(fs.get_file_info(pafs.FileSelector(base, recursive=True)))
    except FileNotFoundError:
        raise InputError("no such file or directory", source=name) from None
    except OSError as exc:
        raise InputError(str(exc), source=name) from None


def open_input(fs: pafs.FileSystem, path: str, name: str) -> Any:
    """A seekable binary file (pyarrow ``RandomAccessFile``): has read, readinto, seek, tell and size()."""
    try:
        return fs.open_input_file(path)
    except FileNotFoundError:
        raise InputError("no such file", source=name) from None
    except OSError as exc:
        raise InputError(str(exc), source=name) from None


def join(base: str, *names: str) -> str:
    return "/".join([base.rstrip("/"), *names])


@contextmanager
def atomic_output(fs: pafs.FileSystem, path: str) -> Iterator[BinaryIO]:
    """Write ``path`` so that readers see the old file or the complete new one, never a part.

    The data goes to a temporary name beside ``path`` and is moved into place
    when complete; on an error the temporary file is deleted. On a local disk the
    move is an atomic rename. Object stores have no rename: on S3 pyarrow's
    ``move`` is a server-side copy then a delete, so the final key appears only
    complete (S3 PUTs are atomic), but the copy costs time on large objects and
    a crash between the copy and the delete leaves a ``.tmp-*`` key behind.
    """
    import pyarrow.fs as pafs

    parent, _, leaf = path.rpartition("/")
    tmp = f"{parent}/.{leaf}.tmp-{uuid.uuid4().hex[:12]}" if parent else f".{leaf}.tmp-{uuid.uuid4().hex[:12]}"
    if isinstance(fs, pafs.LocalFileSystem) and parent:
        fs.create_dir(parent, recursive=True)
    stream = fs.open_output_stream(tmp)
    try:
        yield stream
        stream.close()
        fs.move(tmp, path)
    except BaseException:
        if not stream.closed:
            stream.close()
        try:
            fs.delete_file(tmp)
        except OSError:
            pass
        raise
