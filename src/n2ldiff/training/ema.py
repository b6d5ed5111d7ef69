"""Exponential moving average of model weights, kept as a frozen copy of the network."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA(nn.Module):
    """``shadow = decay * shadow + (1 - decay) * weights`` after every optimiser step.

    The shadow is a submodule, so it is saved in (and restored from) the training checkpoint with the rest.
    Until ``start_step`` the shadow simply copies the weights.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, start_step: int = 0) -> None:
        super().__init__()
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay
        self.start_step = start_step

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = 0.0 if step < self.start_step else self.decay
        for ema_p, p in zip(self.shadow.parameters(), model.parameters(), strict=True):
            ema_p.lerp_(p.detach(), 1.0 - decay)
        for ema_b, b in zip(self.shadow.buffers(), model.buffers(), strict=True):
            ema_b.copy_(b)
