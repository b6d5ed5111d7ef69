"""Brooks et al. unprocessing: sRGB -> linear camera "raw", darkening + shot/read noise, -> sRGB.

Source: T. Brooks, B. Mildenhall, T. Xue, J. Chen, D. Sharlet, J. T. Barron, "Unprocessing Images for
Learned Raw Denoising", CVPR 2019. Steps and the published random distributions used here:

* tone mapping: the smoothstep curve ``3x² - 2x³``, inverted in closed form;
* gamma: ``x ** (1/2.2)`` (inverse ``x ** 2.2``);
* colour correction: the paper mixes real cameras' XYZ->camera matrices at random. We do not ship
  camera matrices; instead the simulated sensor's RGB responses are a random mix between the sRGB
  primaries and the CIE XYZ matching functions: ``rgb2cam = rownorm((1 - t) I + t rownorm(M_xyz))``
  with ``t ~ U(0, 1)`` and ``M_xyz`` the standard linear-sRGB (D65) -> XYZ matrix. Rows sum to 1 (as
  in the paper), so grey stays grey and colour casts come only from white balance;
* white balance / brightness: red gain ~ U(1.9, 2.4), blue gain ~ U(1.5, 1.9), and a digital gain
  ``1 / g`` with ``g ~ N(0.8, 0.1)`` (published values), inverted with a highlight-preserving blend
  (gains fade to 1 as the grey level rises from 0.9 to 1, so bright areas do not turn grey);
* mosaicing is skipped: the "raw" image keeps 3 channels per pixel (documented simplification);
* noise: shot level ``log λ_shot ~ U(log 1e-4, log 0.012)`` and read level
  ``log λ_read ~ N(2.18 log λ_shot + 1.20, 0.26)`` (published), added as Gaussian noise with variance
  ``λ_shot · x + λ_read`` (the paper's heteroscedastic Gaussian approximation).

The paper does not reduce exposure (it targets denoising); for low light we multiply the raw image
by a random factor ``k``, log-uniform in ``exposure_range`` (default 0.02-0.2, a choice made here so
mid grey lands at roughly 0.02-0.12 in sRGB, the range of LOL's low images), before adding noise.
Every image draws its own parameters from ``generator`` in batch order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from n2ldiff.errors import N2LDiffError

#: Linear sRGB (D65) -> CIE XYZ.
SRGB_TO_XYZ = torch.tensor(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    dtype=torch.float64,
)
GAMMA = 2.2
DEFAULT_EXPOSURE_RANGE = (0.02, 0.2)


def check_image(image: Tensor) -> None:
    """Raise ``N2LDiffError`` unless ``image`` is a float N×3×H×W tensor."""
    if not isinstance(image, Tensor) or image.ndim != 4 or image.shape[1] != 3 or not image.is_floating_point():
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise N2LDiffError(f"expected a float N×3×H×W image tensor, got {shape}")


def uniform_draw(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))


def _normal(generator: torch.Generator, mean: float, std: float) -> float:
    return mean + std * float(torch.randn((), generator=generator, dtype=torch.float64))


# --------------------------------------------------------------------------------------------------
# Invertible steps


def smoothstep(x: Tensor) -> Tensor:
    """Global tone curve ``3x² - 2x³`` on [0, 1]."""
    x = x.clamp(0, 1)
    return 3 * x**2 - 2 * x**3


def inverse_smoothstep(y: Tensor) -> Tensor:
    """Exact inverse of ``smoothstep`` on [0, 1]: ``0.5 - sin(asin(1 - 2y) / 3)``."""
    y = y.clamp(0, 1)
    return 0.5 - torch.sin(torch.asin(1 - 2 * y) / 3)


def gamma_expansion(x: Tensor) -> Tensor:
    """sRGB-like gamma to linear: ``max(x, 1e-8) ** 2.2``."""
    return x.clamp_min(1e-8) ** GAMMA


def gamma_compression(x: Tensor) -> Tensor:
    """Linear to gamma-encoded: ``max(x, 1e-8) ** (1/2.2)``."""
    return x.clamp_min(1e-8) ** (1 / GAMMA)


def _rownorm(m: Tensor) -> Tensor:
    return m / m.sum(dim=-1, keepdim=True)


def apply_ccm(image: Tensor, ccm: Tensor) -> Tensor:
    """Per-pixel colour matrix: out_c = sum_k ccm[c, k] * in_k (``ccm`` 3×3)."""
    return torch.einsum("ck,nkhw->nchw", ccm.to(image), image)


@dataclass(frozen=True)
class CameraParams:
    """One image's simulated camera: colour matrix and white-balance / digital gains."""

    rgb2cam: Tensor  # 3×3, rows sum to 1
    rgb_gain: float
    red_gain: float
    blue_gain: float

    @property
    def cam2rgb(self) -> Tensor:
        return torch.linalg.inv(self.rgb2cam)

    def wb_gains(self) -> Tensor:
        """Gains the ISP applies to camera RGB: ``rgb_gain * [red, 1, blue]``."""
        return torch.tensor([self.red_gain, 1.0, self.blue_gain], dtype=torch.float64) * self.rgb_gain


def random_ccm(generator: torch.Generator) -> Tensor:
    """Random sRGB -> camera matrix (see the module docstring); float64 3×3, rows sum to 1."""
    t = uniform_draw(generator, 0.0, 1.0)
    return _rownorm((1 - t) * torch.eye(3, dtype=torch.float64) + t * _rownorm(SRGB_TO_XYZ))


def random_camera(generator: torch.Generator) -> CameraParams:
    """Draw (in this order) the CCM mix, digital gain, red gain and blue gain, per Brooks et al."""
    rgb2cam = random_ccm(generator)
    rgb_gain = 1.0 / max(_normal(generator, 0.8, 0.1), 0.1)
    red = uniform_draw(generator, 1.9, 2.4)
    blue = uniform_draw(generator, 1.5, 1.9)
    return CameraParams(rgb2cam, rgb_gain, red, blue)


def invert_gains(image: Tensor, gains: Tensor, preserve_highlights: bool = True) -> Tensor:
    """Divide camera RGB by the white-balance gains; with ``preserve_highlights`` the division fades
    out for grey levels between 0.9 and 1 (only for gains > 1), so clipped highlights stay clipped."""
    inv = (1.0 / gains).to(image).view(1, 3, 1, 1)
    if not preserve_highlights:
        return image * inv
    grey = image.mean(dim=1, keepdim=True)
    w = ((grey - 0.9).clamp_min(0) / 0.1).clamp_max(1) ** 2
    safe = torch.maximum(w + (1 - w) * inv, inv)
    return image * safe


def unprocess(image: Tensor, camera: CameraParams, preserve_highlights: bool = True) -> Tensor:
    """sRGB [0,1] -> linear camera RGB: inverse tone map, inverse gamma, sRGB->camera, inverse gains."""
    check_image(image)
    x = gamma_expansion(inverse_smoothstep(image))
    x = apply_ccm(x, camera.rgb2cam).clamp(0, 1)
    return invert_gains(x, camera.wb_gains(), preserve_highlights).clamp(0, 1)


def process(raw: Tensor, camera: CameraParams) -> Tensor:
    """Linear camera RGB -> sRGB [0,1]: gains, camera->sRGB, gamma, tone map (the ISP of the paper)."""
    x = (raw * camera.wb_gains().to(raw).view(1, 3, 1, 1)).clamp(0, 1)
    x = apply_ccm(x, camera.cam2rgb).clamp(0, 1)
    return smoothstep(gamma_compression(x))


# --------------------------------------------------------------------------------------------------
# Noise


def random_noise_levels(generator: torch.Generator) -> tuple[float, float]:
    """(shot, read) variances per Brooks et al.: log-uniform shot, log-linear read with N(0, 0.26)."""
    log_shot = uniform_draw(generator, math.log(1e-4), math.log(0.012))
    log_read = _normal(generator, 2.18 * log_shot + 1.20, 0.26)
    return math.exp(log_shot), math.exp(log_read)


def add_shot_read_noise(raw: Tensor, generator: torch.Generator, shot: float, read: float) -> Tensor:
    """Add zero-mean Gaussian noise of variance ``shot * raw + read`` (not clipped)."""
    if shot < 0 or read < 0:
        raise N2LDiffError(f"noise levels must be >= 0, got shot={shot}, read={read}")
    var = shot * raw.clamp_min(0) + read
    noise = torch.randn(raw.shape, generator=generator, dtype=raw.dtype, device=generator.device)
    return raw + var.sqrt() * noise.to(raw.device)


# --------------------------------------------------------------------------------------------------
# The baseline


def unprocess_lowlight(
    image: Tensor,
    generator: torch.Generator,
    *,
    exposure: float | None = None,
    exposure_range: tuple[float, float] = DEFAULT_EXPOSURE_RANGE,
    noise: bool = True,
) -> Tensor:
    """Brooks et al. (CVPR 2019) unprocess -> darken -> shot/read noise -> process, per image.

    Per image, draws from ``generator`` in this order: camera (``random_camera``), exposure factor
    (unless ``exposure`` is given), noise levels (``random_noise_levels``), then the noise itself.
    Returns N×3×H×W in [0, 1] on the input's device.
    """

    def corrupt(raw: Tensor, gen: torch.Generator) -> Tensor:
        if not noise:
            return raw
        shot, read = random_noise_levels(gen)
        return add_shot_read_noise(raw, gen, shot, read).clamp(0, 1)

    return darken_in_raw(image, generator, corrupt, exposure, exposure_range)


def darken_in_raw(
    image: Tensor,
    generator: torch.Generator,
    corrupt: Callable[[Tensor, torch.Generator], Tensor],
    exposure: float | None = None,
    exposure_range: tuple[float, float] = DEFAULT_EXPOSURE_RANGE,
) -> Tensor:
    """Per image: random camera, unprocess to raw, scale by an exposure factor, ``corrupt``, process back.

    The exposure factor is ``exposure`` or log-uniform in ``exposure_range``. Shared by ``unprocess`` and
    ``dark-isp``, which differ only in the raw-domain corruption. Returns N×3×H×W in [0, 1].
    """
    check_image(image)
    lo, hi = exposure_range
    if not 0 < lo <= hi:
        raise N2LDiffError(f"exposure_range must satisfy 0 < low <= high, got {exposure_range}")
    outs = []
    for i in range(image.shape[0]):
        cam = random_camera(generator)
        k = exposure if exposure is not None else math.exp(uniform_draw(generator, math.log(lo), math.log(hi)))
        raw = unprocess(image[i : i + 1].float(), cam) * k
        outs.append(process(corrupt(raw, generator), cam))
    return torch.cat(outs).to(torch.float32)
