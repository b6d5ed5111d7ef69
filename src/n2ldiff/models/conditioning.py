"""The 12-channel conditioning transform of N2LDiff.

``condition_transform(img)`` stacks four views of the normal-light image, in this order:

* channels 0-2: the image itself;
* channels 3-5: its per-channel histogram equalisation (8-bit, integer arithmetic);
* channels 6-8: a colour map, the image divided by its per-pixel channel mean, / 3, clamped to [0, 1];
* channels 9-11: a "noise map", max(|dy|, |dx|) of forward differences of the colour map.
"""

from __future__ import annotations

import torch


def equalize_histogram(img: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation per image and channel of a uint8 tensor B x C x H x W.

    The classic integer algorithm: ``step = (n - count of the highest occupied bin) // 255``,
    ``lut = [0, (cumsum(hist) + step // 2) // step]`` clamped to 255; channels with ``step == 0``
    (e.g. constant ones) are returned unchanged.
    """
    if img.dtype != torch.uint8:
        raise TypeError("equalize_histogram expects a uint8 tensor")
    b, c, h, w = img.shape
    flat = img.reshape(b * c, h * w).long()
    hist = torch.zeros(b * c, 256, dtype=torch.long, device=img.device)
    hist.scatter_add_(1, flat, torch.ones_like(flat))
    occupied = torch.arange(256, device=img.device).expand_as(hist) * (hist > 0)
    last_count = hist.gather(1, occupied.max(dim=1, keepdim=True).values)
    step = (hist.sum(dim=1, keepdim=True) - last_count) // 255
    safe_step = step.clamp(min=1)
    lut = (hist.cumsum(dim=1) + safe_step // 2) // safe_step
    lut = torch.cat((torch.zeros_like(lut[:, :1]), lut[:, :-1]), dim=1).clamp(0, 255)
    equalized = lut.gather(1, flat)
    out = torch.where(step == 0, flat, equalized)
    return out.reshape(b, c, h, w).to(torch.uint8)


def image_gradients(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences (dy, dx) with a zero last row / column."""
    dy = torch.zeros_like(img)
    dx = torch.zeros_like(img)
    dy[..., :-1, :] = img[..., 1:, :] - img[..., :-1, :]
    dx[..., :, :-1] = img[..., :, 1:] - img[..., :, :-1]
    return dy, dx


def color_map(img: torch.Tensor) -> torch.Tensor:
    """Image divided by its per-pixel channel mean, / 3, clamped to [0, 1] (chromaticity)."""
    return (img / (img.mean(dim=1, keepdim=True) + 1e-8) / 3).clamp(0, 1)


def condition_transform(img: torch.Tensor) -> torch.Tensor:
    """B x 3 x H x W image in [0, 1] -> B x 12 x H x W conditioning tensor (see module docstring)."""
    colors = color_map(img)
    dy, dx = image_gradients(colors)
    noise = torch.maximum(dy.abs(), dx.abs())
    # Truncating cast, as the original: img * 255 is computed in float32 before conversion.
    as_uint8 = (img.clamp(0, 1) * 255).to(torch.uint8)
    equalized = equalize_histogram(as_uint8).to(img.dtype) / 255
    return torch.cat((img, equalized, colors, noise), dim=1)
