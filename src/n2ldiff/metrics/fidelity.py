"""Paired fidelity metrics: PSNR, SSIM and LPIPS between two image batches.

Exact definitions (images N×3×H×W, float, RGB, values in [0, 1]; computed on the inputs' device):

* ``psnr``: per image, ``10 * log10(1 / MSE)`` with the MSE over all channels and pixels (data
  range 1.0, RGB, no colour conversion, no border crop). Identical images give ``inf``.
* ``ssim``: per image and channel, SSIM of Wang et al. (2004) with an 11×11 Gaussian window
  (sigma 1.5, normalised to sum 1), K1 = 0.01, K2 = 0.03, data range L = 1.0, population (not
  sample) covariances; the SSIM map is computed only where the window fits entirely ("valid",
  i.e. a 5-pixel border is excluded), averaged over space and then over the three RGB channels.
  This equals scikit-image's ``structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1, channel_axis=...)``. Computed in float64.
* ``LPIPS``: Zhang et al. (CVPR 2018), version 0.1 with learned linear layers ("net-lin"). Inputs in
  [0, 1] are mapped to [-1, 1] (``2x - 1``), then shifted/scaled per channel, features of 5 taps are
  unit-normalised over channels, their squared difference weighted by the 1×1 linear layers,
  averaged over space and summed over taps. No resizing.

``pad_or_crop_to_multiple`` makes sizes multiples of 32 (what the diffusion model needs); the
benchmark applies the same crop to the synthetic and real images before any metric.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from n2ldiff.errors import N2LDiffError
from n2ldiff.metrics.backbones import LPIPSBackbone
from n2ldiff.metrics.weights import load_lpips_weights

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_pair(a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape:
        raise N2LDiffError(f"image shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.ndim != 4 or a.shape[1] != 3:
        raise N2LDiffError(f"expected N×3×H×W images, got shape {tuple(a.shape)}")


def psnr(a: Tensor, b: Tensor, data_range: float = 1.0) -> Tensor:
    """Per-image PSNR in dB (shape N) over all channels and pixels; see the module docstring."""
    _check_pair(a, b)
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(dim=1)
    return (10.0 * torch.log10(data_range**2 / mse)).float()


def _gaussian_kernel(size: int, sigma: float, device: torch.device) -> Tensor:
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _ssim_blur(x: Tensor) -> Tensor:
    """The 11×11 Gaussian window's weighted mean (valid region), separable, per channel; x is float64."""
    c = x.shape[1]
    g = _gaussian_kernel(SSIM_WINDOW, SSIM_SIGMA, x.device)
    x = F.conv2d(x, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def _ssim_moments(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(image in float64, its local mean, its local variance): what SSIM needs of one image alone."""
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise N2LDiffError(f"SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW}, got {tuple(x.shape[-2:])}")
    x = x.double()
    mean = _ssim_blur(x)
    return x, mean, _ssim_blur(x * x) - mean * mean


def _ssim_from_moments(a: tuple[Tensor, Tensor, Tensor], b: tuple[Tensor, Tensor, Tensor], data_range: float) -> Tensor:
    (x, mx, vx), (y, my, vy) = a, b
    cxy = _ssim_blur(x * y) - mx * my
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return smap.mean(dim=(2, 3)).mean(dim=1).float()


def ssim(a: Tensor, b: Tensor, data_range: float = 1.0) -> Tensor:
    """Per-image SSIM (shape N), Gaussian window 11 / sigma 1.5, mean over valid pixels then channels."""
    _check_pair(a, b)
    return _ssim_from_moments(_ssim_moments(a), _ssim_moments(b), data_range)


def pad_or_crop_to_multiple(x: Tensor, multiple: int = 32, mode: str = "crop") -> Tensor:
    """Make H and W multiples of ``multiple``: "crop" drops the bottom/right remainder, "pad" reflects.

    Cropping keeps the top-left corner so every method's output aligns with the same region of the
    real image; padding uses reflection (the pad is at the bottom/right too).
    """
    if multiple < 1:
        raise N2LDiffError(f"multiple must be >= 1, got {multiple}")
    h, w = x.shape[-2:]
    if mode == "crop":
        nh, nw = (h // multiple) * multiple, (w // multiple) * multiple
        if nh == 0 or nw == 0:
            raise N2LDiffError(f"image {h}×{w} is smaller than {multiple} pixels; cannot crop to a multiple")
        return x[..., :nh, :nw]
    if mode == "pad":
        ph, pw = (-h) % multiple, (-w) % multiple
        if ph == 0 and pw == 0:
            return x
        if ph >= h or pw >= w:
            return F.pad(x, (0, pw, 0, ph), mode="replicate")
        return F.pad(x, (0, pw, 0, ph), mode="reflect")
    raise N2LDiffError(f"unknown mode {mode!r}; expected crop or pad")


class LPIPS(nn.Module):
    """LPIPS v0.1 distance with AlexNet or VGG16 features; ``forward(a, b)`` returns shape (N,).

    Inputs are N×3×H×W in [0, 1]; they are mapped to [-1, 1] inside. Weights come from
    ``n2ldiff fetch-weights`` (see ``metrics.weights``); nothing is downloaded here.
    """

    shift: Tensor
    scale: Tensor

    def __init__(self, net: str = "alex", weights_dir: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        self.backbone = LPIPSBackbone(net)
        state = load_lpips_weights(net, weights_dir)
        self.backbone.load_state_dict({k: v for k, v in state.items() if k.startswith("features.")})
        self.lins = nn.ModuleList()
        for k in range(5):
            w = state[f"lin{k}.weight"]
            lin = nn.Conv2d(w.shape[1], 1, kernel_size=1, bias=False)
            lin.weight.data.copy_(w)
            self.lins.append(lin)
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)
        self.eval()
        self.requires_grad_(False)

    def features(self, x: Tensor) -> list[Tensor]:
        """The five taps' feature maps of N×3×H×W images in [0, 1], unit-normalised over channels."""
        feats = self.backbone(((x.float() * 2 - 1) - self.shift) / self.scale)
        return [f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10) for f in feats]

    def distance(self, feats_a: list[Tensor], feats_b: list[Tensor]) -> Tensor:
        """LPIPS (shape N) between two images given as their ``features``."""
        total = torch.zeros(feats_a[0].shape[0], device=feats_a[0].device)
        for lin, na, nb in zip(self.lins, feats_a, feats_b, strict=True):
            total = total + lin((na - nb).pow(2)).mean(dim=(1, 2, 3))
        return total

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        _check_pair(a, b)
        return self.distance(self.features(a), self.features(b))


class PairedReference:
    """One reference image (N×3×H×W in [0, 1]) prepared once for PSNR, SSIM and LPIPS against many candidates.

    The benchmark compares every row and seed with the same real low image: its SSIM moments and LPIPS
    features are computed here once (half of LPIPS's work and two of SSIM's five blurs per comparison).
    Each method equals the plain metric of ``(candidate, reference)``.
    """

    def __init__(self, reference: Tensor, lpips: LPIPS | None = None) -> None:
        if reference.ndim != 4 or reference.shape[1] != 3:
            raise N2LDiffError(f"expected N×3×H×W images, got shape {tuple(reference.shape)}")
        self.reference = reference
        self._moments = _ssim_moments(reference)
        self._lpips = lpips
        self._features: list[Tensor] | None = None

    def psnr(self, candidate: Tensor) -> Tensor:
        return psnr(candidate, self.reference)

    def ssim(self, candidate: Tensor, data_range: float = 1.0) -> Tensor:
        _check_pair(candidate, self.reference)
        return _ssim_from_moments(_ssim_moments(candidate), self._moments, data_range)

    @torch.no_grad()
    def lpips(self, candidate: Tensor | list[Tensor]) -> Tensor:
        """LPIPS to the reference of a candidate image, or of its ``LPIPS.features`` when the caller reuses them."""
        if self._lpips is None:
            raise N2LDiffError("this reference was prepared without an LPIPS network")
        if isinstance(candidate, Tensor):
            _check_pair(candidate, self.reference)
            candidate = self._lpips.features(candidate)
        if self._features is None:
            self._features = self._lpips.features(self.reference)
        return self._lpips.distance(candidate, self._features)
