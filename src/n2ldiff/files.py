"""File helpers shared by every writer: atomic replacement, content hashes and folder locks.

Everything n2ldiff writes (images, manifests, weights, reports) goes through ``atomic_path``: the data
is written to a hidden temporary file in the target's folder, flushed to disk and renamed over the
target, so a killed run never leaves a half-written file under the final name.

An output folder is used by one run at a time: ``folder_lock`` takes an exclusive ``flock`` on a file in
it, which the operating system releases when the process exits, also when it crashes or is killed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from n2ldiff.errors import N2LDiffError

# Temporary files end with this, so a later run can recognise and remove leftovers of a killed one.
TEMP_SUFFIX = ".n2ldiff-part"
#: The lock file ``folder_lock`` holds in a folder while a run uses it (removed when the run ends).
LOCK_NAME = ".n2ldiff.lock"


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to; on success it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are ordinary files
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def check_output_location(path: str | Path, what: str = "output folder") -> None:
    """One-line ``N2LDiffError`` unless ``path`` is a folder we can write into, or can be created as one.

    Nothing is created (a probe file is written into the nearest existing folder and removed), so a
    check that fails leaves no trace: call it before any work.
    """
    path = Path(path)
    existing = _nearest_existing(path.absolute())
    if existing == path.absolute():
        if not path.is_dir():
            raise N2LDiffError(f"{path}: the {what} exists and is not a folder")
    elif not existing.is_dir():
        raise N2LDiffError(f"{path}: cannot create the {what}: {existing} is a file, not a folder")
    try:
        fd, name = tempfile.mkstemp(dir=existing, prefix=".n2ldiff-probe-")
    except OSError as err:
        raise N2LDiffError(f"{path}: cannot write the {what} there ({err.strerror or err}: {existing})") from None
    os.close(fd)
    os.unlink(name)


def make_output_dir(path: str | Path, what: str = "output folder") -> Path:
    """``check_output_location``, then create the folder (with its parents); one-line errors."""
    path = Path(path)
    check_output_location(path, what)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise N2LDiffError(f"{path}: cannot create the {what} ({err.strerror or err})") from None
    return path


#: errno values that mean the disk (or quota) is full: a run cannot go on.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(err: BaseException) -> bool:
    """True for an ``OSError`` saying that no space (or quota) is left."""
    return isinstance(err, OSError) and err.errno in DISK_FULL_ERRNOS


def remove_stale_temps(folder: str | Path) -> int:
    """Delete leftover temporary files (``TEMP_SUFFIX``) of killed runs under ``folder``; returns how many.

    Only call it while holding the folder's ``folder_lock``: another run's temporary files are not stale.
    """
    removed = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            if name.endswith(TEMP_SUFFIX):
                (Path(dirpath) / name).unlink(missing_ok=True)
                removed += 1
    return removed


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f" (pid {info['pid']} on {info['host']}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


@contextmanager
def folder_lock(folder: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if needed) for the duration of the ``with`` block.

    A second holder, in this process or another, is refused at once with an ``N2LDiffError`` that says the
    folder is in use. The lock is an ``fcntl.flock`` on ``folder/.n2ldiff.lock``: the operating system
    releases it when the process ends in any way, so a crashed run never blocks the next one.
    """
    import fcntl

    folder = make_output_dir(folder)  # a file in the path, a read-only place: one line
    path = folder / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise N2LDiffError(
                f"{folder} is in use by another n2ldiff run{_holder(path)}; wait for it to finish or use "
                "another output folder"
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:  # the previous holder removed it between our open and flock
            same = False
        if same:
            break
        os.close(fd)  # we locked a file that was already unlinked: try again with the current one
    try:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        with contextlib.suppress(OSError):  # who holds the lock is only a hint (a full disk must not stop here)
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}).encode())
        yield path
    finally:
        path.unlink(missing_ok=True)  # before unlocking, so nobody locks a file that is about to go
        os.close(fd)
