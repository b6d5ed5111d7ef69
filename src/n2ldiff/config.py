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
    # Models with a noise-level head: a factor on the predicted noise std when sampling, calibrated after
    # training on the *train* split (benchmarks/calibrate_sampling.py) so seeds vary like real noise.
    noise_scale: float = 1.0
    # Models with a noise-level head: (exponent b, reference n0). The noise std is further multiplied per
    # image by (n / n0)^b, clamped to [1/4, 4], where n is the normal image's own noise std in its flattest
    # regions (metrics.artifacts.normal_noise_std): a camera's noisier captures are noisier in the low
    # frame too, which the network does not pick up. Fitted with noise_scale on the *train* split
    # (benchmarks/calibrate_sampling.py). None: no per-image factor.
    normal_noise_scaling: tuple[float, float] | None = None
    # Exposure-conditioned models: rescale the center of each image so that its mean is exactly
    # mean(normal) / R. The network's own darkening drifts from the request at large R (it saw few
    # such frames); the noise is zero-mean, so the output's measured R then follows the request.
    match_exposure: bool = False
    # A real low capture's white balance differs from its normal image's by a per-scene shift of the mean
    # rgb chromaticity (c / (R+G+B)), partly predictable from the normal image's own chromaticity. When set,
    # 3 rows of 4 coefficients W: the center gets per-channel gains so that its mean chromaticity is
    # chroma(normal) + W @ [chroma(normal) - 1/3, 1]. Fitted after training on the *train* split
    # (benchmarks/calibrate_sampling.py). None: the network's own colour.
    colour_shift: tuple[tuple[float, ...], ...] | None = None


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
    unknown = sorted(set(data) - set(fields), key=str)
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
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise N2LDiffError(f"{path}: not a text file (not UTF-8); expected a YAML config") from None
    except OSError as err:
        raise N2LDiffError(f"{path}: cannot read the config ({err.strerror or err})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise N2LDiffError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    except RecursionError:
        raise N2LDiffError(f"{path}: not valid YAML (nested too deeply)") from None
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
    """Where the pairs come from. ``layout``: lol | lolv2 | velol | pairs | csv | frames (see data/layouts.py)."""

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
    return validate_train_config(from_dict(TrainConfig, data, where=str(path)), where=str(path))


# ---------------------------------------------------------------------------------------- validation
# Typed loading checks types; these check ranges, before any work (no folders made, no memory taken).
# Unknown fields (newer configs) are checked generically: every float must be finite.

#: Size bounds for a model read from a config: far above the paper model (width 64, six levels, 80 M
#: parameters) and far below what would exhaust memory when the networks are built.
MAX_BASE_CHANNELS = 1024
MAX_CHANNEL_MULT = 64
MAX_LEVELS = 8
MAX_WIDTH = 4096
MAX_PARAMETERS = 500_000_000
MAX_TIMESTEPS = 10_000


def _check_int(value: Any, where: str, low: int | None = None, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise N2LDiffError(f"{where}: expected an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            raise N2LDiffError(f"{where}: must be at least {low}, got {value}")
        if low is None:
            raise N2LDiffError(f"{where}: must be at most {high}, got {value}")
        raise N2LDiffError(f"{where}: must be between {low} and {high}, got {value}")


def _check_float(
    value: Any, where: str, low: float | None = None, high: float | None = None, low_inclusive: bool = True
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise N2LDiffError(f"{where}: expected a number, got {value!r}")
    if value != value or value in (float("inf"), float("-inf")):
        raise N2LDiffError(f"{where}: must be a finite number, got {value!r}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        raise N2LDiffError(f"{where}: must be {'at least' if low_inclusive else 'greater than'} {low}, got {value}")
    if high is not None and value > high:
        raise N2LDiffError(f"{where}: must be at most {high}, got {value}")


def _check_finite_floats(config: Any, where: str) -> None:
    """Every float anywhere in a (nested) config must be finite (covers fields added later)."""
    if dataclasses.is_dataclass(config):
        for f in dataclasses.fields(config):
            _check_finite_floats(getattr(config, f.name), f"{where}.{f.name}")
    elif isinstance(config, (list, tuple)):
        for i, item in enumerate(config):
            _check_finite_floats(item, f"{where}[{i}]")
    elif isinstance(config, float):
        _check_float(config, where)


def validate_model_config(model: ModelConfig, where: str = "model") -> ModelConfig:
    """Range checks of a ``ModelConfig``; returns it unchanged or raises ``N2LDiffError``."""
    _check_int(model.base_channels, f"{where}.base_channels", 1, MAX_BASE_CHANNELS)
    mults = model.channel_mults
    if not isinstance(mults, (list, tuple)) or not 1 <= len(mults) <= MAX_LEVELS:
        raise N2LDiffError(f"{where}.channel_mults: needs 1 to {MAX_LEVELS} levels, got {list(mults)!r}")
    for i, mult in enumerate(mults):
        _check_int(mult, f"{where}.channel_mults[{i}]", 1, MAX_CHANNEL_MULT)
    widest = model.base_channels * max(mults)
    if widest > MAX_WIDTH:
        raise N2LDiffError(
            f"{where}: widest level has {widest} channels (base_channels x channel_mults), at most {MAX_WIDTH}"
        )
    _check_finite_floats(model, where)
    return model


def validate_diffusion_config(diffusion: DiffusionConfig, where: str = "diffusion") -> DiffusionConfig:
    """Range checks of a ``DiffusionConfig``; returns it unchanged or raises ``N2LDiffError``."""
    _check_int(diffusion.timesteps, f"{where}.timesteps", 1, MAX_TIMESTEPS)
    _check_float(diffusion.cosine_s, f"{where}.cosine_s", 0.0, 1.0, low_inclusive=False)
    _check_float(diffusion.sigma_data, f"{where}.sigma_data", 0.0, low_inclusive=False)
    _check_int(diffusion.steps, f"{where}.steps", 0, diffusion.timesteps)  # 0: no denoiser pass
    if diffusion.sampler == "ddpm" and diffusion.steps != diffusion.timesteps:
        raise N2LDiffError(
            f"{where}.steps: the ddpm sampler runs all {diffusion.timesteps} timesteps, got steps {diffusion.steps}"
        )
    _check_float(diffusion.eta, f"{where}.eta", 0.0)
    shift = diffusion.colour_shift
    if shift is not None and (len(shift) != 3 or any(len(row) != 4 for row in shift)):
        raise N2LDiffError(f"{where}.colour_shift: needs 3 rows of 4 numbers, got {[list(r) for r in shift]!r}")
    scaling = diffusion.normal_noise_scaling
    if scaling is not None and (len(scaling) != 2 or not scaling[1] > 0):
        raise N2LDiffError(
            f"{where}.normal_noise_scaling: needs [exponent, reference noise std > 0], got {list(scaling)!r}"
        )
    _check_finite_floats(diffusion, where)
    return diffusion


def validate_pipeline_config(config: PipelineConfig, where: str = "config") -> PipelineConfig:
    """Range checks of a model folder's ``config.json`` (see ``validate_model_config``)."""
    validate_model_config(config.model, f"{where}: model")
    validate_diffusion_config(config.diffusion, f"{where}: diffusion")
    _check_finite_floats(config, where)
    return config


def validate_train_config(config: TrainConfig, where: str = "config") -> TrainConfig:
    """Range checks of every numeric field of a training config, before any folder or network is made."""
    model = validate_model_config(config.model, f"{where}: model")
    diffusion = validate_diffusion_config(config.diffusion, f"{where}: diffusion")
    stride, smallest = model.size_multiple, model.min_size
    d = config.data
    for name in ("crop_size", "val_crop_size"):
        value = getattr(d, name)
        if value is None and name == "val_crop_size":
            continue
        _check_int(value, f"{where}: data.{name}", smallest)
        if value % stride:
            raise N2LDiffError(
                f"{where}: data.{name}: must be a multiple of {stride} (the network halves the size "
                f"{len(model.channel_mults) - 1} times), got {value}"
            )
    _check_int(d.max_val_images, f"{where}: data.max_val_images", 0)
    _check_int(d.num_workers, f"{where}: data.num_workers", 0)
    loss = config.loss
    for name in ("perceptual_weight", "noise_weight", "center_weight"):
        _check_float(getattr(loss, name), f"{where}: loss.{name}", 0.0)
    if loss.perceptual_weight + loss.noise_weight + loss.center_weight <= 0:
        raise N2LDiffError(f"{where}: loss: at least one of perceptual_weight, noise_weight, center_weight must be > 0")
    o = config.optim
    _check_float(o.lr, f"{where}: optim.lr", 0.0, low_inclusive=False)
    _check_float(o.weight_decay, f"{where}: optim.weight_decay", 0.0)
    _check_float(o.gradient_clip_norm, f"{where}: optim.gradient_clip_norm", 0.0)
    _check_int(o.warmup_steps, f"{where}: optim.warmup_steps", 0)
    _check_float(o.ema_decay, f"{where}: optim.ema_decay", 0.0, 1.0)
    _check_int(o.ema_start_step, f"{where}: optim.ema_start_step", 0)
    t = config.trainer
    _check_int(t.max_steps, f"{where}: trainer.max_steps", 1)
    for name in ("batch_size", "checkpoint_every", "val_every", "log_every", "num_nodes"):
        _check_int(getattr(t, name), f"{where}: trainer.{name}", 1)
    _check_int(t.val_steps, f"{where}: trainer.val_steps", 1, diffusion.timesteps)
    if t.val_sampler == "ddpm" and t.val_steps != diffusion.timesteps:
        raise N2LDiffError(
            f"{where}: trainer.val_steps: the ddpm sampler runs all {diffusion.timesteps} timesteps, got {t.val_steps}"
        )
    if isinstance(t.devices, int) and not isinstance(t.devices, bool) and t.devices < 1 and t.devices != -1:
        raise N2LDiffError(f"{where}: trainer.devices: must be at least 1 (or -1 for all), got {t.devices}")
    _check_int(t.seed, f"{where}: trainer.seed", 0, 2**32 - 1)
    _check_finite_floats(config, where)
    return config
