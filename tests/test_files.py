"""Folder locks (one run per output folder) and stale temporary files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from n2ldiff.errors import N2LDiffError
from n2ldiff.files import LOCK_NAME, TEMP_SUFFIX, folder_lock, remove_stale_temps

HOLD = """
import sys, time
from n2ldiff.files import folder_lock
with folder_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def _holder(folder):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_holder_is_refused_at_once_and_lock_is_released(tmp_path):
    with folder_lock(tmp_path / "out") as path:
        assert path == tmp_path / "out" / LOCK_NAME and path.is_file()
        t0 = time.perf_counter()
        with (
            pytest.raises(N2LDiffError, match=r"out is in use by another n2ldiff run \(pid \d+") as err,
            folder_lock(tmp_path / "out"),
        ):
            pass
        assert time.perf_counter() - t0 < 5 and "\n" not in str(err.value)
    assert not path.exists()  # released and removed on exit
    with folder_lock(tmp_path / "out"):
        pass


def test_lock_held_by_another_process_and_released_when_it_is_killed(tmp_path):
    proc = _holder(tmp_path)
    try:
        with pytest.raises(N2LDiffError, match=f"pid {proc.pid}"), folder_lock(tmp_path):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert (tmp_path / LOCK_NAME).exists()  # a crash leaves the file, but not the lock
    with folder_lock(tmp_path):
        pass


def test_remove_stale_temps(tmp_path):
    (tmp_path / "sub").mkdir()
    stale = tmp_path / "sub" / f".a.png.x{TEMP_SUFFIX}"
    stale.write_bytes(b"partial")
    (tmp_path / "keep.png").write_bytes(b"ok")
    assert remove_stale_temps(tmp_path) == 1
    assert not stale.exists() and (tmp_path / "keep.png").exists()
