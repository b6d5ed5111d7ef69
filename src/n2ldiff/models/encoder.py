"""Condition encoder: a time-free U-Net over the 12-channel conditioning of the normal-light image.

It returns a coarse low-light estimate, the "center" (3 channels, nominally in [0, 1], unclamped), and
its multi-scale feature maps. The first ``num_levels`` maps (down path, one per resolution) are fed into
every level of the denoiser; the up-path maps are returned for completeness.
"""

from __future__ import annotations

import torch
from torch import nn

from n2ldiff.models.blocks import Downsample, OutputHead, ResnetBlock, channel_plan, make_upsample
from n2ldiff.models.conditioning import condition_transform


class EncoderLevel(nn.Module):
    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        weight_norm: bool,
        instance_norm: bool,
        resample: nn.Module,
        embed_dim: int | None = None,
    ):
        super().__init__()
        self.res1 = ResnetBlock(in_ch, out_ch, embed_dim, weight_norm, instance_norm)
        self.res2 = ResnetBlock(out_ch, out_ch, embed_dim, weight_norm, instance_norm)
        self.resample = resample


class ConditionEncoder(nn.Module):
    def __init__(
        self,
        base_channels: int = 64,
        channel_mults: tuple[int, ...] = (1, 2, 2, 4, 4, 8),
        cond_channels: int = 12,
        out_channels: int = 3,
        weight_norm: bool = True,
        instance_norm: bool = True,
        upsample: str = "transposed",
        embed_dim: int | None = None,
    ) -> None:
        """``embed_dim``: size of a conditioning embedding (the exposure) added in every block; None = none."""
        super().__init__()
        levels = channel_plan(cond_channels, base_channels, channel_mults)
        last = len(levels) - 1
        wn, inorm, ed = weight_norm, instance_norm, embed_dim
        self.down = nn.ModuleList(
            EncoderLevel(cin, cout, wn, inorm, Downsample(cout, wn) if i < last else nn.Identity(), ed)
            for i, (cin, cout) in enumerate(levels)
        )
        mid = levels[-1][1]
        self.mid1 = ResnetBlock(mid, mid, ed, wn, inorm)
        self.mid2 = ResnetBlock(mid, mid, ed, wn, inorm)
        # Up levels mirror the down levels except the first (full-resolution) one.
        self.up = nn.ModuleList(
            EncoderLevel(cout * 2, cin, wn, inorm, make_upsample(cin, upsample, wn), ed)
            for cin, cout in reversed(levels[1:])
        )
        self.head = OutputHead(base_channels * channel_mults[0], out_channels, weight_norm)

    def forward(
        self, normal: torch.Tensor, embedding: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """normal: B x 3 x H x W in [0, 1] -> (head output B x out_channels x H x W, feature maps)."""
        x = condition_transform(normal)
        skips: list[torch.Tensor] = []
        feats: list[torch.Tensor] = []
        for level in self.down:
            x = level.res2(level.res1(x, embedding), embedding)
            skips.append(x)
            feats.append(x)
            x = level.resample(x)
        x = self.mid2(self.mid1(x, embedding), embedding)
        for level in self.up:
            x = torch.cat((x, skips.pop()), dim=1)
            x = level.res2(level.res1(x, embedding), embedding)
            feats.append(x)
            x = level.resample(x)
        return self.head(x), feats
