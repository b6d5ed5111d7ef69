"""Noise schedule of the diffusion (the improved-DDPM cosine schedule, T = 100 in N2LDiff).

All quantities are computed in float64 and cast to float32 once, which reproduces the original's
buffers bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


def cosine_alphas_cumprod(timesteps: int, s: float = 0.008) -> np.ndarray:
    """alpha-bar_k for k = 0..T of Nichol & Dhariwal (2021), normalised so alpha-bar_0 = 1 (float64)."""
    steps = timesteps + 1
    x = np.linspace(0, steps, steps)
    ac = np.cos(((x / steps) + s) / (1 + s) * math.pi * 0.5) ** 2
    return ac / ac[0]


def cosine_betas(timesteps: int, s: float = 0.008) -> np.ndarray:
    ac = cosine_alphas_cumprod(timesteps, s)
    return np.clip(1 - ac[1:] / ac[:-1], 0, 0.999)


@dataclass(frozen=True)
class Schedule:
    """All per-timestep coefficients, float32 tensors of shape [T] (names follow the original)."""

    betas: torch.Tensor
    alphas_cumprod: torch.Tensor
    alphas_cumprod_prev: torch.Tensor
    sqrt_alphas_cumprod: torch.Tensor
    sqrt_one_minus_alphas_cumprod: torch.Tensor
    log_one_minus_alphas_cumprod: torch.Tensor
    sqrt_recip_alphas_cumprod: torch.Tensor
    sqrt_recipm1_alphas_cumprod: torch.Tensor
    posterior_variance: torch.Tensor
    posterior_log_variance_clipped: torch.Tensor
    posterior_mean_coef1: torch.Tensor
    posterior_mean_coef2: torch.Tensor
    # Coefficients of the center c in the forward noise and in the posterior mean (see process.py).
    extra_term_coef1: torch.Tensor
    extra_term_coef2: torch.Tensor

    @property
    def num_timesteps(self) -> int:
        return int(self.betas.shape[0])

    @classmethod
    def from_betas(cls, betas: np.ndarray) -> Schedule:
        b = np.asarray(betas, dtype=np.float64)
        alphas = 1.0 - b
        acp = np.cumprod(alphas)
        acp_prev = np.append(1.0, acp[:-1])
        post_var = b * (1.0 - acp_prev) / (1.0 - acp)
        values = {
            "betas": b,
            "alphas_cumprod": acp,
            "alphas_cumprod_prev": acp_prev,
            "sqrt_alphas_cumprod": np.sqrt(acp),
            "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - acp),
            "log_one_minus_alphas_cumprod": np.log(1.0 - acp),
            "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / acp),
            "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / acp - 1),
            "posterior_variance": post_var,
            "posterior_log_variance_clipped": np.log(np.maximum(post_var, 1e-20)),
            "posterior_mean_coef1": b * np.sqrt(acp_prev) / (1.0 - acp),
            "posterior_mean_coef2": (1.0 - acp_prev) * np.sqrt(alphas) / (1.0 - acp),
            "extra_term_coef1": (1.0 - np.sqrt(acp)) / np.sqrt(1.0 - acp),
            "extra_term_coef2": (
                (1.0 - np.sqrt(acp_prev)) * (1.0 - alphas)
                - np.sqrt(alphas) * (1.0 - np.sqrt(alphas)) * (1.0 - acp_prev)
            )
            / (1.0 - acp),
        }
        return cls(**{k: torch.tensor(v, dtype=torch.float32) for k, v in values.items()})

    @classmethod
    def cosine(cls, timesteps: int = 100, s: float = 0.008) -> Schedule:
        return cls.from_betas(cosine_betas(timesteps, s))

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def to(self, device: torch.device | str) -> Schedule:
        return Schedule(**{k: v.to(device) for k, v in self.as_dict().items()})
