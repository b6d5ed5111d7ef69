"""Building blocks shared by the condition encoder and the denoising U-Net.

They follow the original N2LDiff networks: every 3x3 convolution is preceded by reflection padding and
weight-normalised, activations are Mish, normalisation is instance norm without affine parameters, and
upsampling is a transposed convolution. Newer models may switch off the instance norm and upsample by
resize-convolution (``ModelConfig.upsample``); the original layers stay for converted checkpoints.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class WeightNormConv2d(nn.Module):
    """Conv2d with weight normalisation, ``w = g * v / ||v||`` (one norm per output channel).

    Parameters are stored as ``weight_g`` [out,1,1,1] and ``weight_v`` [out,in,k,k], exactly as the
    original's ``torch.nn.utils.weight_norm(dim=0)`` did, so checkpoints convert one to one.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride)
        v = conv.weight.detach().clone()
        # On the meta device (shape-only skeletons, see N2LDiff.from_pretrained) the norm would go through
        # torch's Python reference implementation, which imports torch._dynamo: seconds of start-up.
        g = v.new_empty(out_channels) if v.is_meta else v.flatten(1).norm(dim=1)
        self.weight_g = nn.Parameter(g.reshape(-1, 1, 1, 1))
        self.weight_v = nn.Parameter(v)
        self.bias = nn.Parameter(conv.bias.detach().clone())

    @property
    def weight(self) -> torch.Tensor:
        v_norm = self.weight_v.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
        return self.weight_v * (self.weight_g / v_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, stride=self.stride)


def make_conv(in_channels: int, out_channels: int, kernel_size: int, weight_norm: bool, stride: int = 1) -> nn.Module:
    """A convolution without padding, weight-normalised or plain."""
    if weight_norm:
        return WeightNormConv2d(in_channels, out_channels, kernel_size, stride=stride)
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride)


def make_norm(channels: int, instance_norm: bool) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False, eps=1e-5) if instance_norm else nn.Identity()


class ConvBlock(nn.Module):
    """ReflectionPad(1) -> 3x3 conv -> Mish."""

    def __init__(self, in_channels: int, out_channels: int, weight_norm: bool = True) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv = make_conv(in_channels, out_channels, 3, weight_norm)
        self.act = nn.Mish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(self.pad(x)))


class ResnetBlock(nn.Module):
    """Two conv blocks with instance norm and a residual connection.

    With ``time_dim`` set (denoiser), a projection of the time embedding is added between the blocks;
    without it (encoder) the block is time-independent.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        time_dim: int | None = None,
        weight_norm: bool = True,
        instance_norm: bool = True,
    ) -> None:
        super().__init__()
        self.time_proj = nn.Sequential(nn.Mish(), nn.Linear(time_dim, out_channels)) if time_dim else None
        self.block1 = ConvBlock(in_channels, out_channels, weight_norm)
        self.norm1 = make_norm(out_channels, instance_norm)
        self.block2 = ConvBlock(out_channels, out_channels, weight_norm)
        self.norm2 = make_norm(out_channels, instance_norm)
        self.skip = (
            make_conv(in_channels, out_channels, 1, weight_norm) if in_channels != out_channels else nn.Identity()
        )

    def forward(self, x: torch.Tensor, time_emb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(self.block1(x))
        if self.time_proj is not None:
            if time_emb is None:
                raise ValueError("this block needs a time embedding")
            h = h + self.time_proj(time_emb)[:, :, None, None]
        h = self.norm2(self.block2(h))
        return h + self.skip(x)


class Downsample(nn.Module):
    """ReflectionPad(1) -> 3x3 conv with stride 2 (halves H and W)."""

    def __init__(self, channels: int, weight_norm: bool = True) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv = make_conv(channels, channels, 3, weight_norm, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class Upsample(nn.Module):
    """4x4 transposed conv with stride 2 (doubles H and W); not weight-normalised, as in the original."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(channels, channels, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ResizeConvUpsample(nn.Module):
    """Nearest-neighbour x2 then ReflectionPad(1) + 3x3 conv: no checkerboard (Odena et al., 2016)."""

    def __init__(self, channels: int, weight_norm: bool = True) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv = make_conv(channels, channels, 3, weight_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(F.interpolate(x, scale_factor=2.0, mode="nearest")))


def make_upsample(channels: int, kind: str, weight_norm: bool = True) -> nn.Module:
    """``kind``: "transposed" (the original) or "resize-conv"."""
    if kind == "transposed":
        return Upsample(channels)
    if kind == "resize-conv":
        return ResizeConvUpsample(channels, weight_norm)
    raise ValueError(f"unknown upsample kind {kind!r}")


class ExposureEmbedding(nn.Module):
    """Exposure ratio R -> embedding: sinusoids of 8 log2 R (one unit per 1/8 stop), then an MLP."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), nn.Mish(), nn.Linear(dim * 4, dim))

    def forward(self, exposure: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(8 * torch.log2(exposure.float()), self.dim))


class OutputHead(nn.Module):
    """Conv block followed by a 1x1 conv to the output channels."""

    def __init__(self, channels: int, out_channels: int, weight_norm: bool = True) -> None:
        super().__init__()
        self.block = ConvBlock(channels, channels, weight_norm)
        self.proj = make_conv(channels, out_channels, 1, weight_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.block(x))


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer-style embedding of integer timesteps: ``[sin(t f), cos(t f)]``.

    ``f_k = exp(-k ln(10000) / (dim/2 - 1))``, the original's frequencies (note the ``- 1``).
    """
    half = dim // 2
    freqs = torch.exp(torch.arange(half, device=t.device) * -(math.log(10000) / (half - 1)))
    angles = t[:, None] * freqs[None]
    return torch.cat((angles.sin(), angles.cos()), dim=-1)


def channel_plan(in_channels: int, base_channels: int, channel_mults: tuple[int, ...]) -> list[tuple[int, int]]:
    """(in, out) channels of each resolution level, e.g. [(6, 8), (8, 16), ...]."""
    dims = [in_channels, *(base_channels * m for m in channel_mults)]
    return list(zip(dims[:-1], dims[1:], strict=True))


def init_like_original(module: nn.Module) -> None:
    """The original initialisation: zero conv and linear biases, Linear weights kaiming-normal x 0.1.

    (The original also ran a kaiming init on the weight-normed convs' derived weight, which has no effect;
    their ``g`` therefore equals ``||v||`` of PyTorch's default init, which is what WeightNormConv2d starts
    with.)
    """
    for m in module.modules():
        if any(p.is_meta for p in m.parameters(recurse=False)):
            continue  # a shape-only skeleton: nothing to initialise (and meta init ops import torch._dynamo)
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight)
            m.weight.data *= 0.1
            nn.init.zeros_(m.bias)
        elif isinstance(m, (WeightNormConv2d, nn.Conv2d)) and m.bias is not None:
            nn.init.zeros_(m.bias)
