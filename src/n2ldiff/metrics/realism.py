"""Realism statistics for synthetic low light, and a check that a statistic measures low light at all.

Content-matched on pairs: every per-image statistic compares a low image with the *normal*
image of the same scene, so scene content cancels. The noise-level function is measured only where the
clean normal image is flat; the tone curve is the mean low value per normal intensity (how the scene was
darkened, per channel); colour statistics are ratios of the low image to its normal image. Each can be
restricted to a ``region`` of the image: ``checkerboard_regions`` splits an image into two disjoint,
interleaved halves, so a synthetic image measured on one half can be compared with the real low image
of the same scene measured on the other, and the real image's two halves give a content-matched
real-vs-real reference. Distribution-level KID/FID use the offline FID Inception
(``backbones.InceptionFeatures``); ``assess_statistic`` decides from control groups (real-vs-real,
untouched normal, noise-free darkening) whether a statistic may be used to rank methods.

All functions take N×3×H×W float images in [0, 1] and compute on the inputs' device.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from n2ldiff.errors import N2LDiffError
from n2ldiff.metrics.backbones import InceptionFeatures
from n2ldiff.metrics.fidelity import LPIPS

#: Default intensity bin edges for the noise-level function (low-light images live mostly below 0.3).
DEFAULT_NLF_EDGES: tuple[float, ...] = (
    0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.13, 0.16, 0.20, 0.25, 0.30, 0.40, 0.50, 0.70, 1.0,
)  # fmt: skip


def _check_images(x: Tensor, name: str) -> None:
    if x.ndim != 4 or x.shape[1] != 3:
        raise N2LDiffError(f"{name}: expected N×3×H×W images, got shape {tuple(x.shape)}")


def _check_pair(low: Tensor, normal: Tensor) -> None:
    _check_images(low, "low")
    if low.shape != normal.shape:
        raise N2LDiffError(f"low and normal shapes differ: {tuple(low.shape)} vs {tuple(normal.shape)}")


def _box_mean(x: Tensor, k: int) -> Tensor:
    """Mean over a k×k window, 'valid' (output shrinks by k-1)."""
    return F.avg_pool2d(x, kernel_size=k, stride=1)


def checkerboard_regions(
    height: int, width: int, tile: int = 32, device: torch.device | str | None = None
) -> tuple[Tensor, Tensor]:
    """Two disjoint H×W boolean masks that tile the image like a checkerboard of ``tile``×``tile`` squares.

    Both halves cover every part of the scene (interleaved), so statistics of one half and of the other
    differ by sampling, not by content: comparing a real low image's two halves gives the spread a
    perfectly realistic synthetic image would show.
    """
    if tile < 1:
        raise N2LDiffError(f"region tile must be >= 1 pixel, got {tile}")
    rows = torch.arange(height, device=device).view(-1, 1) // tile
    cols = torch.arange(width, device=device).view(1, -1) // tile
    first = (rows + cols) % 2 == 0
    return first, ~first


def _region_mask(region: Tensor | None, shape: torch.Size, crop: int = 0) -> Tensor | None:
    """``region`` (H×W or N×1×H×W bool, full image size) as N×1×h×w, cropped by ``crop`` on each side."""
    if region is None:
        return None
    n, _, h, w = shape
    r = region.bool()
    if r.ndim == 2:
        r = r[None, None]
    if r.ndim != 4 or r.shape[1] != 1 or r.shape[-2:] != (h, w) or r.shape[0] not in (1, n):
        raise N2LDiffError(
            f"region must be H×W or N×1×H×W matching the images {tuple(shape)}, got {tuple(region.shape)}"
        )
    if crop:
        r = r[..., crop:-crop, crop:-crop]
    return r.expand(n, 1, *r.shape[-2:])


def _bin_sums(key: Tensor, values: Sequence[Tensor], mask: Tensor, edges: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Per channel, bin the masked pixels by ``key`` (N×3×h×w) into ``edges``; sum each of ``values``.

    Returns (count, sums), each (3, B) float64; pixels outside [edges[0], edges[-1]] are dropped.
    """
    nb = edges.numel() - 1
    idx = (torch.bucketize(key.contiguous(), edges, right=True) - 1).clamp(max=nb - 1)  # last edge -> last bin
    valid = mask & (key >= edges[0]) & (key <= edges[-1])
    count = torch.zeros(3, nb, dtype=torch.float64, device=key.device)
    sums = [torch.zeros_like(count) for _ in values]
    for ch in range(3):
        m = valid[:, ch]
        b = idx[:, ch][m]
        count[ch].index_add_(0, b, torch.ones_like(b, dtype=torch.float64))
        for total, v in zip(sums, values, strict=True):
            total[ch].index_add_(0, b, v[:, ch][m].double())
    return count, sums


def _log_ratio_distance(a: Tensor, b: Tensor, ok: Tensor, eps: float) -> float:
    """Mean |log((a+eps)/(b+eps))| over the entries where ``ok``; NaN if none."""
    if not ok.any():
        return math.nan
    return float((torch.log(a[ok] + eps) - torch.log(b.to(a.device)[ok] + eps)).abs().mean())


# --------------------------------------------------------------------------------------------------
# Noise-level function


class _BinnedSums:
    """Mixin for dataclasses of per-bin sums with an ``edges`` field: pooling two is adding the sums."""

    edges: Tensor

    def merge(self: _Sums, other: _Sums) -> _Sums:
        """Pool the pixels of two measurements (same edges)."""
        if type(other) is not type(self) or not torch.equal(self.edges.cpu(), other.edges.cpu()):
            raise N2LDiffError(f"cannot merge {type(self).__name__} with {type(other).__name__} of other bin edges")
        sums = {
            f.name: getattr(self, f.name) + getattr(other, f.name).to(self.edges.device)
            for f in fields(self)  # type: ignore[arg-type]
            if f.name != "edges"
        }
        return type(self)(edges=self.edges, **sums)


_Sums = TypeVar("_Sums", bound=_BinnedSums)


@dataclass
class NoiseLevelFunction(_BinnedSums):
    """Noise std against intensity, per RGB channel, as mergeable sums over flat pixels.

    ``sum_sq``/``sum_x``/``count`` have shape (3, B) for B bins given by ``edges`` (B+1 values) of the
    low image's local mean intensity.
    """

    edges: Tensor
    sum_sq: Tensor
    sum_x: Tensor
    count: Tensor

    @property
    def std(self) -> Tensor:
        """(3, B) noise std per channel and bin; NaN where a bin has no pixels."""
        return (self.sum_sq / self.count).sqrt()

    @property
    def intensity(self) -> Tensor:
        """(3, B) mean low-image intensity of the pixels in each bin (NaN where empty)."""
        return self.sum_x / self.count

    def overall_std(self) -> Tensor:
        """(3,) noise std over all flat pixels, per channel."""
        return (self.sum_sq.sum(1) / self.count.sum(1).clamp_min(1)).sqrt()


def flat_mask(normal: Tensor, window: int = 7, flat_fraction: float = 0.3) -> Tensor:
    """N×1×h×w boolean mask of the flattest pixels of the clean normal image.

    Flatness is the local standard deviation over a ``window``×``window`` box (max over RGB); per image
    the ``flat_fraction`` of pixels with the lowest value are flat. The mask is 'valid' sized:
    h = H - window + 1, aligned with the window centres.
    """
    _check_images(normal, "normal")
    if not 0 < flat_fraction <= 1:
        raise N2LDiffError(f"flat_fraction must be in (0, 1], got {flat_fraction}")
    if min(normal.shape[-2:]) < window:
        raise N2LDiffError(f"images must be at least {window}×{window} pixels, got {tuple(normal.shape[-2:])}")
    x = normal.double()
    var = (_box_mean(x * x, window) - _box_mean(x, window) ** 2).clamp_min(0)
    local_std = var.sqrt().amax(dim=1, keepdim=True)
    flat = local_std.flatten(1)
    k = max(1, math.ceil(flat_fraction * flat.shape[1]))  # kthvalue has no size limit, unlike quantile
    thresh = flat.kthvalue(k, dim=1).values
    return local_std <= thresh.view(-1, 1, 1, 1)


def noise_level_function(
    low: Tensor,
    normal: Tensor,
    *,
    edges: Sequence[float] | Tensor = DEFAULT_NLF_EDGES,
    window: int = 7,
    flat_fraction: float = 0.3,
    region: Tensor | None = None,
) -> NoiseLevelFunction:
    """Noise std vs intensity of ``low``, per channel, measured where ``normal`` (same scene) is flat.

    Residual: ``r = x - mean3x3(x)`` of the low image. For i.i.d. noise of std s, Var(r) = s²·8/9 (the
    centre pixel enters the 3×3 mean with weight 1/9), so s is estimated as RMS(r)/sqrt(8/9). Pixels
    are used only where the clean normal image is flat (``flat_mask``), so texture and edges of the
    scene do not count as noise; they are binned by the low image's 3×3 local mean per channel.
    ``region`` (H×W or N×1×H×W bool) further restricts the pixels, e.g. to one ``checkerboard_regions``
    half; flatness is still ranked over the whole image, so both halves use the same threshold.
    Measures the high-frequency part of the noise (spatially correlated noise reads lower).
    """
    _check_pair(low, normal)
    if window < 3 or window % 2 == 0:
        raise N2LDiffError(f"window must be odd and >= 3, got {window}")
    e = torch.as_tensor(edges, dtype=torch.float64, device=low.device)
    x = low.double()
    mean3 = _box_mean(x, 3)
    resid = x[..., 1:-1, 1:-1] - mean3
    c = (window - 3) // 2  # crop the 3×3-valid maps to the window-valid grid
    if c:
        resid, mean3 = resid[..., c:-c, c:-c], mean3[..., c:-c, c:-c]
    mask = flat_mask(normal, window, flat_fraction)
    r = _region_mask(region, low.shape, (window - 1) // 2)
    if r is not None:
        mask = mask & r.to(mask.device)
    count, (sum_sq, sum_x) = _bin_sums(mean3, [resid**2 * (9.0 / 8.0), mean3], mask.expand_as(resid), e)
    return NoiseLevelFunction(e, sum_sq, sum_x, count)


def nlf_distance(a: NoiseLevelFunction, b: NoiseLevelFunction, min_count: int = 50, eps: float = 1e-3) -> float:
    """Mean |log((std_a+eps)/(std_b+eps))| over channel-bins with >= ``min_count`` pixels in both.

    ``eps`` (about the std of 8-bit quantisation) keeps noise-free images finite. NaN if no bin qualifies.
    """
    ok = (a.count >= min_count) & (b.count.to(a.count.device) >= min_count)
    return _log_ratio_distance(a.std, b.std, ok, eps)


# --------------------------------------------------------------------------------------------------
# Tone curve

#: Default bin edges of the *normal* image's intensity for the tone curve.
DEFAULT_TONE_EDGES: tuple[float, ...] = tuple(i / 16 for i in range(17))


@dataclass
class ToneCurve(_BinnedSums):
    """Mean low-image value per bin of the normal image's intensity, per RGB channel (mergeable sums).

    This is how the scene was darkened: a global exposure change is a straight line through 0, a
    camera's short exposure bends it (toe, shoulder, black level) and shifts channels differently.
    ``sum_low``/``count`` have shape (3, B) for B bins given by ``edges``.
    """

    edges: Tensor
    sum_low: Tensor
    count: Tensor

    @property
    def curve(self) -> Tensor:
        """(3, B) mean low value per channel and normal-intensity bin; NaN where a bin is empty."""
        return self.sum_low / self.count


def tone_curve(
    low: Tensor,
    normal: Tensor,
    *,
    edges: Sequence[float] | Tensor = DEFAULT_TONE_EDGES,
    region: Tensor | None = None,
) -> ToneCurve:
    """E[low_c | normal_c in bin] per channel c: the low image's response to the normal image's intensity.

    Pixel-wise and content-matched: both images show the same scene, so the curve describes the
    darkening (exposure, tone, colour), not what is in the picture. ``region`` restricts the pixels.
    """
    _check_pair(low, normal)
    e = torch.as_tensor(edges, dtype=torch.float64, device=low.device)
    r = _region_mask(region, low.shape)
    mask = torch.ones_like(low[:, :1], dtype=torch.bool) if r is None else r.to(low.device)
    count, (sum_low,) = _bin_sums(normal.double(), [low], mask.expand_as(low), e)
    return ToneCurve(e, sum_low, count)


def tone_curve_distance(a: ToneCurve, b: ToneCurve, min_count: int = 100, eps: float = 1e-2) -> float:
    """Mean |log((curve_a+eps)/(curve_b+eps))| over channel-bins with >= ``min_count`` pixels in both.

    A uniform exposure error by a factor f reads about |log f|; ``eps`` (1% of full scale) keeps
    near-black bins from dominating. NaN if no bin qualifies.
    """
    ok = (a.count >= min_count) & (b.count.to(a.count.device) >= min_count)
    return _log_ratio_distance(a.curve, b.curve, ok, eps)


# --------------------------------------------------------------------------------------------------
# Colour statistics and diversity


def colour_statistics(
    low: Tensor, normal: Tensor, eps: float = 1e-6, region: Tensor | None = None
) -> dict[str, Tensor]:
    """Content-matched colour statistics of ``low`` relative to its ``normal`` image, per image.

    Means are over all pixels, or over ``region`` (H×W or N×1×H×W bool) when given.

    * ``channel_ratio`` (N,3): mean(low_c) / mean(normal_c) — how much each channel was darkened.
    * ``ratio_spread`` (N,): max minus min of ``channel_ratio`` / its mean — a colour cast indicator.
    * ``chromaticity_shift`` (N,3): mean rgb chromaticity (c / (R+G+B)) of low minus that of normal.
    * ``brightness_ratio`` (N,): mean(low) / mean(normal) over all channels.
    """
    _check_pair(low, normal)
    r = _region_mask(region, low.shape)
    if r is None:
        ml, mn = low.double().mean(dim=(2, 3)), normal.double().mean(dim=(2, 3))
    else:
        w = r.to(low.device).double()
        area = w.sum(dim=(2, 3)).clamp_min(1)
        ml = (low.double() * w).sum(dim=(2, 3)) / area
        mn = (normal.double() * w).sum(dim=(2, 3)) / area
    ratio = ml / (mn + eps)
    chrom_l = ml / (ml.sum(1, keepdim=True) + eps)
    chrom_n = mn / (mn.sum(1, keepdim=True) + eps)
    return {
        "channel_ratio": ratio.float(),
        "ratio_spread": ((ratio.amax(1) - ratio.amin(1)) / (ratio.mean(1) + eps)).float(),
        "chromaticity_shift": (chrom_l - chrom_n).float(),
        "brightness_ratio": (ml.mean(1) / (mn.mean(1) + eps)).float(),
    }


def diversity(samples: Sequence[Tensor], lpips: LPIPS) -> Tensor:
    """Per-image mean pairwise LPIPS over the K >= 2 samples (one N×3×H×W batch per seed)."""
    with torch.no_grad():
        return diversity_of_features([lpips.features(s) for s in samples], lpips)


def diversity_of_features(features: Sequence[list[Tensor]], lpips: LPIPS) -> Tensor:
    """``diversity`` from each sample's ``LPIPS.features`` (computed once per sample, not once per pair)."""
    if len(features) < 2:
        raise N2LDiffError(f"diversity needs at least 2 samples per image, got {len(features)}")
    pairs = [(i, j) for i in range(len(features)) for j in range(i + 1, len(features))]
    with torch.no_grad():
        return sum(lpips.distance(features[i], features[j]) for i, j in pairs) / len(pairs)


# --------------------------------------------------------------------------------------------------
# KID / FID


def to_uint8(x: Tensor) -> Tensor:
    """[0,1] float -> uint8 with rounding, as when the image is saved as an 8-bit file."""
    return (x.clamp(0, 1) * 255.0).round().to(torch.uint8)


@torch.no_grad()
def inception_features(images: Tensor | Iterable[Tensor], model: InceptionFeatures, batch_size: int = 16) -> Tensor:
    """(M, 2048) float64 Inception features of [0,1] float images (quantised to 8 bits first).

    ``images`` is one N×3×H×W tensor or an iterable of such batches (sizes may differ between batches).
    """
    batches = [images] if isinstance(images, Tensor) else images
    device = next(model.parameters()).device
    out = []
    for batch in batches:
        _check_images(batch, "images")
        for i in range(0, batch.shape[0], batch_size):
            out.append(model(to_uint8(batch[i : i + batch_size]).to(device)).double())
    if not out:
        raise N2LDiffError("no images given for Inception features")
    return torch.cat(out)


class _PrecomputedFeatures(nn.Module):
    """Identity "feature extractor": lets torchmetrics' FID/KID consume features computed once."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x


@dataclass
class DistributionScores:
    fid: float
    kid_mean: float
    kid_std: float
    n_real: int
    n_fake: int
    kid_subset_size: int = field(default=0)


def fid_kid(
    real_features: Tensor,
    fake_features: Tensor,
    *,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
    compute_fid: bool = True,
) -> DistributionScores:
    """FID and KID (torchmetrics, on precomputed Inception features from ``inception_features``).

    KID's random subsets are drawn under ``torch.random.fork_rng`` seeded with ``seed``, so the global
    RNG is untouched and the result is reproducible. The subset size is capped by the smaller set.
    FID at D = 2048 needs a general eigendecomposition of a 2048×2048 matrix (seconds on CPU);
    ``compute_fid=False`` skips it and reports NaN.
    """
    n_real, n_fake = real_features.shape[0], fake_features.shape[0]
    if min(n_real, n_fake) < 2:
        raise N2LDiffError(f"FID/KID need at least 2 images per set, got {n_real} real and {n_fake} synthetic")
    if real_features.ndim != 2 or fake_features.shape[1:] != real_features.shape[1:]:
        raise N2LDiffError(
            f"expected (M, D) feature matrices, got {tuple(real_features.shape)} and {tuple(fake_features.shape)}"
        )
    feat = _PrecomputedFeatures(real_features.shape[1])
    fid = FrechetInceptionDistance(feature=feat, normalize=False).to(real_features.device)
    size = min(kid_subset_size, n_real, n_fake)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        kid = KernelInceptionDistance(feature=feat, subsets=kid_subsets, subset_size=size, normalize=False)
    kid = kid.to(real_features.device)
    for metric in (fid, kid) if compute_fid else (kid,):
        metric.update(real_features.double(), real=True)
        metric.update(fake_features.double().to(real_features.device), real=False)
    devices = [real_features.device] if real_features.is_cuda else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    fid_value = float(fid.compute()) if compute_fid else math.nan
    return DistributionScores(fid_value, float(kid_mean), float(kid_std), n_real, n_fake, size)


# --------------------------------------------------------------------------------------------------
# Is a statistic informative? (control rows)

REAL_VS_REAL = "real-vs-real"
NORMAL = "normal"
DARK_CLEAN = "dark-clean"


@dataclass
class StatisticAssessment:
    """Whether a statistic separates the controls; only ``informative`` ones may rank methods."""

    label: str  # "informative" | "uninformative"
    z: dict[str, float]
    reason: str

    @property
    def informative(self) -> bool:
        return self.label == "informative"


def split_subsets(n_items: int, n_subsets: int, generator: torch.Generator) -> list[Tensor]:
    """Split ``range(n_items)`` into ``n_subsets`` disjoint random index sets of near-equal size."""
    if not 1 <= n_subsets <= n_items:
        raise N2LDiffError(f"cannot split {n_items} items into {n_subsets} subsets")
    perm = torch.randperm(n_items, generator=generator)
    return list(torch.tensor_split(perm, n_subsets))


def assess_statistic(
    controls: Mapping[str, Sequence[float]],
    *,
    reference: str = REAL_VS_REAL,
    negatives: Sequence[str] | None = None,
    min_z: float = 2.0,
) -> StatisticAssessment:
    """Label a statistic informative only if every negative control is far from the real reference.

    ``controls`` maps a control name to the statistic's values over disjoint subsets (at least 2
    each, to know the spread). ``reference`` is what real low light gives (e.g. real-vs-real);
    ``negatives`` (default: every other control, e.g. untouched normal and noise-free darkening) are
    known not to be realistic low light. For each negative, z = |mean_neg - mean_ref| /
    sqrt(sd_ref² + sd_neg²) (sample standard deviations over subsets); the statistic is informative
    iff every z >= ``min_z``. A statistic that cannot tell a known-unrealistic control from real data
    would rank methods by scene content or chance, so it must not be used to rank.
    """
    if reference not in controls:
        raise N2LDiffError(f"reference control {reference!r} missing; got {sorted(controls)}")
    names = [k for k in controls if k != reference] if negatives is None else list(negatives)
    missing = [k for k in names if k not in controls]
    if missing or not names:
        raise N2LDiffError(f"negative controls {missing or names} missing; got {sorted(controls)}")

    def stats(vals: Sequence[float]) -> tuple[float, float] | None:
        v = torch.tensor([float(x) for x in vals], dtype=torch.float64)
        v = v[torch.isfinite(v)]
        if v.numel() < 2:
            return None
        return float(v.mean()), float(v.std(unbiased=True))

    ref = stats(controls[reference])
    if ref is None:
        return StatisticAssessment("uninformative", {}, f"{reference} has fewer than 2 finite subset values")
    z: dict[str, float] = {}
    for name in names:
        neg = stats(controls[name])
        if neg is None:
            return StatisticAssessment("uninformative", z, f"{name} has fewer than 2 finite subset values")
        spread = math.sqrt(ref[1] ** 2 + neg[1] ** 2)
        diff = abs(neg[0] - ref[0])
        z[name] = math.inf if spread == 0 and diff > 0 else (0.0 if spread == 0 else diff / spread)
    weak = [k for k, v in z.items() if v < min_z]
    if weak:
        return StatisticAssessment(
            "uninformative", z, f"does not separate {', '.join(weak)} from {reference} (z < {min_z})"
        )
    return StatisticAssessment("informative", z, f"separates all controls from {reference} (z >= {min_z})")
