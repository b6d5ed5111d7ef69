"""The shipped default model: loads offline, is small, darkens, varies with the seed, has a model card."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from n2ldiff.pipeline import LowLightPipeline, default_model_dir
from tests.conftest import REPO_ROOT


def test_default_model_ships_with_card_and_small_weights():
    folder = default_model_dir()
    weights = folder / "model.safetensors"
    assert weights.is_file() and weights.stat().st_size < 30 * 2**20
    card = (folder / "README.md").read_text()
    assert "non-commercial" in card and "n2ldiff train --config configs/default.yaml" in card


def test_default_model_generates_darker_varied_images():
    pipe = LowLightPipeline.from_pretrained(device="cpu")
    settings = pipe.settings()
    assert (settings.sampler, settings.steps, settings.start) == ("ddim", 6, "center+noise")
    photo = Image.open(REPO_ROOT / "examples" / "coffee.jpg").convert("RGB").resize((96, 64))
    low = pipe(photo, seeds=[3407, 123456])
    normal = torch.from_numpy(np.array(photo)).permute(2, 0, 1).float() / 255
    assert low.shape == (2, 3, 64, 96)
    assert float(low.mean()) < 0.8 * float(normal.mean())  # it makes low light
    assert float((low[0] - low[1]).abs().mean()) > 1e-3  # and a different one per seed
