"""``n2ldiff.image_noise``: noise estimates against known synthetic noise and against torch's own ops."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from n2ldiff.image_noise import box_mean, local_std, normal_noise_std, selection_quantile
from tests.metrics.test_artifacts import smooth_scene


def test_normal_noise_std_recovers_the_noise_of_a_noisy_photo_also_from_its_central_crop():
    gen = torch.Generator().manual_seed(4)
    clean = smooth_scene(5)
    assert normal_noise_std(clean) < 0.004  # smooth content alone reads as little noise
    for sigma in (0.01, 0.03):
        noisy = clean + sigma * torch.randn(clean.shape, generator=gen)
        assert normal_noise_std(noisy) == pytest.approx(sigma, rel=0.1)
        # Only the central 32 x 32 is read: the much louder noise around it does not count.
        framed = clean.clone()
        framed[:, 48:80, 48:80] = noisy[:, 48:80, 48:80]
        loud = framed + 0.1 * torch.randn(clean.shape, generator=gen) * (framed == clean)
        assert normal_noise_std(loud, max_side=32) == pytest.approx(sigma, rel=0.2)
        assert normal_noise_std(loud) > 2 * sigma  # read whole, the loud part dominates


@pytest.mark.parametrize("n", [1, 2, 7, 1000])
@pytest.mark.parametrize("q", [0.0, 0.2, 0.5, 1.0])
def test_the_selection_quantile_equals_torch_quantile(n, q):
    values = torch.randn(n, generator=torch.Generator().manual_seed(n))
    assert torch.allclose(selection_quantile(values, q), torch.quantile(values, q))


def test_box_mean_equals_average_pooling():
    x = torch.rand(2, 3, 20, 30, generator=torch.Generator().manual_seed(0))
    for size in (3, 7):
        torch.testing.assert_close(box_mean(x, size), F.avg_pool2d(x, size, stride=1), atol=1e-6, rtol=0)


def test_local_std_equals_the_std_of_each_reflect_padded_window():
    x = torch.rand(2, 3, 9, 11, dtype=torch.float64)
    windows = F.unfold(F.pad(x, (2, 2, 2, 2), mode="reflect"), 5)  # N x (C*25) x (H*W)
    expected = windows.view(2, 3, 25, 9 * 11).std(dim=2, unbiased=False).view(2, 3, 9, 11)
    torch.testing.assert_close(local_std(x, 5), expected)
