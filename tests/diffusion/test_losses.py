"""The training objective's noise-level terms: ``noise_level_nll`` and ``flat_weight``."""

from __future__ import annotations

import torch

from n2ldiff.diffusion.losses import flat_weight, noise_level_nll


def test_noise_level_nll_is_lowest_at_the_residuals_true_noise_std():
    """i.i.d. noise of std 0.03: over constant log-std candidates, the NLL is minimal at log(0.03)."""
    residual = 0.03 * torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    candidates = torch.linspace(-4.5, -2.5, 201)
    nll = torch.stack([noise_level_nll(torch.full_like(residual, c), residual) for c in candidates])
    best = float(candidates[nll.argmin()])
    assert abs(best - torch.log(torch.tensor(0.03)).item()) < 0.02


def test_noise_level_nll_counts_only_the_weighted_pixels():
    noise = 0.03 * torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    residual = noise.clone()
    residual[..., :, 32:] *= 10  # the right half is 10x noisier
    log_std = torch.full_like(residual, torch.log(torch.tensor(0.03)).item())
    weight = torch.zeros(1, 1, 64, 64)
    weight[..., :, 4:28] = 1  # inside the left half, away from the border where the residual mixes both
    left_only = noise_level_nll(log_std, residual, weight)
    assert noise_level_nll(log_std, residual) > left_only + 1.0
    assert abs(float(left_only - noise_level_nll(log_std, noise))) < 0.05  # as if the whole image were the left's


def test_flat_weight_marks_flat_regions_and_not_texture():
    image = torch.full((1, 3, 32, 64), 0.5)
    image[..., 32:] = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    weight = flat_weight(image)
    assert weight.shape == (1, 1, 32, 64)
    assert bool((weight[..., :29] == 1).all()) and bool((weight[..., 35:] == 0).all())
