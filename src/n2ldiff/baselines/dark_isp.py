"""MAET-style low-light degradation: unprocess to raw, low-light corruption, ISP back to sRGB.

Source: Z. Cui, G.-J. Qi, L. Gu, S. You, Z. Zhang, T. Harada, "Multitask AET with Orthogonal Tangent
Regularity for Dark Object Detection", ICCV 2021 (MAET). Its degradation has three stages, which we
follow; the noise components follow the physics-based model it builds on (K. Wei et al., "A
Physics-based Noise Formation Model for Extreme Low-light Raw Denoising", CVPR 2020):

1. Unprocessing (Brooks et al. 2019; shared with ``unprocess.py``): inverse tone map, inverse gamma,
   sRGB -> camera colour matrix, inverse white-balance/digital gains.
2. Low-light corruption in raw space:
   * darkening by a factor k, log-uniform in ``exposure_range`` (default 0.02-0.2);
   * photon shot noise ``K * Poisson(x / K)`` with system gain K log-uniform in [1e-3, 1e-2]
     (normalised raw units: a saturated pixel holds 1/K photo-electrons, i.e. 100-1000);
   * read noise from a Tukey-lambda distribution (heavy-tailed for lambda < 0), shape
     lambda ~ U(-0.3, -0.05), scale ``sigma_TL = exp(0.75 log K - 1.0 + N(0, 0.2))``;
   * row (banding) noise: one N(0, sigma_r) offset per row and channel, sigma_r = sigma_TL * U(0.1, 0.3);
   * quantisation noise: the raw signal is quantised to ``bits`` (default 12) bits, i.e. uniform error.
3. ISP: white balance + digital gain, camera -> sRGB matrix, gamma 1/2.2, smoothstep tone curve,
   clipped to [0, 1] (``unprocess.process``).

The paper describes these components but its exact random ranges are not reproduced here; the ranges
above are choices made for this reimplementation (ELD-like gains and Tukey shapes), documented so
results can be compared. Every image draws its own parameters from ``generator`` in batch order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from n2ldiff.baselines.unprocess import (
    DEFAULT_EXPOSURE_RANGE,
    darken_in_raw,
    uniform_draw,
)
from n2ldiff.errors import N2LDiffError

SYSTEM_GAIN_RANGE = (1e-3, 1e-2)
TUKEY_LAMBDA_RANGE = (-0.3, -0.05)
ROW_FRACTION_RANGE = (0.1, 0.3)
DEFAULT_BITS = 12


@dataclass(frozen=True)
class SensorNoise:
    """Parameters of the raw-space noise (normalised units, full scale 1)."""

    system_gain: float  # K: variance of shot noise is K * x
    tukey_lambda: float
    tukey_scale: float
    row_sigma: float
    bits: int = DEFAULT_BITS


def random_sensor_noise(generator: torch.Generator, bits: int = DEFAULT_BITS) -> SensorNoise:
    """Draw K, Tukey lambda, Tukey scale and row sigma (in that order); see the module docstring."""
    log_k = uniform_draw(generator, math.log(SYSTEM_GAIN_RANGE[0]), math.log(SYSTEM_GAIN_RANGE[1]))
    lam = uniform_draw(generator, *TUKEY_LAMBDA_RANGE)
    scale = math.exp(0.75 * log_k - 1.0 + 0.2 * float(torch.randn((), generator=generator, dtype=torch.float64)))
    row = scale * uniform_draw(generator, *ROW_FRACTION_RANGE)
    return SensorNoise(math.exp(log_k), lam, scale, row, bits)


def tukey_lambda(shape: tuple[int, ...], lam: float, generator: torch.Generator) -> Tensor:
    """Standard Tukey-lambda samples via the quantile function ``(u^l - (1-u)^l) / l`` (float64)."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64, device=generator.device)
    u = u.clamp(1e-12, 1 - 1e-12)
    if abs(lam) < 1e-8:
        return torch.log(u / (1 - u))
    return (u**lam - (1 - u) ** lam) / lam


def tukey_lambda_variance(lam: float) -> float:
    """Variance of the standard Tukey-lambda distribution (finite for lambda > -1/2)."""
    if lam <= -0.5:
        return math.inf
    if abs(lam) < 1e-8:
        return math.pi**2 / 3
    return (2 / lam**2) * (1 / (1 + 2 * lam) - math.exp(2 * math.lgamma(lam + 1) - math.lgamma(2 * lam + 2)))


def low_light_corruption(raw: Tensor, generator: torch.Generator, noise: SensorNoise) -> Tensor:
    """Shot (Poisson), Tukey-lambda read, row and quantisation noise on a (darkened) raw image.

    Noise is drawn on the generator's device in the order shot, read, row; the result is clipped to
    [0, 1] and quantised to ``noise.bits`` bits. Total variance before clipping/quantisation:
    ``K x + scale² Var_TL(lambda) + row_sigma²``, plus ``1 / (12 (2^bits - 1)²)`` from quantisation.
    """
    if noise.system_gain <= 0 or noise.bits < 1:
        raise N2LDiffError(f"invalid sensor noise parameters: {noise}")
    x = raw.clamp(0, 1).to(device=generator.device, dtype=torch.float64)
    k = noise.system_gain
    y = torch.poisson(x / k, generator=generator) * k
    y = y + noise.tukey_scale * tukey_lambda(tuple(x.shape), noise.tukey_lambda, generator)
    n, c, h, _ = x.shape
    rows = torch.randn((n, c, h, 1), generator=generator, dtype=torch.float64, device=generator.device)
    y = y + noise.row_sigma * rows
    levels = 2**noise.bits - 1
    y = torch.round(y.clamp(0, 1) * levels) / levels
    return y.to(raw.device, raw.dtype)


def dark_isp(
    image: Tensor,
    generator: torch.Generator,
    *,
    exposure: float | None = None,
    exposure_range: tuple[float, float] = DEFAULT_EXPOSURE_RANGE,
    bits: int = DEFAULT_BITS,
) -> Tensor:
    """MAET (Cui et al., ICCV 2021) degradation, per image: unprocess, darken + noise, ISP.

    Per image, draws from ``generator``: camera (``unprocess.random_camera``), exposure factor (unless
    given), sensor noise parameters (``random_sensor_noise``), then the noise. Returns N×3×H×W in [0, 1].
    """
    return darken_in_raw(
        image,
        generator,
        lambda raw, gen: low_light_corruption(raw, gen, random_sensor_noise(gen, bits)),
        exposure,
        exposure_range,
    )
