"""Robust image reading and writing: every file becomes a float32 RGB tensor in [0, 1].

Decisions (documented behaviour, relied on by ``n2ldiff.inference.runner``):

* EXIF orientation is applied, so the tensor is the image as a viewer shows it.
* Grayscale (``1``, ``L``, ``I;16``) is replicated to three channels; palette images become RGB(A).
* 16-bit PNG/TIFF keep their full precision (divided by 65535). Pillow reduces 16-bit *colour* PNGs to
  8 bits, so those are decoded with OpenCV (libpng), after checking that the pixel data inflates to no
  more than the header declares (``height x (row bytes + 1)``: no decompression bombs); 16-bit colour
  TIFFs are read with ``tifffile`` when it is installed (otherwise Pillow's 8-bit reading is used,
  recorded as ``bit_depth=8``). Pillow's decompression-bomb pixel limit applies to every file.
* Animated files (GIF, WebP, APNG) give their first frame; ``LoadedImage.frames`` and ``.notes`` say so.
* Alpha is returned separately (``LoadedImage.alpha``); the RGB values are *not* premultiplied or
  composited. Writers re-attach alpha for PNG output and drop it for JPEG output.
* CMYK is converted to RGB through its embedded ICC profile when there is one, else by Pillow's formula.
* Truncated, corrupt or non-image files and images smaller than ``min_side`` raise ``N2LDiffError``
  with a one-line reason. Pillow's ``LOAD_TRUNCATED_IMAGES`` is never enabled: every image is fully
  decoded while reading.
"""

from __future__ import annotations

import glob
import hashlib
import io
import os
import struct
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageCms, ImageFile

from n2ldiff.errors import N2LDiffError
from n2ldiff.files import TEMP_SUFFIX, atomic_path, sha256_file

__all__ = [
    "IMAGE_EXTENSIONS",
    "TEMP_SUFFIX",
    "InputScan",
    "LoadedImage",
    "collect_inputs",
    "png_pixel_bytes",
    "read_image",
    "scan_inputs",
    "sha256_file",
    "to_tensor",
    "write_image",
]

#: File name endings treated as images when a folder or glob is expanded (compared lower-case).
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif"})

#: Suffix of the temporary files written before an atomic rename (stale ones may be removed).

_GLOB_CHARS = set("*?[")


@dataclass
class LoadedImage:
    """A decoded image: ``rgb`` float32 3xHxW in [0, 1], ``alpha`` float32 1xHxW or ``None``."""

    rgb: torch.Tensor
    alpha: torch.Tensor | None
    path: Path
    sha256: str
    mode: str
    bit_depth: int
    frames: int = 1

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.rgb.shape[-2]), int(self.rgb.shape[-1])

    @property
    def notes(self) -> list[str]:
        """One-line remarks a user should see about how the file was read (e.g. animated files)."""
        if self.frames > 1:
            return [f"animated ({self.frames} frames): only the first frame is used"]
        return []


# --------------------------------------------------------------------------------------------- reading


def read_image(path: str | Path, min_side: int = 16) -> LoadedImage:
    """Read an image file as RGB float32 [0, 1] (orientation applied, alpha kept separately).

    Raises ``N2LDiffError`` naming the file for missing, unreadable, truncated, non-image or too-small files.
    """
    path = Path(path)
    if not path.exists():
        raise N2LDiffError(f"{path}: no such file")
    if not path.is_file():
        raise N2LDiffError(f"{path}: not a file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise N2LDiffError(f"{path}: cannot read file ({err.strerror or err})") from None
    digest = hashlib.sha256(data).hexdigest()
    if not data:
        raise N2LDiffError(f"{path}: empty file, not an image")
    rgb, alpha, mode, bit_depth, frames = _decode_bytes(data, str(path))
    height, width = rgb.shape[:2]
    if min(height, width) < min_side:
        raise N2LDiffError(
            f"{path}: image too small ({width}x{height} px; the shorter side must be at least {min_side} px)"
        )
    return LoadedImage(
        rgb=_hwc_to_chw(rgb),
        alpha=None if alpha is None else torch.from_numpy(np.ascontiguousarray(alpha[None])),
        path=path,
        sha256=digest,
        mode=mode,
        bit_depth=bit_depth,
        frames=frames,
    )


def _decode_bytes(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray | None, str, int, int]:
    """Decode file bytes to (rgb HxWx3 float32, alpha HxW float32 | None, original mode, bit depth, frames).

    Animated files (GIF, WebP, APNG) give their first frame; ``frames`` says how many there were.
    """
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # never accept a silently grey-filled truncated image
    try:
        try:
            with warnings.catch_warnings():
                # Above twice Pillow's MAX_IMAGE_PIXELS Image.open raises (handled below); between the
                # limit and twice it Pillow only warns, which is no message for a user: the image is read.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as err:
            raise N2LDiffError(f"{name}: image too large to decode safely ({err})") from None
        except Exception:  # noqa: BLE001 - Pillow raises many types for non-images
            raise N2LDiffError(f"{name}: not an image file (Pillow cannot identify it)") from None
        try:
            img.load()
        except Exception as err:  # noqa: BLE001
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise N2LDiffError(f"{name}: truncated or corrupt image ({reason})") from None
        mode = img.mode
        frames = _frame_count(img)
        orientation = _orientation(img)
        arrays = None
        if img.format == "PNG":
            arrays = _decode_png16_colour(data, name)
        elif img.format == "TIFF":
            arrays = _decode_tiff16_colour(img, data)
        if arrays is None:
            arrays = _pil_to_arrays(img, name)
        rgb, alpha, bit_depth = arrays
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    rgb = _apply_orientation(rgb, orientation)
    if alpha is not None:
        alpha = _apply_orientation(alpha, orientation)
    return rgb, alpha, mode, bit_depth, frames


def _frame_count(img: Image.Image) -> int:
    try:
        return max(1, int(getattr(img, "n_frames", 1)))
    except Exception:  # noqa: BLE001 - counting frames may need to parse a damaged tail; the first frame is fine
        return 1


def _orientation(img: Image.Image) -> int:
    try:
        value = int(img.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make the image unreadable
        return 1
    return value if 1 <= value <= 8 else 1


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (same result as ``PIL.ImageOps.exif_transpose``) to an HxW[xC] array."""
    swap = (1, 0) + tuple(range(2, arr.ndim))
    if orientation == 2:
        arr = arr[:, ::-1]
    elif orientation == 3:
        arr = arr[::-1, ::-1]
    elif orientation == 4:
        arr = arr[::-1]
    elif orientation == 5:
        arr = arr.transpose(swap)
    elif orientation == 6:
        arr = np.rot90(arr, -1)
    elif orientation == 7:
        arr = arr[::-1, ::-1].transpose(swap)
    elif orientation == 8:
        arr = np.rot90(arr, 1)
    return np.ascontiguousarray(arr)


def _pil_to_arrays(img: Image.Image, name: str) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Pillow image (any mode) -> (rgb HxWx3 float32, alpha HxW float32 | None, bit depth)."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        gray = np.asarray(img).astype(np.float32) / 65535.0
        return np.repeat(gray[..., None], 3, axis=2), None, 16
    if mode == "I":
        values = np.asarray(img)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise N2LDiffError(f"{name}: unsupported 32-bit integer image (values outside 0..65535)")
        gray = values.astype(np.float32) / 65535.0
        return np.repeat(gray[..., None], 3, axis=2), None, 16
    if mode == "F":
        gray = np.clip(np.nan_to_num(np.asarray(img, dtype=np.float32)), 0.0, 1.0)
        return np.repeat(gray[..., None], 3, axis=2), None, 32
    bit_depth = 1 if mode == "1" else 8
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode in ("P", "L", "RGB") and "transparency" in img.info)
    if mode == "CMYK":
        img = _cmyk_to_rgb(img)
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3]), bit_depth
    try:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    except Exception as err:  # noqa: BLE001
        raise N2LDiffError(f"{name}: unsupported image mode {mode} ({err})") from None
    return rgb, None, bit_depth


def _cmyk_to_rgb(img: Image.Image) -> Image.Image:
    """CMYK -> RGB through the embedded ICC profile when present (falls back to Pillow's formula)."""
    icc = img.info.get("icc_profile")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            target = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(img, source, target, outputMode="RGB")
            if converted is not None:
                return converted
        except Exception:  # noqa: BLE001 - a broken profile is not worth failing the image for
            pass
    return img.convert("RGB")


def _decode_tiff16_colour(img: Image.Image, data: bytes) -> tuple[np.ndarray, np.ndarray | None, int] | None:
    """Full-precision 16-bit colour TIFF through ``tifffile`` (optional); ``None`` when not applicable."""
    try:
        bits = img.tag_v2.get(258)  # BitsPerSample
    except Exception:  # noqa: BLE001
        return None
    if not isinstance(bits, tuple) or len(bits) < 3 or bits[0] != 16:
        return None
    try:
        import tifffile
    except ImportError:
        return None
    try:
        arr = np.asarray(tifffile.imread(io.BytesIO(data), key=0))
    except Exception:  # noqa: BLE001 - leave it to Pillow's 8-bit path
        return None
    if arr.ndim != 3 or arr.dtype != np.uint16:
        return None
    if arr.shape[-1] not in (3, 4) and arr.shape[0] in (3, 4):
        arr = np.moveaxis(arr, 0, -1)
    if arr.shape[-1] not in (3, 4):
        return None
    scaled = arr.astype(np.float32) / 65535.0
    alpha = np.ascontiguousarray(scaled[..., 3]) if arr.shape[-1] == 4 else None
    return np.ascontiguousarray(scaled[..., :3]), alpha, 16


#: PNG colour types read here at 16 bits: RGB, gray + alpha, RGBA (-> channels per pixel). 16-bit gray
#: without alpha is read by Pillow at full precision (mode ``I;16``).
_PNG16_CHANNELS = {2: 3, 4: 2, 6: 4}
#: Adam7 passes: (first column, first row, column step, row step).
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_CHUNK = 1 << 20


def png_pixel_bytes(width: int, height: int, depth: int, channels: int, interlaced: bool) -> int:
    """Exact size of a PNG's inflated pixel stream: ``height x (row bytes + 1)`` (per pass when interlaced)."""
    bits = depth * channels

    def size(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * ((w * bits + 7) // 8 + 1)

    if not interlaced:
        return size(width, height)
    return sum(size(-(-(width - x0) // dx), -(-(height - y0) // dy)) for x0, y0, dx, dy in _ADAM7)


def _png_chunks(data: bytes, name: str) -> list[tuple[bytes, memoryview]]:
    """(type, payload) of every chunk up to IEND; a chunk running past the end of the file is an error."""
    chunks = []
    view = memoryview(data)
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if pos + 12 + length > len(data):
            raise N2LDiffError(f"{name}: truncated or corrupt image (PNG chunk {kind!r} runs past the end of the file)")
        chunks.append((kind, view[pos + 8 : pos + 8 + length]))
        if kind == b"IEND":
            break
        pos += 12 + length
    return chunks


def _check_png_inflated_size(chunks: list[tuple[bytes, memoryview]], expected: int, name: str) -> None:
    """Inflate the IDAT stream in bounded pieces, only counting: more than ``expected`` bytes is refused.

    A few kilobytes of IDAT can inflate to gigabytes; this never holds more than one piece in memory and
    stops as soon as the declared image size (``height x (row bytes + 1)``) is exceeded.
    """
    inflater = zlib.decompressobj()
    total = 0
    try:
        for kind, payload in chunks:
            if kind != b"IDAT":
                continue
            pending: bytes | memoryview = payload
            while pending and not inflater.eof:
                total += len(inflater.decompress(pending, _INFLATE_CHUNK))
                if total > expected:
                    raise N2LDiffError(
                        f"{name}: PNG pixel data inflates beyond its declared size ({expected} bytes for its "
                        "width, height and depth); refused as a decompression bomb"
                    )
                pending = inflater.unconsumed_tail
            if inflater.eof:
                break
    except zlib.error as err:
        raise N2LDiffError(f"{name}: truncated or corrupt image ({err})") from None
    if total < expected:
        raise N2LDiffError(f"{name}: truncated or corrupt image (not enough pixel data)")


def _decode_png16_colour(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray | None, int] | None:
    """16-bit RGB / RGBA / gray + alpha PNG at full precision (OpenCV's libpng); ``None`` for other PNGs.

    Pillow reads these as 8-bit. The pixel count was already checked by Pillow's decompression-bomb limit
    when the file was opened; here the inflated size is capped at what the header declares before
    OpenCV decodes anything.
    """
    if len(data) < 33 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    channels = _PNG16_CHANNELS.get(colour)
    if depth != 16 or channels is None:
        return None
    expected = png_pixel_bytes(width, height, depth, channels, interlace == 1)
    _check_png_inflated_size(_png_chunks(data, name), expected, name)
    import cv2  # opencv-python-headless: maintained libpng decoding at 16 bits

    try:
        arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else "OpenCV error"
        raise N2LDiffError(f"{name}: truncated or corrupt image ({reason})") from None
    if arr is None:
        raise N2LDiffError(f"{name}: truncated or corrupt image (the PNG decoder rejected it)")
    if arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[:2] != (height, width) or arr.shape[2] not in (3, 4):
        raise N2LDiffError(f"{name}: unsupported 16-bit PNG (decoded as {arr.dtype} {tuple(arr.shape)})")
    # OpenCV returns BGR(A); gray + alpha comes back as BGRA with three equal channels.
    values = arr.astype(np.float32) / 65535.0
    rgb = np.ascontiguousarray(values[..., 2::-1])
    alpha = np.ascontiguousarray(values[..., 3]) if arr.shape[2] == 4 else None
    return rgb, alpha, 16


def _hwc_to_chw(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32))


# ------------------------------------------------------------------------------------------ conversion


def to_tensor(image: Any) -> torch.Tensor:
    """Convert a PIL image, numpy array or tensor to float32 RGB in [0, 1].

    * PIL: any mode, handled as ``read_image`` does (alpha dropped) -> 3xHxW.
    * numpy: HxW, HxWxC or NxHxWxC with C in {1, 3, 4} (1 replicated, alpha dropped); uint8 (/255),
      uint16 (/65535) or float in [0, 1] -> 3xHxW or Nx3xHxW.
    * tensor: 3xHxW or Nx3xHxW (C=1 replicated), float in [0, 1] or uint8 (/255); returned as float32.

    Raises ``N2LDiffError`` for other shapes, dtypes, or float values outside [0, 1].
    """
    if isinstance(image, Image.Image):
        image.load()
        rgb, _, _ = _pil_to_arrays(image, "PIL image")
        return _hwc_to_chw(rgb)
    if isinstance(image, np.ndarray):
        return _array_to_tensor(image)
    if isinstance(image, torch.Tensor):
        return _tensor_to_tensor(image)
    raise N2LDiffError(f"image: expected a PIL image, numpy array or torch tensor, got {type(image).__name__}")


def _scale(values: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    tensor = torch.as_tensor(values)
    if tensor.dtype == torch.uint8:
        return tensor.to(torch.float32) / 255.0
    if tensor.dtype == torch.uint16 or (isinstance(values, np.ndarray) and values.dtype == np.uint16):
        return tensor.to(torch.float32) / 65535.0
    if tensor.dtype == torch.bool or not tensor.is_floating_point():
        raise N2LDiffError(f"{what}: unsupported dtype {tensor.dtype} (use uint8, uint16 or float in [0, 1])")
    tensor = tensor.to(torch.float32)
    if not torch.isfinite(tensor).all():
        raise N2LDiffError(f"{what}: contains NaN or infinite values")
    if tensor.numel() and (tensor.min() < -1e-4 or tensor.max() > 1 + 1e-4):
        raise N2LDiffError(
            f"{what}: float values must lie in [0, 1], got [{tensor.min().item():.4g}, {tensor.max().item():.4g}]"
        )
    return tensor.clamp(0.0, 1.0)


def _array_to_tensor(arr: np.ndarray) -> torch.Tensor:
    if not arr.flags.writeable:  # e.g. np.asarray(PIL image); torch warns about sharing read-only memory
        arr = arr.copy()
    if arr.dtype == np.uint16:
        arr = arr.astype(np.int32)  # torch has limited uint16 support; scale explicitly below
        tensor = torch.from_numpy(np.ascontiguousarray(arr)).to(torch.float32) / 65535.0
    else:
        tensor = _scale(np.ascontiguousarray(arr), "numpy image")
    if tensor.ndim == 2:
        tensor = tensor[..., None]
    if tensor.ndim not in (3, 4) or tensor.shape[-1] not in (1, 3, 4):
        raise N2LDiffError(
            f"numpy image: expected shape HxW, HxWxC or NxHxWxC with C in 1, 3, 4; got {tuple(arr.shape)}"
        )
    tensor = tensor[..., :3]
    if tensor.shape[-1] == 1:
        tensor = tensor.expand(*tensor.shape[:-1], 3)
    return tensor.movedim(-1, -3).contiguous()


def _tensor_to_tensor(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.ndim not in (3, 4) or tensor.shape[-3] not in (1, 3):
        raise N2LDiffError(
            f"tensor image: expected shape 3xHxW or Nx3xHxW (RGB, channels first); got {tuple(tensor.shape)}"
        )
    out = _scale(tensor.detach().cpu(), "tensor image")
    if out.shape[-3] == 1:
        out = out.expand(*out.shape[:-3], 3, *out.shape[-2:])
    return out.contiguous()


# --------------------------------------------------------------------------------------------- writing


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """Float [0, 1] -> uint8 with rounding to nearest (not truncation)."""
    return (x.detach().to("cpu", torch.float32).clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()


def write_image(
    path: str | Path,
    rgb: torch.Tensor,
    alpha: torch.Tensor | None = None,
    format: str = "png",
    quality: int = 95,
) -> Path:
    """Write a 3xHxW float [0, 1] image atomically (temporary file in the same folder, then ``os.replace``).

    ``alpha`` (1xHxW or HxW) is attached for PNG and dropped for JPEG. Values are rounded to 8 bits.
    """
    path = Path(path)
    fmt = format.lower()
    if fmt not in ("png", "jpg", "jpeg"):
        raise N2LDiffError(f"{path}: unsupported output format {format!r} (use png or jpg)")
    if rgb.ndim == 4 and rgb.shape[0] == 1:
        rgb = rgb[0]
    if rgb.ndim != 3 or rgb.shape[0] != 3:
        raise N2LDiffError(f"{path}: expected a 3xHxW image to write, got shape {tuple(rgb.shape)}")
    pixels = _to_uint8(rgb).transpose(1, 2, 0)
    if alpha is not None and fmt == "png":
        a = alpha.reshape(rgb.shape[-2:]) if alpha.numel() == rgb.shape[-2] * rgb.shape[-1] else None
        if a is None:
            raise N2LDiffError(f"{path}: alpha shape {tuple(alpha.shape)} does not match the image")
        pixels = np.concatenate([pixels, _to_uint8(a)[..., None]], axis=2)
    img = Image.fromarray(np.ascontiguousarray(pixels))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        if fmt == "png":
            img.save(handle, format="PNG", compress_level=4)
        else:
            img.save(handle, format="JPEG", quality=int(quality), subsampling=0 if quality >= 90 else 2)
    return path


# ---------------------------------------------------------------------------------------------- inputs


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _ignore_reason(path: Path) -> str | None:
    """Why a file found in a folder or glob is not used (``None``: it is used; hidden files: silently)."""
    if path.name.startswith("."):
        return None
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return None
    kind = f"'{path.suffix}'" if path.suffix else "no extension"
    return f"not an image file type ({kind}; read: {', '.join(sorted(IMAGE_EXTENSIONS))})"


@dataclass
class InputScan:
    """What ``scan_inputs`` found: the image files, and the other files of the folders/globs with why not."""

    files: list[Path]
    ignored: list[tuple[Path, str]]

    def describe_ignored(self, limit: int = 10) -> str:
        """One line listing ignored files and why (empty when none)."""
        if not self.ignored:
            return ""
        shown = "; ".join(f"{path} ({reason})" for path, reason in self.ignored[:limit])
        more = f"; and {len(self.ignored) - limit} more" if len(self.ignored) > limit else ""
        return f"ignored {len(self.ignored)} file(s) that are not images: {shown}{more}"


def _walk(folder: Path) -> tuple[list[Path], list[Path]]:
    """(image files, other visible files) under ``folder``; hidden files and folders are skipped."""
    found, others = [], []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in filenames:
            path = Path(dirpath) / f
            if _is_image_name(path):
                found.append(path)
            elif not f.startswith("."):
                others.append(path)
    return found, others


def scan_inputs(specs: Sequence[str | Path], exclude: Sequence[str | Path] = ()) -> InputScan:
    """Expand files, folders (recursive) and globs (``**`` allowed) into a sorted, de-duplicated list.

    Files named explicitly are kept whatever their extension (a bad one fails later, with its reason);
    folders and globs keep only image extensions and skip hidden files/folders; the other files they hold
    are returned in ``InputScan.ignored`` with the reason. Paths under any ``exclude`` folder (e.g. the
    output folder) are dropped. Returned paths are absolute. A spec that matches nothing raises
    ``N2LDiffError``.
    """
    if isinstance(specs, (str, Path)):
        specs = [specs]
    excluded = [Path(os.path.abspath(e)) for e in exclude]

    def keep(paths: list[Path]) -> list[Path]:
        absolute = [Path(os.path.abspath(m)) for m in paths]
        return [m for m in absolute if not any(m.is_relative_to(e) for e in excluded)]

    seen: dict[str, Path] = {}
    ignored: dict[str, tuple[Path, str]] = {}
    for spec in specs:
        text = str(spec)
        path = Path(text).expanduser()
        others: list[Path] = []
        if path.is_file():
            matches = [path]
        elif path.is_dir():
            matches, others = _walk(path)
        elif _GLOB_CHARS & set(text):
            matches = []
            for hit in sorted(glob.glob(os.path.expanduser(text), recursive=True)):
                hit_path = Path(hit)
                if hit_path.is_dir():
                    images, rest = _walk(hit_path)
                    matches.extend(images)
                    others.extend(rest)
                elif hit_path.is_file() and _is_image_name(hit_path):
                    matches.append(hit_path)
                elif hit_path.is_file():
                    others.append(hit_path)
        else:
            raise N2LDiffError(f"{text}: no such file or folder")
        matches, others = keep(matches), keep(others)
        if not matches:
            hint = f"; ignored {len(others)} other file(s), e.g. {others[0].name}" if others else ""
            raise N2LDiffError(f"{text}: matches no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}{hint})")
        for m in matches:
            seen.setdefault(os.path.realpath(m), m)
        for other in others:
            reason = _ignore_reason(other)
            if reason is not None:
                ignored.setdefault(os.path.realpath(other), (other, reason))
    used = set(seen)
    return InputScan(
        files=sorted(seen.values(), key=lambda p: str(p)),
        ignored=sorted((v for k, v in ignored.items() if k not in used), key=lambda item: str(item[0])),
    )


def collect_inputs(specs: Sequence[str | Path], exclude: Sequence[str | Path] = ()) -> list[Path]:
    """The image files of ``scan_inputs`` (see there); files that are not images are left out silently."""
    return scan_inputs(specs, exclude).files
