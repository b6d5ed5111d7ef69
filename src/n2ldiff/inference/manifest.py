"""``manifest.jsonl``: one JSON object per written output, appended durably (flush + fsync per line).

A run killed mid-write may leave a truncated last line; readers skip lines that are not valid JSON,
and the writer starts a fresh line first, so a later ``--resume`` run appends cleanly. Which outputs a
manifest lists as complete is ``engine.latest_records(read_manifest(folder))``.
"""

from __future__ import annotations

import json
import os
import platform
import warnings
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

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
    """Append JSON lines to ``out_dir/manifest.jsonl``; each line is flushed and fsynced."""

    def __init__(self, out_dir: str | Path) -> None:
        self.path = Path(out_dir) / MANIFEST_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        needs_newline = False
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, "rb") as existing:
                existing.seek(-1, os.SEEK_END)
                needs_newline = existing.read(1) != b"\n"
        self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        if needs_newline:  # a killed run left half a line: end it so the next record stands alone
            self._handle.write("\n")
            self._sync()

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as a single JSON line and make it durable."""
        self._handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._sync()

    def _sync(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file (idempotent)."""
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_manifest(out_dir: str | Path) -> list[dict[str, Any]]:
    """All valid records of ``out_dir/manifest.jsonl`` (missing file: empty; broken lines are skipped)."""
    path = Path(out_dir) / MANIFEST_NAME
    if not path.exists():
        return []
    records = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                warnings.warn(f"{path}: skipping an incomplete line", stacklevel=2)
                continue
            if isinstance(record, dict):
                records.append(record)
    return records
