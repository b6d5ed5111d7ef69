"""The benchmark engine: every method x seed on paired data -> paired metrics, realism statistics, controls.

``run_benchmark(BenchmarkConfig(...))`` returns a ``BenchmarkResult``; ``n2ldiff.benchmark.report``
writes it as results.json / results.csv / results.md and PNG figures.

Image preparation (identical for every method and for the real low image): both images of a pair are
read as RGB float32 in [0, 1]; if ``max_side`` is set, both are first resized (bilinear, antialiased)
so that the longer side is at most ``max_side``; then both are cropped at the top-left to their common
size and further to the largest multiple of ``size_multiple`` (default 32, what the diffusion model
needs), dropping the bottom/right remainder. Synthetic outputs are quantised to 8 bits (as saved in the
cache) before any metric, so a resumed run gives the same numbers as an uninterrupted one.

Paired metrics (``metrics.fidelity``): PSNR (data range 1, RGB), SSIM (Gaussian window 11, sigma 1.5,
K1 0.01, K2 0.03, valid region, mean over RGB) and LPIPS v0.1 (inputs [0,1] mapped to [-1,1]) between
the synthetic low image and the real low image of the same scene.

Realism statistics (``metrics.realism``) are content-matched distances to the real low image of the
*same scene*. Each image is split into two disjoint, interleaved halves (``checkerboard_regions``, a
checkerboard of ``region_tile``-pixel squares): every row is measured on half A, the real low image on
half B. Per scene:

* ``nlf_distance``: noise-level function (noise std vs intensity per channel, where the clean normal
  image is flat) of the row against that of the real low image (``nlf_distance``).
* ``tone_curve_distance``: mean low value per normal-image intensity bin and channel (``tone_curve``),
  row against real: exposure, tone curve shape and per-channel colour shifts in one curve.
* ``brightness_error``: |log(mean brightness ratio low/normal) - log(that of the real low image)|.
* ``colour_cast_error``: L1 distance between the mean chromaticity shifts (low minus normal) of the
  row and of the real low image.

Per-scene distances are averaged over K disjoint random subsets of the scenes (the same subsets for
every row), giving a mean and a spread. ``kid`` (and ``fid`` with ``compute_fid``) are distribution-level
instead: the Inception distance of each subset's whole images against the ``real_low`` folder (only
when one is given).

Control rows: ``real-vs-real`` (the real low image's half A against its own half B: two disjoint real
pixel sets of the same scenes, i.e. what a perfect synthesis would score; for KID the real low images
of the pairs against ``real_low``), ``normal`` (the untouched normal images) and ``dark-clean`` (each
normal image scaled by the real low image's mean brightness, no noise; an oracle exposure-matched,
noise-free darkening). ``assess_distance`` labels a statistic informative only if it separates both
negative controls from real-vs-real (and scores them worse); only informative statistics rank the
methods. ``diversity`` (mean pairwise LPIPS over seeds) has no real reference and is descriptive.

Exposure (``n2ldiff.exposure``): ``exposures`` gives one n2ldiff row per setting: ``auto`` is the row
``n2ldiff``, any other the row ``n2ldiff@<setting>``; ``oracle`` gives each pair's own real exposure ratio
R = mean(normal) / mean(real low) to the model (through the engine's per-job ``exposure``; the ratios are
recorded in results.json as ``oracle_exposures`` and per output in the cache manifests).

Artifact measures (``metrics.artifacts``, medians over images, also for the ``real low`` control row):
the checkerboard ratio and the measured R of the first seed's output; with two or more seeds the
seed-to-real noise ratio and the blotch ratio.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from n2ldiff.data.io import LoadedImage, read_image
from n2ldiff.data.layouts import LAYOUTS, ImagePair, scan_pairs
from n2ldiff.defaults import DEFAULT_SEEDS
from n2ldiff.errors import N2LDiffError
from n2ldiff.exposure import Exposure, exposure_ratio
from n2ldiff.inference.engine import Job, RunEvent, latest_records
from n2ldiff.inference.engine import run as run_engine
from n2ldiff.inference.manifest import read_manifest, run_info
from n2ldiff.inference.methods import N2LDIFF, load_method
from n2ldiff.inference.progress import ProgressBar
from n2ldiff.metrics.artifacts import blotch_ratio, checkerboard_ratio, seed_noise_ratio
from n2ldiff.metrics.fidelity import LPIPS, PairedReference, pad_or_crop_to_multiple
from n2ldiff.metrics.realism import (
    DARK_CLEAN,
    NORMAL,
    REAL_VS_REAL,
    NoiseLevelFunction,
    ToneCurve,
    assess_statistic,
    checkerboard_regions,
    colour_statistics,
    diversity_of_features,
    fid_kid,
    inception_features,
    nlf_distance,
    noise_level_function,
    split_subsets,
    tone_curve,
    tone_curve_distance,
)
from n2ldiff.seeds import check_seeds

__all__ = [
    "CONTROLS",
    "DEFAULT_METHODS",
    "BenchmarkConfig",
    "BenchmarkResult",
    "GroupResult",
    "StatisticResult",
    "assess_distance",
    "prepare_pair",
    "run_benchmark",
]

DEFAULT_METHODS = (N2LDIFF, "lv-grid", "lv-random", "unprocess", "dark-isp")
CONTROLS = (REAL_VS_REAL, NORMAL, DARK_CLEAN)


@dataclass
class BenchmarkConfig:
    """Everything a benchmark run depends on (recorded in results.json)."""

    data: Path
    layout: str
    out: Path
    methods: Sequence[str] = DEFAULT_METHODS
    seeds: Sequence[int] = DEFAULT_SEEDS
    split: str | None = "test"
    # n2ldiff rows: one per exposure setting ("auto" -> row "n2ldiff", "oracle" -> "n2ldiff@oracle": each
    # pair's own real R, "4" -> "n2ldiff@4"). dark-clean always uses the real R.
    exposures: Sequence[str] = ("auto",)
    model: Path | None = None
    sampler: str | None = None
    steps: int | None = None
    max_images: int | None = None
    max_side: int | None = None
    size_multiple: int = 32
    lpips_net: str = "alex"
    real_low: Path | None = None
    compute_fid: bool = False
    device: str = "auto"
    cache_dir: Path | None = None  # default: OUT/images
    resume: bool = True
    n_subsets: int = 4
    subset_seed: int = 0
    region_tile: int = 32  # side of the checkerboard squares splitting each image into halves A and B
    min_z: float = 2.0
    weights_dir: Path | None = None  # metric weights (LPIPS, Inception); None = the default cache
    example_scenes: int = 3
    figures: bool = True

    def __post_init__(self) -> None:
        self.data, self.out = Path(self.data), Path(self.out)
        for name in ("model", "real_low", "cache_dir", "weights_dir"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))
        self.methods = list(self.methods)
        self.seeds = check_seeds(self.seeds)
        self.exposures = [str(Exposure.parse(e)) for e in self.exposures]
        if not self.exposures or len(set(self.exposures)) != len(self.exposures):
            raise N2LDiffError(f"exposures must be distinct and at least one, got {self.exposures}")
        if self.layout not in LAYOUTS:
            raise N2LDiffError(f"unknown dataset layout {self.layout!r} (use one of {', '.join(LAYOUTS)})")
        if not self.methods:
            raise N2LDiffError("no methods given")
        if self.size_multiple < 1:
            raise N2LDiffError(f"size multiple must be >= 1, got {self.size_multiple}")
        if self.max_images is not None and self.max_images < 1:
            raise N2LDiffError(f"max images must be >= 1, got {self.max_images}")
        if self.region_tile < 1:
            raise N2LDiffError(f"region tile must be >= 1 pixel, got {self.region_tile}")
        if self.n_subsets < 2:
            raise N2LDiffError(f"n_subsets must be >= 2 (the spread needs two values), got {self.n_subsets}")

    @property
    def images_dir(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else self.out / "images"

    def as_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass
class GroupResult:
    """One row: a method (``kind="method"``) or a control (``kind="control"``)."""

    name: str
    kind: str
    psnr: list[list[float]] = field(default_factory=list)  # [seed][image]
    ssim: list[list[float]] = field(default_factory=list)
    lpips: list[list[float]] = field(default_factory=list)
    diversity: list[float] = field(default_factory=list)  # per image (>= 2 seeds)
    # Artifact measures per image (metrics/artifacts.py): first seed's output; seed ones need >= 2 seeds.
    checkerboard: list[float] = field(default_factory=list)
    seed_noise_ratio: list[float] = field(default_factory=list)
    blotch: list[float] = field(default_factory=list)
    exposure_ratio: list[float] = field(default_factory=list)  # measured R of the first seed's output
    seconds_per_image: float = math.nan
    settings: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str | None = None

    def median(self, measure: str) -> float:
        """Median over images of a per-image measure (nan when it was not measured)."""
        values = [v for v in getattr(self, measure) if math.isfinite(v)]
        return float(torch.tensor(values, dtype=torch.float64).median()) if values else math.nan

    def summary(self, metric: str) -> dict[str, float]:
        """mean over images and seeds, std over images (of seed means), std over seeds (of image means)."""
        values = getattr(self, metric)
        if not values or not values[0]:
            return {"mean": math.nan, "std": math.nan, "seed_std": math.nan}
        t = torch.tensor(values, dtype=torch.float64)  # seeds x images
        per_image = t.mean(0)
        per_seed = t.mean(1)
        return {
            "mean": float(t.mean()),
            "std": float(per_image.std(unbiased=True)) if per_image.numel() > 1 else math.nan,
            "seed_std": float(per_seed.std(unbiased=True)) if per_seed.numel() > 1 else math.nan,
        }


@dataclass
class StatisticResult:
    """One realism statistic: values per row over the K subsets, the control-based label, ranks."""

    name: str
    description: str
    values: dict[str, list[float]]
    label: str  # informative | uninformative | descriptive
    reason: str
    z: dict[str, float] = field(default_factory=dict)
    ranks: dict[str, int] = field(default_factory=dict)
    per_scene: dict[str, list[float]] = field(default_factory=dict)  # row -> value per scene (if per scene)

    def mean_std(self, row: str) -> tuple[float, float]:
        v = torch.tensor([x for x in self.values.get(row, []) if math.isfinite(x)], dtype=torch.float64)
        if v.numel() == 0:
            return math.nan, math.nan
        return float(v.mean()), (float(v.std(unbiased=True)) if v.numel() > 1 else math.nan)


@dataclass
class BenchmarkResult:
    config: BenchmarkConfig
    run: dict[str, Any]
    scenes: list[str]
    subsets: list[list[int]]
    groups: list[GroupResult]
    statistics: list[StatisticResult]
    nlf: dict[str, NoiseLevelFunction]  # pooled over all scenes (and seeds), for the figure
    tone: dict[str, ToneCurve]  # pooled over all scenes (and seeds), for the figure
    examples: dict[str, list[Tensor]]  # row name -> one image per example scene (first seed)

    def group(self, name: str) -> GroupResult:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)

    def statistic(self, name: str) -> StatisticResult:
        for s in self.statistics:
            if s.name == name:
                return s
        raise KeyError(name)


# ------------------------------------------------------------------------------------------ data


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise N2LDiffError(f"unknown device {device!r} (use cpu, cuda or auto)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise N2LDiffError("device cuda requested but CUDA is not available")
    return dev


def _shrink(x: Tensor, max_side: int | None) -> Tensor:
    if max_side is None or max(x.shape[-2:]) <= max_side:
        return x
    h, w = x.shape[-2:]
    scale = max_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.interpolate(x[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)


def prepare_pair(
    normal: Tensor, low: Tensor, size_multiple: int = 32, max_side: int | None = None
) -> tuple[Tensor, Tensor]:
    """(normal, low) 3xHxW -> same-size top-left crops whose sides are multiples of ``size_multiple``."""
    normal, low = _shrink(normal, max_side), _shrink(low, max_side)
    h = min(normal.shape[-2], low.shape[-2])
    w = min(normal.shape[-1], low.shape[-1])
    normal, low = normal[..., :h, :w], low[..., :h, :w]
    return (
        pad_or_crop_to_multiple(normal, size_multiple, "crop"),
        pad_or_crop_to_multiple(low, size_multiple, "crop"),
    )


def _quantise(x: Tensor) -> Tensor:
    return (x.clamp(0, 1) * 255.0).round() / 255.0


def _load_real_low(folder: Path, size_multiple: int, max_side: int | None) -> list[Tensor]:
    from n2ldiff.data.io import collect_inputs

    if not folder.is_dir():
        raise N2LDiffError(f"{folder}: real-low folder not found")
    files = collect_inputs([folder])
    if len(files) < 2:
        raise N2LDiffError(f"{folder}: KID needs at least 2 real low-light images, found {len(files)}")
    out = []
    for f in files:
        x = _shrink(read_image(f).rgb, max_side)
        out.append(pad_or_crop_to_multiple(x, size_multiple, "crop"))
    return out


# ------------------------------------------------------------------------------------------ outputs


def _method_outputs(
    name: str,
    method: Any,
    scenes: Sequence[_Scene],
    config: BenchmarkConfig,
    progress: bool,
    exposures: Sequence[float] | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
) -> tuple[list[list[Tensor]], list[float], int]:
    """Every (scene, seed) output of one row through the engine's cache folder ``<cache>/<row>/``.

    ``exposures``: one exposure ratio per scene given to the method (the oracle rows: each pair's real R;
    an output cached at another R is made again). ``on_event``: the caller's own progress callback, in
    place of a bar of this call's (the utility benchmark makes one row in chunks under one bar). Returns
    the outputs as cached (8 bits) per seed and scene, the method's seconds per output (recorded when it
    was made) and how many were made now. A folder made with other settings is refused unless
    ``config.resume`` is off (then everything is made again and earlier records are forgotten).
    """
    folder = config.images_dir / name.replace(":", "-")  # n2ldiff@2:16 -> n2ldiff@2-16
    jobs = [
        Job(
            input=str(scene.image.path),
            seed=seed,
            output=folder / f"{scene.name}_s{seed}.png",
            rel=f"{scene.name}_s{seed}.png",
            image=scene.image,
            exposure=None if exposures is None else exposures[i],
            key=scene.name,
            fields={"scene": scene.name},
        )
        for i, scene in enumerate(scenes)
        for seed in config.seeds
    ]
    with ProgressBar(name, enabled=progress and on_event is None) as bar:
        summary = run_engine(
            jobs,
            method,
            folder,
            mode="resume" if config.resume else "overwrite",
            forget_records=not config.resume,
            identity={"crop": {"size_multiple": config.size_multiple, "max_side": config.max_side}},
            hint="use --no-resume to make them again, or another --cache-dir",
            on_event=on_event or bar,
        )
    if summary.failed:
        raise N2LDiffError(f"{name} failed on {summary.failed[0]}")
    records = latest_records(read_manifest(folder))
    outs: list[list[Tensor]] = [[] for _ in config.seeds]
    times: list[float] = []
    for job in jobs:
        outs[config.seeds.index(job.seed)].append(read_image(job.output).rgb)
        times.append(float(records.get(job.rel, {}).get("seconds", math.nan)))
    return outs, times, len(summary.written)


# ------------------------------------------------------------------------------------------ engine


@dataclass
class _Scene:
    name: str
    image: LoadedImage  # the normal image as read, cropped: what every method gets
    low: Tensor

    @property
    def normal(self) -> Tensor:  # 3xHxW, cropped
        return self.image.rgb


@dataclass
class _Measure:
    """Per-scene measurements of one row on one image half (pooled over seeds where that applies)."""

    nlf: list[NoiseLevelFunction] = field(default_factory=list)
    tone: list[ToneCurve] = field(default_factory=list)
    brightness: list[float] = field(default_factory=list)  # mean over seeds of brightness ratio low/normal
    chroma: list[Tensor] = field(default_factory=list)  # (3,) mean over seeds of chromaticity shift
    features: list[Tensor | None] = field(default_factory=list)  # (S, 2048) Inception features, or None


def _measure_scene(
    outs: list[Tensor], scene: _Scene, region: Tensor, inception: Any, device: torch.device, into: _Measure
) -> None:
    """Append the measurements of one scene's outputs (one per seed), on ``region``, to ``into``."""
    normal = scene.normal[None].to(device)
    nlf: NoiseLevelFunction | None = None
    tone: ToneCurve | None = None
    bright, chroma = [], []
    for out in outs:
        x = out[None].to(device)
        m = noise_level_function(x, normal, region=region)
        t = tone_curve(x, normal, region=region)
        nlf = m if nlf is None else nlf.merge(m)
        tone = t if tone is None else tone.merge(t)
        c = colour_statistics(x, normal, region=region)
        bright.append(float(c["brightness_ratio"][0]))
        chroma.append(c["chromaticity_shift"][0].double().cpu())
    assert nlf is not None and tone is not None
    into.nlf.append(nlf)
    into.tone.append(tone)
    into.brightness.append(sum(bright) / len(bright))
    into.chroma.append(torch.stack(chroma).mean(0))
    into.features.append(
        None if inception is None else inception_features(torch.stack(outs).to(device), inception).cpu()
    )


def _pool(items: Sequence[Any]) -> Any:
    """Merge mergeable per-scene measurements (``NoiseLevelFunction`` or ``ToneCurve``)."""
    return functools.reduce(lambda a, b: a.merge(b), items)


#: Smallest image side (after cropping) the metrics accept: SSIM's 11-px window, the 7-px flatness window.
MIN_SIDE = 32


def _read_scenes(
    pairs: Sequence[ImagePair], config: BenchmarkConfig, say: Callable[[str], None]
) -> tuple[list[_Scene], dict[str, str]]:
    """Read and crop every pair; a pair that cannot be used is reported and skipped, never fatal."""
    scenes: list[_Scene] = []
    skipped: dict[str, str] = {}
    for p in pairs:
        try:
            n_img, l_img = read_image(p.normal_path), read_image(p.low_path)
            if n_img.rgb.shape != l_img.rgb.shape:
                say(
                    f"warning: {p.name}: normal {tuple(n_img.rgb.shape[-2:])} and low {tuple(l_img.rgb.shape[-2:])} "
                    "differ in size; both cropped to the common top-left region"
                )
            normal, low = prepare_pair(n_img.rgb, l_img.rgb, config.size_multiple, config.max_side)
            if min(normal.shape[-2:]) < MIN_SIDE:
                raise N2LDiffError(f"{tuple(normal.shape[-2:])} after cropping is below {MIN_SIDE} px")
        except N2LDiffError as err:
            skipped[p.name] = str(err)
            say(f"skipped {p.name}: {err}")
            continue
        scenes.append(_Scene(p.name, dataclasses.replace(n_img, rgb=normal, alpha=None), low))
    return scenes, skipped


def _relative_name(path: Path, root: Path) -> str:
    """``path`` relative to the dataset root when it lies under it (``normal/b.png``), else its name."""
    base = root if root.is_dir() else root.parent
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.name


def run_benchmark(
    config: BenchmarkConfig, log: Callable[[str], None] | None = None, progress: bool = False
) -> BenchmarkResult:
    """Run every method and seed on the pairs of ``config.data``; see the module docstring.

    ``log`` receives one line per step; ``progress`` draws a bar per method on stderr.
    """
    from n2ldiff.baselines.registry import expand_methods

    say = log or (lambda _msg: None)
    device = _resolve_device(config.device)
    if not config.data.exists():
        raise N2LDiffError(f"{config.data}: data folder not found")

    # Check every method name before any heavy work.
    names: list[str] = []
    for m in config.methods:
        names += [N2LDIFF] if m == N2LDIFF else expand_methods([m])
    if len(set(names)) != len(names):
        raise N2LDiffError(f"methods repeat: {', '.join(names)}")

    # Unmatched files and a missing split.csv are reported, not fatal (like corrupt pairs below).
    found = scan_pairs(config.data, config.layout, split=config.split)
    for note in found.notes:
        say(f"note: {note}")
    pairs: list[ImagePair] = found.pairs
    if config.max_images is not None:
        pairs = pairs[: config.max_images]
    if len(pairs) < 2:
        raise N2LDiffError(f"{config.data}: the benchmark needs at least 2 pairs, found {len(pairs)}")
    scenes, skipped = _read_scenes(pairs, config, say)
    for path in found.unmatched:
        name = _relative_name(path, config.data)
        skipped[name] = f"no partner image (a {path.parent.name}/ file without its pair)"
        say(f"skipped {name}: {skipped[name]}")
    if len(scenes) < 2:
        raise N2LDiffError(f"{config.data}: the benchmark needs at least 2 readable pairs, found {len(scenes)}")
    n_subsets = min(config.n_subsets, len(scenes))
    if n_subsets < config.n_subsets:
        say(f"only {len(scenes)} usable pairs: using {n_subsets} subsets instead of {config.n_subsets}")
    say(
        f"{len(scenes)} pairs from {config.data} ({config.layout}, "
        + ("all pairs: no split.csv" if found.notes else f"split {config.split}")
        + ")"
        + (f"; {len(skipped)} skipped" if skipped else "")
    )

    lpips = LPIPS(config.lpips_net, config.weights_dir).to(device)
    inception = None
    real_low_feats = None
    if config.real_low is not None:
        from n2ldiff.metrics.backbones import InceptionFeatures

        inception = InceptionFeatures(config.weights_dir).to(device)
        real_low = _load_real_low(config.real_low, config.size_multiple, config.max_side)
        real_low_feats = inception_features((x[None].to(device) for x in real_low), inception).cpu()
        say(f"{len(real_low)} real low-light images from {config.real_low} for KID")

    gen = torch.Generator().manual_seed(config.subset_seed)
    subsets = [s.tolist() for s in split_subsets(len(scenes), n_subsets, gen)]

    groups: list[GroupResult] = []
    measures: dict[str, _Measure] = {}
    example_idx = list(range(min(config.example_scenes, len(scenes))))
    examples: dict[str, list[Tensor]] = {
        "normal (input)": [scenes[i].normal for i in example_idx],
        "real low": [scenes[i].low for i in example_idx],
    }

    def paired(group: GroupResult, outs_by_seed: list[list[Tensor]], with_diversity: bool = False) -> None:
        """PSNR/SSIM/LPIPS of every seed's output against the real low image, and the seeds' diversity.

        Scene by scene, so the real image's SSIM moments and every image's LPIPS features are computed once.
        """
        per_seed: list[tuple[list[float], list[float], list[float]]] = [([], [], []) for _ in outs_by_seed]
        for i, scene in enumerate(scenes):
            reference = PairedReference(scene.low[None].to(device), lpips)
            features = []
            for outs, (p_, s_, l_) in zip(outs_by_seed, per_seed, strict=True):
                a = outs[i][None].to(device)
                p_.append(float(reference.psnr(a)[0]))
                s_.append(float(reference.ssim(a)[0]))
                with torch.no_grad():
                    features.append(lpips.features(a))
                l_.append(float(reference.lpips(features[-1])[0]))
            if with_diversity:
                group.diversity.append(float(diversity_of_features(features, lpips)[0]))
        for p_, s_, l_ in per_seed:
            group.psnr.append(p_)
            group.ssim.append(s_)
            group.lpips.append(l_)

    # Half A of every image is measured for every row; the real low image's half B is the reference.
    regions = [checkerboard_regions(*s.normal.shape[-2:], tile=config.region_tile, device=device) for s in scenes]

    def measure(outs_per_scene: list[list[Tensor]], half: int = 0, with_features: bool = True) -> _Measure:
        m = _Measure()
        for outs, scene, region in zip(outs_per_scene, scenes, regions, strict=True):
            _measure_scene(outs, scene, region[half], inception if with_features else None, device, m)
        return m

    def artifacts(group: GroupResult, outs_by_seed: list[list[Tensor]]) -> None:
        for i, scene in enumerate(scenes):
            first = outs_by_seed[0][i]
            group.checkerboard.append(checkerboard_ratio(first))
            group.exposure_ratio.append(float(exposure_ratio(scene.normal, first)))
            if len(outs_by_seed) >= 2:
                stack = torch.stack([outs[i] for outs in outs_by_seed])
                group.seed_noise_ratio.append(seed_noise_ratio(stack, scene.low, scene.normal))
                group.blotch.append(blotch_ratio(outs_by_seed[0][i], outs_by_seed[1][i]))

    # --- controls (deterministic, seed-independent)
    real_rows = [[s.low] for s in scenes]
    measures[REAL_VS_REAL] = measure(real_rows)
    real_group = GroupResult("real low", "control", settings={"control": "real low"})
    artifacts(real_group, [[r[0] for r in real_rows]])
    groups.append(real_group)
    reference = measure(real_rows, half=1, with_features=False)
    normal_rows = [[s.normal] for s in scenes]
    dark_rows = []
    for s in scenes:
        k = float(s.low.double().mean() / s.normal.double().mean().clamp_min(1e-6))
        dark_rows.append([_quantise(s.normal * k)])
    for name, rows in ((NORMAL, normal_rows), (DARK_CLEAN, dark_rows)):
        g = GroupResult(name, "control", settings={"control": name})
        paired(g, [[r[0] for r in rows]])
        artifacts(g, [[r[0] for r in rows]])
        groups.append(g)
        measures[name] = measure(rows)
        examples[name] = [rows[i][0] for i in example_idx]

    # --- methods
    run_methods: dict[str, Any] = {}
    oracle = [float(exposure_ratio(s.normal, s.low)) for s in scenes]
    rows_to_run: list[tuple[str, str, str]] = []  # (row name, method, exposure)
    for name in names:
        if name != N2LDIFF:
            rows_to_run.append((name, name, "auto"))
            continue
        for exposure in config.exposures:
            rows_to_run.append((N2LDIFF if exposure == "auto" else f"{N2LDIFF}@{exposure}", name, exposure))
    for name, method_name, exposure in rows_to_run:
        use_oracle = exposure == "oracle"
        if method_name == N2LDIFF:
            method = load_method(N2LDIFF, config.model, config.device, config.sampler, config.steps, exposure=exposure)
        else:
            method = load_method(name)
        method_settings = dict(method.settings)
        settings = {
            "method": name,
            "settings": method_settings,
            "weights_sha256": method.weights_sha256,
            "size_multiple": config.size_multiple,
            "max_side": config.max_side,
        }
        run_methods[name] = settings
        row_exposures = oracle if use_oracle else None
        outs_by_seed, times, n_new = _method_outputs(name, method, scenes, config, progress, row_exposures)
        finite = [t for t in times if math.isfinite(t)]
        g = GroupResult(
            name,
            "method",
            seconds_per_image=sum(finite) / len(finite) if finite else math.nan,
            settings=method_settings,
            weights_sha256=method.weights_sha256,
        )
        paired(g, outs_by_seed, with_diversity=len(config.seeds) >= 2)
        artifacts(g, outs_by_seed)
        per_scene = [[outs_by_seed[si][i] for si in range(len(config.seeds))] for i in range(len(scenes))]
        measures[name] = measure(per_scene)
        examples[name] = [outs_by_seed[0][i] for i in example_idx]
        groups.append(g)
        say(
            f"{name}: PSNR {g.summary('psnr')['mean']:.2f}  SSIM {g.summary('ssim')['mean']:.3f}  "
            f"LPIPS {g.summary('lpips')['mean']:.3f}  checkerboard {g.median('checkerboard'):.2f}  "
            f"seed/real noise {g.median('seed_noise_ratio'):.2f}  blotch {g.median('blotch'):.3f}  "
            f"{g.seconds_per_image:.3f} s/image "
            f"({n_new} new, {len(times) - n_new} cached)"
        )

    statistics = _statistics(config, measures, reference, subsets, real_low_feats, names)
    if len(config.seeds) >= 2:
        div = {
            g.name: [sum(g.diversity[i] for i in idx) / len(idx) for idx in subsets]
            for g in groups
            if g.kind == "method"
        }
        statistics.append(
            StatisticResult(
                "diversity",
                _DESCRIPTIONS["diversity"],
                div,
                "descriptive",
                "no real reference (one real low image per scene); not used to rank",
            )
        )
    nlf_pooled = {k: _pool(m.nlf) for k, m in measures.items()}
    nlf_pooled["real low"] = nlf_pooled.pop(REAL_VS_REAL)
    tone_pooled = {k: _pool(m.tone) for k, m in measures.items()}
    tone_pooled["real low"] = tone_pooled.pop(REAL_VS_REAL)
    run = run_info()
    run.update(
        {
            "config": config.as_dict(),
            "seeds": list(config.seeds),
            "methods": run_methods,
            "oracle_exposures": dict(zip([sc.name for sc in scenes], [round(r, 4) for r in oracle], strict=True)),
            "n_scenes": len(scenes),
            "n_subsets": n_subsets,
            "skipped_pairs": skipped,
            "notes": found.notes,
            "region_tile": config.region_tile,
            "device": str(device),
            "real_low_images": None if real_low_feats is None else int(real_low_feats.shape[0]),
        }
    )
    return BenchmarkResult(
        config, run, [s.name for s in scenes], subsets, groups, statistics, nlf_pooled, tone_pooled, examples
    )


# ------------------------------------------------------------------------------------------ statistics

_DESCRIPTIONS = {
    "nlf_distance": (
        "noise-level function (noise std vs intensity, where the normal image is flat) vs the real low image "
        "of the same scene (mean |log ratio|)"
    ),
    "tone_curve_distance": (
        "tone curve (mean low value per normal intensity, per channel) vs the real low image of the same "
        "scene (mean |log ratio|)"
    ),
    "brightness_error": "|log brightness ratio (low/normal) - that of the real low image of the same scene|",
    "colour_cast_error": "L1 distance of the chromaticity shift (low - normal) to the real low image's",
    "kid": "KID (Inception pool features) against the real-low folder",
    "fid": "FID (Inception pool features) against the real-low folder",
    "diversity": "mean pairwise LPIPS between seeds (higher = more varied; no real reference)",
}


def _finite_mean(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def assess_distance(controls: dict[str, list[float]], min_z: float = 2.0) -> tuple[str, str, dict[str, float]]:
    """``assess_statistic`` for a distance to real low light (lower = more realistic), plus direction.

    Besides separating every negative control from real-vs-real by ``min_z`` (``assess_statistic``),
    each negative control must score *worse* (a larger mean distance) than real-vs-real: a statistic on
    which a noise-free darkening looks more real than real photos would rank methods by the wrong thing.
    """
    a = assess_statistic(controls, reference=REAL_VS_REAL, min_z=min_z)
    if not a.informative:
        return a.label, a.reason, a.z

    ref = _finite_mean(controls[REAL_VS_REAL])
    closer = [k for k in controls if k != REAL_VS_REAL and _finite_mean(controls[k]) < ref]
    if closer:
        return (
            "uninformative",
            f"{', '.join(closer)} scores closer to real than {REAL_VS_REAL} does",
            a.z,
        )
    return a.label, a.reason, a.z


def _statistics(
    config: BenchmarkConfig,
    measures: dict[str, _Measure],
    reference: _Measure,
    subsets: list[list[int]],
    real_low_feats: Tensor | None,
    method_names: list[str],
) -> list[StatisticResult]:
    """Per-scene content-matched distances (row on half A vs real low on half B), then subset means."""
    n_scenes = len(reference.nlf)
    scene_distances: dict[str, Callable[[_Measure, int], float]] = {
        "nlf_distance": lambda m, i: nlf_distance(m.nlf[i], reference.nlf[i]),
        "tone_curve_distance": lambda m, i: tone_curve_distance(m.tone[i], reference.tone[i]),
        "brightness_error": lambda m, i: abs(
            math.log(max(m.brightness[i], 1e-6)) - math.log(max(reference.brightness[i], 1e-6))
        ),
        "colour_cast_error": lambda m, i: float((m.chroma[i] - reference.chroma[i]).abs().sum()),
    }
    computed: list[tuple[str, dict[str, list[float]], dict[str, list[float]]]] = []
    for name, fn in scene_distances.items():
        per_scene = {row: [fn(m, i) for i in range(n_scenes)] for row, m in measures.items()}
        vals = {row: [_finite_mean([d[i] for i in idx]) for idx in subsets] for row, d in per_scene.items()}
        computed.append((name, vals, per_scene))
    if real_low_feats is not None:
        kid_vals: dict[str, list[float]] = {}
        fid_vals: dict[str, list[float]] = {}
        for row, m in measures.items():
            kid_vals[row], fid_vals[row] = [], []
            for idx in subsets:
                feats = torch.cat([m.features[i] for i in idx])  # type: ignore[misc]
                if feats.shape[0] < 2:
                    kid_vals[row].append(math.nan)
                    fid_vals[row].append(math.nan)
                    continue
                scores = fid_kid(
                    real_low_feats, feats, kid_subsets=100, seed=config.subset_seed,
                    compute_fid=config.compute_fid,
                )  # fmt: skip
                kid_vals[row].append(scores.kid_mean)
                fid_vals[row].append(scores.fid)
        computed.append(("kid", kid_vals, {}))
        if config.compute_fid:
            computed.append(("fid", fid_vals, {}))

    results = []
    for name, vals, per_scene in computed:
        label, reason, z = assess_distance({c: vals[c] for c in CONTROLS}, config.min_z)
        stat = StatisticResult(name, _DESCRIPTIONS[name], vals, label, reason, z, per_scene=per_scene)
        if label == "informative":
            means = {m: stat.mean_std(m)[0] for m in method_names}
            order = sorted((v, m) for m, v in means.items() if math.isfinite(v))
            stat.ranks = {m: i + 1 for i, (_, m) in enumerate(order)}
        results.append(stat)
    return results
