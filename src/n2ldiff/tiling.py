"""Any image size: pad to the network's stride and crop back; overlapping tiles blended without seams.

``tiled_apply`` runs a function tile by tile (one at a time, so memory is bounded by the tile size plus
the full-size output and weight accumulators) and blends the tiles with smooth raised-cosine weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from n2ldiff.errors import N2LDiffError

__all__ = [
    "SeamEnergy",
    "blend_window",
    "crop_to",
    "pad_bottom_right",
    "pad_to_multiple",
    "plan_tiles",
    "seam_energy",
    "tile_size_for_memory",
    "tiled_apply",
]

Box = tuple[int, int, int, int]  # (y0, y1, x0, x1), end-exclusive
TileFn = Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]


def pad_bottom_right(x: torch.Tensor, pad_h: int, pad_w: int, mode: str = "reflect") -> torch.Tensor:
    """Pad the bottom and right of a ...xHxW tensor by (pad_h, pad_w) pixels.

    ``mode`` is ``reflect``, ``replicate`` or ``constant`` (zeros). Reflection larger than the image is done
    in repeated steps (each at most size-1), falling back to replicate for a 1-pixel side.
    """
    if pad_h < 0 or pad_w < 0:
        raise ValueError("padding must be non-negative")
    if mode not in ("reflect", "replicate", "constant"):
        raise ValueError(f"unknown padding mode {mode!r}")
    if pad_h == 0 and pad_w == 0:
        return x
    lead = x.shape[:-2]
    y = x.reshape(-1, 1, *x.shape[-2:]) if x.ndim != 4 else x
    if mode == "constant":
        y = F.pad(y, (0, pad_w, 0, pad_h))
    else:
        while pad_h > 0:  # reflection can add at most size-1 rows per step
            h = y.shape[-2]
            step = min(pad_h, h - 1) if mode == "reflect" and h > 1 else pad_h
            y = F.pad(y, (0, 0, 0, step), mode="reflect" if mode == "reflect" and h > 1 else "replicate")
            pad_h -= step
        while pad_w > 0:
            w = y.shape[-1]
            step = min(pad_w, w - 1) if mode == "reflect" and w > 1 else pad_w
            y = F.pad(y, (0, step, 0, 0), mode="reflect" if mode == "reflect" and w > 1 else "replicate")
            pad_w -= step
    if x.ndim != 4:
        y = y.reshape(*lead, *y.shape[-2:])
    return y


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "reflect") -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad bottom/right so height and width are multiples of ``multiple``; returns (padded, (h, w))."""
    if multiple < 1:
        raise ValueError("multiple must be >= 1")
    h, w = int(x.shape[-2]), int(x.shape[-1])
    return pad_bottom_right(x, (-h) % multiple, (-w) % multiple, mode), (h, w)


def crop_to(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Crop the top-left ``h`` x ``w`` region (undoes ``pad_to_multiple``)."""
    return x[..., :h, :w]


def _axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)  # the last tile is shifted inward, never padded
    return starts


def plan_tiles(height: int, width: int, tile: int, overlap: int, multiple: int = 1) -> list[Box]:
    """Boxes (y0, y1, x0, x1) of overlapping tiles that cover a ``height`` x ``width`` image.

    Every tile side is ``tile`` (or the whole side when the image is smaller), and the image sides must be
    multiples of ``multiple`` (pad first with ``pad_to_multiple``). Last tiles are shifted inward.
    """
    if tile < 1 or tile % multiple:
        raise N2LDiffError(f"tile size {tile} must be a positive multiple of {multiple}")
    if not 0 <= overlap < tile:
        raise N2LDiffError(f"tile overlap {overlap} must be at least 0 and smaller than the tile size {tile}")
    if height < 1 or width < 1:
        raise ValueError("image sides must be positive")
    if height % multiple or width % multiple:
        raise ValueError(f"image {height}x{width} is not padded to a multiple of {multiple}")
    ys = _axis_starts(height, tile, overlap)
    xs = _axis_starts(width, tile, overlap)
    th, tw = min(tile, height), min(tile, width)
    return [(y, y + th, x, x + tw) for y in ys for x in xs]


def _ramp(n: int, overlap: int, dtype: torch.dtype) -> torch.Tensor:
    weights = torch.ones(n, dtype=torch.float64)
    ramp_len = min(overlap, n // 2)
    if ramp_len > 0:
        t = (torch.arange(ramp_len, dtype=torch.float64) + 0.5) / ramp_len
        ramp = 0.5 - 0.5 * torch.cos(math.pi * t)
        weights[:ramp_len] = ramp
        weights[n - ramp_len :] = ramp.flip(0)
    return weights.to(dtype)


def blend_window(h: int, w: int, overlap: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """HxW blend weights: raised-cosine ramps of ``overlap`` px at each edge, 1 inside, > 0 everywhere."""
    return _ramp(h, overlap, dtype)[:, None] * _ramp(w, overlap, dtype)[None, :]


def tiled_apply(
    fn: TileFn,
    image: torch.Tensor,
    tile: int,
    overlap: int,
    multiple: int = 1,
    pad_mode: str = "reflect",
) -> torch.Tensor:
    """Apply ``fn(tile, (y0, x0))`` over overlapping tiles and blend; returns the image's own size.

    ``image`` is CxHxW or NxCxHxW. It is padded to ``multiple``; ``fn`` must return a tensor with the tile's
    spatial size (channel count may differ). ``(y0, x0)`` is the tile's offset in the padded image, so ``fn``
    can make position-dependent noise. One tile is processed at a time. An image that fits in one tile
    is passed to ``fn`` whole, so the result equals an untiled call.
    """
    padded, (h, w) = pad_to_multiple(image, multiple, pad_mode)
    ph, pw = int(padded.shape[-2]), int(padded.shape[-1])
    boxes = plan_tiles(ph, pw, tile, overlap, multiple)
    if len(boxes) == 1:
        return crop_to(_checked(fn(padded, (0, 0)), padded), h, w)
    out: torch.Tensor | None = None
    weight_sum = torch.zeros(ph, pw, dtype=torch.float32, device=image.device)
    window_cache: dict[tuple[int, int], torch.Tensor] = {}
    for y0, y1, x0, x1 in boxes:
        piece = padded[..., y0:y1, x0:x1]
        result = _checked(fn(piece, (y0, x0)), piece)
        if out is None:
            out = torch.zeros(
                (*result.shape[:-2], ph, pw),
                dtype=torch.promote_types(result.dtype, torch.float32),
                device=result.device,
            )
        key = (y1 - y0, x1 - x0)
        if key not in window_cache:
            window_cache[key] = blend_window(*key, overlap).to(weight_sum.device)
        window = window_cache[key]
        out[..., y0:y1, x0:x1] += result * window.to(result.device)
        weight_sum[y0:y1, x0:x1] += window
    assert out is not None
    out /= weight_sum.to(out.device)
    return crop_to(out, h, w).to(image.dtype if image.is_floating_point() else out.dtype)


def _checked(result: torch.Tensor, piece: torch.Tensor) -> torch.Tensor:
    if result.shape[-2:] != piece.shape[-2:]:
        raise ValueError(
            f"tile function returned spatial size {tuple(result.shape[-2:])}, expected {tuple(piece.shape[-2:])}"
        )
    return result


def tile_size_for_memory(bytes_per_pixel: float, cap_bytes: float, multiple: int = 1) -> int:
    """Largest square tile side (a multiple of ``multiple``) whose ``side**2 * bytes_per_pixel`` fits the cap.

    Never smaller than ``multiple``.
    """
    if bytes_per_pixel <= 0 or cap_bytes <= 0 or multiple < 1:
        raise ValueError("bytes_per_pixel, cap_bytes and multiple must be positive")
    side = int(math.isqrt(int(cap_bytes // bytes_per_pixel)))
    return max(multiple, side // multiple * multiple)


@dataclass(frozen=True)
class SeamEnergy:
    """Mean |tiled - reference| on tile-boundary bands and elsewhere."""

    boundary: float
    elsewhere: float


def seam_energy(tiled: torch.Tensor, reference: torch.Tensor, boxes: list[Box], band: int = 2) -> SeamEnergy:
    """Compare a tiled result with an untiled reference along interior tile edges (+- ``band`` px).

    Interior edges are the tile borders that do not lie on the image border; a visible seam shows as
    ``boundary`` much larger than ``elsewhere``.
    """
    h, w = int(tiled.shape[-2]), int(tiled.shape[-1])
    mask = torch.zeros(h, w, dtype=torch.bool)
    for y0, y1, x0, x1 in boxes:
        for y in (y0, y1):
            if 0 < y < h:
                mask[max(0, y - band) : min(h, y + band), max(0, x0) : min(w, x1)] = True
        for x in (x0, x1):
            if 0 < x < w:
                mask[max(0, y0) : min(h, y1), max(0, x - band) : min(w, x + band)] = True
    diff = (tiled.float() - reference.float()).abs()
    diff = diff.reshape(-1, h, w).mean(0)
    boundary = diff[mask].mean().item() if mask.any() else 0.0
    elsewhere = diff[~mask].mean().item() if (~mask).any() else 0.0
    return SeamEnergy(boundary=boundary, elsewhere=elsewhere)
