"""Shared fixtures for the metrics tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from n2ldiff.metrics.weights import default_weights_dir, weights_available
from tests.conftest import SHARED, require_shared

CALIBRATION = SHARED / "fixtures" / "lpips_calibration"


def _fetched_weights_dir(group: str) -> Path:
    """The fetched weights dir; skips (with the reason) only when ``group`` was never fetched."""
    d = default_weights_dir()
    if not weights_available(group, d):
        pytest.skip(f"{group} weights not in {d}; run `n2ldiff fetch-weights` (CI does this first)")
    return d


@pytest.fixture(scope="session")
def lpips_weights_dir() -> Path:
    return _fetched_weights_dir("lpips")


@pytest.fixture(scope="session")
def inception_weights_dir() -> Path:
    return _fetched_weights_dir("inception")


@pytest.fixture(scope="session")
def calibration() -> dict:
    """The three PerceptualSimilarity example images (1×3×64×64 in [0,1]) and expected values."""
    expected_file = require_shared(CALIBRATION / "expected.json", "needs the LPIPS calibration images")
    expected = json.loads(expected_file.read_text())
    images = {}
    for name in ("ref", "p0", "p1"):
        arr = np.array(Image.open(CALIBRATION / f"ex_{name}.png").convert("RGB"))
        images[name] = torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255.0
    return {"images": images, "expected": expected}


@pytest.fixture(scope="session")
def inception_model(inception_weights_dir: Path):
    """One InceptionFeatures per test session (its TorchScript warm-up takes a few seconds)."""
    from n2ldiff.metrics.backbones import InceptionFeatures

    return InceptionFeatures(inception_weights_dir)
