"""Helpers behind the web demo that are not layout: run the chosen methods, make display views, save.

Everything here is plain Python/torch (no Gradio), so it is unit-tested without a browser:

* ``parse_seeds`` reads the seed text box (``"3407, 123456"``);
* ``available_methods`` lists ``n2ldiff`` and the physics baselines that are installed;
* ``compare`` runs every (input, method, seed) through the same Python API as the CLI
  (``LowLightPipeline.method`` and ``n2ldiff.baselines.registry``), one seeded generator per image;
* ``brighten`` scales a low-light result so its mean luminance matches the normal image (noise visible);
* ``zoom_crop`` cuts the center and enlarges it with nearest-neighbour sampling (pixels stay pixels);
* ``save_results`` writes the PNGs, a ``manifest.jsonl`` and a zip of both.
"""

from __future__ import annotations

import re
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import n2ldiff
from n2ldiff.data.io import LoadedImage, write_image
from n2ldiff.errors import N2LDiffError
from n2ldiff.inference.manifest import MANIFEST_NAME, ManifestWriter, run_info

__all__ = [
    "DEFAULT_SEEDS",
    "N2LDIFF",
    "Result",
    "SavedResults",
    "available_methods",
    "baseline_names",
    "brighten",
    "compare",
    "luminance",
    "parse_seeds",
    "save_results",
    "to_uint8",
    "unique_stems",
    "zoom_crop",
]

#: The diffusion model's method name (same as ``N2LDiffMethod.name``).
N2LDIFF = "n2ldiff"
DEFAULT_SEEDS = "3407, 123456"
#: Baselines offered first (and preselected) when the registry has them.
PREFERRED_BASELINES = ("lv-random", "unprocess", "dark-isp")
MAX_SEEDS = 16
ZIP_NAME = "n2ldiff-results.zip"

_REC709 = (0.2126, 0.7152, 0.0722)

Progress = Callable[[int, int, str], None]


# ------------------------------------------------------------------------------------------- options


def parse_seeds(text: str | None, limit: int = MAX_SEEDS) -> list[int]:
    """``"3407, 123456"`` (commas and/or spaces) -> ``[3407, 123456]``; duplicates dropped, order kept."""
    parts = [p for p in re.split(r"[\s,;]+", (text or "").strip()) if p]
    if not parts:
        raise N2LDiffError("enter at least one seed (whole numbers, e.g. 3407, 123456)")
    seeds: list[int] = []
    for part in parts:
        try:
            seed = int(part)
        except ValueError:
            raise N2LDiffError(f"seed {part!r} is not a whole number (e.g. 3407, 123456)") from None
        if not 0 <= seed < 2**63:
            raise N2LDiffError(f"seed {seed} is out of range (0 to 2**63 - 1)")
        if seed not in seeds:
            seeds.append(seed)
    if len(seeds) > limit:
        raise N2LDiffError(f"{len(seeds)} seeds given; the demo takes at most {limit}")
    return seeds


def _registry() -> Any | None:
    """``n2ldiff.baselines.registry`` when it is installed and importable, else ``None``."""
    try:
        from n2ldiff.baselines import registry
    except Exception:  # noqa: BLE001 - the baselines are optional for the demo
        return None
    return registry


def baseline_names() -> list[str]:
    """Installed physics baselines: the preferred ones first, then the rest in registry order."""
    registry = _registry()
    if registry is None:
        return []
    try:
        names = list(registry.list_methods())
    except Exception:  # noqa: BLE001
        return []
    return [n for n in PREFERRED_BASELINES if n in names] + [n for n in names if n not in PREFERRED_BASELINES]


def available_methods() -> list[str]:
    """Methods the demo can compare: ``n2ldiff`` first, then the installed baselines."""
    return [N2LDIFF, *baseline_names()]


def unique_stems(names: Sequence[str]) -> list[str]:
    """File names -> distinct, file-system-safe stems (``a.jpg``, ``a.png`` -> ``a``, ``a_2``)."""
    out: list[str] = []
    for name in names:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem).strip("._") or "image"
        candidate, k = stem, 2
        while candidate in out:
            candidate, k = f"{stem}_{k}", k + 1
        out.append(candidate)
    return out


# ------------------------------------------------------------------------------------------- running


class _Baseline:
    """A registry baseline as a ``LowLightMethod``: each row gets ``torch.Generator().manual_seed(seed)``."""

    weights_sha256 = None

    def __init__(self, name: str, function: Callable[[torch.Tensor, torch.Generator], torch.Tensor]) -> None:
        self.name = name
        self.function = function
        self.settings: dict[str, Any] = {"baseline": name}

    def __call__(self, images: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        rows = [
            self.function(images[i : i + 1], torch.Generator().manual_seed(int(seed))) for i, seed in enumerate(seeds)
        ]
        return torch.cat(rows).clamp(0, 1)


def _method(name: str, pipeline: Any, sampler: str | None, steps: int | None, exposure: Any = None) -> Any:
    if name == N2LDIFF:
        if pipeline is None:
            raise N2LDiffError("no n2ldiff model is loaded")
        return pipeline.method(exposure=exposure, sampler=sampler, steps=steps)  # validates the options
    registry = _registry()
    if registry is None:
        raise N2LDiffError(f"unknown method {name!r} (the physics baselines are not installed)")
    return _Baseline(name, registry.get_method(name))


@dataclass
class Result:
    """One low-light output: ``image`` is 3xHxW float in [0, 1]; ``normal`` the input it was made from."""

    name: str
    method: str
    seed: int
    image: torch.Tensor
    normal: torch.Tensor
    input_sha256: str
    settings: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str | None = None
    seconds: float = 0.0
    input_mode: str = "RGB"
    bit_depth: int = 8

    @property
    def stem(self) -> str:
        return f"{self.name}_{self.method}_s{self.seed}"

    @property
    def caption(self) -> str:
        return f"{self.method} · seed {self.seed}"


def compare(
    pipeline: Any,
    inputs: Sequence[tuple[str, LoadedImage]],
    seeds: Sequence[int],
    methods: Sequence[str],
    sampler: str | None = None,
    steps: int | None = None,
    progress: Progress | None = None,
    exposure: Any = None,
) -> list[Result]:
    """Run each method on each input with each seed; results ordered input, method, seed.

    ``exposure`` (n2ldiff): R as a number, a range "2:16" or None / "auto".
    ``inputs`` are (unique stem, image). Options are validated before any work starts; ``progress``
    is called as ``progress(done, total, description)`` before each output and once at the end.
    """
    if not inputs:
        raise N2LDiffError("upload at least one photo (or pick an example)")
    if not methods:
        raise N2LDiffError("choose at least one method")
    if not seeds:
        raise N2LDiffError("enter at least one seed")
    runners = {name: _method(name, pipeline, sampler, steps, exposure) for name in dict.fromkeys(methods)}
    total = len(inputs) * len(runners) * len(seeds)
    results: list[Result] = []
    for name, image in inputs:
        normal = image.rgb
        for method_name, method in runners.items():
            for seed in seeds:
                if progress is not None:
                    progress(len(results), total, f"{name}: {method_name}, seed {seed}")
                t0 = time.perf_counter()
                out = method(normal[None], [int(seed)])[0].detach().to("cpu", torch.float32).clamp(0, 1)
                results.append(
                    Result(
                        name=name,
                        method=method_name,
                        seed=int(seed),
                        image=out,
                        normal=normal,
                        input_sha256=image.sha256,
                        settings=dict(method.settings),
                        weights_sha256=method.weights_sha256,
                        seconds=time.perf_counter() - t0,
                        input_mode=image.mode,
                        bit_depth=image.bit_depth,
                    )
                )
    if progress is not None:
        progress(total, total, "done")
    return results


# ------------------------------------------------------------------------------------------- viewing


def luminance(image: torch.Tensor) -> torch.Tensor:
    """Rec. 709 luma of a ...x3xHxW image in [0, 1] -> ...xHxW."""
    weights = torch.tensor(_REC709, dtype=image.dtype, device=image.device).view(3, 1, 1)
    return (image * weights).sum(dim=-3)


def brighten(image: torch.Tensor, reference: torch.Tensor, max_gain: float = 100.0) -> torch.Tensor:
    """Scale ``image`` so its mean luminance equals ``reference``'s (gain at most ``max_gain``), clipped.

    A display aid: the low-light noise and colour casts become visible at the normal image's brightness.
    """
    target = float(luminance(reference).mean())
    current = float(luminance(image).mean())
    gain = max_gain if current * max_gain <= target else target / max(current, 1e-12)
    return (image * gain).clamp(0, 1)


def zoom_crop(image: torch.Tensor, fraction: float = 0.25, size: int = 256) -> torch.Tensor:
    """A square center crop (``fraction`` of the shorter side) enlarged by nearest neighbour.

    The zoom factor is the whole number that brings the crop closest to ``size`` px (at least 1), so every
    source pixel becomes an equal block and the noise stays crisp. Accepts 3xHxW or Nx3xHxW.
    """
    if not 0 < fraction <= 1:
        raise N2LDiffError(f"zoom fraction must be in (0, 1], got {fraction}")
    height, width = image.shape[-2:]
    side = max(1, round(min(height, width) * fraction))
    top, left = (height - side) // 2, (width - side) // 2
    crop = image[..., top : top + side, left : left + side]
    batch = crop if crop.ndim == 4 else crop[None]
    factor = max(1, round(size / side))
    out = F.interpolate(batch, scale_factor=factor, mode="nearest")
    return out if crop.ndim == 4 else out[0]


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """3xHxW float [0, 1] -> HxWx3 uint8 (rounded), for display."""
    pixels = (image.detach().to("cpu", torch.float32).clamp(0, 1) * 255).round().to(torch.uint8)
    return np.ascontiguousarray(pixels.permute(1, 2, 0).numpy())


# -------------------------------------------------------------------------------------------- saving


@dataclass
class SavedResults:
    """Files written by ``save_results``: one PNG per result, the manifest and the zip of both."""

    pngs: list[Path]
    manifest: Path
    zip: Path


def save_results(results: Sequence[Result], out_dir: str | Path) -> SavedResults:
    """Write ``<stem>_<method>_s<seed>.png`` per result, ``manifest.jsonl`` and ``n2ldiff-results.zip``.

    Manifest records follow ``n2ldiff generate``'s (input, input_sha256, seed, output, method, settings,
    weights_sha256, version, size, run), so a zip from the demo documents itself like a CLI run.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = run_info()
    pngs: list[Path] = []
    with ManifestWriter(out_dir) as manifest:
        for result in results:
            path = write_image(out_dir / f"{result.stem}.png", result.image)
            pngs.append(path)
            manifest.write(
                {
                    "input": result.name,
                    "input_sha256": result.input_sha256,
                    "seed": result.seed,
                    "output": path.name,
                    "method": result.method,
                    "settings": result.settings,
                    "weights_sha256": result.weights_sha256,
                    "version": n2ldiff.__version__,
                    "seconds": round(result.seconds, 6),
                    "size": [int(result.image.shape[-2]), int(result.image.shape[-1])],
                    "input_mode": result.input_mode,
                    "bit_depth": result.bit_depth,
                    "status": "ok",
                    "source": "demo",
                    "run": info,
                }
            )
    manifest_path = out_dir / MANIFEST_NAME
    zip_path = out_dir / ZIP_NAME
    tmp = zip_path.with_name(zip_path.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in pngs:
            archive.write(path, path.name)  # PNGs are compressed already
        archive.write(manifest_path, MANIFEST_NAME, compress_type=zipfile.ZIP_DEFLATED)
    tmp.replace(zip_path)
    return SavedResults(pngs=pngs, manifest=manifest_path, zip=zip_path)
