"""MAET-style degradation: Tukey-lambda read noise, total raw noise variance, row noise, output."""

from __future__ import annotations

import pytest
import torch
from scipy import stats

from n2ldiff.baselines.dark_isp import (
    SensorNoise,
    dark_isp,
    low_light_corruption,
    random_sensor_noise,
    tukey_lambda,
    tukey_lambda_variance,
)


@pytest.mark.parametrize("lam", [-0.2, -0.1, 0.0, 0.14])
def test_tukey_lambda_matches_scipy(lam: float) -> None:
    assert tukey_lambda_variance(lam) == pytest.approx(stats.tukeylambda.var(lam), rel=1e-6)
    s = tukey_lambda((400_000,), lam, torch.Generator().manual_seed(0))
    assert s.var().item() == pytest.approx(stats.tukeylambda.var(lam), rel=0.05)
    q = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    torch.testing.assert_close(
        torch.quantile(s, q), torch.from_numpy(stats.tukeylambda.ppf(q.numpy(), lam)), atol=0.02, rtol=0
    )


def test_corruption_total_variance_and_rows() -> None:
    noise = SensorNoise(system_gain=0.002, tukey_lambda=-0.1, tukey_scale=0.004, row_sigma=0.003, bits=12)
    level = 0.2
    raw = torch.full((4, 3, 128, 256), level, dtype=torch.float64)
    y = low_light_corruption(raw, torch.Generator().manual_seed(0), noise)
    expected = (
        noise.system_gain * level
        + noise.tukey_scale**2 * tukey_lambda_variance(noise.tukey_lambda)
        + noise.row_sigma**2
        + 1 / (12 * (2**12 - 1) ** 2)
    )
    assert y.mean().item() == pytest.approx(level, abs=2e-3)
    assert y.var().item() == pytest.approx(expected, rel=0.07)
    row_means = y.mean(dim=3)  # per-row offsets dominate the variance of row means
    assert row_means.var().item() == pytest.approx(noise.row_sigma**2 + (expected - noise.row_sigma**2) / 256, rel=0.15)
    levels = y * (2**12 - 1)
    torch.testing.assert_close(levels, levels.round())  # quantised


def test_read_noise_is_heavy_tailed() -> None:
    noise = SensorNoise(system_gain=1e-9, tukey_lambda=-0.2, tukey_scale=0.01, row_sigma=0.0, bits=16)
    y = low_light_corruption(torch.full((1, 1, 512, 512), 0.5), torch.Generator().manual_seed(0), noise)
    assert stats.kurtosis(y.flatten().double().numpy()) > 1.0  # Gaussian would be ~0


def test_sensor_noise_ranges() -> None:
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        p = random_sensor_noise(g)
        assert 1e-3 <= p.system_gain <= 1e-2
        assert -0.3 <= p.tukey_lambda <= -0.05
        assert 0.1 * p.tukey_scale <= p.row_sigma <= 0.3 * p.tukey_scale


def test_dark_isp_output() -> None:
    x = 0.2 + 0.6 * torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    a = dark_isp(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, dark_isp(x, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, dark_isp(x, torch.Generator().manual_seed(2)))
    assert a.shape == x.shape and a.dtype == torch.float32
    assert a.min() >= 0 and a.max() <= 1
    assert a.median() < 0.5 * x.median()
