"""A ``Store`` on a local directory (``file://`` staging URLs and plain paths).

Writes are atomic and durable: data goes to a temporary file in the target's own directory,
is fsynced, then renamed over the target with ``os.replace``. A crash leaves either the old
object or the new one, never half of one; that is what resume relies on. Leftover
temporary files (names starting with ``.tmp-``) are never listed.

Every key must resolve inside the directory: a symbolic link that leads out of it is
refused (reading, writing, listing), so a staging directory cannot be made to read or
overwrite files elsewhere on the machine.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ddbmigrate.errors import NotFoundError, StagingError
from ddbmigrate.ports import StoreWriter

_TMP_PREFIX = ".tmp-"
_HINT = (
    "check that the directory exists and that this user may read and write it, "
    "or pass another --staging"
)


class LocalStore:
    """Objects are files below ``directory``; keys are ``/``-separated relative paths."""

    def __init__(self, directory: str) -> None:
        self._dir = Path(directory.removeprefix("file://")).expanduser().resolve()

    @property
    def root(self) -> str:
        return str(self._dir)

    def put(self, key: str, data: bytes) -> None:
        """Write ``data`` atomically (temp file, fsync, ``os.replace``)."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, data)
        except OSError as exc:
            raise _staging_error("cannot write", path, exc) from exc

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` whole unless it exists; True when this call created it."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return _create_exclusively(path, data)
        except OSError as exc:
            raise _staging_error("cannot write", path, exc) from exc

    def get(self, key: str) -> bytes:
        """The bytes of ``key``; NotFoundError naming the path when it is absent."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFoundError(f"{path} does not exist") from exc
        except OSError as exc:
            raise _staging_error("cannot read", path, exc) from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix`` (a string prefix, as S3 lists), sorted."""
        base = self._path(prefix.rpartition("/")[0]) if "/" in prefix else self._dir
        if not base.is_dir():
            return iter([])
        keys = [k for k in self._walk(base) if k.startswith(prefix)]
        return iter(sorted(keys))

    def open_read(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFoundError(f"{path} does not exist") from exc
        except OSError as exc:
            raise _staging_error("cannot read", path, exc) from exc

    def open_write(self, key: str) -> StoreWriter:
        """A temporary file beside the target, renamed into place on commit."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_TMP_PREFIX}{path.name}.")
        except OSError as exc:
            raise _staging_error("cannot write", path, exc) from exc
        return _LocalWriter(path, Path(tmp), os.fdopen(fd, "wb"))

    def delete(self, key: str) -> None:
        """Remove ``key``; an absent key is not an error."""
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise _staging_error("cannot delete", path, exc) from exc

    def fingerprints(self, prefix: str) -> dict[str, str]:
        """Size and modification time of each file below ``prefix``: a rewrite (temp file
        and ``os.replace``) changes the time even when the size stays."""
        found: dict[str, str] = {}
        for key in self.list(prefix):
            try:
                stat = self._path(key).stat()
            except OSError as exc:
                raise _staging_error("cannot read", self._path(key), exc) from exc
            found[key] = f"{stat.st_size}:{stat.st_mtime_ns}"
        return found

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if key.startswith("/") or ".." in parts or "\\" in key:
            raise StagingError(f"key {key!r} points outside the staging directory {self._dir}")
        path = self._dir.joinpath(*[p for p in parts if p])
        # A link anywhere on the way (the file, or a folder above it) may lead elsewhere.
        real = Path(os.path.realpath(path))
        if real != self._dir and self._dir not in real.parents:
            raise StagingError(
                f"staging key {key!r} resolves to {real}, outside the staging directory "
                f"{self._dir} (through a symbolic link)",
                hint="local staging never follows links out of its directory: replace the "
                "link with the files themselves, or pass the directory it points to as --staging",
            )
        return path

    def _walk(self, base: Path) -> Iterator[str]:
        def fail(exc: OSError) -> None:
            raise _staging_error("cannot list", Path(exc.filename or base), exc)

        for folder, _dirs, files in os.walk(base, onerror=fail):
            relative = Path(folder).relative_to(self._dir).as_posix()
            for name in files:
                if not name.startswith(_TMP_PREFIX):
                    yield name if relative == "." else f"{relative}/{name}"


class _LocalWriter:
    def __init__(self, path: Path, tmp: Path, handle: BinaryIO) -> None:
        self._path = path
        self._tmp = tmp
        self._handle = handle

    def write(self, data: bytes) -> None:
        try:
            self._handle.write(data)
        except OSError as exc:
            raise _staging_error("cannot write", self._path, exc) from exc

    def commit(self) -> None:
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            os.replace(self._tmp, self._path)
        except OSError as exc:
            raise _staging_error("cannot write", self._path, exc) from exc
        _fsync_directory(self._path.parent)

    def abort(self) -> None:
        self._handle.close()
        self._tmp.unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_TMP_PREFIX}{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


# link(2) is not offered by every file system (some FUSE, SMB and FAT mounts).
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}


def _create_exclusively(path: Path, data: bytes) -> bool:
    """Create ``path`` with ``data`` unless it exists; True when this call created it.

    The data goes to a temporary file first (fsynced), which is then hard-linked to the
    target: link(2) fails with EEXIST when the target exists, atomically, exactly like
    ``O_CREAT | O_EXCL``, and a reader never sees the file before it is whole. A lock file
    read half-written would look damaged to the loser of a race."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_TMP_PREFIX}{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
            return _create_with_o_excl(path, data)
    finally:
        Path(tmp).unlink(missing_ok=True)
    _fsync_directory(path.parent)
    return True


def _create_with_o_excl(path: Path, data: bytes) -> bool:
    """Where links are not possible: ``O_CREAT | O_EXCL``, then write and fsync (a reader
    racing the writer may see the file empty for that moment)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_directory(path.parent)
    return True


def _fsync_directory(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; some systems cannot open a directory.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _staging_error(action: str, path: Path, exc: OSError) -> StagingError:
    reason = exc.strerror or exc.__class__.__name__
    return StagingError(f"{action} {path}: {reason}", hint=_HINT)
