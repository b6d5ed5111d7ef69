"""``manifest.jsonl``: one JSON object per written output, appended durably (whole line + fsync).

A run killed mid-write may leave a truncated last line; readers skip lines that are not valid JSON
(with a one-line notice), and the writer starts a fresh line first, so a later ``--resume`` run appends
cleanly. A write that fails (e.g. a full disk) is cut back off the file and stops the run with an
``N2LDiffError``: the manifest always stays parseable. Which outputs a manifest lists as complete is
``engine.latest_records(read_manifest(folder))``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from n2ldiff.errors import N2LDiffError
from n2ldiff.files import is_disk_full

__all__ = ["MANIFEST_NAME", "ManifestWriter", "read_manifest", "run_info"]

MANIFEST_NAME = "manifest.jsonl"


def run_info() -> dict[str, Any]:
    """Versions and time of this run: n2ldiff, torch, python, platform, UTC time (ISO 8601)."""
    import torch

    import n2ldiff

    return {
        "n2ldiff_version": n2ldiff.__version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


class ManifestWriter:
    """Append JSON lines to ``out_dir/manifest.jsonl``; each line is written whole and fsynced.

    A write that fails (a full disk, a lost mount) is cut back off the file, so the manifest stays a list
    of complete lines, and raises ``N2LDiffError`` with one line: the run must stop there.
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.path = Path(out_dir) / MANIFEST_NAME
        self._fd: int | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            needs_newline = False
            if self.path.exists() and self.path.stat().st_size > 0:
                with open(self.path, "rb") as existing:
                    existing.seek(-1, os.SEEK_END)
                    needs_newline = existing.read(1) != b"\n"
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise N2LDiffError(f"{self.path}: cannot open the manifest ({err.strerror or err})") from None
        if needs_newline:  # a killed run left half a line: end it so the next record stands alone
            self._append(b"\n")

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as a single JSON line and make it durable."""
        self._append((json.dumps(record, ensure_ascii=False, default=str) + "\n").encode("utf-8"))

    def _append(self, data: bytes) -> None:
        if self._fd is None:
            raise N2LDiffError(f"{self.path}: the manifest is closed")
        start = None
        try:
            start = os.fstat(self._fd).st_size
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            try:
                os.fsync(self._fd)
            except OSError as err:
                if err.errno not in (errno.EINVAL, errno.ENOTSUP):  # e.g. a pipe or device: nothing to sync
                    raise
        except OSError as err:
            if start is not None:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, start)  # no half line left behind
            what = "disk full" if is_disk_full(err) else "cannot write"
            raise N2LDiffError(
                f"{self.path}: {what} ({err.strerror or err}); stopped here, the manifest keeps its complete lines"
            ) from None

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _notice(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


def read_manifest(out_dir: str | Path, notify: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """All valid records of ``out_dir/manifest.jsonl`` (missing file: empty).

    Lines that are not complete JSON objects (a run killed mid-write) are skipped, with one notice
    through ``notify`` (default: a ``note:`` line on stderr).
    """
    path = Path(out_dir) / MANIFEST_NAME
    if not path.exists():
        return []
    records = []
    broken: list[int] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                line = line.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, RecursionError):
                    broken.append(number)
                    continue
                if isinstance(record, dict):
                    records.append(record)
                else:
                    broken.append(number)
    except OSError as err:
        raise N2LDiffError(f"{path}: cannot read the manifest ({err.strerror or err})") from None
    if broken:
        where = f"line {broken[0]}" if len(broken) == 1 else f"{len(broken)} lines (first: line {broken[0]})"
        (notify or _notice)(f"{path}: ignored {where}, left incomplete by an interrupted run")
    return records
