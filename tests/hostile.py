"""Generators for the hostile-input corpus (``tests/test_hostile_inputs.py``): nothing is stored, every
file is made by the test that needs it.
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png16_bytes(width: int, height: int, colour: int, idat: bytes, interlace: int = 0) -> bytes:
    """A 16-bit PNG with the given header and raw (already compressed) IDAT payload."""
    ihdr = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, interlace)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def png16_bomb(path: Path, inflated_mb: int = 256, width: int = 64, height: int = 64) -> Path:
    """A small 16-bit RGB PNG (a few hundred KB) whose IDAT inflates to ``inflated_mb`` MB of zeros.

    The header declares ``width x height`` (a few KB of pixel data); a decoder that inflates the whole
    stream before looking at the header's size uses ``inflated_mb`` MB (and more) of memory.
    """
    compressor = zlib.compressobj(9)
    zeros = bytes(1 << 20)
    parts = [compressor.compress(zeros) for _ in range(inflated_mb)]
    parts.append(compressor.flush())
    path.write_bytes(png16_bytes(width, height, 2, b"".join(parts)))
    return path


def png16_interlaced(path: Path, values: np.ndarray) -> Path:
    """HxWx3 or HxWx4 uint16 as an Adam7-interlaced 16-bit PNG (filter 0 on every row)."""
    h, w, c = values.shape
    raw = bytearray()
    for x0, y0, dx, dy in _ADAM7:
        sub = values[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub:
            raw += b"\x00" + row.astype(">u2").tobytes()
    path.write_bytes(png16_bytes(w, h, {3: 2, 4: 6}[c], zlib.compress(bytes(raw)), interlace=1))
    return path


def png16_short(path: Path, width: int = 40, height: int = 30) -> Path:
    """A 16-bit RGB PNG whose pixel data ends half-way (valid zlib stream, too few rows)."""
    raw = b"".join(b"\x00" + bytes(width * 6) for _ in range(height // 2))
    path.write_bytes(png16_bytes(width, height, 2, zlib.compress(raw)))
    return path


def animated(path: Path, frames: int = 3, size: tuple[int, int] = (40, 32)) -> Path:
    """An animated GIF or WebP (by ``path``'s extension) whose frames differ in colour."""
    images = [Image.new("RGB", size, (40 * i, 255 - 40 * i, 90)) for i in range(frames)]
    fmt = "GIF" if path.suffix.lower() == ".gif" else "WEBP"
    extra = {"lossless": True} if fmt == "WEBP" else {}
    images[0].save(path, format=fmt, save_all=True, append_images=images[1:], duration=100, loop=0, **extra)
    return path


def photo(path: Path, size: tuple[int, int] = (40, 32), seed: int = 0) -> Path:
    """An ordinary 8-bit RGB photo-like image (random pixels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def binary_junk(path: Path, size: int = 4096) -> Path:
    """Bytes that are neither UTF-8 nor YAML nor JSON nor an image."""
    data = bytes(np.random.default_rng(7).integers(0, 256, size, dtype=np.uint8))
    path.write_bytes(b"\xff\xfe\x00\x81" + data)
    return path


def _can_write(folder: Path) -> bool:
    try:
        fd, name = tempfile.mkstemp(dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def read_only_folder(tmp_path: Path) -> Path | None:
    """A folder nothing can be written into, or ``None`` when this machine has none.

    A ``chmod 555`` folder works for ordinary users; root ignores permissions, so then a folder of a
    read-only or permission-checked filesystem (sysfs) is used instead.
    """
    folder = tmp_path / "read-only"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o555)
    if not _can_write(folder):
        return folder
    folder.chmod(0o755)
    for candidate in (Path("/sys/fs"), Path("/proc/sys")):
        if candidate.is_dir() and not _can_write(candidate):
            return candidate
    return None


def edit_model_config(model_dir: Path, **model_fields) -> Path:
    """Change fields of ``config.json``'s ``model`` section in place (the weights stay as they are)."""
    import json

    path = model_dir / "config.json"
    config = json.loads(path.read_text())
    config["model"].update(model_fields)
    path.write_text(json.dumps(config))
    return model_dir


def copy_model(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target
