"""Artifact and seed-variation measures: what a realistic low-light generator must get right by eye.

* ``checkerboard_ratio``: a 2-pixel pattern (the signature of transposed-convolution upsampling) shows as
  peaks at the Nyquist frequencies of the image's high frequencies. Real photos give 1.3-2.
* ``seed_noise_ratio``: in regions flat in the normal image, the per-pixel std across seeds over the real
  low image's noise there (estimated from its 3x3 mean-filter residual). Real-like variation gives ~1.
  The noise estimates (flat regions, residual noise) live in ``n2ldiff.image_noise``.
* ``blotch_ratio``: the std of the difference between two seeds after 8x8 block averaging over its
  full-resolution std. Pixel-independent noise gives 1/8 = 0.125; seed-dependent blobs give more.

All take images in [0, 1] (3 x H x W or N x 3 x H x W) and return plain floats.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from n2ldiff.image_noise import box_residual, flat_mask, gray, real_noise_std

BLOCK = 8


def checkerboard_ratio(image: Tensor, tile: int = 32) -> float:
    """Largest Nyquist peak over the median of the outer frequency band, in the high-passed gray image.

    The spectrum is Welch-averaged (power over ``tile`` x ``tile`` Hann-windowed tiles) so that single-bin
    noise does not make peaks; the ratio is of amplitudes (square root of the power ratio). Nyquist bins:
    (T/2, T/2), (T/2, 0) and (0, T/2). Outer band: normalised radius 0.5-1 without those bins. Noise gives
    about 1.3; a +-2/255 checkerboard on a photo gives over 20.
    """
    g = gray(image.reshape(-1, *image.shape[-3:])[0])[0]
    h, w = g.shape
    if h < tile or w < tile:
        raise ValueError(f"checkerboard ratio needs an image of at least {tile} x {tile}")
    hp = box_residual(g[None, : h - h % tile, : w - w % tile])[0]
    tiles = hp.unfold(0, tile, tile).unfold(1, tile, tile).reshape(-1, tile, tile)
    tiles = tiles - tiles.mean(dim=(1, 2), keepdim=True)
    hann = torch.hann_window(tile, periodic=False)
    power = (torch.fft.fft2(tiles * (hann[:, None] * hann[None, :])).abs() ** 2).mean(0)
    freq = torch.fft.fftfreq(tile).abs() * 2  # 1 = Nyquist
    radius = torch.sqrt((freq[:, None] ** 2 + freq[None, :] ** 2) / 2)
    nyquist = [(tile // 2, tile // 2), (tile // 2, 0), (0, tile // 2)]
    band = radius >= 0.5
    for y, x in nyquist:
        band[y, x] = False
    peak = max(float(power[y, x]) for y, x in nyquist)
    return math.sqrt(peak / max(float(power[band].median()), 1e-20))


def seed_std(outputs: Tensor, mask: Tensor) -> float:
    """RMS over ``mask`` of the per-pixel std across seeds; ``outputs`` is S x 3 x H x W, S >= 2."""
    if outputs.shape[0] < 2:
        raise ValueError("seed variation needs at least two seeds")
    outputs = outputs.float()
    # The unbiased variance written out: torch's std over the leading dim is ~50x slower on CPU here.
    variance = (outputs - outputs.mean(dim=0)).pow(2).sum(dim=0) / (outputs.shape[0] - 1)
    return float(variance[:, mask].mean().sqrt())


def seed_noise_ratio(outputs: Tensor, real_low: Tensor, normal: Tensor) -> float:
    """Per-pixel std across seeds over the real low image's noise, in regions flat in the normal image."""
    mask = flat_mask(normal)
    return seed_std(outputs, mask) / max(real_noise_std(real_low, mask), 1e-6)


def blotch_ratio(first: Tensor, second: Tensor, block: int = BLOCK) -> float:
    """std of the (block-averaged) difference of two seeds over its full-resolution std."""
    diff = (first.float() - second.float()).reshape(-1, *first.shape[-3:])
    h, w = diff.shape[-2:]
    diff = diff[..., : h - h % block, : w - w % block]
    full = float(diff.std())
    if full == 0:
        return 0.0
    return float(F.avg_pool2d(diff, block).std()) / full
