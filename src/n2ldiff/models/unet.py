"""Denoising U-Net of N2LDiff.

Input: the noisy low-light image x_t concatenated with the normal-light image (6 channels). At every
down level the encoder's feature map of that resolution is concatenated after the first residual block
("stronger conditioning"). Output: the predicted center-shifted noise (3 channels).
"""

from __future__ import annotations

import torch
from torch import nn

from n2ldiff.models.blocks import (
    Downsample,
    OutputHead,
    ResnetBlock,
    channel_plan,
    make_upsample,
    sinusoidal_embedding,
)


class UNetLevel(nn.Module):
    def __init__(self, res1: ResnetBlock, res2: ResnetBlock, resample: nn.Module) -> None:
        super().__init__()
        self.res1 = res1
        self.res2 = res2
        self.resample = resample


class DenoisingUNet(nn.Module):
    def __init__(
        self,
        base_channels: int = 64,
        channel_mults: tuple[int, ...] = (1, 2, 2, 4, 4, 8),
        in_channels: int = 6,
        out_channels: int = 3,
        weight_norm: bool = True,
        instance_norm: bool = True,
        upsample: str = "transposed",
    ) -> None:
        super().__init__()
        self.time_dim = base_channels
        td = self.time_dim
        self.time_mlp = nn.Sequential(nn.Linear(td, td * 4), nn.Mish(), nn.Linear(td * 4, td))
        levels = channel_plan(in_channels, base_channels, channel_mults)
        last = len(levels) - 1
        wn, inorm = weight_norm, instance_norm
        self.down = nn.ModuleList(
            UNetLevel(
                ResnetBlock(cin, cout, td, wn, inorm),
                ResnetBlock(cout * 2, cout, td, wn, inorm),  # takes [h, encoder feature]
                Downsample(cout, wn) if i < last else nn.Identity(),
            )
            for i, (cin, cout) in enumerate(levels)
        )
        mid = levels[-1][1]
        self.mid1 = ResnetBlock(mid, mid, td, wn, inorm)
        self.mid2 = ResnetBlock(mid, mid, td, wn, inorm)
        self.up = nn.ModuleList(
            UNetLevel(
                ResnetBlock(cout * 2, cin, td, wn, inorm),
                ResnetBlock(cin, cin, td, wn, inorm),
                make_upsample(cin, upsample, wn),
            )
            for cin, cout in reversed(levels[1:])
        )
        self.head = OutputHead(base_channels * channel_mults[0], out_channels, wn)

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        normal: torch.Tensor,
        encoder_feats: list[torch.Tensor],
        condition_emb: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the network output (its meaning is the diffusion's ``prediction_type``).

        x_t: B x 3 x H x W noisy image in [-1, 1] scale; t: B integer timesteps; normal: B x 3 x H x W
        normal-light image in [0, 1]; encoder_feats: the encoder's down-path maps, one per level;
        condition_emb: an extra embedding (the exposure) added to the time embedding.
        """
        time_emb = self.time_mlp(sinusoidal_embedding(t, self.time_dim))
        if condition_emb is not None:
            time_emb = time_emb + condition_emb
        x = torch.cat((x_t, normal), dim=1)
        skips: list[torch.Tensor] = []
        for level, feat in zip(self.down, encoder_feats, strict=False):
            x = level.res1(x, time_emb)
            x = level.res2(torch.cat((x, feat), dim=1), time_emb)
            skips.append(x)
            x = level.resample(x)
        x = self.mid2(self.mid1(x, time_emb), time_emb)
        for level in self.up:
            x = torch.cat((x, skips.pop()), dim=1)
            x = level.res2(level.res1(x, time_emb), time_emb)
            x = level.resample(x)
        return self.head(x)
