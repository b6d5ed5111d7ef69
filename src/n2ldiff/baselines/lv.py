"""Lv et al. darkening: ``I_low = beta * (alpha * I) ** gamma``, optionally with Poisson-Gaussian noise.

Source: F. Lv, Y. Li, F. Lu, "Attention Guided Low-light Image Enhancement with a Large Scale
Low-light Simulation Dataset", IJCV 129, 2021. Their paired-benchmark grid (the rows of the N2LDiff
paper's Table I) is alpha in {0.9, 1}, beta in {0.5, 1}, gamma in {1.5, 5}; their random synthesis
draws alpha ~ U(0.9, 1), beta ~ U(0.5, 1), gamma ~ U(1.5, 5) per image.

Noise (optional): signal-dependent Poisson-Gaussian noise in the darkened sRGB image, variance
``shot * x + read``, realised as ``shot * Poisson(x / shot) + N(0, read)`` and clipped to [0, 1]. The
levels are not taken from Lv et al.; we draw them from the shot/read distributions published by Brooks
et al. (CVPR 2019), see ``unprocess.random_noise_levels``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from n2ldiff.baselines.unprocess import check_image, random_noise_levels
from n2ldiff.errors import N2LDiffError

#: The 8 (alpha, beta, gamma) settings of the grid.
LV_GRID: tuple[tuple[float, float, float], ...] = tuple(
    (a, b, g) for a in (0.9, 1.0) for b in (0.5, 1.0) for g in (1.5, 5.0)
)
ALPHA_RANGE = (0.9, 1.0)
BETA_RANGE = (0.5, 1.0)
GAMMA_RANGE = (1.5, 5.0)


def lv_darken(image: Tensor, alpha: float, beta: float, gamma: float) -> Tensor:
    """Deterministic ``beta * (alpha * I) ** gamma``, clipped to [0, 1]."""
    check_image(image)
    if alpha <= 0 or beta <= 0 or gamma <= 0:
        raise N2LDiffError(f"alpha, beta and gamma must be > 0, got {alpha}, {beta}, {gamma}")
    return (beta * (alpha * image.clamp(0, 1)) ** gamma).clamp(0, 1)


def random_lv_params(generator: torch.Generator) -> tuple[float, float, float]:
    """(alpha, beta, gamma) drawn uniformly from Lv et al.'s ranges, in that order."""
    u = torch.rand(3, generator=generator, dtype=torch.float64).tolist()
    ranges = (ALPHA_RANGE, BETA_RANGE, GAMMA_RANGE)
    a, b, g = (lo + (hi - lo) * v for v, (lo, hi) in zip(u, ranges, strict=True))
    return a, b, g


def poisson_gaussian_noise(image: Tensor, generator: torch.Generator, shot: float, read: float) -> Tensor:
    """``shot * Poisson(x / shot) + N(0, read)`` (variance ``shot * x + read``), clipped to [0, 1]."""
    if shot < 0 or read < 0:
        raise N2LDiffError(f"noise levels must be >= 0, got shot={shot}, read={read}")
    x = image.clamp(0, 1).to(device=generator.device, dtype=torch.float64)  # noise drawn on the generator's device
    noisy = torch.poisson(x / shot, generator=generator) * shot if shot > 0 else x
    noisy = noisy + math.sqrt(read) * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return noisy.clamp(0, 1).to(image.device, torch.float32)


def lv(
    image: Tensor,
    generator: torch.Generator,
    *,
    alpha: float | None = None,
    beta: float | None = None,
    gamma: float | None = None,
    noise: bool = False,
    shot: float | None = None,
    read: float | None = None,
) -> Tensor:
    """Lv et al. (IJCV 2021) synthesis, per image; unspecified parameters are drawn at random.

    Per image, draws from ``generator`` in this order: (alpha, beta, gamma) if any is None (all three
    are drawn so the stream does not depend on which were given), then, with ``noise``, (shot, read)
    if either is None, then the noise itself.
    """
    check_image(image)
    outs = []
    for i in range(image.shape[0]):
        params = (alpha, beta, gamma)
        if None in params:
            drawn = random_lv_params(generator)
            params = tuple(p if p is not None else d for p, d in zip(params, drawn, strict=True))
        out = lv_darken(image[i : i + 1], *params)  # type: ignore[arg-type]
        if noise:
            s, r = shot, read
            if s is None or r is None:
                ds, dr = random_noise_levels(generator)
                s, r = (s if s is not None else ds), (r if r is not None else dr)
            out = poisson_gaussian_noise(out, generator, s, r)
        outs.append(out)
    return torch.cat(outs).to(torch.float32)
