"""n2ldiff's model folders on disk: which files are ours, how a save swaps them in, and the checks a
folder passes before anything is allocated (``N2LDiff.from_pretrained`` / ``save_pretrained`` use these).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

from safetensors import SafetensorError, safe_open

from n2ldiff.config import MAX_PARAMETERS, PipelineConfig, from_dict, validate_pipeline_config
from n2ldiff.errors import N2LDiffError
from n2ldiff.files import check_output_location
from n2ldiff.models.n2ldiff import CONFIG_NAME

__all__ = [
    "MODEL_FILES",
    "check_output_location",
    "check_weights_match",
    "is_model_file",
    "read_model_config",
    "safetensors_shapes",
    "swap_model_files",
]

#: The files n2ldiff writes into a model folder (all it replaces there; anything else is left alone).
MODEL_FILES = (CONFIG_NAME, "*.safetensors")
#: ``config.json`` larger than this is not a model config.
MAX_CONFIG_BYTES = 1 << 20
_FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}


def is_model_file(name: str) -> bool:
    """True for the file names n2ldiff writes into a model folder (``MODEL_FILES``)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in MODEL_FILES)


def swap_model_files(staged: Path, directory: Path) -> None:
    """Move ``staged``'s files into the existing ``directory`` in place of its old model files.

    The old model files are first moved aside (into a hidden folder beside ``staged``, so on the same
    filesystem), then the new ones moved in, ``config.json`` last; they are deleted only when every new
    file is in place. On any failure everything is moved back. Other files in ``directory`` stay.
    """
    if not directory.is_dir():
        raise N2LDiffError(f"{directory}: exists and is not a folder")
    backup = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".n2ldiff-old", dir=staged.parent))
    old = sorted(p.name for p in directory.iterdir() if is_model_file(p.name) and (p.is_symlink() or p.is_file()))
    new = sorted((p.name for p in staged.iterdir()), key=lambda name: name == CONFIG_NAME)
    moved_old: list[str] = []
    moved_new: list[str] = []
    try:
        for name in old:
            os.replace(directory / name, backup / name)
            moved_old.append(name)
        for name in new:
            os.replace(staged / name, directory / name)
            moved_new.append(name)
    except BaseException:
        for name in reversed(moved_new):
            with contextlib.suppress(OSError):
                os.replace(directory / name, staged / name)
        for name in moved_old:
            with contextlib.suppress(OSError):
                os.replace(backup / name, directory / name)
        with contextlib.suppress(OSError):
            backup.rmdir()  # only when everything went back (else the old files stay there, not lost)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def read_model_config(config_path: Path) -> PipelineConfig:
    """``config.json`` -> a range-checked ``PipelineConfig`` (one-line errors for anything else)."""
    try:
        if config_path.stat().st_size > MAX_CONFIG_BYTES:
            raise N2LDiffError(f"{config_path}: too large for a model config ({config_path.stat().st_size} bytes)")
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise N2LDiffError(f"{config_path}: not a text file (not UTF-8 JSON)") from None
    except json.JSONDecodeError as err:
        raise N2LDiffError(f"{config_path}: invalid JSON ({err})") from None
    except RecursionError:
        raise N2LDiffError(f"{config_path}: invalid JSON (nested too deeply)") from None
    except OSError as err:
        raise N2LDiffError(f"{config_path}: cannot read ({err.strerror or err})") from None
    if not isinstance(raw, dict):
        raise N2LDiffError(f"{config_path}: expected a JSON object, got {type(raw).__name__}")
    config = from_dict(PipelineConfig, raw, where=str(config_path))
    return validate_pipeline_config(config, where=str(config_path))


def safetensors_shapes(weights: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """{name: (shape, dtype)} from a safetensors header; no tensor is read."""
    try:
        with safe_open(str(weights), framework="pt") as handle:
            out = {}
            for name in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
                piece = handle.get_slice(name)
                out[name] = (tuple(int(n) for n in piece.get_shape()), str(piece.get_dtype()))
            return out
    except (SafetensorError, OSError, ValueError) as err:
        raise N2LDiffError(f"{weights}: unreadable weights ({one_line(err)})") from None


def check_weights_match(
    weights: Path, expected: dict[str, tuple[int, ...]], stored: dict[str, tuple[tuple[int, ...], str]]
) -> None:
    """One-line error unless the file holds exactly the expected tensors with the expected shapes."""
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing, e.g. {missing[0]!r}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected, e.g. {unexpected[0]!r}")
    wrong = [name for name in sorted(set(expected) & set(stored)) if stored[name][0] != expected[name]]
    if wrong:
        name = wrong[0]
        problems.append(
            f"{len(wrong)} with other shapes, e.g. {name!r} is {list(stored[name][0])} in the file "
            f"but {list(expected[name])} for {CONFIG_NAME}"
        )
    odd = [name for name, (_, dtype) in sorted(stored.items()) if dtype.upper() not in _FLOAT_DTYPES]
    if odd:
        problems.append(f"{odd[0]!r} has dtype {stored[odd[0]][1]}, not floating point")
    if problems:
        raise N2LDiffError(f"{weights}: weights do not match {CONFIG_NAME} ({'; '.join(problems)})")
    count = sum(math.prod(shape) for shape in expected.values())
    if count > MAX_PARAMETERS:
        raise N2LDiffError(f"{weights}: {count} parameters, more than n2ldiff loads ({MAX_PARAMETERS})")
