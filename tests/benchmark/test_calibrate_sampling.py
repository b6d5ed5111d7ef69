"""benchmarks/calibrate_sampling.py's fits, on synthetic per-pair values with known answers."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def calibrate():
    spec = importlib.util.spec_from_file_location(
        "calibrate_sampling", REPO_ROOT / "benchmarks" / "calibrate_sampling.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_normal_noise_slope_is_recovered_with_texture_removed(calibrate):
    rng = np.random.default_rng(0)
    n = np.exp(rng.uniform(np.log(5e-4), np.log(3e-2), 200))  # the normal images' own noise
    model = np.full(200, 2e-3)
    r = rng.uniform(2, 10, 200)
    noise = 1.5e-3 * (n / 3e-3) ** 0.4  # camera noise in the low frame: slope 0.4
    real = np.sqrt(noise**2 + (n / r) ** 2)  # what the metric measures: noise plus darkened texture
    table = {"normal_noise": n, "real_noise": real, "exposure": r, "model_noise": model}
    slope, reference = calibrate.fit_normal_noise_scaling(table)
    assert slope == pytest.approx(0.4, abs=0.02)
    assert reference == pytest.approx(float(np.median(n)))


def test_a_pairs_ratio_at_a_scaled_noise_is_read_off_its_own_grid(calibrate):
    grid = calibrate.SCALES
    table = {"noise_ratios": np.stack([2.0 * grid, 0.5 * grid])}  # ratio proportional to k
    out = calibrate.ratios_at(table, np.array([0.1, 0.2]), np.array([1.0, 4.0]))
    np.testing.assert_allclose(out, [[0.2, 0.4], [0.2, 0.4]], rtol=1e-6)


def test_the_auto_distribution_is_the_quantiles_of_each_pairs_exposure_ratio(calibrate, tmp_path):
    from n2ldiff.data.io import write_image
    from n2ldiff.data.layouts import ImagePair

    pairs = []
    for i, level in enumerate((0.4, 0.2, 0.1, 0.05)):  # normal mean 0.8: R = 2, 4, 8, 16
        normal, low = tmp_path / f"normal{i}.png", tmp_path / f"low{i}.png"
        write_image(normal, torch.full((3, 16, 16), 0.8))
        write_image(low, torch.full((3, 16, 16), level))
        pairs.append(ImagePair(f"p{i}", normal, low))
    quantiles = calibrate.exposure_quantiles(pairs)
    assert len(quantiles) == 21
    # 8-bit rounding moves each R slightly: 204/102 = 2, 204/51 = 4, 204/26 = 7.85, 204/13 = 15.7
    assert quantiles[0] == pytest.approx(2.0, rel=1e-3) and quantiles[-1] == pytest.approx(204 / 13, rel=1e-3)
    assert quantiles[10] == pytest.approx((4 + 204 / 26) / 2, rel=1e-3)  # the median of four values
    assert list(quantiles) == sorted(quantiles)
