"""``sample()`` helpers: the exposure-matched center."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from n2ldiff.diffusion.noise import PositionalNoise
from n2ldiff.errors import N2LDiffError
from n2ldiff.exposure import exposure_ratio
from n2ldiff.pipeline import LowLightPipeline
from n2ldiff.sampling import matched_center


def test_matched_center_has_exactly_the_requested_ratio_per_row():
    torch.manual_seed(0)
    normal = torch.rand(3, 3, 16, 24)
    center = torch.rand(3, 3, 16, 24) * torch.tensor([0.1, 0.3, 0.05])[:, None, None, None]
    exposure = torch.tensor([2.0, 4.0, 16.0])
    matched = matched_center(center, normal, exposure)
    assert torch.allclose(exposure_ratio(normal, matched), exposure, rtol=1e-5)
    # Only a gain per row: the spatial/colour pattern of each center is kept.
    gains = matched / center
    assert torch.allclose(gains, gains[:, :1, :1, :1].expand_as(gains), rtol=1e-5)


@pytest.mark.parametrize("match", [False, True])
def test_sample_matches_the_exposure_only_when_configured(tiny_v2_model_dir, match):
    pipe = LowLightPipeline.from_pretrained(tiny_v2_model_dir, device="cpu")
    settings = dataclasses.replace(pipe.settings(), match_exposure=match, noise_scale=1e-4)
    # A network that darkens by 1/0.3 whatever it is asked, with a silent denoiser (F = 0: the chain then
    # samples N(center, s^2) exactly, so the output's mean is the center's).
    encode = pipe.model.encode

    def darken_by_a_third(normal, exposure=None):
        return dataclasses.replace(encode(normal, exposure), center=normal * 0.3)

    pipe.model.encode = darken_by_a_third
    with torch.no_grad():
        pipe.model.denoiser.head.proj.weight_g.zero_()
        pipe.model.denoiser.head.proj.bias.zero_()
    normal = torch.rand(1, 3, 32, 32) * 0.5 + 0.4
    noise = PositionalNoise([1])
    out = pipe.sample_batch(normal, noise, settings, [8.0])
    measured = float(exposure_ratio(normal, out)[0])
    if match:
        assert measured == pytest.approx(8.0, rel=0.02)
    else:
        assert measured == pytest.approx(1 / 0.3, rel=0.02)


def test_the_models_calibrations_are_part_of_the_settings(tiny_v2_model_dir):
    pipe = LowLightPipeline.from_pretrained(tiny_v2_model_dir, device="cpu")
    diffusion = dataclasses.replace(pipe.model.config.diffusion, noise_scale=0.25, match_exposure=True)
    pipe.model.config = dataclasses.replace(pipe.model.config, diffusion=diffusion)
    settings = pipe.settings()
    assert (settings.noise_scale, settings.match_exposure) == (0.25, True)
    assert settings.as_dict()["noise_scale"] == 0.25  # what manifests and caches record


def test_zero_steps_need_a_noise_level_head(tiny_model_dir, tiny_v2_model_dir):
    with pytest.raises(N2LDiffError, match="noise-level head"):
        LowLightPipeline.from_pretrained(tiny_model_dir, device="cpu").settings(steps=0)
    assert LowLightPipeline.from_pretrained(tiny_v2_model_dir, device="cpu").settings(steps=0).steps == 0
