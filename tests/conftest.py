"""Shared test fixtures: paths to ../shared, the original-code reference tensors, tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("N2LDIFF_SHARED", REPO_ROOT.parent / "shared"))
ORIGINAL_FIXTURE = SHARED / "fixtures" / "original_n2ldiff"


@pytest.fixture(autouse=True)
def _threads():
    # The fixture tensors were made with 2 threads (1 thread stays within their tolerances). On a busy
    # machine, fewer threads than cores avoids oversubscription: N2LDIFF_TEST_THREADS=1.
    torch.set_num_threads(int(os.environ.get("N2LDIFF_TEST_THREADS", "2")))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"shared data folder not found at {SHARED} (set N2LDIFF_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def original_io(shared_dir) -> dict[str, torch.Tensor]:
    return load_file(str(ORIGINAL_FIXTURE / "tiny_io.safetensors"))


@pytest.fixture(scope="session")
def original_tiny_state(shared_dir) -> dict[str, torch.Tensor]:
    return load_file(str(ORIGINAL_FIXTURE / "tiny_weights.safetensors"))


@pytest.fixture(scope="session")
def tiny_model(original_tiny_state):
    from n2ldiff.convert import convert_state_dict

    return convert_state_dict(original_tiny_state).eval()


@pytest.fixture()
def write_original_ckpt(tmp_path):
    """Write a Lightning-style checkpoint in the original key layout; returns its path."""

    def write(state: dict[str, torch.Tensor], name: str = "original.ckpt", **extra) -> Path:
        path = tmp_path / name
        ckpt = {
            "epoch": 3,
            "global_step": 1234,
            "pytorch-lightning_version": "1.9.0",
            "state_dict": dict(state),
        }
        ckpt.update(extra)
        torch.save(ckpt, path)
        return path

    return write


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A fast, randomly initialised model directory (width 4, two levels) for I/O-level tests."""
    from n2ldiff.config import DiffusionConfig, ModelConfig, PipelineConfig
    from n2ldiff.models.n2ldiff import N2LDiff

    torch.manual_seed(0)
    config = PipelineConfig(
        model=ModelConfig(base_channels=4, channel_mults=(1, 2)),
        diffusion=DiffusionConfig(sampler="ddim", steps=3),
    )
    return N2LDiff(config).save_pretrained(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_v2_model_dir(tmp_path_factory) -> Path:
    """A randomly initialised model with the default model's v2 options (exposure, noise-level head)."""
    from n2ldiff.config import DiffusionConfig, ModelConfig, PipelineConfig
    from n2ldiff.models.n2ldiff import N2LDiff

    torch.manual_seed(0)
    config = PipelineConfig(
        model=ModelConfig(
            base_channels=4,
            channel_mults=(1, 2),
            instance_norm=False,
            upsample="resize-conv",
            exposure_conditioning=True,
            noise_level_head=True,
        ),
        diffusion=DiffusionConfig(
            timesteps=1000,
            prediction_type="preconditioned",
            start_timestep=150,
            timestep_spacing="geometric",
            sampler="ddim",
            eta=1.0,
            steps=3,
        ),
        exposure_quantiles=(1.7, 2.5, 3.0, 5.0, 20.0),
    )
    return N2LDiff(config).save_pretrained(tmp_path_factory.mktemp("models") / "tiny_v2")
