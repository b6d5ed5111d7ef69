"""``sample()`` helpers: the exposure-matched and colour-shifted center."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from n2ldiff.config import DiffusionConfig, validate_diffusion_config
from n2ldiff.diffusion.noise import PositionalNoise
from n2ldiff.errors import N2LDiffError
from n2ldiff.exposure import exposure_ratio
from n2ldiff.image_noise import normal_noise_std
from n2ldiff.metrics.realism import colour_statistics
from n2ldiff.pipeline import LowLightPipeline
from n2ldiff.sampling import (
    NOISE_GAIN_LIMIT,
    SamplingSettings,
    calibrated_center,
    colour_shifted_center,
    matched_center,
    noise_gain,
    noise_gains,
    normal_chromaticity,
)


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


def _warm_normal_and_cool_center() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    normal = torch.rand(2, 3, 16, 24) * torch.tensor([0.9, 0.6, 0.4])[:, None, None]
    center = torch.rand(2, 3, 16, 24) * torch.tensor([0.05, 0.08, 0.12])[:, None, None]
    return normal, center


def test_a_zero_colour_shift_gives_the_normal_images_chromaticity_and_keeps_the_brightness():
    normal, center = _warm_normal_and_cool_center()
    shifted = colour_shifted_center(center, normal, ((0.0,) * 4,) * 3)
    assert torch.allclose(normal_chromaticity(shifted), normal_chromaticity(normal), atol=1e-6)
    assert torch.allclose(shifted.mean(dim=(1, 2, 3)), center.mean(dim=(1, 2, 3)), rtol=1e-5)
    # Only a gain per channel: the spatial pattern of each channel is kept.
    gains = shifted / center
    assert torch.allclose(gains, gains[:, :, :1, :1].expand_as(gains), rtol=1e-4)


def test_the_colour_shift_adds_the_linear_models_prediction_to_the_normal_chromaticity():
    normal, center = _warm_normal_and_cool_center()
    # shift = W @ [chroma - 1/3, 1]: a constant blue shift plus half the red excess moved to green.
    weights = ((0.5, 0.0, 0.0, -0.01), (-0.5, 0.0, 0.0, -0.01), (0.0, 0.0, 0.0, 0.02))
    shifted = colour_shifted_center(center, normal, weights)
    chroma = normal_chromaticity(normal)
    red_excess = chroma[:, 0] - 1 / 3
    expected = chroma + torch.stack(
        [0.5 * red_excess - 0.01, -0.5 * red_excess - 0.01, torch.full_like(red_excess, 0.02)], 1
    )
    assert torch.allclose(normal_chromaticity(shifted), expected, atol=1e-6)
    # What the benchmark's colour-cast error compares: the chromaticity shift, low minus normal.
    measured = colour_statistics(shifted, normal)["chromaticity_shift"]
    assert torch.allclose(measured, expected - chroma, atol=1e-5)


def test_the_exposure_is_matched_after_the_colour_shift(tiny_v2_model_dir):
    normal, center = _warm_normal_and_cool_center()
    pipe = LowLightPipeline.from_pretrained(tiny_v2_model_dir, device="cpu")
    weights = ((0.0, 0.0, 0.0, 0.02), (0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, -0.02))
    settings = dataclasses.replace(pipe.settings(), match_exposure=True, colour_shift=weights)
    exposure = torch.tensor([4.0, 8.0])
    out = calibrated_center(center, normal, exposure, settings)
    assert torch.allclose(exposure_ratio(normal, out), exposure, rtol=1e-5)
    assert torch.allclose(
        normal_chromaticity(out) - normal_chromaticity(normal), torch.tensor([0.02, 0.0, -0.02]), atol=1e-6
    )


def test_the_colour_shift_is_validated_and_recorded_as_json():
    with pytest.raises(N2LDiffError, match="colour_shift: needs 3 rows of 4"):
        validate_diffusion_config(DiffusionConfig(colour_shift=((0.0, 0.0, 0.0),) * 3))
    weights = ((0.1, 0.0, 0.0, 0.0), (0.0, 0.1, 0.0, 0.0), (0.0, 0.0, 0.1, 0.0))
    validate_diffusion_config(DiffusionConfig(colour_shift=weights))
    settings = SamplingSettings.resolve(DiffusionConfig(sampler="ddim", steps=4, colour_shift=weights))
    recorded = settings.as_dict()
    # A manifest read back from JSON must compare equal to the settings that wrote it (resume).
    assert json.loads(json.dumps(recorded)) == recorded
    assert recorded["colour_shift"][0] == [0.1, 0.0, 0.0, 0.0]


def test_noise_gain_is_a_clamped_power_of_the_normal_images_noise():
    assert noise_gain(0.004, (0.5, 0.001)) == pytest.approx(2.0)
    assert noise_gain(0.001, (0.5, 0.004)) == pytest.approx(0.5)
    assert noise_gain(0.003, (0.0, 0.001)) == 1.0
    assert noise_gain(1.0, (1.0, 0.001)) == NOISE_GAIN_LIMIT
    assert noise_gain(0.0, (1.0, 0.001)) == 1 / NOISE_GAIN_LIMIT
    settings = SamplingSettings(sampler="ddim", steps=0, normal_noise_scaling=(1.0, 0.001))
    tiny = torch.rand(2, 3, 1, 40)  # too small to measure (and to reflect-pad): the factor stays 1
    assert noise_gains(tiny, settings).tolist() == [1.0, 1.0]
    assert noise_gains(tiny, SamplingSettings(sampler="ddim", steps=0)) is None
    with pytest.raises(N2LDiffError, match="normal_noise_scaling"):
        validate_diffusion_config(DiffusionConfig(normal_noise_scaling=(0.5, 0.0)))


def _with_diffusion(pipe: LowLightPipeline, **changes) -> LowLightPipeline:
    diffusion = dataclasses.replace(pipe.model.config.diffusion, **changes)
    pipe.model.config = dataclasses.replace(pipe.model.config, diffusion=diffusion)
    return pipe


def test_normal_noise_scaling_multiplies_the_noise_by_the_whole_images_factor(tiny_v2_model_dir):
    """A 96 x 64 photo in 32-px tiles: every tile gets the factor measured on the whole image, so the
    output is the one made with noise_scale times that factor and no scaling."""
    gen = torch.Generator().manual_seed(7)
    photo = (torch.rand(1, 3, 8, 12, generator=gen) * 0.6 + 0.2).repeat_interleave(8, 2).repeat_interleave(8, 3)
    photo = (photo + 0.02 * torch.randn(photo.shape, generator=gen)).clamp(0, 1)
    measured = normal_noise_std(photo[0])
    reference = measured / 3
    scaled = _with_diffusion(
        LowLightPipeline.from_pretrained(tiny_v2_model_dir, device="cpu", tile_size=32, tile_overlap=8),
        steps=0, noise_scale=0.5, normal_noise_scaling=(1.0, reference),
    )  # fmt: skip
    assert scaled.settings().as_dict()["normal_noise_scaling"] == [1.0, reference]  # recorded
    plain = _with_diffusion(
        LowLightPipeline.from_pretrained(tiny_v2_model_dir, device="cpu", tile_size=32, tile_overlap=8),
        steps=0, noise_scale=0.5 * 3,
    )  # fmt: skip
    off = _with_diffusion(
        LowLightPipeline.from_pretrained(tiny_v2_model_dir, device="cpu", tile_size=32, tile_overlap=8),
        steps=0, noise_scale=0.5,
    )  # fmt: skip
    out_scaled = scaled.generate(photo, [3], exposure=4.0)
    torch.testing.assert_close(out_scaled, plain.generate(photo, [3], exposure=4.0), atol=1e-5, rtol=0)
    assert (out_scaled - off.generate(photo, [3], exposure=4.0)).abs().max() > 1e-3  # the factor matters
