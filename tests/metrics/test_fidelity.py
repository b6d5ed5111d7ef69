"""PSNR/SSIM against scikit-image on the same arrays; LPIPS against the calibration fixtures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from n2ldiff.errors import N2LDiffError
from n2ldiff.metrics.fidelity import LPIPS, PairedReference, pad_or_crop_to_multiple, psnr, ssim


def _pair(seed: int, n: int = 2, h: int = 37, w: int = 45) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, 3, h, w, generator=g)
    # b: a smoothed, shifted, noisy version of a, so SSIM is neither 0 nor 1.
    b = (0.7 * a + 0.2 * torch.roll(a, 1, dims=-1) + 0.05 * torch.randn(n, 3, h, w, generator=g)).clamp(0, 1)
    return a, b


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).double().numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psnr_matches_skimage(seed: int) -> None:
    a, b = _pair(seed)
    ours = psnr(a, b)
    for i in range(a.shape[0]):
        ref = peak_signal_noise_ratio(_hwc(a[i]), _hwc(b[i]), data_range=1.0)
        assert ours[i].item() == pytest.approx(ref, abs=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ssim_matches_skimage(seed: int) -> None:
    a, b = _pair(seed)
    ours = ssim(a, b)
    for i in range(a.shape[0]):
        ref = structural_similarity(
            _hwc(a[i]),
            _hwc(b[i]),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=2,
        )
        assert 0.05 < ref < 0.95
        assert ours[i].item() == pytest.approx(ref, abs=1e-5)


def test_identical_images() -> None:
    a, _ = _pair(3, n=1)
    assert torch.isinf(psnr(a, a)).all()
    assert ssim(a, a).item() == pytest.approx(1.0, abs=1e-6)


def test_shape_errors() -> None:
    a = torch.rand(1, 3, 16, 16)
    with pytest.raises(N2LDiffError):
        psnr(a, torch.rand(1, 3, 16, 15))
    with pytest.raises(N2LDiffError):
        ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


def test_pad_or_crop_to_multiple() -> None:
    x = torch.arange(70 * 45, dtype=torch.float32).view(1, 1, 70, 45).expand(1, 3, 70, 45)
    c = pad_or_crop_to_multiple(x, 32, "crop")
    assert c.shape[-2:] == (64, 32)
    assert torch.equal(c, x[..., :64, :32])
    p = pad_or_crop_to_multiple(x, 32, "pad")
    assert p.shape[-2:] == (96, 64)
    assert torch.equal(p[..., :70, :45], x)
    assert torch.equal(p[..., 70, :45], x[..., 68, :])  # reflection about the last row
    with pytest.raises(N2LDiffError):
        pad_or_crop_to_multiple(torch.rand(1, 3, 20, 20), 32, "crop")


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_calibration(net: str, lpips_weights_dir, calibration) -> None:
    imgs = calibration["images"]
    reproduced = calibration["expected"]["reproduced"][net]
    model = LPIPS(net, lpips_weights_dir)
    d0 = model(imgs["ref"], imgs["p0"]).item()
    d1 = model(imgs["ref"], imgs["p1"]).item()
    assert d0 == pytest.approx(reproduced["ref_p0_full"], abs=1e-4)
    assert d1 == pytest.approx(reproduced["ref_p1_full"], abs=1e-4)
    published = calibration["expected"]["published"][net]
    if published["ref_p0"] is not None:
        assert d0 == pytest.approx(published["ref_p0"], abs=5e-4)
        assert d1 == pytest.approx(published["ref_p1"], abs=5e-4)
    # symmetric, zero on identical inputs, batched = one by one
    assert model(imgs["p0"], imgs["ref"]).item() == pytest.approx(d0, abs=1e-6)
    assert model(imgs["ref"], imgs["ref"]).item() == pytest.approx(0.0, abs=1e-7)
    batch = model(torch.cat([imgs["ref"], imgs["ref"]]), torch.cat([imgs["p0"], imgs["p1"]]))
    assert batch.tolist() == pytest.approx([d0, d1], abs=1e-5)


def test_a_paired_reference_gives_the_plain_metrics(lpips_weights_dir, calibration) -> None:
    """Prepared once, the reference scores each candidate as skimage's SSIM, psnr and the calibrated LPIPS do."""
    imgs = calibration["images"]
    reproduced = calibration["expected"]["reproduced"]["alex"]
    model = LPIPS("alex", lpips_weights_dir)
    reference = PairedReference(imgs["ref"], model)
    for name in ("p0", "p1"):
        candidate = imgs[name]
        assert reference.lpips(candidate).item() == pytest.approx(reproduced[f"ref_{name}_full"], abs=1e-4)
        with torch.no_grad():
            assert reference.lpips(model.features(candidate)).item() == pytest.approx(
                reference.lpips(candidate).item(), abs=1e-7
            )
        skimage_ssim = structural_similarity(
            _hwc(candidate[0]),
            _hwc(imgs["ref"][0]),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=2,
        )
        assert reference.ssim(candidate).item() == pytest.approx(skimage_ssim, abs=1e-5)
        assert reference.psnr(candidate).item() == pytest.approx(psnr(candidate, imgs["ref"]).item())
    with pytest.raises(N2LDiffError):
        reference.ssim(imgs["ref"][..., :-1])
    with pytest.raises(N2LDiffError, match="without an LPIPS"):
        PairedReference(imgs["ref"]).lpips(imgs["p0"])
