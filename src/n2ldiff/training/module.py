"""LightningModule that trains N2LDiff's encoder and denoiser with the center-shifted diffusion."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from n2ldiff.config import TrainConfig, to_dict
from n2ldiff.diffusion.losses import flat_weight, n2ldiff_loss, noise_level_nll
from n2ldiff.diffusion.noise import PositionalNoise
from n2ldiff.diffusion.process import CenterShiftedDiffusion, noise_std_from_log, to_model_range
from n2ldiff.models.n2ldiff import N2LDiff
from n2ldiff.sampling import SamplingSettings, sample
from n2ldiff.training.ema import EMA


def step_generator(seed: int, step: int, rank: int, device: torch.device) -> torch.Generator:
    """The training randomness of one step (t, noise, center choice): a function of (seed, step, rank)."""
    state = np.random.SeedSequence([seed, step, rank, 1]).generate_state(2, dtype=np.uint32)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(state[0]) << 32 | int(state[1]))
    return gen


class N2LDiffModule(L.LightningModule):
    def __init__(self, config: TrainConfig, exposure_quantiles: tuple[float, ...] = ()) -> None:
        """``exposure_quantiles``: the training pairs' distribution of R, stored with the model (auto)."""
        super().__init__()
        self.config = config
        self.save_hyperparameters({"config": to_dict(config), "exposure_quantiles": list(exposure_quantiles)})
        pipeline = dataclasses.replace(config.pipeline, exposure_quantiles=tuple(exposure_quantiles))
        self.model = N2LDiff(pipeline)
        self.ema = EMA(self.model, config.optim.ema_decay, config.optim.ema_start_step)
        self.diffusion = CenterShiftedDiffusion.from_config(config.diffusion)
        self.sampling = SamplingSettings.resolve(config.diffusion, config.trainer.val_sampler, config.trainer.val_steps)
        self.perceptual: torch.nn.Module | None = None
        if config.loss.perceptual_weight > 0:
            from n2ldiff.metrics.fidelity import LPIPS

            # Frozen metric network: kept out of the checkpoint (see state_dict below).
            object.__setattr__(self, "perceptual", LPIPS(config.loss.perceptual_net).eval().requires_grad_(False))
        self._val_metrics: list[dict[str, float]] = []
        self._val_grid: list[torch.Tensor] = []

    # ------------------------------------------------------------------------------------- training
    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        params = list(self.model.denoiser.parameters())
        if self.config.optim.train_encoder:
            params += list(self.model.encoder.parameters())
        return params

    def configure_optimizers(self) -> Any:
        o = self.config.optim
        params = self.trainable_parameters()
        if o.optimizer == "lion":
            from lion_pytorch import Lion

            optimizer = Lion(params, lr=o.lr, weight_decay=o.weight_decay)
        else:
            optimizer = torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
        max_steps = self.config.trainer.max_steps

        def factor(step: int) -> float:
            if o.warmup_steps and step < o.warmup_steps:
                return (step + 1) / o.warmup_steps
            if o.cosine_decay:
                progress = (step - o.warmup_steps) / max(1, max_steps - o.warmup_steps)
                return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
            return 1.0

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def _to_device(self) -> None:
        if self.diffusion.schedule.betas.device != self.device:
            self.diffusion.to(self.device)
        if self.perceptual is not None:
            self.perceptual.to(self.device)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        self._to_device()
        if self.config.model.noise_level_head:
            return self._noise_level_step(batch)
        cfg = self.config.loss
        normal, low = batch["normal"], batch["low"]
        gen = step_generator(self.config.trainer.seed, self.global_step, self.global_rank, normal.device)
        b = normal.shape[0]
        t = torch.randint(0, self.diffusion.num_timesteps, (b,), generator=gen, device=normal.device)
        noise = torch.randn(low.shape, generator=gen, device=normal.device)
        use_truth = cfg.center_choice == "random" and bool(torch.rand((), generator=gen, device=normal.device) < 0.5)

        encoder_grad = self.config.optim.train_encoder
        with torch.set_grad_enabled(encoder_grad):
            encoding = self.model.encode(normal, batch.get("exposure"))
        center01 = encoding.center
        x0 = to_model_range(low)
        # The original picks, per batch, the encoder's center or the ground truth itself as the center.
        center = x0 if use_truth else to_model_range(center01)
        x_t = self.diffusion.q_sample(x0, t, center, noise)
        eps_target = self.diffusion.shifted_noise(noise, t, center)
        output = self.model.denoise(x_t, t, normal, encoding)
        terms = n2ldiff_loss(
            self.diffusion,
            output,
            eps_target,
            x0,
            x_t,
            t,
            center,
            self.perceptual,
            cfg.perceptual_weight,
            cfg.noise_weight,
            cfg.perceptual_target,
        )
        loss = terms.total
        if cfg.center_weight > 0:
            center_term = F.l1_loss(center01, low)
            loss = loss + cfg.center_weight * center_term
            self.log("train/center_l1", center_term, on_step=True)
        self.log_dict(
            {"train/loss": loss, "train/noise": terms.noise, "train/perceptual": terms.perceptual},
            on_step=True,
            prog_bar=True,
        )
        return loss

    def _noise_level_step(self, batch: dict[str, Any]) -> torch.Tensor:
        """The objective of models with a noise-level head (preconditioned, shortened chain).

        * center: L1 to the real low image (the encoder's mean estimate);
        * noise level: Gaussian NLL of the residual's high frequencies where the normal crop is flat (there
          the residual is sensor noise, not edge misalignment);
        * denoiser: the preconditioned target around the Gaussian prior N(center, s^2), on timesteps of
          the shortened chain only; it sees the encoder's outputs detached, so it cannot spoil them.
        """
        cfg = self.config.loss
        normal, low = batch["normal"], batch["low"]
        gen = step_generator(self.config.trainer.seed, self.global_step, self.global_rank, normal.device)
        b = normal.shape[0]
        d = self.config.diffusion
        first = d.timesteps - 1 if d.start_timestep is None else d.start_timestep
        t = torch.randint(0, first + 1, (b,), generator=gen, device=normal.device)
        noise = torch.randn(low.shape, generator=gen, device=normal.device)

        encoding = self.model.encode(normal, batch["exposure"])
        assert encoding.log_noise_std is not None
        x0 = to_model_range(low)
        center_term = F.l1_loss(encoding.center, low)
        residual = x0 - to_model_range(encoding.center).detach()
        level_term = noise_level_nll(encoding.log_noise_std, residual, flat_weight(normal))

        fixed = encoding.detached()
        center = to_model_range(fixed.center)
        sigma = noise_std_from_log(fixed.log_noise_std)
        x_t = self.diffusion.q_sample(x0, t, center, noise)
        output = self.model.denoise(x_t, t, normal, fixed)
        denoise_term = F.smooth_l1_loss(output, self.diffusion.output_target(x0, x_t, t, center, sigma))
        loss = cfg.center_weight * center_term + cfg.noise_level_weight * level_term + cfg.noise_weight * denoise_term
        self.log_dict(
            {
                "train/loss": loss,
                "train/center_l1": center_term,
                "train/noise_nll": level_term,
                "train/denoise": denoise_term,
            },
            on_step=True,
            prog_bar=True,
        )
        return loss

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        # Here rather than in on_train_batch_end: checkpoint callbacks run before that hook, and a
        # checkpoint must hold the EMA of the step it records.
        self.ema.update(self.model, self.global_step)

    # ------------------------------------------------------------------------------------- validation
    @torch.no_grad()
    def sample(
        self, normal: torch.Tensor, seed: int, exposure: torch.Tensor | None = None, model: N2LDiff | None = None
    ) -> torch.Tensor:
        model = model or self.ema.shadow
        noise = PositionalNoise([seed] * normal.shape[0])
        return sample(model, self.diffusion, normal, noise, self.sampling, exposure)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._to_device()
        from n2ldiff.metrics.fidelity import psnr, ssim

        normal, low = batch["normal"], batch["low"]
        pred = self.sample(normal, seed=batch_idx, exposure=batch.get("exposure"))
        scores = {"psnr": float(psnr(pred, low).mean()), "ssim": float(ssim(pred, low).mean())}
        if self.perceptual is not None:
            scores["lpips"] = float(self.perceptual(pred, low).mean())
        self._val_metrics.append(scores)
        if len(self._val_grid) < 4:
            self._val_grid.append(torch.cat([normal[0], low[0], pred[0]], dim=2).cpu())

    def on_validation_epoch_end(self) -> None:
        if not self._val_metrics:
            return
        for key in self._val_metrics[0]:
            value = sum(m[key] for m in self._val_metrics) / len(self._val_metrics)
            self.log(f"val/{key}", value, sync_dist=True)
        if self.trainer.is_global_zero and self._val_grid:
            grid = torch.cat(self._val_grid, dim=1).clamp(0, 1)
            folder = Path(self.config.output_dir) / "samples"
            folder.mkdir(parents=True, exist_ok=True)
            array = (grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
            Image.fromarray(array).save(folder / f"step_{self.global_step:07d}.png")
        self._val_metrics.clear()
        self._val_grid.clear()

    # ------------------------------------------------------------------------------------- checkpoints
    def parameter_checksum(self) -> str:
        """sha256 of the trainable weights (used to check that DDP ranks agree)."""
        h = hashlib.sha256()
        for name, value in sorted(self.model.state_dict().items()):
            h.update(name.encode())
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()
