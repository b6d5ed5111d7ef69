"""Samplers for the center-shifted diffusion: ancestral DDPM, DDIM and DPM-Solver++ (2M).

All three are derived from one fact (see process.py): the residual ``r_t = x_t - c`` is a standard
DDPM with data ``r_0 = x0 - c``. DDIM and DPM-Solver++ therefore run on r with the usual formulas and
the center is added back; the ancestral step uses the original's posterior with its center term.

Every sampler evaluates the network at ``steps`` timesteps ``round(linspace(T-1, 0, steps))`` and returns
the x0 prediction of the last evaluation (t = 0), as the original did. A sampler holds no network: the
loop calls ``denoise(x_t, t) -> shifted noise``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np
import torch

from n2ldiff.diffusion.noise import NoiseSource
from n2ldiff.diffusion.process import CenterShiftedDiffusion
from n2ldiff.errors import N2LDiffError

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def spaced_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """``steps`` distinct timesteps from T-1 down to 0, evenly spaced (all of them when steps == T)."""
    if not 1 <= steps <= num_timesteps:
        raise N2LDiffError(f"steps must be between 1 and {num_timesteps}, got {steps}")
    if steps == 1:
        return [num_timesteps - 1]
    return [int(t) for t in np.round(np.linspace(num_timesteps - 1, 0, steps)).astype(int)]


class Sampler(ABC):
    """One reverse-process update rule over a fixed list of timesteps (highest first)."""

    name: str
    stochastic: bool

    def __init__(self, diffusion: CenterShiftedDiffusion, steps: int) -> None:
        self.diffusion = diffusion
        self.timesteps = spaced_timesteps(diffusion.num_timesteps, steps)

    def alpha_bar(self, t: int) -> float:
        """alpha-bar at integer t; 1 for t < 0 (clean data)."""
        return 1.0 if t < 0 else float(self.diffusion.schedule.alphas_cumprod[t])

    def reset(self) -> None:  # noqa: B027 - optional hook, most samplers keep no state
        """Forget state kept between steps (multistep solvers)."""

    @abstractmethod
    def step(
        self,
        index: int,
        eps_shifted: torch.Tensor,
        x_t: torch.Tensor,
        center: torch.Tensor,
        noise: Callable[[], torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Update at ``self.timesteps[index]``: returns (next sample, x0 prediction)."""


class DDPMSampler(Sampler):
    """Ancestral sampling with the original's posterior (all T steps)."""

    name = "ddpm"
    stochastic = True

    def __init__(self, diffusion: CenterShiftedDiffusion, steps: int | None = None) -> None:
        if steps not in (None, diffusion.num_timesteps):
            raise N2LDiffError(
                f"the ancestral ddpm sampler runs all {diffusion.num_timesteps} steps; "
                "use ddim (eta>0 for a stochastic one) or dpm-solver++ for fewer"
            )
        super().__init__(diffusion, diffusion.num_timesteps)

    def step(self, index, eps_shifted, x_t, center, noise):
        t = self.timesteps[index]
        t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
        z = noise() if t > 0 else torch.zeros_like(x_t)
        return self.diffusion.p_sample(eps_shifted, x_t, t_batch, center, z)


class DDIMSampler(Sampler):
    """DDIM (Song et al., 2021) on the residual process; ``eta=0`` is deterministic.

    With eta = 1 and all T steps its update equals the ancestral posterior step exactly.
    """

    name = "ddim"

    def __init__(self, diffusion: CenterShiftedDiffusion, steps: int, eta: float = 0.0) -> None:
        super().__init__(diffusion, steps)
        if eta < 0:
            raise N2LDiffError(f"eta must be >= 0, got {eta}")
        self.eta = eta
        self.stochastic = eta > 0

    def step(self, index, eps_shifted, x_t, center, noise):
        t = self.timesteps[index]
        t_prev = self.timesteps[index + 1] if index + 1 < len(self.timesteps) else -1
        t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
        x0 = self.diffusion.predict_x0(x_t, t_batch, eps_shifted)
        eps = self.diffusion.eps_from_x0(x_t, t_batch, x0, center)
        ab, ab_prev = self.alpha_bar(t), self.alpha_bar(t_prev)
        sigma = self.eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
        r_prev = math.sqrt(ab_prev) * (x0 - center) + math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
        if sigma > 0:
            r_prev = r_prev + sigma * noise()
        return r_prev + center, x0


class DPMSolverPlusPlusSampler(Sampler):
    """Multistep DPM-Solver++ (2M, data prediction; Lu et al., 2022) on the residual process.

    In log-SNR time lambda = log(alpha / sigma) with alpha = sqrt(ab), sigma = sqrt(1 - ab), the update from
    s to t (h = lambda_t - lambda_s) is ``r_t = (sigma_t / sigma_s) r_s - alpha_t (e^{-h} - 1) D`` where D is
    the current x0 prediction (first order) or its extrapolation with the previous one (second order).
    """

    name = "dpm-solver++"
    stochastic = False

    def __init__(self, diffusion: CenterShiftedDiffusion, steps: int) -> None:
        super().__init__(diffusion, steps)
        self._previous: tuple[float, torch.Tensor] | None = None  # (lambda, r0 prediction) of the last step

    def reset(self) -> None:
        self._previous = None

    def _lambda(self, t: int) -> float:
        ab = self.alpha_bar(t)
        return 0.5 * math.log(ab) - 0.5 * math.log(1 - ab)

    def step(self, index, eps_shifted, x_t, center, noise):
        t = self.timesteps[index]
        t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
        x0 = self.diffusion.predict_x0(x_t, t_batch, eps_shifted)
        if index + 1 == len(self.timesteps):  # last evaluation: the output is x0 itself
            self._previous = None
            return x0, x0
        t_next = self.timesteps[index + 1]
        r0 = x0 - center
        lam_s, lam_t = self._lambda(t), self._lambda(t_next)
        h = lam_t - lam_s
        ab_s, ab_t = self.alpha_bar(t), self.alpha_bar(t_next)
        alpha_t, sigma_s, sigma_t = math.sqrt(ab_t), math.sqrt(1 - ab_s), math.sqrt(1 - ab_t)
        d = r0
        if self._previous is not None:
            lam_prev, r0_prev = self._previous
            ratio = (lam_s - lam_prev) / h
            d = r0 + (r0 - r0_prev) / (2 * ratio)
        r_next = (sigma_t / sigma_s) * (x_t - center) - alpha_t * math.expm1(-h) * d
        self._previous = (lam_s, r0)
        return r_next + center, x0


SAMPLERS = {"ddpm": DDPMSampler, "ddim": DDIMSampler, "dpm-solver++": DPMSolverPlusPlusSampler}


def make_sampler(name: str, diffusion: CenterShiftedDiffusion, steps: int, eta: float = 0.0) -> Sampler:
    if name == "ddpm":
        return DDPMSampler(diffusion, steps)
    if name == "ddim":
        return DDIMSampler(diffusion, steps, eta)
    if name == "dpm-solver++":
        return DPMSolverPlusPlusSampler(diffusion, steps)
    raise N2LDiffError(f"unknown sampler {name!r} (choose from {', '.join(SAMPLERS)})")


@torch.no_grad()
def sample_loop(
    denoise: Denoiser,
    sampler: Sampler,
    center: torch.Tensor,
    noise: NoiseSource,
    start: str = "center+noise",
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Run the reverse process from x_T and return the final x0 prediction in [-1, 1].

    ``center`` is in [-1, 1]. Noise draw 0 is the start noise (only with ``start="center+noise"``);
    draw k >= 1 is the noise of the k-th step. ``callback(index, x)`` sees the state after each step.
    """
    if start == "center+noise":
        x = center + noise(0, center)
    elif start == "center":
        x = center.clone()
    else:
        raise N2LDiffError(f"unknown start {start!r} (choose center+noise or center)")
    sampler.reset()
    x0 = x
    for index, t in enumerate(sampler.timesteps):
        t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        eps_shifted = denoise(x, t_batch)
        x, x0 = sampler.step(index, eps_shifted, x, center, lambda i=index, x=x: noise(i + 1, x))
        if callback is not None:
            callback(index, x)
    return x0
