"""Convert an original N2LDiff Lightning checkpoint (``.ckpt``) into an n2ldiff model directory.

The checkpoint is read without executing any code from it: first with ``torch.load(weights_only=True)``;
if it holds other objects (hyper-parameter containers, callbacks), with an unpickler that replaces every
class outside a small tensor allow-list by an inert placeholder, so nothing foreign is ever imported or
called. Only ``state_dict`` tensors are used.

Key mapping (original -> ours), applied to both networks (``model.unet.`` -> ``denoiser.``,
``encoder.`` -> ``encoder.``)::

    mlp.{0,2}                     -> time_mlp.{0,2}        (encoder: unused in the original, dropped)
    downs.i.0 / downs.i.1         -> down.i.res1 / res2
    downs.i.2.conv.1              -> down.i.resample.conv
    ups.j.0 / ups.j.1             -> up.j.res1 / res2
    ups.j.2.conv.0                -> up.j.resample.conv
    mid_block1 / mid_block2       -> mid1 / mid2
    final_conv.0.block.1          -> head.block.conv
    final_conv.1                  -> head.proj
    <resblock>.mlp.1              -> time_proj.1           (encoder: unused, dropped)
    <resblock>.block{1,2}.block.1 -> block{1,2}.conv
    <resblock>.res_conv           -> skip

The 14 ``model.<schedule>`` buffers are not stored: they are checked against the schedule we compute.
Keys of metric networks a training checkpoint may carry (``lpips.``, ``loss_fn_alex.``) are ignored.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from n2ldiff.config import DiffusionConfig, ModelConfig, PipelineConfig, validate_pipeline_config
from n2ldiff.diffusion.schedule import Schedule
from n2ldiff.errors import N2LDiffError
from n2ldiff.models.n2ldiff import N2LDiff

IGNORED_PREFIXES = ("lpips.", "loss_fn_alex.", "loss_fn_vgg.")
SCHEDULE_KEYS = tuple(Schedule.__dataclass_fields__)

_NET_RULES: list[tuple[str, str]] = [
    (r"^mlp\.([02])\.(.+)$", r"time_mlp.\1.\2"),
    (r"^downs\.(\d+)\.2\.conv\.1\.(.+)$", r"down.\1.resample.conv.\2"),
    (r"^downs\.(\d+)\.0\.(.+)$", r"down.\1.res1.\2"),
    (r"^downs\.(\d+)\.1\.(.+)$", r"down.\1.res2.\2"),
    (r"^ups\.(\d+)\.2\.conv\.0\.(.+)$", r"up.\1.resample.conv.\2"),
    (r"^ups\.(\d+)\.0\.(.+)$", r"up.\1.res1.\2"),
    (r"^ups\.(\d+)\.1\.(.+)$", r"up.\1.res2.\2"),
    (r"^mid_block([12])\.(.+)$", r"mid\1.\2"),
    (r"^final_conv\.0\.block\.1\.(.+)$", r"head.block.conv.\1"),
    (r"^final_conv\.1\.(.+)$", r"head.proj.\1"),
]
_BLOCK_RULES: list[tuple[str, str]] = [
    (r"\.mlp\.1\.(weight|bias)$", r".time_proj.1.\1"),
    (r"\.block([12])\.block\.1\.", r".block\1.conv."),
    (r"\.res_conv\.", r".skip."),
]


def map_original_key(key: str) -> str | None:
    """Our parameter name for an original state_dict key, or None for keys we drop.

    Dropped: the encoder's time MLPs (the original encoder never uses them), schedule buffers and
    metric-network keys. Raises KeyError for a key that belongs to neither network.
    """
    if key.startswith(IGNORED_PREFIXES):
        return None
    if key.startswith("model.unet."):
        net, rest = "denoiser", key[len("model.unet.") :]
    elif key.startswith("encoder."):
        net, rest = "encoder", key[len("encoder.") :]
    elif key.startswith("model.") and key[len("model.") :] in SCHEDULE_KEYS:
        return None
    else:
        raise KeyError(key)
    for pattern, repl in _NET_RULES:
        new, n = re.subn(pattern, repl, rest)
        if n:
            rest = new
            break
    else:
        raise KeyError(key)
    if net == "encoder" and (rest.startswith("time_mlp.") or re.search(r"\.mlp\.1\.", rest)):
        return None
    for pattern, repl in _BLOCK_RULES:
        rest = re.sub(pattern, repl, rest)
    return f"{net}.{rest}"


# ---------------------------------------------------------------------------------- safe loading
class _Inert:
    """Stands in for any class a checkpoint references that is not a tensor building block."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return _Inert(*args)


_ALLOWED = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch", "Size"): torch.Size,
}
for _name in ("float32", "float16", "bfloat16", "float64", "int64", "int32", "uint8", "bool"):
    _ALLOWED[("torch", _name)] = getattr(torch, _name)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        return type(name, (_Inert,), {"__module__": "n2ldiff.convert.inert"})


class _RestrictedPickleModule:
    """A ``pickle_module`` for torch.load whose unpickler never imports foreign classes."""

    Unpickler = _RestrictedUnpickler
    UnpicklingError = pickle.UnpicklingError

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return _RestrictedUnpickler(file, **kwargs).load()


def load_checkpoint_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` tensors of a Lightning checkpoint (or a bare state dict), loaded safely."""
    path = Path(path)
    if not path.is_file():
        raise N2LDiffError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise N2LDiffError(f"{path}: not a PyTorch checkpoint (not a zip archive; truncated or another format)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_RestrictedPickleModule)
        except Exception as err:  # noqa: BLE001 - any failure here means an unreadable file
            raise N2LDiffError(f"{path}: unreadable checkpoint ({type(err).__name__}: {err})") from None
    except Exception as err:  # noqa: BLE001
        raise N2LDiffError(f"{path}: unreadable checkpoint ({type(err).__name__}: {err})") from None
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise N2LDiffError(f"{path}: no state_dict of tensors found (not an N2LDiff Lightning checkpoint)")
    return dict(state)


# ---------------------------------------------------------------------------------- conversion
def infer_model_config(state: dict[str, torch.Tensor], source: str = "checkpoint") -> ModelConfig:
    """Width, depth and weight-norm use, read off the denoiser's first-block shapes."""
    outs = []
    level = 0
    weight_norm = "model.unet.downs.0.0.block1.block.1.weight_v" in state
    suffix = "weight_v" if weight_norm else "weight"
    while (key := f"model.unet.downs.{level}.0.block1.block.1.{suffix}") in state:
        outs.append(int(state[key].shape[0]))
        level += 1
    if not outs:
        raise N2LDiffError(f"{source}: not an N2LDiff checkpoint (no 'model.unet.downs.0' denoiser weights)")
    base = outs[0]
    if any(o % base for o in outs):
        raise N2LDiffError(f"{source}: unexpected channel plan {outs}")
    return ModelConfig(base_channels=base, channel_mults=tuple(o // base for o in outs), weight_norm=weight_norm)


def convert_state_dict(state: dict[str, torch.Tensor], source: str = "checkpoint") -> N2LDiff:
    """Build an ``N2LDiff`` from original state_dict tensors, checking every key and shape."""
    model_config = infer_model_config(state, source)
    timesteps = int(state["model.betas"].shape[0]) if "model.betas" in state else 100
    config = PipelineConfig(model=model_config, diffusion=DiffusionConfig(timesteps=timesteps))
    validate_pipeline_config(config, where=source)
    model = N2LDiff(config)
    ours = model.state_dict()
    converted: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        try:
            new_key = map_original_key(key)
        except KeyError:
            raise N2LDiffError(f"{source}: unexpected key {key!r} (not an N2LDiff checkpoint?)") from None
        if new_key is None:
            continue
        if new_key not in ours:
            raise N2LDiffError(f"{source}: key {key!r} has no counterpart ({new_key!r})")
        if tuple(ours[new_key].shape) != tuple(value.shape):
            raise N2LDiffError(
                f"{source}: {key!r} has shape {tuple(value.shape)}, expected {tuple(ours[new_key].shape)}"
            )
        converted[new_key] = value.to(torch.float32)
    missing = sorted(set(ours) - set(converted))
    if missing:
        raise N2LDiffError(f"{source}: {len(missing)} weights missing, e.g. {missing[0]!r} (truncated checkpoint?)")
    schedule = Schedule.cosine(timesteps)
    for name in SCHEDULE_KEYS:
        stored = state.get(f"model.{name}")
        if stored is not None and not torch.allclose(stored.float(), getattr(schedule, name), rtol=1e-5, atol=1e-6):
            raise N2LDiffError(
                f"{source}: schedule buffer {name!r} differs from the cosine schedule with T={timesteps}"
            )
    model.load_state_dict(converted)
    return model


def convert_checkpoint(checkpoint: str | Path, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Original ``.ckpt`` -> ``out_dir`` with config.json + model.safetensors (+ model_ema.safetensors).

    EMA weights are written when the checkpoint carries them under ``ema.`` (original key names after the
    prefix). Nothing is written unless the whole conversion succeeds. An ``out_dir`` that already holds a
    model (``config.json`` or ``*.safetensors``) is refused unless ``overwrite``; then only those files
    are replaced (see ``N2LDiff.save_pretrained``): other files, the checkpoint itself included, stay.
    """
    from n2ldiff.files import check_output_location
    from n2ldiff.model_folder import is_model_file

    out_dir = Path(out_dir)
    check_output_location(out_dir, "model folder")
    if out_dir.is_dir() and not overwrite:
        ours = sorted(p.name for p in out_dir.iterdir() if is_model_file(p.name))
        if ours:
            raise N2LDiffError(
                f"{out_dir} already holds a model ({', '.join(ours)}); pass --overwrite to replace those files "
                "(other files in it are kept)"
            )
    state = load_checkpoint_state(checkpoint)
    ema_state = {k[len("ema.") :]: v for k, v in state.items() if k.startswith("ema.")}
    main_state = {k: v for k, v in state.items() if not k.startswith("ema.")}
    model = convert_state_dict(main_state, source=str(checkpoint))
    ema_tensors = None
    if ema_state:
        ema_tensors = convert_state_dict(ema_state, source=f"{checkpoint} (ema)").state_dict()
    return model.save_pretrained(out_dir, ema_state=ema_tensors)
