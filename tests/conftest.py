"""Shared test fixtures: paths to ../shared, the original-code reference tensors, tiny models.

``../shared`` (or ``$N2LDIFF_SHARED``) is the project's data folder next to the clone: the full
original-code fixture, the LPIPS calibration images and the development photographs (SICE, LOL). A clone
from the internet does not have it. Tests that need it are skipped with a reason naming the folder,
except with ``N2LDIFF_REQUIRE_SHARED=1`` (set by ``.ci/run``), where they fail instead, so CI can never
pass without running them. The conditioning/schedule/q_sample/p_sample equivalence tests fall back to
the subset vendored in ``tests/fixtures/original_n2ldiff``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("N2LDIFF_SHARED", REPO_ROOT.parent / "shared"))
ORIGINAL_FIXTURE = SHARED / "fixtures" / "original_n2ldiff"
VENDORED_FIXTURE = REPO_ROOT / "tests" / "fixtures" / "original_n2ldiff"
REQUIRE_SHARED = os.environ.get("N2LDIFF_REQUIRE_SHARED", "") not in ("", "0")


def require_shared(path: Path, what: str) -> Path:
    """``path`` inside ../shared if it exists; else skip (or fail under N2LDIFF_REQUIRE_SHARED=1)."""
    if path.exists():
        return path
    reason = f"{what}: {path} not found (the sibling ../shared folder or $N2LDIFF_SHARED; see README, Test data)"
    if REQUIRE_SHARED:
        pytest.fail(f"{reason}; N2LDIFF_REQUIRE_SHARED is set, so this must not be skipped")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _threads():
    # The fixture tensors were made with 2 threads (1 thread stays within their tolerances). On a busy
    # machine, fewer threads than cores avoids oversubscription: N2LDIFF_TEST_THREADS=1.
    torch.set_num_threads(int(os.environ.get("N2LDIFF_TEST_THREADS", "2")))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return require_shared(SHARED, "needs the development data")


@pytest.fixture(scope="session")
def original_io() -> dict[str, torch.Tensor]:
    """The original code's tensors: the full fixture from ../shared, else the vendored subset (batch of 1)."""
    full = ORIGINAL_FIXTURE / "tiny_io.safetensors"
    if full.is_file() or REQUIRE_SHARED:
        return load_file(str(require_shared(full, "needs the full original-code fixture")))
    return load_file(str(VENDORED_FIXTURE / "core_io.safetensors"))


@pytest.fixture(scope="session")
def original_tiny_state() -> dict[str, torch.Tensor]:
    path = require_shared(ORIGINAL_FIXTURE / "tiny_weights.safetensors", "needs the original tiny model's weights")
    return load_file(str(path))


@pytest.fixture(scope="session")
def tiny_pairs_dir(tmp_path_factory) -> Path:
    """A small ``pairs`` dataset made here (4 train + 2 test scenes, 96x96): ``low/``, ``normal/``, split.csv."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("pairs")
    (root / "low").mkdir()
    (root / "normal").mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:96] / 95.0
    rows = ["scene,split"]
    for i in range(6):
        scene = f"scene{i}"
        base = np.stack([xx, yy, (xx + yy) / 2], axis=-1) * 0.6 + 0.3 * rng.random((96, 96, 3))
        low = base * (0.1 + 0.05 * i) + 0.02 * rng.standard_normal((96, 96, 3))
        for folder, image in (("normal", base), ("low", low)):
            pixels = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
            Image.fromarray(pixels).save(root / folder / f"{scene}.png")
        rows.append(f"{scene},{'train' if i < 4 else 'test'}")
    (root / "split.csv").write_text("\n".join(rows) + "\n")
    return root


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


def v2_model_config(base_channels: int):
    """A two-level ModelConfig with the v2 options (resize-conv, exposure, noise-level head)."""
    from n2ldiff.config import ModelConfig

    return ModelConfig(
        base_channels=base_channels,
        channel_mults=(1, 2),
        instance_norm=False,
        upsample="resize-conv",
        exposure_conditioning=True,
        noise_level_head=True,
    )


@pytest.fixture(scope="session")
def tiny_v2_model_dir(tmp_path_factory) -> Path:
    """A randomly initialised model with the default model's v2 options (exposure, noise-level head)."""
    from n2ldiff.config import DiffusionConfig, PipelineConfig
    from n2ldiff.models.n2ldiff import N2LDiff

    torch.manual_seed(0)
    config = PipelineConfig(
        model=v2_model_config(4),
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
