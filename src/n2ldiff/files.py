"""File helpers shared by every writer: atomic replacement and content hashes.

Everything n2ldiff writes (images, manifests, weights, reports) goes through ``atomic_path``: the data
is written to a hidden temporary file in the target's folder, flushed to disk and renamed over the
target, so a killed run never leaves a half-written file under the final name.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from n2ldiff.errors import N2LDiffError

# Temporary files end with this, so a later run can recognise and remove leftovers of a killed one.
TEMP_SUFFIX = ".n2ldiff-part"


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
