"""Brooks et al. unprocessing: invertible steps round-trip, published distributions, noise statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from n2ldiff.baselines.unprocess import (
    CameraParams,
    add_shot_read_noise,
    gamma_compression,
    gamma_expansion,
    inverse_smoothstep,
    process,
    random_camera,
    random_noise_levels,
    smoothstep,
    unprocess,
    unprocess_lowlight,
)


def _natural(seed: int, n: int = 2, size: int = 32) -> torch.Tensor:
    """Moderately saturated colours in [0.1, 0.8] (no clipping anywhere in the pipeline)."""
    g = torch.Generator().manual_seed(seed)
    grey = torch.rand(n, 1, size, size, generator=g)
    col = torch.rand(n, 3, size, size, generator=g)
    return 0.1 + 0.7 * (0.7 * grey + 0.3 * col)


def test_scalar_steps_invert() -> None:
    x = torch.linspace(0, 1, 1001, dtype=torch.float64)
    torch.testing.assert_close(inverse_smoothstep(smoothstep(x)), x, atol=1e-7, rtol=0)
    torch.testing.assert_close(smoothstep(inverse_smoothstep(x)), x, atol=1e-7, rtol=0)
    y = x[1:]
    torch.testing.assert_close(gamma_compression(gamma_expansion(y)), y)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("preserve", [False, True])
def test_unprocess_process_round_trip(seed: int, preserve: bool) -> None:
    x = _natural(seed)
    cam = random_camera(torch.Generator().manual_seed(seed))
    raw = unprocess(x, cam, preserve_highlights=preserve)
    assert raw.min() > 0 and raw.max() < 1  # nothing clipped, so the round trip must be exact
    torch.testing.assert_close(process(raw, cam), x, atol=1e-4, rtol=0)


def test_highlights_stay_bright() -> None:
    x = torch.ones(1, 3, 4, 4)  # clipped white
    cam = random_camera(torch.Generator().manual_seed(0))
    plain = unprocess(x, cam, preserve_highlights=False)
    safe = unprocess(x, cam, preserve_highlights=True)
    assert plain.min() < 0.7  # plain inverse gains turn clipped white into a dim colour
    torch.testing.assert_close(safe, x)  # highlight-preserving inverse keeps it saturated


def test_camera_distributions() -> None:
    g = torch.Generator().manual_seed(0)
    cams = [random_camera(g) for _ in range(2000)]
    red = np.array([c.red_gain for c in cams])
    blue = np.array([c.blue_gain for c in cams])
    inv_digital = np.array([1 / c.rgb_gain for c in cams])
    assert red.min() >= 1.9 and red.max() <= 2.4
    assert blue.min() >= 1.5 and blue.max() <= 1.9
    assert inv_digital.mean() == pytest.approx(0.8, abs=0.01)
    assert inv_digital.std() == pytest.approx(0.1, abs=0.01)
    for c in cams[:20]:
        torch.testing.assert_close(c.rgb2cam.sum(1), torch.ones(3, dtype=torch.float64))
        torch.testing.assert_close(c.cam2rgb @ c.rgb2cam, torch.eye(3, dtype=torch.float64))


def test_noise_level_distribution() -> None:
    g = torch.Generator().manual_seed(0)
    levels = np.array([random_noise_levels(g) for _ in range(4000)])
    log_shot, log_read = np.log(levels[:, 0]), np.log(levels[:, 1])
    assert levels[:, 0].min() >= 1e-4 and levels[:, 0].max() <= 0.012
    assert log_shot.mean() == pytest.approx((math.log(1e-4) + math.log(0.012)) / 2, abs=0.05)
    resid = log_read - (2.18 * log_shot + 1.20)
    assert resid.mean() == pytest.approx(0.0, abs=0.02)
    assert resid.std() == pytest.approx(0.26, abs=0.01)


def test_shot_read_noise_variance() -> None:
    g = torch.Generator().manual_seed(0)
    shot, read = 0.01, 2e-4
    for level in (0.02, 0.1, 0.4):
        raw = torch.full((1, 3, 200, 200), level, dtype=torch.float64)
        y = add_shot_read_noise(raw, g, shot, read)
        assert y.mean().item() == pytest.approx(level, abs=1e-3)
        assert y.var().item() == pytest.approx(shot * level + read, rel=0.04)


def test_unprocess_lowlight_output() -> None:
    x = _natural(7, size=48)
    a = unprocess_lowlight(x, torch.Generator().manual_seed(1))
    b = unprocess_lowlight(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert a.shape == x.shape and a.dtype == torch.float32
    assert a.min() >= 0 and a.max() <= 1
    assert a.mean() < 0.5 * x.mean()
    # without noise, a larger exposure factor gives a brighter image, everything else equal
    dim = unprocess_lowlight(x, torch.Generator().manual_seed(3), exposure=0.02, noise=False)
    bright = unprocess_lowlight(x, torch.Generator().manual_seed(3), exposure=0.2, noise=False)
    assert (bright >= dim - 1e-6).all() and bright.mean() > 2 * dim.mean()
    # and exposure 1 without noise is the identity round trip
    same = unprocess_lowlight(x, torch.Generator().manual_seed(3), exposure=1.0, noise=False)
    torch.testing.assert_close(same, x, atol=1e-4, rtol=0)


def test_camera_params_gains() -> None:
    cam = CameraParams(torch.eye(3, dtype=torch.float64), 1.25, 2.0, 1.6)
    assert cam.wb_gains().tolist() == pytest.approx([2.5, 1.25, 2.0])
