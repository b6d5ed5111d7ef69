"""The artifact measures on synthetic images with a known pattern or known noise."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from n2ldiff.image_noise import flat_mask, real_noise_std
from n2ldiff.metrics.artifacts import blotch_ratio, checkerboard_ratio, seed_noise_ratio


def smooth_scene(seed: int = 0, size: int = 128) -> torch.Tensor:
    """A photo-like image: smooth gradients and blurred shapes."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, size // 16, size // 16, generator=gen)
    img = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    return img.clamp(0.05, 0.95)[0]


def test_checkerboard_ratio_is_low_for_noise_and_high_for_a_two_pixel_pattern():
    gen = torch.Generator().manual_seed(1)
    clean = smooth_scene() + 0.01 * torch.randn(3, 128, 128, generator=gen)
    assert checkerboard_ratio(clean) < 3
    yy, xx = torch.meshgrid(torch.arange(128), torch.arange(128), indexing="ij")
    pattern = ((yy + xx) % 2 * 2 - 1).float() * (3 / 255)
    assert checkerboard_ratio(clean + pattern) > 20
    # A pattern along one axis only (period 2 in x) is caught too.
    assert checkerboard_ratio(clean + ((xx % 2) * 2 - 1).float() * (3 / 255)) > 20


def test_seed_noise_ratio_recovers_a_known_noise_ratio():
    normal = smooth_scene(2)
    gen = torch.Generator().manual_seed(3)
    sigma = 0.01
    low = normal / 4 + sigma * torch.randn(normal.shape, generator=gen)
    mask = flat_mask(normal)
    assert mask.float().mean() > 0.1
    assert real_noise_std(low, mask) == pytest.approx(sigma, rel=0.1)
    for factor in (0.5, 1.0, 2.0):
        outs = normal[None] / 4 + factor * sigma * torch.randn((4, *normal.shape), generator=gen)
        assert seed_noise_ratio(outs, low, normal) == pytest.approx(factor, rel=0.1)


def test_blotch_ratio_separates_pixel_noise_from_blobs():
    gen = torch.Generator().manual_seed(4)
    a, b = torch.randn(2, 3, 128, 128, generator=gen)
    assert blotch_ratio(a, b) == pytest.approx(1 / 8, abs=0.02)
    blobs = F.interpolate(torch.randn(1, 3, 8, 8, generator=gen), size=(128, 128), mode="bilinear")[0]
    assert blotch_ratio(a + 20 * blobs, b) > 0.8
    assert math.isclose(blotch_ratio(a, a), 0.0)
