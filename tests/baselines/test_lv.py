"""Lv et al. darkening: formula, grid, random ranges, Poisson-Gaussian noise statistics, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from n2ldiff.baselines.lv import LV_GRID, lv, lv_darken, poisson_gaussian_noise, random_lv_params
from n2ldiff.errors import N2LDiffError


def _img(seed: int = 0, n: int = 2, size: int = 32) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_grid_is_the_papers() -> None:
    assert len(LV_GRID) == 8
    assert {p[0] for p in LV_GRID} == {0.9, 1.0}
    assert {p[1] for p in LV_GRID} == {0.5, 1.0}
    assert {p[2] for p in LV_GRID} == {1.5, 5.0}


@pytest.mark.parametrize(("alpha", "beta", "gamma"), LV_GRID)
def test_darken_matches_numpy(alpha: float, beta: float, gamma: float) -> None:
    x = _img()
    expected = beta * (alpha * x.double().numpy()) ** gamma
    out = lv(x, torch.Generator().manual_seed(0), alpha=alpha, beta=beta, gamma=gamma)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-6)
    assert out.dtype == torch.float32


def test_random_params_in_ranges_and_seeded() -> None:
    g = torch.Generator().manual_seed(1)
    draws = np.array([random_lv_params(g) for _ in range(2000)])
    for col, (lo, hi) in enumerate([(0.9, 1.0), (0.5, 1.0), (1.5, 5.0)]):
        assert draws[:, col].min() >= lo and draws[:, col].max() <= hi
        assert draws[:, col].mean() == pytest.approx((lo + hi) / 2, abs=0.03 * (hi - lo))
    x = _img()
    a = lv(x, torch.Generator().manual_seed(5))
    b = lv(x, torch.Generator().manual_seed(5))
    c = lv(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert (a <= x + 1e-6).all()  # alpha, beta <= 1 and gamma > 1 only darken


def test_random_matches_explicit_params() -> None:
    x = _img(n=1)
    params = random_lv_params(torch.Generator().manual_seed(9))
    out = lv(x, torch.Generator().manual_seed(9))
    torch.testing.assert_close(out, lv_darken(x, *params))


def test_poisson_gaussian_statistics() -> None:
    g = torch.Generator().manual_seed(0)
    for level, shot, read in [(0.1, 0.004, 1e-4), (0.3, 0.01, 4e-4), (0.2, 0.0, 2.5e-4)]:
        x = torch.full((1, 3, 256, 256), level)
        y = poisson_gaussian_noise(x, g, shot, read).double()
        assert y.mean().item() == pytest.approx(level, abs=2e-3)
        assert y.var().item() == pytest.approx(shot * level + read, rel=0.05)


def test_noise_option_and_errors() -> None:
    x = _img(size=48) * 0.5 + 0.25
    clean = lv(x, torch.Generator().manual_seed(2))
    noisy = lv(x, torch.Generator().manual_seed(2), noise=True)
    assert noisy.shape == clean.shape
    assert ((noisy - clean).abs().mean() > 1e-3).item()
    assert noisy.min() >= 0 and noisy.max() <= 1
    with pytest.raises(N2LDiffError):
        lv_darken(x, 0.0, 1.0, 2.0)
    with pytest.raises(N2LDiffError):
        lv(torch.rand(3, 8, 8), torch.Generator())
