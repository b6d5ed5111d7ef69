"""Torchvision-free feature networks: architecture facts and the Inception wiring for torchmetrics."""

from __future__ import annotations

import pytest
import torch

from n2ldiff.errors import N2LDiffError
from n2ldiff.metrics.backbones import InceptionFeatures, LPIPSBackbone, alexnet_features, vgg16_features


def test_feature_stacks_match_torchvision_layout() -> None:
    # Parameter counts of torchvision's alexnet().features and vgg16().features.
    assert sum(p.numel() for p in alexnet_features().parameters()) == 2_469_696
    assert sum(p.numel() for p in vgg16_features().parameters()) == 14_714_688
    assert len(alexnet_features()) == 13
    assert len(vgg16_features()) == 31


@pytest.mark.parametrize(
    ("net", "channels", "sizes"),
    [
        ("alex", [64, 192, 384, 256, 256], [15, 7, 3, 3, 3]),
        ("vgg", [64, 128, 256, 512, 512], [64, 32, 16, 8, 4]),
    ],
)
def test_lpips_taps(net: str, channels: list[int], sizes: list[int]) -> None:
    feats = LPIPSBackbone(net)(torch.rand(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == channels
    assert [f.shape[-1] for f in feats] == sizes
    assert all((f >= 0).all() for f in feats)  # taps are after ReLUs


def test_unknown_net() -> None:
    with pytest.raises(N2LDiffError):
        LPIPSBackbone("resnet")


def test_inception_wiring(inception_model) -> None:
    model = inception_model
    assert isinstance(model, InceptionFeatures)
    assert model.num_features == 2048
    g = torch.Generator().manual_seed(0)
    u8 = torch.randint(0, 256, (2, 3, 64, 80), generator=g, dtype=torch.uint8)
    f_u8 = model(u8)
    f_float = model(u8.float() / 255.0)  # what torchmetrics passes with normalize=True
    assert f_u8.shape == (2, 2048)
    assert f_u8.dtype == torch.float32
    assert (f_u8 >= 0).all()
    torch.testing.assert_close(f_float, f_u8, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(f_u8[0], f_u8[1])
