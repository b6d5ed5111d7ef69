"""Noise estimation in a single image: where it is flat, and how noisy it is there.

* ``flat_mask``: the pixels whose local std in an image's gray is in its lowest fraction (away from black
  and clipped pixels): where a residual is noise rather than texture.
* ``real_noise_std``: the RMS of an image's 3x3 mean-filter residual in such a mask, scaled to the std of
  pixel-independent noise.
* ``normal_noise_std``: the same estimate on an image's own flattest regions. The benchmark's seed/real
  measure (``metrics.artifacts``) and the ``normal_noise_scaling`` sampling calibration both use these.

Only torch: sampling imports this module, so ``n2ldiff generate`` does not load the metrics' dependencies.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def gray(image: Tensor) -> Tensor:
    """Channel mean, keeping a channel dim: ... x 3 x H x W -> ... x 1 x H x W."""
    return image.float().mean(dim=-3, keepdim=True)


def box_mean(x: Tensor, size: int) -> Tensor:
    """N x C x H x W -> the size x size mean of every valid window (no padding). A depthwise convolution:
    on CPU about twice as fast as stride-1 average pooling."""
    channels = x.shape[1]
    kernel = torch.full((channels, 1, size, size), 1.0 / size**2, dtype=x.dtype, device=x.device)
    return F.conv2d(x, kernel, groups=channels)


def box_residual(image: Tensor, size: int = 3) -> Tensor:
    """image minus its size x size mean (reflect padding); N x C x H x W or C x H x W."""
    x = image.float()
    batched = x.ndim == 4
    x = x if batched else x[None]
    pad = size // 2
    mean = box_mean(F.pad(x, (pad, pad, pad, pad), mode="reflect"), size)
    out = x - mean
    return out if batched else out[0]


def local_std(x: Tensor, size: int) -> Tensor:
    """N x C x H x W -> the (population) std of every size x size window around each pixel, reflect-padded."""
    pad = size // 2
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    mean = box_mean(padded, size)
    return (box_mean(padded**2, size) - mean**2).clamp_min(0).sqrt()


def flat_mask(normal: Tensor, quantile: float = 0.2, size: int = 7) -> Tensor:
    """H x W bool: pixels whose local (size x size) std in the normal image's gray is in the lowest
    ``quantile``, away from black and clipped pixels."""
    g = gray(normal.reshape(-1, *normal.shape[-3:])[0])[None]
    std = local_std(g, size)[0, 0]
    usable = (g[0, 0] > 2 / 255) & (g[0, 0] < 250 / 255)
    if not bool(usable.any()):
        usable = torch.ones_like(usable)
    threshold = selection_quantile(std[usable], quantile)
    return usable & (std <= threshold)


def selection_quantile(values: Tensor, q: float) -> Tensor:
    """``torch.quantile`` (linear interpolation) of a 1-D tensor by two selections: several times faster
    than its full sort, and without its limit of 16M elements."""
    position = q * (values.numel() - 1)
    below, frac = int(math.floor(position)), position - math.floor(position)
    low = values.kthvalue(below + 1).values
    if frac == 0:
        return low
    return low + (values.kthvalue(below + 2).values - low) * frac


def real_noise_std(low: Tensor, mask: Tensor) -> float:
    """Noise std of a real low image in ``mask``: RMS of its 3x3 mean-filter residual / sqrt(8/9)."""
    residual = box_residual(low.reshape(-1, *low.shape[-3:])[0].float())
    return float(residual[:, mask].pow(2).mean().sqrt()) / math.sqrt(8 / 9)


def normal_noise_std(normal: Tensor, max_side: int = 1024) -> float:
    """The normal image's own noise std (``real_noise_std`` in its flattest regions, ``flat_mask``).

    Measured on the central ``max_side`` crop at most: noise is a property of the capture, and the crop
    bounds the cost on very large photos. A camera's noisier captures give higher values in both frames.
    """
    image = normal.reshape(-1, *normal.shape[-3:])[0]
    h, w = image.shape[-2:]
    top, left = max(0, (h - max_side) // 2), max(0, (w - max_side) // 2)
    crop = image[:, top : top + max_side, left : left + max_side]
    return real_noise_std(crop, flat_mask(crop))
