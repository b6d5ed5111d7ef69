"""The center-shifted diffusion process and its samplers (no networks)."""

from n2ldiff.diffusion.noise import PositionalNoise, ReplayNoise
from n2ldiff.diffusion.process import CenterShiftedDiffusion, from_model_range, to_model_range
from n2ldiff.diffusion.samplers import make_sampler, sample_loop
from n2ldiff.diffusion.schedule import Schedule

__all__ = [
    "CenterShiftedDiffusion",
    "PositionalNoise",
    "ReplayNoise",
    "Schedule",
    "from_model_range",
    "make_sampler",
    "sample_loop",
    "to_model_range",
]
