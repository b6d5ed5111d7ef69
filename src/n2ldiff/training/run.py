"""``train()``: one training run from a ``TrainConfig`` (what ``n2ldiff train`` calls)."""

from __future__ import annotations

import json
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

import n2ldiff
from n2ldiff.config import TrainConfig, to_dict, validate_train_config
from n2ldiff.errors import N2LDiffError
from n2ldiff.exposure import training_quantiles
from n2ldiff.files import check_output_location, is_disk_full, make_output_dir, sha256_file, write_text_atomic
from n2ldiff.models.n2ldiff import WEIGHTS_NAME
from n2ldiff.training.datamodule import PairedDataModule
from n2ldiff.training.module import N2LDiffModule


def resolve_precision(precision: str, accelerator: str) -> str:
    """ "auto": bf16 mixed precision on a CUDA GPU that supports it, full fp32 otherwise."""
    if precision != "auto":
        return precision
    on_gpu = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if on_gpu and torch.cuda.is_bf16_supported() else "32-true"


class ExportOnEnd(Callback):
    """Writes the final model directory (EMA + raw weights), a run record and per-rank checksums."""

    def __init__(self, config: TrainConfig, started: float) -> None:
        self.config = config
        self.started = started

    def on_train_end(self, trainer: L.Trainer, pl_module: N2LDiffModule) -> None:
        out = Path(self.config.output_dir)
        checks = out / "rank_checksums"
        checks.mkdir(parents=True, exist_ok=True)
        (checks / f"rank{trainer.global_rank}.txt").write_text(pl_module.parameter_checksum() + "\n")
        if not trainer.is_global_zero:
            return
        model_dir = pl_module.model.save_pretrained(out / "model", ema_state=pl_module.ema.shadow.state_dict())
        record = {
            "n2ldiff_version": n2ldiff.__version__,
            "torch_version": torch.__version__,
            "lightning_version": L.__version__,
            "python": platform.python_version(),
            "seed": self.config.trainer.seed,
            "global_step": trainer.global_step,
            "train_seconds": round(time.time() - self.started, 1),
            "weights_sha256": sha256_file(model_dir / WEIGHTS_NAME),
            "config": to_dict(self.config),
        }
        (out / "run.json").write_text(json.dumps(record, indent=2) + "\n")


def build_trainer(config: TrainConfig, callbacks: list[Callback]) -> L.Trainer:
    t = config.trainer
    out = Path(config.output_dir)
    loggers: list[Any] = [CSVLogger(out, name="logs", version="")]
    if t.tensorboard:
        loggers.append(TensorBoardLogger(out, name="tensorboard", version=""))
    if t.wandb:
        from lightning.pytorch.loggers import WandbLogger

        loggers.append(WandbLogger(project=t.wandb_project, save_dir=str(out)))
    checkpoint = ModelCheckpoint(
        dirpath=out / "checkpoints",
        filename="step{step:07d}",
        auto_insert_metric_name=False,
        every_n_train_steps=t.checkpoint_every,
        save_last=True,
        save_top_k=-1,
    )
    return L.Trainer(
        default_root_dir=out,
        max_steps=t.max_steps,
        max_epochs=-1,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=resolve_precision(t.precision, t.accelerator),
        gradient_clip_val=config.optim.gradient_clip_norm or None,
        gradient_clip_algorithm="norm",
        log_every_n_steps=t.log_every,
        val_check_interval=t.val_every,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        logger=loggers,
        callbacks=[checkpoint, *callbacks],
        use_distributed_sampler=False,  # our batch sampler shards by rank itself
        enable_progress_bar=True,
        enable_model_summary=False,
    )


def train(config: TrainConfig, resume: str | Path | None = None) -> Path:
    """Train, checkpointing every ``checkpoint_every`` steps; returns the exported model directory.

    ``resume`` is a checkpoint written by an earlier run (e.g. ``OUT/checkpoints/last.ckpt``): optimiser,
    EMA, step and data position continue exactly.
    """
    validate_train_config(config)  # every numeric field, before any folder, network or data is touched
    if resume is not None and not Path(resume).is_file():
        raise N2LDiffError(f"--resume: checkpoint not found: {resume}")
    out = Path(config.output_dir)
    check_output_location(out, "run folder (output_dir)")
    datamodule = PairedDataModule(config.data, config.trainer)  # validates data paths before any work
    created = not out.exists()
    make_output_dir(out, "run folder (output_dir)")
    try:
        write_text_atomic(out / "config.yaml", yaml.safe_dump(to_dict(config), sort_keys=False))
        L.seed_everything(config.trainer.seed, workers=True, verbose=False)
        quantiles: tuple[float, ...] = ()
        if config.model.exposure_conditioning:
            quantiles = training_quantiles(datamodule.train_exposures())
        module = N2LDiffModule(config, quantiles)
        trainer = build_trainer(config, [ExportOnEnd(config, time.time())])
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(resume) if resume else None)
    except N2LDiffError:
        # A user error before the first checkpoint (e.g. an unreadable image): leave no half-made run
        # folder behind, but only one this call created and that holds nothing worth keeping.
        if created and not any((out / "checkpoints").glob("*.ckpt")) and not (out / "model").exists():
            shutil.rmtree(out, ignore_errors=True)
        raise
    except OSError as err:
        if is_disk_full(err):
            raise N2LDiffError(f"{out}: disk full, training stopped ({err.strerror})") from None
        raise
    return out / "model"
