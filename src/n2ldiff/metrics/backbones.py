"""Feature networks for the metrics, rebuilt without torchvision.

* ``alexnet_features`` / ``vgg16_features``: the convolutional ``features`` stacks of AlexNet and VGG16
  in torchvision's layer order (so the converted weights' ``features.{i}.*`` keys load directly),
  and ``LPIPSBackbone``, which returns the five LPIPS taps (after the ReLUs at ``LPIPS_TAPS``, as in
  the LPIPS reference implementation).
* ``InceptionFeatures``: wraps the FID Inception TorchScript for torchmetrics' FID/KID.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from n2ldiff.errors import N2LDiffError
from n2ldiff.metrics.weights import load_inception

#: End index (exclusive) of each LPIPS slice of ``features``; slices start where the previous ended.
LPIPS_TAPS: dict[str, tuple[int, ...]] = {"alex": (2, 5, 8, 10, 12), "vgg": (4, 9, 16, 23, 30)}

_VGG16_CFG: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    "M",
)


def alexnet_features() -> nn.Sequential:
    """AlexNet ``features`` (5 convs, torchvision layout; 13 modules, last is the final max-pool)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=False),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(inplace=False),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=False),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=False),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=False),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


def vgg16_features() -> nn.Sequential:
    """VGG16 ``features`` (13 convs with ReLU, 5 max-pools; torchvision layout, 31 modules)."""
    layers: list[nn.Module] = []
    in_ch = 3
    for v in _VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            assert isinstance(v, int)
            layers += [nn.Conv2d(in_ch, v, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            in_ch = v
    return nn.Sequential(*layers)


class LPIPSBackbone(nn.Module):
    """AlexNet or VGG16 trunk that returns the five LPIPS feature maps (after the tapped ReLUs)."""

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in LPIPS_TAPS:
            raise N2LDiffError(f"unknown LPIPS net {net!r}; expected alex or vgg")
        self.net = net
        self.features = alexnet_features() if net == "alex" else vgg16_features()
        self.taps = LPIPS_TAPS[net]

    def forward(self, x: Tensor) -> list[Tensor]:
        outs: list[Tensor] = []
        start = 0
        for end in self.taps:
            for i in range(start, end):
                x = self.features[i](x)
            outs.append(x)
            start = end
        return outs


class InceptionFeatures(nn.Module):
    """FID Inception pool features (N, 2048) for torchmetrics FID and KID (custom ``feature`` module).

    Input: N×3×H×W, either uint8 in [0, 255] (what torchmetrics passes with ``normalize=False``) or
    float in [0, 1] (``normalize=True``; torchmetrics hands custom modules the images unchanged, so the
    scaling to [0, 255] happens here). Images are resized to 299×299 (bilinear, align_corners=False)
    when needed, mapped to ``(x - 128) / 128`` and run through the network on the input's device.
    """

    num_features = 2048

    def __init__(
        self, weights_dir: str | os.PathLike[str] | None = None, model: torch.jit.ScriptModule | None = None
    ) -> None:
        super().__init__()
        self.model = model if model is not None else load_inception(weights_dir)
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise N2LDiffError(f"Inception expects N×3×H×W images, got shape {tuple(x.shape)}")
        x = x.float() if x.dtype == torch.uint8 else x.float() * 255.0
        if x.shape[-2:] != (299, 299):
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = (x - 128.0) / 128.0
        return self.model(x).reshape(x.shape[0], self.num_features)
