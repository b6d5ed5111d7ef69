"""The hostile-input corpus: files, paths, configs and model folders a user (or an attacker) may hand us.

Every case is generated here (``tests/hostile.py``), never stored. Each one must end in a one-line
``N2LDiffError`` (CLI: exit code 2, no traceback, no partial output) or in the documented behaviour,
with bounded memory and without deleting anything that n2ldiff did not write.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from n2ldiff.data.io import read_image, scan_inputs
from n2ldiff.errors import N2LDiffError
from tests import hostile

REPO_ROOT = Path(__file__).resolve().parents[1]


def one_line_error(info: pytest.ExceptionInfo) -> str:
    message = str(info.value)
    assert message and "\n" not in message, message
    return message


# ------------------------------------------------------------------------------------------ image files


def test_png16_bomb_is_refused_quickly(tmp_path):
    bomb = hostile.png16_bomb(tmp_path / "bomb.png", inflated_mb=256)
    assert bomb.stat().st_size < 1_000_000
    started = time.perf_counter()
    with pytest.raises(N2LDiffError, match="decompression bomb") as info:
        read_image(bomb)
    assert str(bomb) in one_line_error(info)
    assert time.perf_counter() - started < 10


def test_png16_bomb_memory_stays_bounded(tmp_path):
    """In a fresh process: reading a PNG that inflates to 256 MB must not grow the peak RSS by 64 MB."""
    bomb = hostile.png16_bomb(tmp_path / "bomb.png", inflated_mb=256)
    script = textwrap.dedent(
        f"""
        import resource, sys
        from n2ldiff.data.io import read_image
        from n2ldiff.errors import N2LDiffError
        import cv2  # imported up front so that its own size is not counted
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            read_image({str(bomb)!r})
        except N2LDiffError as err:
            print("refused:", err, file=sys.stderr)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) // 1024)
        """
    )
    env = {"PYTHONPATH": str(REPO_ROOT / "src"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stderr and "decompression bomb" in done.stderr
    assert int(done.stdout.strip()) < 64, f"peak RSS grew by {done.stdout.strip()} MB"


def test_png16_with_too_little_pixel_data(tmp_path):
    with pytest.raises(N2LDiffError, match="truncated or corrupt") as info:
        read_image(hostile.png16_short(tmp_path / "short.png"))
    one_line_error(info)


def test_png16_interlaced_is_read_at_full_precision(tmp_path):
    values = np.random.default_rng(3).integers(0, 65536, (21, 19, 4), dtype=np.uint16)
    loaded = read_image(hostile.png16_interlaced(tmp_path / "adam7.png", values))
    assert loaded.bit_depth == 16
    np.testing.assert_allclose(loaded.rgb.permute(1, 2, 0).numpy() * 65535, values[..., :3], atol=2e-2)
    np.testing.assert_allclose(loaded.alpha[0].numpy() * 65535, values[..., 3], atol=2e-2)


@pytest.mark.parametrize("name", ["anim.gif", "anim.webp"])
def test_animated_files_use_the_first_frame_and_say_so(tmp_path, name):
    path = hostile.animated(tmp_path / name, frames=3)
    loaded = read_image(path)
    assert loaded.frames == 3
    assert loaded.notes == ["animated (3 frames): only the first frame is used"]
    first = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
    np.testing.assert_allclose(loaded.rgb.permute(1, 2, 0).numpy(), first, atol=1 / 255)
    assert read_image(hostile.photo(tmp_path / "still.png")).notes == []


def test_folders_list_the_files_they_ignore(tmp_path):
    folder = tmp_path / "in"
    hostile.photo(folder / "a.png")
    hostile.animated(folder / "b.gif")
    (folder / "notes.txt").write_text("not a photo")
    (folder / "raw" / "c.heic").parent.mkdir()
    (folder / "raw" / "c.heic").write_bytes(b"\0" * 10)
    (folder / ".DS_Store").write_bytes(b"\0")
    scan = scan_inputs([folder])
    assert [p.name for p in scan.files] == ["a.png", "b.gif"]  # GIF is read (first frame)
    assert [(p.name, "not an image file type" in why) for p, why in scan.ignored] == [
        ("notes.txt", True),
        ("c.heic", True),
    ]
    line = scan.describe_ignored()
    assert line.startswith("ignored 2 file(s)") and "notes.txt" in line and "'.heic'" in line
    only_text = tmp_path / "text"
    (only_text / "x.txt").parent.mkdir()
    (only_text / "x.txt").write_text("x")
    with pytest.raises(N2LDiffError, match="matches no image files.*ignored 1 other file") as info:
        scan_inputs([only_text])
    one_line_error(info)
