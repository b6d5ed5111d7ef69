"""Realism statistics on synthetic images with known noise and colour, plus the control-row check."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import linalg

from n2ldiff.errors import N2LDiffError
from n2ldiff.metrics.fidelity import LPIPS
from n2ldiff.metrics.realism import (
    DEFAULT_TONE_EDGES,
    assess_statistic,
    checkerboard_regions,
    colour_statistics,
    diversity,
    diversity_of_features,
    fid_kid,
    inception_features,
    nlf_distance,
    noise_level_function,
    split_subsets,
    to_uint8,
    tone_curve,
    tone_curve_distance,
)


def _clean_scene(seed: int, n: int = 2, size: int = 128) -> torch.Tensor:
    """Smooth colour ramps (flat) with strongly textured patches (not flat) over ~40% of the area."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0.2, 0.9, size).view(1, 1, 1, size)
    tint = torch.tensor([1.0, 0.9, 0.8]).view(1, 3, 1, 1)
    img = (ramp * tint).expand(n, 3, size, size).clone()
    tex = torch.rand(n, 3, size, size, generator=g)
    img[..., : size // 2, : size * 3 // 4] = tex[..., : size // 2, : size * 3 // 4]
    return img


def _poisson_gaussian(x: torch.Tensor, a: float, b: float, g: torch.Generator) -> torch.Tensor:
    """Signal-dependent noise with variance a*x + b (a Poisson, b Gaussian)."""
    shot = torch.poisson(x / a, generator=g) * a if a > 0 else x
    return shot + math.sqrt(b) * torch.randn(x.shape, generator=g)


def _checked_bins(nlf, min_count: int = 400):
    ok = nlf.count >= min_count
    assert ok.sum() >= 6, "too few populated bins for the check"
    return ok


def test_nlf_recovers_gaussian_noise() -> None:
    g = torch.Generator().manual_seed(0)
    normal = _clean_scene(1)
    low = 0.25 * normal + 0.02 * torch.randn(normal.shape, generator=g)
    nlf = noise_level_function(low, normal)
    ok = _checked_bins(nlf)
    rel = (nlf.std[ok] / 0.02 - 1).abs()
    assert rel.max() < 0.10
    assert torch.allclose(nlf.overall_std().float(), torch.full((3,), 0.02), rtol=0.05)


def test_nlf_recovers_poisson_gaussian_noise() -> None:
    g = torch.Generator().manual_seed(0)
    normal = _clean_scene(2)
    a, b = 0.004, 1e-4
    low = _poisson_gaussian(0.25 * normal, a, b, g)
    nlf = noise_level_function(low, normal)
    ok = _checked_bins(nlf)
    expected = (a * nlf.intensity + b).sqrt()
    rel = (nlf.std[ok] / expected[ok] - 1).abs()
    assert rel.max() < 0.10
    # the curve rises with intensity (signal-dependent noise), unlike the constant Gaussian case
    green = nlf.std[1][ok[1]]
    assert green[-1] > 1.15 * green[0]


def test_nlf_noise_free_darkening_reads_zero_despite_texture() -> None:
    normal = _clean_scene(3)
    low = 0.25 * normal  # no noise, but the textured patches are still there
    nlf = noise_level_function(low, normal)
    assert nlf.overall_std().max() < 1e-6
    # a naive estimate over the whole low image would mistake the texture for noise
    naive = noise_level_function(low, normal, flat_fraction=1.0)
    assert naive.overall_std().min() > 0.03


def test_nlf_merge_and_distance() -> None:
    g = torch.Generator().manual_seed(4)
    normal = _clean_scene(5)
    noisy1 = 0.25 * normal + 0.02 * torch.randn(normal.shape, generator=g)
    noisy2 = 0.25 * normal + 0.02 * torch.randn(normal.shape, generator=g)
    both = noise_level_function(noisy1, normal)
    merged = noise_level_function(noisy1[:1], normal[:1]).merge(noise_level_function(noisy1[1:], normal[1:]))
    torch.testing.assert_close(merged.sum_sq, both.sum_sq)
    torch.testing.assert_close(merged.count, both.count)
    same = nlf_distance(both, noise_level_function(noisy2, normal))
    clean = nlf_distance(both, noise_level_function(0.25 * normal, normal))
    assert same < 0.1
    assert clean > 2.0
    with pytest.raises(N2LDiffError):
        noise_level_function(noisy1, normal[..., :64])


def test_colour_statistics_known_cast() -> None:
    normal = _clean_scene(6)
    gains = torch.tensor([0.5, 0.25, 0.1]).view(1, 3, 1, 1)
    stats = colour_statistics(normal * gains, normal)
    torch.testing.assert_close(stats["channel_ratio"], gains.view(1, 3).expand(2, 3), atol=1e-5, rtol=1e-5)
    assert stats["ratio_spread"][0].item() == pytest.approx((0.5 - 0.1) / (0.85 / 3), rel=1e-4)
    uniform = colour_statistics(normal * 0.3, normal)
    assert uniform["chromaticity_shift"].abs().max() < 1e-6
    assert uniform["brightness_ratio"].tolist() == pytest.approx([0.3, 0.3], rel=1e-5)
    # a blue-less cast moves chromaticity away from blue
    assert (stats["chromaticity_shift"][:, 2] < -0.05).all()


def _fid_numpy(x: np.ndarray, y: np.ndarray) -> float:
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def _kid_numpy(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
    m = x.shape[0]
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean()
    )


def test_fid_kid_match_independent_formulas() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 16))
    y = rng.standard_normal((200, 16)) * 1.3 + 0.5
    scores = fid_kid(torch.from_numpy(x), torch.from_numpy(y), kid_subsets=1, kid_subset_size=200)
    assert scores.fid == pytest.approx(_fid_numpy(x, y), rel=1e-4)
    assert scores.kid_mean == pytest.approx(_kid_numpy(x, y), rel=1e-6)
    assert abs(fid_kid(torch.from_numpy(x), torch.from_numpy(x)).fid) < 1e-6
    # KID with random subsets is reproducible for a fixed seed and leaves the global RNG alone
    state = torch.get_rng_state()
    k1 = fid_kid(torch.from_numpy(x), torch.from_numpy(y), kid_subsets=5, kid_subset_size=50, seed=3)
    k2 = fid_kid(torch.from_numpy(x), torch.from_numpy(y), kid_subsets=5, kid_subset_size=50, seed=3)
    assert torch.equal(state, torch.get_rng_state())
    assert k1.kid_mean == k2.kid_mean
    with pytest.raises(N2LDiffError):
        fid_kid(torch.from_numpy(x[:1]), torch.from_numpy(y))


def test_inception_fid_end_to_end(inception_model) -> None:
    # Few images: the Inception forward costs ~0.2 s per image on a free CPU core.
    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(3, 3, 48, 48, generator=g)
    feats = inception_features([imgs[:2], imgs[2:]], inception_model, batch_size=2)
    assert feats.shape == (3, 2048) and feats.dtype == torch.float64
    torch.testing.assert_close(feats[2:], inception_model(to_uint8(imgs[2:])).double())
    # KID only: a 2048-D FID eigendecomposition takes seconds on CPU; the FID/KID formulas themselves
    # are checked against scipy/numpy above on low-dimensional features.
    darker = fid_kid(feats, inception_features(imgs * 0.2, inception_model, batch_size=3), compute_fid=False)
    same = fid_kid(feats, feats, compute_fid=False)
    assert math.isnan(darker.fid)
    assert darker.kid_mean > 0.01
    assert darker.kid_mean > 10 * abs(same.kid_mean)  # unbiased KID of a set with itself is ~0 (can be < 0)
    assert to_uint8(torch.tensor([0.0, 0.5, 1.0, 1.2])).tolist() == [0, 128, 255, 255]


def test_diversity(lpips_weights_dir) -> None:
    g = torch.Generator().manual_seed(0)
    lp = LPIPS("alex", lpips_weights_dir)
    base = torch.rand(2, 3, 64, 64, generator=g)
    samples = [
        base,
        (base + 0.1 * torch.randn(base.shape, generator=g)).clamp(0, 1),
        torch.rand(2, 3, 64, 64),
    ]
    div = diversity(samples, lp)
    manual = (lp(samples[0], samples[1]) + lp(samples[0], samples[2]) + lp(samples[1], samples[2])) / 3
    torch.testing.assert_close(div, manual)
    assert diversity([base, base.clone()], lp).abs().max() < 1e-6
    with torch.no_grad():
        torch.testing.assert_close(diversity_of_features([lp.features(s) for s in samples], lp), manual)
    with pytest.raises(N2LDiffError):
        diversity([base], lp)


def test_assess_statistic_labels() -> None:
    good = assess_statistic(
        {"real-vs-real": [0.10, 0.12, 0.11], "normal": [0.9, 0.95, 0.92], "dark-clean": [0.5, 0.55, 0.52]}
    )
    assert good.informative
    assert good.z["dark-clean"] > 2
    bad = assess_statistic(
        {"real-vs-real": [0.10, 0.30, 0.20], "normal": [0.9, 0.95, 0.92], "dark-clean": [0.15, 0.25, 0.22]}
    )
    assert bad.label == "uninformative"
    assert "dark-clean" in bad.reason and "normal" not in bad.reason
    only_normal = assess_statistic(
        {"real-vs-real": [0.10, 0.30, 0.20], "normal": [0.9, 0.95, 0.92], "dark-clean": [0.2, 0.2]},
        negatives=["normal"],
    )
    assert only_normal.informative
    assert not assess_statistic({"real-vs-real": [0.1], "normal": [0.9, 0.8]}).informative
    with pytest.raises(N2LDiffError):
        assess_statistic({"normal": [1.0, 2.0]})


def test_nlf_statistic_separates_controls() -> None:
    """End to end: the content-matched NLF distance to real low images passes the control check."""
    g = torch.Generator().manual_seed(7)
    normal = _clean_scene(8, n=6, size=96)

    def real(seed_gen: torch.Generator) -> torch.Tensor:
        return _poisson_gaussian(0.25 * normal, 0.004, 1e-4, seed_gen).clamp(0, 1)

    real_a, real_b = real(g), real(g)
    controls: dict[str, list[float]] = {"real-vs-real": [], "normal": [], "dark-clean": []}
    for idx in split_subsets(6, 3, torch.Generator().manual_seed(0)):
        ref = noise_level_function(real_b[idx], normal[idx])
        controls["real-vs-real"].append(nlf_distance(noise_level_function(real_a[idx], normal[idx]), ref))
        controls["normal"].append(nlf_distance(noise_level_function(normal[idx], normal[idx]), ref))
        controls["dark-clean"].append(nlf_distance(noise_level_function(0.25 * normal[idx], normal[idx]), ref))
    assert assess_statistic(controls).informative


# ------------------------------------------------------------------------------ image halves


def test_checkerboard_regions_are_disjoint_interleaved_halves() -> None:
    a, b = checkerboard_regions(70, 100, tile=16)
    assert a.shape == b.shape == (70, 100)
    assert not (a & b).any() and (a | b).all()
    assert a[0, 0] and not a[0, 16] and not a[16, 0] and a[16, 16] and a[15, 15]
    # every 32x32 block holds both halves equally: both halves see every part of the scene
    block = a[:64, :96].reshape(2, 32, 3, 32).float().mean(dim=(1, 3))
    assert torch.equal(block, torch.full((2, 3), 0.5))
    with pytest.raises(N2LDiffError):
        checkerboard_regions(8, 8, tile=0)


def test_nlf_region_measures_only_that_half() -> None:
    """Different known noise in the two halves: each half's NLF recovers its own level."""
    g = torch.Generator().manual_seed(11)
    normal = _clean_scene(12, size=160)
    a, b = checkerboard_regions(160, 160, tile=32)
    sigma = torch.where(a, torch.tensor(0.01), torch.tensor(0.04))
    low = 0.25 * normal + sigma * torch.randn(normal.shape, generator=g)
    # the 3x3 residual straddles a tile border on 2 of every 32 rows/cols: allow a little mixing
    for region, expected in ((a, 0.01), (b, 0.04)):
        overall = noise_level_function(low, normal, region=region).overall_std().float()
        assert torch.allclose(overall, torch.full((3,), expected), rtol=0.15), (overall, expected)
    everything = noise_level_function(low, normal, region=torch.ones(160, 160, dtype=torch.bool))
    torch.testing.assert_close(everything.sum_sq, noise_level_function(low, normal).sum_sq)
    halves = noise_level_function(low, normal, region=a).merge(noise_level_function(low, normal, region=b))
    torch.testing.assert_close(halves.count, everything.count)
    with pytest.raises(N2LDiffError, match="region"):
        noise_level_function(low, normal, region=a[:100])


# ------------------------------------------------------------------------------ tone curve


def _bin_centre_scene(n: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Every pixel sits exactly on a tone-curve bin centre (blocks of 8x8, random bins per channel)."""
    g = torch.Generator().manual_seed(seed)
    edges = torch.tensor(DEFAULT_TONE_EDGES)
    centres = (edges[:-1] + edges[1:]) / 2
    idx = torch.randint(0, centres.numel(), (n, 3, size // 8, size // 8), generator=g)
    return centres[idx].repeat_interleave(8, dim=2).repeat_interleave(8, dim=3)


def test_tone_curve_recovers_known_response() -> None:
    normal = _bin_centre_scene()
    gains = torch.tensor([0.30, 0.25, 0.15]).view(1, 3, 1, 1)
    low = gains * normal**2.2  # a per-channel camera-like response
    tc = tone_curve(low, normal)
    edges = torch.tensor(DEFAULT_TONE_EDGES, dtype=torch.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    expected = gains.view(3, 1).double() * centres.view(1, -1) ** 2.2
    ok = tc.count > 0
    assert ok.sum() >= 40
    torch.testing.assert_close(tc.curve[ok], expected.expand(3, -1)[ok], rtol=1e-5, atol=1e-7)
    assert tc.count.sum() == low.numel()  # every pixel is in exactly one bin
    # pooling two images equals measuring them together
    merged = tone_curve(low[:1], normal[:1]).merge(tone_curve(low[1:], normal[1:]))
    torch.testing.assert_close(merged.sum_low, tc.sum_low)


def test_tone_curve_distance_reads_exposure_error() -> None:
    normal = _bin_centre_scene(seed=1)
    low = 0.3 * normal
    same = tone_curve_distance(tone_curve(low, normal), tone_curve(low, normal), min_count=1)
    assert same == 0.0
    for factor in (1.5, 3.0):
        d = tone_curve_distance(tone_curve(low * factor, normal), tone_curve(low, normal), min_count=1, eps=1e-9)
        assert d == pytest.approx(math.log(factor), rel=1e-5)
    empty = tone_curve(low, normal, region=torch.zeros(64, 64, dtype=torch.bool))
    assert empty.count.sum() == 0 and math.isnan(tone_curve_distance(empty, tone_curve(low, normal)))


def test_colour_statistics_on_a_region() -> None:
    normal = _clean_scene(13)
    a, b = checkerboard_regions(128, 128, tile=16)
    low = torch.where(a, normal * 0.5, normal * 0.1)
    assert colour_statistics(low, normal, region=a)["brightness_ratio"].tolist() == pytest.approx([0.5, 0.5], rel=1e-5)
    assert colour_statistics(low, normal, region=b)["brightness_ratio"].tolist() == pytest.approx([0.1, 0.1], rel=1e-5)


def _camera_low(normal: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A short exposure through a camera-like response: toe, black level, blue cast, shot + read noise."""
    linear = normal**2.2 * 0.08 * torch.tensor([1.0, 1.0, 0.8]).view(1, 3, 1, 1)
    noisy = _poisson_gaussian(linear, 0.0005, 1e-6, g).clamp(0, 1)
    return to_uint8((noisy.clamp_min(0) ** (1 / 2.2) - 0.02).clamp(0, 1)).double() / 255


@pytest.mark.parametrize("statistic", ["nlf", "tone"])
def test_split_half_statistics_separate_controls(statistic: str) -> None:
    """The benchmark's design: every row on half A vs the real low image on half B, per scene."""
    g = torch.Generator().manual_seed(21)
    normal = _clean_scene(22, n=8, size=96)
    real = _camera_low(normal, g)
    k = real.mean(dim=(1, 2, 3), keepdim=True) / normal.mean(dim=(1, 2, 3), keepdim=True)
    rows = {"real-vs-real": real, "normal": normal, "dark-clean": to_uint8(normal * k).double() / 255}
    a, b = checkerboard_regions(96, 96, tile=16)

    def distance(x: torch.Tensor, i: int) -> float:
        n = normal[i : i + 1]
        if statistic == "nlf":
            return nlf_distance(
                noise_level_function(x[i : i + 1], n, region=a), noise_level_function(real[i : i + 1], n, region=b)
            )
        return tone_curve_distance(tone_curve(x[i : i + 1], n, region=a), tone_curve(real[i : i + 1], n, region=b))

    controls = {
        row: [float(np.nanmean([distance(x, int(i)) for i in idx])) for idx in split_subsets(8, 4, torch.Generator())]
        for row, x in rows.items()
    }
    assessment = assess_statistic(controls)
    assert assessment.informative, (controls, assessment)
    assert min(np.mean(controls["normal"]), np.mean(controls["dark-clean"])) > 2 * np.mean(controls["real-vs-real"])
