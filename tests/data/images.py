"""Test image factories shared by tests/data and tests/inference (16-bit PNG encoder, odd formats)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _filter_row(kind: int, cur: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    cur = cur.astype(np.int32)
    prev = prev.astype(np.int32)
    left = np.concatenate([np.zeros(bpp, np.int32), cur[:-bpp]])
    upleft = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
    if kind == 0:
        pred = np.zeros_like(cur)
    elif kind == 1:
        pred = left
    elif kind == 2:
        pred = prev
    elif kind == 3:
        pred = (left + prev) // 2
    else:
        p = left + prev - upleft
        pa, pb, pc = np.abs(p - left), np.abs(p - prev), np.abs(p - upleft)
        pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
    return ((cur - pred) % 256).astype(np.uint8)


def encode_png16(path: Path, values: np.ndarray) -> Path:
    """Write HxWxC uint16 (C = 2, 3 or 4) as a 16-bit PNG, cycling through all five row filters."""
    h, w, c = values.shape
    colour = {2: 4, 3: 2, 4: 6}[c]
    rows = values.astype(">u2").view(np.uint8).reshape(h, w * c * 2)
    raw = bytearray()
    prev = np.zeros(w * c * 2, np.uint8)
    for y in range(h):
        kind = y % 5
        raw.append(kind)
        raw += _filter_row(kind, rows[y], prev, c * 2).tobytes()
        prev = rows[y]
    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(bytes(raw)))
    path.write_bytes(data + _chunk(b"IEND", b""))
    return path


def make_odd_images(folder: Path) -> dict[str, Path]:
    """Write one file of each awkward kind into ``folder``; returns {kind: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    out: dict[str, Path] = {}
    rotated = Image.fromarray(base)
    exif = rotated.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    out["exif"] = folder / "exif.jpg"
    rotated.save(out["exif"], quality=95, exif=exif)
    out["gray"] = folder / "gray.png"
    Image.fromarray(base[..., 0]).save(out["gray"])
    out["png16"] = encode_png16(folder / "deep.png", (base.astype(np.uint16) * 257 + 3))
    out["rgba"] = folder / "rgba.png"
    alpha = np.tile(np.linspace(0, 255, 40).astype(np.uint8), (24, 1))
    Image.fromarray(np.dstack([base, alpha]), "RGBA").save(out["rgba"])
    out["cmyk"] = folder / "cmyk.jpg"
    Image.fromarray(base).convert("CMYK").save(out["cmyk"], quality=95)
    out["tiny"] = folder / "tiny.png"
    Image.fromarray(base[:8, :8]).save(out["tiny"])
    out["text"] = folder / "notes.png"
    out["text"].write_text("this is not an image\n")
    out["truncated"] = folder / "cut.jpg"
    good = folder / "full.jpg"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(good, quality=90)
    data = good.read_bytes()
    good.unlink()
    out["truncated"].write_bytes(data[: len(data) // 2])
    return out
