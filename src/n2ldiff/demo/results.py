"""Helpers behind the web demo that are not layout: run the chosen methods, make display views, save.

Everything here is plain Python/torch (no Gradio), so it is unit-tested without a browser:

* ``parse_seeds`` reads the seed text box (``"3407, 123456"``) with the syntax and rules of every command;
* ``available_methods`` lists ``n2ldiff`` and the physics baselines that are installed;
* ``compare`` runs every (input, method, seed) through the engine (``n2ldiff.inference``: the methods of
  ``load_method``, PNGs written atomically with a ``manifest.jsonl``, as ``n2ldiff generate`` writes them);
* ``brighten`` scales a low-light result so its mean luminance matches the normal image (noise visible);
* ``zoom_crop`` cuts the center and enlarges it with nearest-neighbour sampling (pixels stay pixels);
* ``save_results`` zips the PNGs and the manifest.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from n2ldiff.data.io import LoadedImage
from n2ldiff.defaults import DEFAULT_SEEDS
from n2ldiff.errors import N2LDiffError
from n2ldiff.inference.engine import Job, latest_records, run
from n2ldiff.inference.manifest import MANIFEST_NAME, read_manifest
from n2ldiff.inference.methods import DARK_CLEAN, N2LDIFF, load_method
from n2ldiff.seeds import format_seeds
from n2ldiff.seeds import parse_seeds as _parse_seeds

__all__ = [
    "DEFAULT_SEEDS_TEXT",
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

#: The seed box's initial text: the default seeds of every command.
DEFAULT_SEEDS_TEXT = format_seeds(DEFAULT_SEEDS)
#: Baselines offered first (and preselected) when the registry has them.
PREFERRED_BASELINES = ("lv-random", "unprocess", "dark-isp")
MAX_SEEDS = 16
ZIP_NAME = "n2ldiff-results.zip"

_REC709 = (0.2126, 0.7152, 0.0722)

Progress = Callable[[int, int, str], None]


# ------------------------------------------------------------------------------------------- options


def parse_seeds(text: str | None, limit: int = MAX_SEEDS) -> list[int]:
    """``"3407, 123456"`` (commas and/or spaces) -> ``[3407, 123456]`` (``n2ldiff.seeds.parse_seeds``), at
    most ``limit`` seeds."""
    seeds = _parse_seeds(text or "")
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


def _method(name: str, pipeline: Any, sampler: str | None, steps: int | None, exposure: Any = None) -> Any:
    if name == N2LDIFF and pipeline is None:
        raise N2LDiffError("no n2ldiff model is loaded")
    # the exposure applies to the methods that take a darkness; the physics baselines draw their own
    takes = name in (N2LDIFF, DARK_CLEAN)
    return load_method(name, pipeline=pipeline, sampler=sampler, steps=steps, exposure=exposure if takes else None)


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
    path: Path | None = None  # the written PNG
    exposure: float | None = None  # the exposure ratio R it was made at (methods that take one)

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
    *,
    out_dir: str | Path,
) -> list[Result]:
    """Run each method on each input with each seed into ``out_dir``; results ordered input, method, seed.

    ``inputs`` are (unique stem, image). Each result is written as ``<stem>_<method>_s<seed>.png`` with a
    ``manifest.jsonl`` line (the engine's schema). Options are validated before any work starts;
    ``progress`` is called as ``progress(done, total, description)`` at the start and after each output.
    ``exposure`` (n2ldiff): R as a number, a range "2:16" or None / "auto"; each result records the R it
    was made at.
    """
    if not inputs:
        raise N2LDiffError("upload at least one photo (or pick an example)")
    if not methods:
        raise N2LDiffError("choose at least one method")
    if not seeds:
        raise N2LDiffError("enter at least one seed")
    runners = {name: _method(name, pipeline, sampler, steps, exposure) for name in dict.fromkeys(methods)}
    out_dir = Path(out_dir)
    total = len(inputs) * len(runners) * len(seeds)
    made: dict[tuple[str, str, int], Result] = {}
    finished = 0

    def report(event: Any) -> None:
        nonlocal finished
        if progress is None or event.job is None:
            return
        finished += 1
        progress(finished, total, f"{event.job.key}: {event.job.fields['method']}, seed {event.job.seed}")

    if progress is not None:
        progress(0, total, "starting")
    for method_name, method in runners.items():
        jobs = [
            Job(
                input=name,
                seed=int(seed),
                output=out_dir / f"{name}_{method_name}_s{int(seed)}.png",
                rel=f"{name}_{method_name}_s{int(seed)}.png",
                image=image,
                key=name,
                fields={"method": method_name, "source": "demo"},
            )
            for name, image in inputs
            for seed in seeds
        ]

        def keep(job: Job, low: torch.Tensor, record: dict[str, Any], method: Any = method) -> None:
            image = job.image
            assert image is not None
            made[(job.key or "", job.fields["method"], job.seed)] = Result(
                name=job.key or "",
                method=job.fields["method"],
                seed=job.seed,
                image=low.clamp(0, 1),
                normal=image.rgb,
                input_sha256=image.sha256,
                settings=dict(method.settings),
                weights_sha256=method.weights_sha256,
                seconds=float(record["seconds"]),
                input_mode=image.mode,
                bit_depth=image.bit_depth,
                path=job.output,
                exposure=record.get("exposure"),
            )

        summary = run(jobs, method, out_dir, mode="overwrite", on_event=report, on_output=keep)
        if summary.failed:
            raise N2LDiffError(f"{method_name} failed on {summary.failed[0]}")
    return [made[(name, m, int(seed))] for name, _ in inputs for m in runners for seed in seeds]


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


def save_results(results: Sequence[Result]) -> SavedResults:
    """Zip the results' PNGs and their ``manifest.jsonl`` lines as ``n2ldiff-results.zip`` beside them.

    The PNGs and the manifest are those ``compare`` wrote; the manifest records follow ``n2ldiff
    generate``'s (input, input_sha256, seed, output, method, settings, weights_sha256, version, size, run),
    so a zip from the demo documents itself like a CLI run.
    """
    folders = {r.path.parent for r in results if r.path is not None}
    if not results or len(folders) != 1 or any(r.path is None for r in results):
        raise N2LDiffError("nothing to save: run compare first (into one folder)")
    folder = folders.pop()
    pngs = [r.path for r in results if r.path is not None]
    records = latest_records(read_manifest(folder))
    lines = "".join(json.dumps(records[p.name], ensure_ascii=False) + "\n" for p in pngs if p.name in records)
    zip_path = folder / ZIP_NAME
    tmp = zip_path.with_name(zip_path.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in pngs:
            archive.write(path, path.name)  # PNGs are compressed already
        archive.writestr(MANIFEST_NAME, lines, compress_type=zipfile.ZIP_DEFLATED)
    tmp.replace(zip_path)
    return SavedResults(pngs=pngs, manifest=folder / MANIFEST_NAME, zip=zip_path)
