"""Samplers for the center-shifted diffusion: ancestral DDPM, DDIM and DPM-Solver++ (2M).

All three are derived from one fact (see process.py): the residual ``r_t = x_t - c`` is a standard
DDPM with data ``r_0 = x0 - c``. DDIM and DPM-Solver++ therefore run on r with the usual formulas and
the center is added back; the ancestral step uses the original's posterior with its center term.

Every sampler evaluates the network at ``steps`` timesteps from a start (T - 1, or an earlier one for a
shortened chain) down to 0, and the loop returns the x0 prediction of the last evaluation (t = 0), as the
original did. A sampler holds no network: the loop calls ``denoise(x_t, t) -> x0`` and hands the x0
prediction to the sampler; epsilon networks are converted once by ``CenterShiftedDiffusion.x0_from_output``.
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
X0_DRAW = 1 << 20  # noise draws for sampled x0 predictions are numbered from here (step draws: 0, 1, ...)


def spaced_timesteps(
    num_timesteps: int,
    steps: int,
    start: int | None = None,
    spacing: str = "linear",
    alphas_cumprod: torch.Tensor | None = None,
) -> list[int]:
    """``steps`` distinct timesteps from ``start`` (default T - 1) down to 0; none for ``steps == 0``.

    ``spacing="linear"`` spreads them evenly in t (the original; all of them when steps == start + 1);
    ``"geometric"`` evenly in log of the noise std sqrt(1 - alpha-bar), which needs ``alphas_cumprod``.
    """
    start = num_timesteps - 1 if start is None else start
    if not 0 <= start < num_timesteps:
        raise N2LDiffError(f"start timestep must be between 0 and {num_timesteps - 1}, got {start}")
    if not 0 <= steps <= start + 1:
        raise N2LDiffError(f"steps must be between 0 and {start + 1}, got {steps}")
    if steps == 0:
        return []
    if steps == 1:
        return [start]
    if spacing == "linear":
        return [int(t) for t in np.round(np.linspace(start, 0, steps)).astype(int)]
    if spacing != "geometric" or alphas_cumprod is None:
        raise N2LDiffError(f"unknown timestep spacing {spacing!r} (choose linear or geometric)")
    sigmas = np.sqrt(1 - alphas_cumprod.double().cpu().numpy())
    targets = np.geomspace(sigmas[start], sigmas[0], steps)
    chosen = [int(np.argmin(np.abs(np.log(sigmas[: start + 1]) - np.log(v)))) for v in targets]
    # Nearest levels may collide where the schedule is coarse: keep them distinct and descending.
    out: list[int] = []
    for i, t in enumerate(chosen):
        highest = start if not out else out[-1] - 1
        out.append(max(min(t, highest), steps - 1 - i))
    return out


class Sampler(ABC):
    """One reverse-process update rule over a fixed list of timesteps (highest first).

    ``step`` takes the network's clean-image prediction x0 (in [-1, 1]) at the current timestep.
    ``ancestral``: the update draws fresh noise (so it may also be given a sampled x0, see ``sample_loop``).
    """

    name: str
    ancestral: bool = False

    def __init__(
        self,
        diffusion: CenterShiftedDiffusion,
        steps: int,
        start_timestep: int | None = None,
        spacing: str = "linear",
    ) -> None:
        self.diffusion = diffusion
        self.timesteps = spaced_timesteps(
            diffusion.num_timesteps, steps, start_timestep, spacing, diffusion.schedule.alphas_cumprod
        )

    @classmethod
    def from_settings(
        cls,
        diffusion: CenterShiftedDiffusion,
        steps: int,
        eta: float = 0.0,
        start_timestep: int | None = None,
        spacing: str = "linear",
    ) -> Sampler:
        """Build from the shared sampling options; a sampler ignores those it has no use for (here: eta)."""
        return cls(diffusion, steps, start_timestep, spacing)

    def alpha_bar(self, t: int) -> float:
        """alpha-bar at integer t; 1 for t < 0 (clean data)."""
        return 1.0 if t < 0 else float(self.diffusion.schedule.alphas_cumprod[t])

    def reset(self) -> None:  # noqa: B027 - optional hook, most samplers keep no state
        """Forget state kept between steps (multistep solvers)."""

    @abstractmethod
    def step(
        self,
        index: int,
        x0: torch.Tensor,
        x_t: torch.Tensor,
        center: torch.Tensor,
        noise: Callable[[], torch.Tensor],
    ) -> torch.Tensor:
        """Update at ``self.timesteps[index]`` given the x0 prediction there: returns the next sample."""


class DDPMSampler(Sampler):
    """Ancestral sampling with the original's posterior, over every timestep from the start to 0."""

    name = "ddpm"
    ancestral = True

    def __init__(
        self, diffusion: CenterShiftedDiffusion, steps: int | None = None, start_timestep: int | None = None
    ) -> None:
        first = diffusion.num_timesteps - 1 if start_timestep is None else start_timestep
        if steps not in (None, first + 1):
            raise N2LDiffError(
                f"the ancestral ddpm sampler runs all {first + 1} steps from its start; "
                "use ddim (eta>0 for a stochastic one) or dpm-solver++ for fewer"
            )
        super().__init__(diffusion, first + 1, first)

    @classmethod
    def from_settings(cls, diffusion, steps, eta=0.0, start_timestep=None, spacing="linear"):
        return cls(diffusion, steps, start_timestep)  # every timestep: no eta, no spacing

    def step(self, index, x0, x_t, center, noise):
        t = self.timesteps[index]
        t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
        z = noise() if t > 0 else torch.zeros_like(x_t)
        return self.diffusion.posterior_sample(x0, x_t, t_batch, center, z)


class DDIMSampler(Sampler):
    """DDIM (Song et al., 2021) on the residual process; ``eta=0`` is deterministic.

    With eta = 1 and all T steps its update equals the ancestral posterior step exactly; with eta = 1 on
    spaced steps it is ancestral sampling of the shortened chain.
    """

    name = "ddim"

    def __init__(
        self,
        diffusion: CenterShiftedDiffusion,
        steps: int,
        eta: float = 0.0,
        start_timestep: int | None = None,
        spacing: str = "linear",
    ) -> None:
        super().__init__(diffusion, steps, start_timestep, spacing)
        if eta < 0:
            raise N2LDiffError(f"eta must be >= 0, got {eta}")
        self.eta = eta
        self.ancestral = eta > 0

    @classmethod
    def from_settings(cls, diffusion, steps, eta=0.0, start_timestep=None, spacing="linear"):
        return cls(diffusion, steps, eta, start_timestep, spacing)

    def step(self, index, x0, x_t, center, noise):
        t = self.timesteps[index]
        t_prev = self.timesteps[index + 1] if index + 1 < len(self.timesteps) else -1
        t_batch = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
        eps = self.diffusion.eps_from_x0(x_t, t_batch, x0, center)
        ab, ab_prev = self.alpha_bar(t), self.alpha_bar(t_prev)
        sigma = self.eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
        r_prev = math.sqrt(ab_prev) * (x0 - center) + math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
        if sigma > 0:
            r_prev = r_prev + sigma * noise()
        return r_prev + center


class DPMSolverPlusPlusSampler(Sampler):
    """Multistep DPM-Solver++ (2M, data prediction; Lu et al., 2022) on the residual process.

    In log-SNR time lambda = log(alpha / sigma) with alpha = sqrt(ab), sigma = sqrt(1 - ab), the update from
    s to t (h = lambda_t - lambda_s) is ``r_t = (sigma_t / sigma_s) r_s - alpha_t (e^{-h} - 1) D`` where D is
    the current x0 prediction (first order) or its extrapolation with the previous one (second order).
    """

    name = "dpm-solver++"

    def __init__(
        self,
        diffusion: CenterShiftedDiffusion,
        steps: int,
        start_timestep: int | None = None,
        spacing: str = "linear",
    ) -> None:
        super().__init__(diffusion, steps, start_timestep, spacing)
        self._previous: tuple[float, torch.Tensor] | None = None  # (lambda, r0 prediction) of the last step

    def reset(self) -> None:
        self._previous = None

    def _lambda(self, t: int) -> float:
        ab = self.alpha_bar(t)
        return 0.5 * math.log(ab) - 0.5 * math.log(1 - ab)

    def step(self, index, x0, x_t, center, noise):
        if index + 1 == len(self.timesteps):  # last evaluation: the output is x0 itself
            self._previous = None
            return x0
        t, t_next = self.timesteps[index], self.timesteps[index + 1]
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
        return r_next + center


# The one registry of samplers: dispatch, validation and help texts all read it.
SAMPLERS: dict[str, type[Sampler]] = {
    "ddpm": DDPMSampler,
    "ddim": DDIMSampler,
    "dpm-solver++": DPMSolverPlusPlusSampler,
}


def make_sampler(
    name: str,
    diffusion: CenterShiftedDiffusion,
    steps: int,
    eta: float = 0.0,
    start_timestep: int | None = None,
    spacing: str = "linear",
) -> Sampler:
    """The sampler registered as ``name`` in ``SAMPLERS``, built from the shared sampling options."""
    if name in SAMPLERS:
        return SAMPLERS[name].from_settings(diffusion, steps, eta, start_timestep, spacing)
    raise N2LDiffError(f"unknown sampler {name!r} (choose from {', '.join(SAMPLERS)})")


@torch.no_grad()
def sample_loop(
    denoise: Denoiser,
    sampler: Sampler,
    center: torch.Tensor,
    noise: NoiseSource,
    start: str = "center+noise",
    callback: Callable[[int, torch.Tensor], None] | None = None,
    noise_std: torch.Tensor | None = None,
) -> torch.Tensor:
    """Run the reverse process and return the final x0 in [-1, 1].

    ``denoise(x_t, t)`` returns the clean-image prediction x0. ``center`` is in [-1, 1]. Noise draw 0 is
    the start noise (only with ``start="center+noise"``); draw k >= 1 is the noise of the k-th step.
    ``noise_std``: a per-pixel sensor-noise level s (preconditioned models). It sets the start's spread, and
    x0 is then *sampled* from its posterior, x0_hat + c_out z (draw ``X0_DRAW + k``): at every step of an
    ancestral sampler and at the last step of any sampler. With F = 0 this makes the shortened chain an
    exact sampler of N(center, s^2) at any step count; with the posterior mean alone a few large steps lose
    part of the variance, and the last step would lack the noise below its own level.
    A sampler with no timesteps (``steps=0``) evaluates no denoiser: x0 is drawn from that prior
    N(center, s^2) itself (draw ``X0_DRAW``), the one-pass path of models with a noise-level head.
    ``callback(index, x)`` sees each state.
    """
    diffusion = sampler.diffusion
    if not sampler.timesteps:
        if noise_std is None:
            raise N2LDiffError("steps=0 (no denoiser pass) needs a model with a noise-level head")
        x0 = center + noise_std * noise(X0_DRAW, center)
        return x0.clamp(-1, 1) if diffusion.clip_denoised else x0
    first = torch.full((center.shape[0],), sampler.timesteps[0], dtype=torch.long, device=center.device)
    if start == "center+noise":
        x = diffusion.start_sample(first, center, noise(0, center), noise_std)
    elif start == "center":
        x = center.clone()
    else:
        raise N2LDiffError(f"unknown start {start!r} (choose center+noise or center)")
    sampler.reset()
    x0 = x
    for index, t in enumerate(sampler.timesteps):
        t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        x0 = denoise(x, t_batch)
        last = index + 1 == len(sampler.timesteps)
        if noise_std is not None and (last or sampler.ancestral):
            _, posterior_std = diffusion.preconditioning(t_batch, x, noise_std)
            x0 = x0 + posterior_std * noise(X0_DRAW + index, x)
            x0 = x0.clamp(-1, 1) if diffusion.clip_denoised else x0
        if last:
            break
        x = sampler.step(index, x0, x, center, lambda i=index, x=x: noise(i + 1, x))
        if callback is not None:
            callback(index, x)
    return x0
