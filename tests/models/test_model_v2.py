"""The v2 architecture options: resize-conv upsampling, exposure conditioning, the noise-level head."""

from __future__ import annotations

import pytest
import torch

from n2ldiff.config import DiffusionConfig, PipelineConfig
from n2ldiff.errors import N2LDiffError
from n2ldiff.models.blocks import ResizeConvUpsample, Upsample
from n2ldiff.models.n2ldiff import N2LDiff
from tests.conftest import v2_model_config

V2 = v2_model_config(8)


def two_pixel_energy(x: torch.Tensor) -> float:
    """Energy of the (-1)^(i+j) component: what a checkerboard adds."""
    sign = (torch.arange(x.shape[-2])[:, None] + torch.arange(x.shape[-1])[None, :]) % 2 * 2 - 1
    return float((x * sign).mean(dim=(-2, -1)).abs().mean())


def test_resize_conv_upsampling_of_a_flat_map_stays_flat():
    torch.manual_seed(0)
    flat = torch.ones(1, 4, 8, 8)
    torch.set_grad_enabled(False)
    assert two_pixel_energy(ResizeConvUpsample(4)(flat)[..., 2:-2, 2:-2]) < 1e-6
    # The original's transposed convolution makes a 2-pixel pattern out of the same flat map.
    assert two_pixel_energy(Upsample(4)(flat)[..., 2:-2, 2:-2]) > 1e-3
    torch.set_grad_enabled(True)


def test_v2_model_encodes_with_exposure_and_starts_as_a_gaussian_sampler():
    torch.manual_seed(0)
    model = N2LDiff(PipelineConfig(model=V2, diffusion=DiffusionConfig(prediction_type="preconditioned")))
    normal = torch.rand(2, 3, 16, 16)
    with pytest.raises(N2LDiffError, match="exposure"):
        model.encode(normal)
    a = model.encode(normal, torch.tensor([2.0, 2.0]))
    b = model.encode(normal, torch.tensor([2.0, 16.0]))
    assert a.center.shape == a.log_noise_std.shape == (2, 3, 16, 16)
    torch.testing.assert_close(a.center[0], b.center[0])
    assert not torch.allclose(a.center[1], b.center[1])  # the exposure reaches the output
    # The noise level starts near real sensor noise and the denoiser's correction at exactly zero.
    assert -6 < float(a.log_noise_std.mean()) < -3
    out = model.denoise(torch.randn(2, 3, 16, 16), torch.tensor([3, 7]), normal, a)
    assert torch.equal(out, torch.zeros_like(out))


def test_v2_model_saves_and_loads(tmp_path):
    torch.manual_seed(0)
    config = PipelineConfig(model=V2, exposure_quantiles=(1.7, 3.0, 20.0))
    model = N2LDiff(config)
    loaded = N2LDiff.from_pretrained(model.save_pretrained(tmp_path / "m"))
    assert loaded.config == config
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2)
