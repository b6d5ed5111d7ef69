"""``sample()``: the one way to turn normal-light images into low-light ones with a model and a sampler.

The pipeline, training validation and the benchmark all call this function, so a sampling setting means
the same thing everywhere.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import torch

from n2ldiff.config import DiffusionConfig
from n2ldiff.diffusion.noise import NoiseSource
from n2ldiff.diffusion.process import CenterShiftedDiffusion, from_model_range, noise_std_from_log, to_model_range
from n2ldiff.diffusion.samplers import SAMPLERS, make_sampler, sample_loop
from n2ldiff.errors import N2LDiffError
from n2ldiff.image_noise import normal_noise_std

if TYPE_CHECKING:
    from n2ldiff.backends import Networks

STARTS = ("center+noise", "center")


@dataclasses.dataclass(frozen=True)
class SamplingSettings:
    """How to sample. ``SamplingSettings.resolve`` fills what is not given from the model's config."""

    sampler: str
    steps: int
    eta: float = 0.0
    start: str = "center+noise"
    start_timestep: int | None = None
    timestep_spacing: str = "linear"
    # The model's sampling-time calibrations (DiffusionConfig): part of the settings, so that manifests and
    # caches tell outputs made with different ones apart.
    noise_scale: float = 1.0
    normal_noise_scaling: tuple[float, float] | None = None
    match_exposure: bool = False
    colour_shift: tuple[tuple[float, ...], ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        # Lists, not tuples: a manifest read back from JSON must compare equal.
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def resolve(
        cls,
        config: DiffusionConfig,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float | None = None,
        start: str | None = None,
    ) -> SamplingSettings:
        """The model's defaults, overridden where given, validated.

        Steps default to the model's own when its sampler is kept; with another sampler, to every step of
        the chain for ``ddpm`` and to the model's default step count otherwise.
        """
        sampler = sampler or config.sampler
        if sampler not in SAMPLERS:
            raise N2LDiffError(f"unknown sampler {sampler!r} (choose from {', '.join(SAMPLERS)})")
        first = config.timesteps - 1 if config.start_timestep is None else config.start_timestep
        if steps is None:
            steps = first + 1 if sampler == "ddpm" and sampler != config.sampler else config.steps
        settings = cls(
            sampler=sampler,
            steps=steps,
            eta=config.eta if eta is None else eta,
            start=start or config.start,
            start_timestep=config.start_timestep,
            timestep_spacing=config.timestep_spacing,
            noise_scale=config.noise_scale,
            normal_noise_scaling=config.normal_noise_scaling,
            match_exposure=config.match_exposure,
            colour_shift=config.colour_shift,
        )
        if settings.start not in STARTS:
            raise N2LDiffError(f"unknown start {settings.start!r} (choose {' or '.join(STARTS)})")
        settings.make_sampler(CenterShiftedDiffusion.from_config(config))  # validates steps and eta
        return settings

    def make_sampler(self, diffusion: CenterShiftedDiffusion):
        return make_sampler(self.sampler, diffusion, self.steps, self.eta, self.start_timestep, self.timestep_spacing)


def matched_center(center: torch.Tensor, normal: torch.Tensor, exposure: torch.Tensor) -> torch.Tensor:
    """``center`` ([0, 1], B x 3 x H x W) scaled per row so that mean(normal) / mean(center) = R exactly."""
    r = torch.as_tensor(exposure, dtype=center.dtype, device=center.device).reshape(-1).expand(center.shape[0])
    dims = (1, 2, 3)
    target = normal.mean(dim=dims) / r
    scale = target / center.mean(dim=dims).clamp_min(1e-6)
    return center * scale[:, None, None, None]


def normal_chromaticity(normal: torch.Tensor) -> torch.Tensor:
    """B x 3: the mean rgb chromaticity c / (R+G+B) of each image."""
    mean = normal.mean(dim=(2, 3))
    return mean / mean.sum(dim=1, keepdim=True).clamp_min(1e-6)


def colour_shift_features(chroma: torch.Tensor) -> torch.Tensor:
    """B x 4: what ``DiffusionConfig.colour_shift`` multiplies: [chroma - 1/3, 1]."""
    return torch.cat([chroma - 1 / 3, torch.ones_like(chroma[:, :1])], dim=1)


def colour_shifted_center(
    center: torch.Tensor, normal: torch.Tensor, colour_shift: tuple[tuple[float, ...], ...]
) -> torch.Tensor:
    """``center`` with per-channel gains per row so that its mean chromaticity is the normal image's plus
    the shift ``colour_shift`` (3 x 4) predicts from it; the sum of the channel means is kept."""
    chroma = normal_chromaticity(normal)
    weights = torch.as_tensor(colour_shift, dtype=center.dtype, device=center.device)
    target = (chroma + colour_shift_features(chroma) @ weights.T).clamp_min(1e-3)
    target = target / target.sum(dim=1, keepdim=True)
    mean = center.mean(dim=(2, 3))
    gain = target * mean.sum(dim=1, keepdim=True) / mean.clamp_min(1e-6)
    return center * gain[:, :, None, None]


def calibrated_center(
    center: torch.Tensor, normal: torch.Tensor, exposure: torch.Tensor | None, settings: SamplingSettings
) -> torch.Tensor:
    """The encoder's center after the model's sampling-time calibrations (colour shift, then exposure)."""
    if settings.colour_shift is not None:
        center = colour_shifted_center(center, normal, settings.colour_shift)
    if exposure is not None and settings.match_exposure:
        center = matched_center(center, normal, exposure)
    return center


#: The per-image factor of ``normal_noise_scaling`` stays within [1 / NOISE_GAIN_LIMIT, NOISE_GAIN_LIMIT].
NOISE_GAIN_LIMIT = 4.0


def noise_gain(normal_noise: float, scaling: tuple[float, float]) -> float:
    """``normal_noise_scaling``'s factor (n / n0)^b for a normal image whose own noise std is n."""
    exponent, reference = scaling
    gain = (max(normal_noise, 1e-6) / reference) ** exponent
    return min(max(gain, 1 / NOISE_GAIN_LIMIT), NOISE_GAIN_LIMIT)


#: Images with a side below this are too small to measure their noise: their factor is 1.
MIN_NOISE_SIDE = 16


def noise_gains(normal: torch.Tensor, settings: SamplingSettings) -> torch.Tensor | None:
    """One ``noise_gain`` per row of B x 3 x H x W ``normal``; None without ``normal_noise_scaling``."""
    scaling = settings.normal_noise_scaling
    if scaling is None:
        return None
    if min(normal.shape[-2:]) < MIN_NOISE_SIDE:
        return torch.ones(normal.shape[0], dtype=normal.dtype, device=normal.device)
    values = [noise_gain(normal_noise_std(image), scaling) for image in normal]
    return torch.tensor(values, dtype=normal.dtype, device=normal.device)


@torch.no_grad()
def sample(
    model: Networks,
    diffusion: CenterShiftedDiffusion,
    normal: torch.Tensor,
    noise: NoiseSource,
    settings: SamplingSettings,
    exposure: torch.Tensor | None = None,
    gains: torch.Tensor | None = None,
) -> torch.Tensor:
    """B x 3 x H x W normal-light images in [0, 1] (H, W multiples of the stride) -> low-light, [0, 1].

    ``model``: an ``N2LDiff`` or any other ``Networks`` backend (one ``encode``, one ``denoise`` per step).

    ``exposure``: the exposure ratio R per row, for exposure-conditioned models. ``gains``: the per-row
    ``normal_noise_scaling`` factors when ``normal`` is a tile (measured on the whole images, so that every
    tile of an image gets the same); by default they are measured on ``normal``.
    """
    encoding = model.encode(normal, exposure)
    center = to_model_range(calibrated_center(encoding.center, normal, exposure, settings))
    noise_std = None
    if encoding.log_noise_std is not None and diffusion.prediction_type == "preconditioned":
        noise_std = noise_std_from_log(encoding.log_noise_std) * settings.noise_scale
        gains = noise_gains(normal, settings) if gains is None else gains
        if gains is not None and settings.normal_noise_scaling is not None:
            noise_std = noise_std * gains.to(noise_std).reshape(-1, 1, 1, 1)

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return diffusion.x0_from_output(model.denoise(x, t, normal, encoding), x, t, center, noise_std)

    x0 = sample_loop(denoise, settings.make_sampler(diffusion), center, noise, settings.start, noise_std=noise_std)
    return from_model_range(x0)
