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
    sampler: Literal["ddpm", "ddim", "dpm-solver++"] = "ddpm"
    steps: int = 100
    eta: float = 0.0


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """What ``config.json`` next to ``model.safetensors`` holds."""

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = dataclasses.field(default_factory=DiffusionConfig)


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
