"""Range validation of typed configs (``validate_*``); the CLI-level cases are in the hostile corpus."""

from __future__ import annotations

import dataclasses

import pytest

from n2ldiff.config import (
    DiffusionConfig,
    ModelConfig,
    PipelineConfig,
    TrainConfig,
    load_train_config,
    validate_diffusion_config,
    validate_model_config,
    validate_pipeline_config,
    validate_train_config,
)
from n2ldiff.errors import N2LDiffError
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("name", ["default", "paper", "tiny"])
def test_shipped_configs_are_valid(name):
    validate_train_config(load_train_config(REPO_ROOT / "configs" / f"{name}.yaml"))


def test_defaults_are_valid():
    validate_train_config(TrainConfig())
    validate_pipeline_config(PipelineConfig())


@pytest.mark.parametrize(
    ("model", "words"),
    [
        (ModelConfig(base_channels=0), "base_channels: must be between 1 and 1024, got 0"),
        (ModelConfig(channel_mults=()), "needs 1 to 8 levels"),
        (ModelConfig(channel_mults=(1,) * 9), "needs 1 to 8 levels"),
        (ModelConfig(channel_mults=(1, 65)), r"channel_mults\[1\]: must be between 1 and 64"),
        (ModelConfig(base_channels=1024, channel_mults=(1, 8)), "widest level has 8192 channels"),
        (ModelConfig(base_channels=True), "expected an integer"),
    ],
)
def test_model_ranges(model, words):
    with pytest.raises(N2LDiffError, match=words):
        validate_model_config(model)


@pytest.mark.parametrize(
    ("diffusion", "words"),
    [
        (DiffusionConfig(timesteps=0), "timesteps: must be between 1 and 10000"),
        (DiffusionConfig(timesteps=10, steps=10, cosine_s=0.0), "cosine_s: must be greater than 0"),
        (DiffusionConfig(sigma_data=float("inf")), "sigma_data: must be a finite number"),
        (DiffusionConfig(sampler="ddim", steps=-1), "steps: must be between 0 and 100"),
        (DiffusionConfig(sampler="ddpm", steps=10), "ddpm sampler runs all 100 timesteps"),
        (DiffusionConfig(sampler="ddim", steps=5, eta=-0.5), "eta: must be at least 0"),
    ],
)
def test_diffusion_ranges(diffusion, words):
    with pytest.raises(N2LDiffError, match=words):
        validate_diffusion_config(diffusion)


def test_fields_added_later_are_checked_for_finite_numbers():
    @dataclasses.dataclass(frozen=True)
    class NewerDiffusion(DiffusionConfig):
        exposure_quantiles: tuple[float, ...] = (0.1, 0.9)

    validate_diffusion_config(NewerDiffusion())
    with pytest.raises(N2LDiffError, match=r"exposure_quantiles\[1\]: must be a finite number"):
        validate_diffusion_config(NewerDiffusion(exposure_quantiles=(0.1, float("nan"))))


def test_val_sampler_ddpm_needs_every_timestep():
    config = dataclasses.replace(
        TrainConfig(), trainer=dataclasses.replace(TrainConfig().trainer, val_sampler="ddpm", val_steps=10)
    )
    with pytest.raises(N2LDiffError, match="val_steps: the ddpm sampler runs all 100"):
        validate_train_config(config)
