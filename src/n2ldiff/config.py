"""Typed configuration: dataclasses that load from YAML/JSON dicts and reject unknown keys.

Every option has one name everywhere (config files, ``config.json`` next to weights, Python API).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from n2ldiff.errors import N2LDiffError

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Network architecture. The paper model is ``base_channels=64, channel_mults=(1, 2, 2, 4, 4, 8)``."""

    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 2, 4, 4, 8)
    weight_norm: bool = True
    instance_norm: bool = True
    # "transposed": the original's 4x4 stride-2 transposed convolution (it leaves a 2-pixel checkerboard
    # in the outputs); "resize-conv": nearest-neighbour x2 then a 3x3 convolution (no such pattern).
    upsample: Literal["transposed", "resize-conv"] = "transposed"
    # Condition both networks on the exposure ratio R = mean(normal) / mean(low) (an embedding of log R
    # added in every residual block, like the time embedding).
    exposure_conditioning: bool = False
    # The encoder also predicts the per-pixel sensor-noise level of the low image (log std, per channel).
    noise_level_head: bool = False
    # How the encoder's head gives the center: "direct" (the original: the head output is the center) or
    # "gain": a per-pixel, per-channel gain and offset applied to the normal image, center =
    # normal * exp(g) / R + 0.1 b (a local tone and colour map). It keeps the photo's detail by
    # construction and starts, at g = b = 0, as the normal image darkened by R.
    center: Literal["direct", "gain"] = "direct"

    @property
    def size_multiple(self) -> int:
        """H and W must be multiples of this (one factor 2 per downsampling)."""
        return 2 ** (len(self.channel_mults) - 1)

    @property
    def min_size(self) -> int:
        """Smallest H/W: reflection padding needs at least 2 pixels at the deepest level."""
        return 2 * self.size_multiple


@dataclasses.dataclass(frozen=True)
class DiffusionConfig:
    """The center-shifted Gaussian diffusion and its default sampling settings."""

    timesteps: int = 100
    beta_schedule: Literal["cosine"] = "cosine"
    cosine_s: float = 0.008
    clip_denoised: bool = True
    # "center+noise": x_T = center + N(0, I), so every seed gives a different image under any sampler.
    # "center": the original's x_T = center exactly (only the ancestral sampler then varies by seed).
    start: Literal["center+noise", "center"] = "center+noise"
    # What the denoiser outputs: "epsilon" = the center-shifted noise (the paper); "residual" = the clean
    # image minus the center, x0 - c (converted to the shifted noise for the samplers).
    # "preconditioned": the network outputs F with x0 - c = c_skip (x_t - c) + c_out F (see process.py).
    prediction_type: Literal["epsilon", "residual", "preconditioned"] = "epsilon"
    sigma_data: float = 0.25
    sampler: Literal["ddpm", "ddim", "dpm-solver++"] = "ddpm"
    steps: int = 100
    eta: float = 0.0
    # The chain starts at this timestep instead of T - 1 (ResShift-style shortened chain): x_start is the
    # center plus noise of that level. None = T - 1, the original.
    start_timestep: int | None = None
    # How the sampled timesteps are spread between the start and 0: "linear" in t (the original) or
    # "geometric" in the noise std sqrt(1 - alpha-bar), dense near the clean end where sensor noise lives.
    timestep_spacing: Literal["linear", "geometric"] = "linear"


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """What ``config.json`` next to ``model.safetensors`` holds."""

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = dataclasses.field(default_factory=DiffusionConfig)
    # Where ``exposure="auto"`` draws R from: quantiles (equally spaced probabilities, 0 to 1) of the
    # training pairs' exposure ratios. Empty for models without exposure conditioning.
    exposure_quantiles: tuple[float, ...] = ()


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise N2LDiffError(f"{where}: expected a mapping, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin is Literal:
        if value not in get_args(tp):
            raise N2LDiffError(f"{where}: {value!r} is not one of {', '.join(map(repr, get_args(tp)))}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except N2LDiffError as err:
                errors.append(str(err))
        raise N2LDiffError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise N2LDiffError(f"{where}: expected a list, got {value!r}")
        (item_tp, *_rest) = get_args(tp)
        return tuple(_convert(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise N2LDiffError(f"{where}: expected a list, got {value!r}")
        (item_tp,) = get_args(tp)
        return [_convert(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise N2LDiffError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise N2LDiffError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise N2LDiffError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise N2LDiffError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise N2LDiffError(f"{where}: expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, (str, Path)):
            raise N2LDiffError(f"{where}: expected a path, got {value!r}")
        return Path(value)
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from a dict, type-checking values; unknown keys are an error."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise N2LDiffError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(fields))})")
    kwargs = {name: _convert(value, hints[name], f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise N2LDiffError(f"{where}: {err}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """Dataclass -> plain dict of JSON/YAML-friendly values (tuples become lists, paths strings)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, Path):
            return str(v)
        return v

    return plain(config)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with a clear error for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise N2LDiffError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise N2LDiffError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise N2LDiffError(f"{path}: expected a mapping at the top level")
    return data


def load_config(cls: type[T], path: str | Path) -> T:
    return from_dict(cls, load_yaml(path), where=str(path))


# ------------------------------------------------------------------------------------------ training
@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the pairs come from. ``layout``: lol | lolv2 | velol | pairs | csv (see data/layouts.py)."""

    root: Path = Path("data")
    layout: str = "pairs"
    train_split: str | None = "train"
    val_split: str | None = "test"
    crop_size: int = 160
    flip: bool = True
    val_crop_size: int | None = 256
    max_val_images: int = 8
    num_workers: int = 0
    cache_images: bool = True


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """The paper's objective is 0.9 LPIPS(vgg) + 0.1 smooth-L1 on the shifted noise.

    ``perceptual_target``: "paper" compares images re-noised with the predicted vs the true noise, as the
    original did (including its doubled center shift); "x0" compares the predicted and true clean images.
    ``center_weight`` adds an L1 loss between the encoder's center and the target (ours; 0 in the paper).
    ``center_choice``: "random" uses the encoder output or the ground truth 50/50 as the center during
    training (paper); "encoder" always uses the encoder output.
    """

    perceptual_weight: float = 0.9
    perceptual_net: Literal["vgg", "alex"] = "vgg"
    perceptual_target: Literal["paper", "x0"] = "paper"
    noise_weight: float = 0.1
    center_weight: float = 0.0
    center_choice: Literal["random", "encoder"] = "random"
    # Models with a noise-level head: weight of the Gaussian NLL that trains it.
    noise_level_weight: float = 0.0


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    optimizer: Literal["lion", "adamw"] = "lion"
    lr: float = 4e-4
    weight_decay: float = 0.0
    # The original passes only the denoiser's parameters to the optimiser, leaving the encoder at its
    # initialisation; we train both by default in our configs (see README, Training).
    train_encoder: bool = False
    gradient_clip_norm: float = 1.0
    warmup_steps: int = 0
    cosine_decay: bool = False
    ema_decay: float = 0.999
    ema_start_step: int = 0


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    max_steps: int = 1000
    batch_size: int = 16
    checkpoint_every: int = 500
    val_every: int = 500
    log_every: int = 10
    val_sampler: Literal["ddpm", "ddim", "dpm-solver++"] = "ddim"
    val_steps: int = 10
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "auto"
    seed: int = 3407
    wandb: bool = False
    wandb_project: str = "n2ldiff"
    tensorboard: bool = True


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A complete training run (``configs/*.yaml``)."""

    output_dir: Path = Path("runs/n2ldiff")
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = dataclasses.field(default_factory=DiffusionConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)

    @property
    def pipeline(self) -> PipelineConfig:
        return PipelineConfig(model=self.model, diffusion=self.diffusion)


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Load a training YAML; ``overrides`` are dotted keys (``{"trainer.max_steps": 5}``)."""
    data = load_yaml(path)
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise N2LDiffError(f"override {dotted}: {p} is not a section")
        node[leaf] = value
    return from_dict(TrainConfig, data, where=str(path))
