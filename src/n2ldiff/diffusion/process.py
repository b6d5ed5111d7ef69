"""Center-shifted Gaussian diffusion (the N2LDiff forward process, posterior and training target).

Images live in [-1, 1]: the low-light target is ``x0 = 2 low - 1`` and the encoder's center estimate
enters as ``c = 2 center - 1``. The forward process drifts the mean from x0 to c:

    x_t = sqrt(ab_t) x0 + (1 - sqrt(ab_t)) c + sqrt(1 - ab_t) eps

Equivalently the residual ``r_t = x_t - c`` follows a standard DDPM with data ``r_0 = x0 - c``. The
network predicts the *shifted* noise ``eps' = eps + k_t c`` with ``k_t = (1 - sqrt(ab_t)) / sqrt(1 - ab_t)``
(``extra_term_coef1``), so that ``x0 = (x_t - sqrt(1 - ab_t) eps') / sqrt(ab_t)`` as in plain DDPM.
"""

from __future__ import annotations

import torch

from n2ldiff.config import DiffusionConfig
from n2ldiff.diffusion.schedule import Schedule

PREDICTION_TYPES = ("epsilon", "residual", "preconditioned")


def noise_std_from_log(log_std: torch.Tensor) -> torch.Tensor:
    """A noise-level head's output (log std, [-1, 1] units) -> std, bounded to a sane range.

    The bounds (about 0.006 to 77 8-bit levels) keep the preconditioning finite on any input.
    """
    return log_std.clamp(-10.0, -0.5).exp()


def extract(coefs: torch.Tensor, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """coefs[t] broadcast to x's shape (B -> B x 1 x 1 x 1)."""
    return coefs.to(x.device)[t].reshape(-1, *([1] * (x.ndim - 1))).to(x.dtype)


def to_model_range(img: torch.Tensor) -> torch.Tensor:
    """[0, 1] image -> [-1, 1]."""
    return img * 2 - 1


def from_model_range(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped."""
    return (x.clamp(-1, 1) + 1) / 2


class CenterShiftedDiffusion:
    """Forward process, x0 prediction and posterior of the center-shifted diffusion (no networks)."""

    def __init__(
        self,
        schedule: Schedule,
        clip_denoised: bool = True,
        prediction_type: str = "epsilon",
        sigma_data: float = 0.25,
    ) -> None:
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"unknown prediction type {prediction_type!r}")
        self.schedule = schedule
        self.clip_denoised = clip_denoised
        self.prediction_type = prediction_type
        self.sigma_data = sigma_data

    @classmethod
    def from_config(cls, config: DiffusionConfig) -> CenterShiftedDiffusion:
        """The process a model's ``DiffusionConfig`` describes (the one place it is built from config)."""
        return cls(
            Schedule.cosine(config.timesteps, config.cosine_s),
            config.clip_denoised,
            config.prediction_type,
            config.sigma_data,
        )

    def to(self, device: torch.device | str) -> CenterShiftedDiffusion:
        """Move the schedule's tensors to ``device`` (returns self)."""
        self.schedule = self.schedule.to(device)
        return self

    @property
    def num_timesteps(self) -> int:
        return self.schedule.num_timesteps

    def shifted_noise(self, noise: torch.Tensor, t: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
        """The training target eps' = eps + k_t c (c in [-1, 1])."""
        return noise + extract(self.schedule.extra_term_coef1, t, noise) * center

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, center: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Sample x_t ~ q(x_t | x0, c). All of x0, center are in [-1, 1]; ``noise`` is not modified."""
        s = self.schedule
        eps_shifted = self.shifted_noise(noise, t, center)
        return (
            extract(s.sqrt_alphas_cumprod, t, x0) * x0 + extract(s.sqrt_one_minus_alphas_cumprod, t, x0) * eps_shifted
        )

    # ------------------------------------------------------------------ what the network predicts
    # "epsilon": the shifted noise eps' (the paper). "residual": r0 = x0 - c. "preconditioned": F with
    # r0 = c_skip r_t + c_out F (Karras et al., 2022, in the residual process): with F = 0 the estimate is
    # already the posterior mean of r0 given r_t for Gaussian data of std sigma_data (identity at t = 0, the
    # center at t = T), and F's regression target has unit variance at every t. ``sigma`` may be a per-pixel
    # map (a model's predicted sensor-noise level) instead of the constant ``sigma_data``.
    def preconditioning(
        self, t: torch.Tensor, like: torch.Tensor, sigma: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(c_skip, c_out); c_out is also the posterior std of r0 given r_t under the Gaussian prior."""
        ab = extract(self.schedule.alphas_cumprod, t, like)
        s = self.sigma_data if sigma is None else sigma
        s2 = s**2
        denom = ab * s2 + 1 - ab
        return ab.sqrt() * s2 / denom, s * (1 - ab).sqrt() / denom.sqrt()

    def x0_from_output(
        self,
        output: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor,
        center: torch.Tensor,
        sigma: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The clean-image prediction implied by the network's output (clamped when ``clip_denoised``)."""
        if self.prediction_type == "epsilon":
            return self.predict_x0(x_t, t, output)
        x0 = center + self.residual_from_output(output, x_t, t, center, sigma)
        return x0.clamp(-1, 1) if self.clip_denoised else x0

    def residual_from_output(
        self,
        output: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor,
        center: torch.Tensor,
        sigma: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """r0 = x0 - c implied by the output of a "residual" or "preconditioned" network."""
        if self.prediction_type == "residual":
            return output
        c_skip, c_out = self.preconditioning(t, x_t, sigma)
        return c_skip * (x_t - center) + c_out * output

    def output_target(
        self,
        x0: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor,
        center: torch.Tensor,
        sigma: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The regression target of a "residual" or "preconditioned" network."""
        if self.prediction_type == "residual":
            return x0 - center
        c_skip, c_out = self.preconditioning(t, x_t, sigma)
        return (x0 - center - c_skip * (x_t - center)) / c_out

    def start_sample(
        self, t: torch.Tensor, center: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x_t at the chain's first timestep: the center plus noise of that level.

        For the preconditioned process the residual's marginal std sqrt(ab s^2 + 1 - ab) is used (exact for
        Gaussian data of std s); otherwise the original's x_T = c + N(0, I) at T - 1, and sqrt(1 - ab)
        noise at an earlier start (the residual taken as 0).
        """
        ab = extract(self.schedule.alphas_cumprod, t, center)
        if self.prediction_type == "preconditioned":
            s = self.sigma_data if sigma is None else sigma
            return center + (ab * s**2 + 1 - ab).sqrt() * noise
        if int(t.max()) == self.num_timesteps - 1:
            return center + noise
        return center + (1 - ab).sqrt() * noise

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, eps_shifted: torch.Tensor) -> torch.Tensor:
        """x0 from the predicted shifted noise, clamped to [-1, 1] when ``clip_denoised``."""
        s = self.schedule
        x0 = (
            extract(s.sqrt_recip_alphas_cumprod, t, x_t) * x_t
            - extract(s.sqrt_recipm1_alphas_cumprod, t, x_t) * eps_shifted
        )
        return x0.clamp(-1, 1) if self.clip_denoised else x0

    def eps_from_x0(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor, center: torch.Tensor) -> torch.Tensor:
        """Noise of the residual process implied by x0: (r_t - sqrt(ab) r_0) / sqrt(1 - ab)."""
        s = self.schedule
        r_t, r_0 = x_t - center, x0 - center
        return (r_t - extract(s.sqrt_alphas_cumprod, t, x_t) * r_0) / extract(s.sqrt_one_minus_alphas_cumprod, t, x_t)

    def posterior(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, center: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(x_{t-1} | x_t, x0, c).

        The center term ``extra_term_coef2 = 1 - coef1 - coef2`` is what makes this the standard DDPM
        posterior of the residual r = x - c, shifted back by c.
        """
        s = self.schedule
        mean = (
            extract(s.posterior_mean_coef1, t, x_t) * x0
            + extract(s.posterior_mean_coef2, t, x_t) * x_t
            + extract(s.extra_term_coef2, t, x_t) * center
        )
        return mean, extract(s.posterior_log_variance_clipped, t, x_t)

    def p_sample(
        self,
        eps_shifted: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor,
        center: torch.Tensor,
        noise: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One ancestral step given the predicted shifted noise: returns (x_{t-1}, x0_hat)."""
        x0 = self.predict_x0(x_t, t, eps_shifted)
        return self.posterior_sample(x0, x_t, t, center, noise), x0

    def posterior_sample(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, center: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """x_{t-1} ~ q(x_{t-1} | x_t, x0, c) with the given standard normal noise (none at t = 0)."""
        mean, log_var = self.posterior(x0, x_t, t, center)
        nonzero = (t != 0).to(x_t.dtype).reshape(-1, *([1] * (x_t.ndim - 1)))
        return mean + nonzero * (0.5 * log_var).exp() * noise
