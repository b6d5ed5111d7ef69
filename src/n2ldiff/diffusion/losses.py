"""The N2LDiff training objective (noise prediction with a perceptual term), independent of networks.

The original's loss, for a batch with x0 = 2 low - 1, center c (in [-1, 1]), t, eps:

    x_t  = q_sample(x0, t, c, eps);   eps' = eps + k_t c      (the target)
    L    = w_p LPIPS(img(q_sample(x0, t, c, eps_pred)), img(q_sample(x0, t, c, eps')))
         + w_n smoothL1(eps_pred, eps')

with img(x) = (clamp(x, -1, 1) + 1) / 2. Because the original's q_sample shifts its noise argument in
place, the perceptual term's two images carry the center shift twice; ``perceptual_target="paper"``
reproduces that. ``"x0"`` instead compares the clean-image prediction with the target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from n2ldiff.diffusion.process import CenterShiftedDiffusion, from_model_range
from n2ldiff.image_noise import box_residual, gray, local_std

Perceptual = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class LossTerms:
    total: torch.Tensor
    noise: torch.Tensor
    perceptual: torch.Tensor


def flat_weight(image: torch.Tensor, threshold: float = 0.015, size: int = 5) -> torch.Tensor:
    """B x 1 x H x W: 1 where the image's gray is locally flat (size x size std below ``threshold``)."""
    return (local_std(gray(image), size) < threshold).to(image.dtype)


def noise_level_nll(log_std: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Gaussian negative log-likelihood of the residual's high frequencies under a per-pixel noise std.

    ``log_std`` is the predicted log std of pixel-independent noise; the high-pass keeps the noise and drops
    the smooth part of the residual (errors of the mean estimate). ``weight`` (B x 1 x H x W) restricts it
    to pixels where the normal image is flat: at edges the residual also holds misalignment and texture
    errors, which are not sensor noise. Constants are dropped.
    """
    log_std = log_std.clamp(-12.0, 2.0)
    var = (8 / 9) * torch.exp(2 * log_std)  # the 3x3 box residual of i.i.d. noise of std s has std s sqrt(8/9)
    nll = 0.5 * box_residual(residual) ** 2 / var + log_std
    if weight is None:
        return nll.mean()
    weight = weight.expand_as(nll)
    return (nll * weight).sum() / weight.sum().clamp_min(1.0)


def n2ldiff_loss(
    diffusion: CenterShiftedDiffusion,
    output: torch.Tensor,
    eps_target: torch.Tensor,
    x0: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    center: torch.Tensor,
    perceptual: Perceptual | None,
    perceptual_weight: float,
    noise_weight: float,
    perceptual_target: str = "paper",
) -> LossTerms:
    """Weighted sum of the perceptual and smooth-L1 terms (center term added by the caller).

    ``output`` is the network's output. For ``prediction_type="epsilon"`` the smooth-L1 term compares it
    with the shifted noise (the paper); otherwise with ``diffusion.output_target`` (x0 - c for "residual",
    the unit-variance preconditioned target for "preconditioned").
    """
    if diffusion.prediction_type == "epsilon":
        eps_pred = output
        noise_term = F.smooth_l1_loss(eps_pred, eps_target)
    else:
        noise_term = F.smooth_l1_loss(output, diffusion.output_target(x0, x_t, t, center))
        eps_pred = diffusion.eps_from_x0(
            x_t, t, center + diffusion.residual_from_output(output, x_t, t, center), center
        )
        eps_pred = diffusion.shifted_noise(eps_pred, t, center)
    perceptual_term = torch.zeros((), device=x0.device)
    if perceptual is not None and perceptual_weight > 0:
        if perceptual_target == "paper":
            # q_sample shifts its noise argument by k_t c; eps_pred and eps' are already shifted noises,
            # so the center enters twice, as in the original.
            pred_img = diffusion.q_sample(x0, t, center, eps_pred)
            target_img = diffusion.q_sample(x0, t, center, eps_target)
        else:
            pred_img = (
                diffusion.predict_x0(x_t, t, eps_pred)
                if diffusion.prediction_type == "epsilon"
                else (center + diffusion.residual_from_output(output, x_t, t, center)).clamp(-1, 1)
            )
            target_img = x0
        perceptual_term = perceptual(from_model_range(pred_img), from_model_range(target_img)).mean()
    total = perceptual_weight * perceptual_term + noise_weight * noise_term
    return LossTerms(total, noise_term, perceptual_term)
