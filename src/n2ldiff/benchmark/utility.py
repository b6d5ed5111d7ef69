"""The utility benchmark: does an enhancer trained on a method's synthetic pairs work on real low light?

``run_utility(UtilityConfig(...))`` returns a ``UtilityResult``; ``n2ldiff.benchmark.utility_report``
writes it as results.json / .csv / .md and two figures. For every row:

* ``real``: the real low images of the training pairs (what synthetic data stands in for);
* ``n2ldiff``, every physics baseline name (``lv-grid-...``, ``lv-random``, ``lv-random-noise``,
  ``unprocess``, ``dark-isp``) and ``dark-clean``: low images synthesised from the training pairs' normal
  images with one fixed seed (``synthesis_seed``), cached with the benchmark's cache rules
  (``<cache>/<row>/<pair>_s<seed>.png``, a manifest with the input's SHA-256, refused when made with
  other settings);
* ``none``: no training; each test low image scaled to its normal image's mean brightness, the
  reference an enhancer must beat.

Each trained row trains the same small enhancer (``n2ldiff.benchmark.enhancer``: a 0.13 M-parameter
U-Net, one recipe for every row, the same initial weights and batches for a given seed) on (low ->
normal) and tests it on the **real** low images of the test pairs, once per training seed (``runs``
seeds, ``seed``, ``seed + 1``, ...).

**Darkness.** Methods that take a darkness (n2ldiff, dark-clean) are given ``exposure``: ``oracle``
(default) gives each training pair its own real ratio R = mean(normal) / mean(low), as
``n2ldiff benchmark --exposure oracle`` does; ``auto`` or a number as in ``n2ldiff generate``. The physics
baselines draw their own darkness. The enhancer's input is scaled to a fixed mean, so the rows differ
in what their low images look like at equal brightness (noise, tone curve, colour), not in how dark they
are.

**Metrics** (``n2ldiff.metrics.fidelity``, the benchmark's definitions): PSNR, SSIM and LPIPS between the
enhanced real test low image and its normal image. The enhancer's output is quantised to 8 bits and then
scaled to the normal image's mean (clamped to [0, 1]) before the metrics: the same brightness information
``none`` has, so every row is compared at the true brightness and the table measures what training
taught beyond brightness. ``psnr_raw`` is the PSNR of the output as predicted (the enhancer's own guess
of the brightness), recorded for reference. Images are prepared like the benchmark's (read as RGB,
optionally resized to ``max_side``, cropped top-left to multiples of ``size_multiple``); training pairs are
kept at 8 bits.

**Cells** are the mean over runs of each run's mean over test images, ± the standard deviation over runs
(``none`` has no runs: one deterministic value). Two rows differ beyond 2 sd when
``|mean_a - mean_b| > 2 * sqrt(sd_a^2 + sd_b^2)``: the spread of the difference of two single runs, which
with K = 3 runs is also a conservative test of the difference of the means.

**Resume.** Every (row, seed) result is written to ``OUT/runs/<row>/seed<seed>.json`` (with the
enhancer's weights beside it) and reused by a later run when its key matches: a hash of the recipe, the
seed, the metric settings and the exact bytes of the training and test images. Everything is written
atomically, so an interrupted run loses at most the run in progress.

**Bad pairs** (unreadable or corrupt files, images under 32 px, training images smaller than the crop,
files without a partner) are reported and skipped, and listed in ``run.skipped_pairs``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from n2ldiff.benchmark.enhancer import Recipe, build_enhancer, enhance, parameter_count, train_enhancer
from n2ldiff.data.layouts import LAYOUTS, ImagePair, scan_pairs
from n2ldiff.errors import N2LDiffError
from n2ldiff.exposure import MAX_EXPOSURE, MIN_EXPOSURE, Exposure, exposure_ratio
from n2ldiff.files import atomic_path, sha256_file, write_text_atomic
from n2ldiff.inference.progress import ProgressBar

__all__ = [
    "DEFAULT_METHODS",
    "METRICS",
    "NONE",
    "QUICK",
    "REAL",
    "RowResult",
    "RunResult",
    "UtilityConfig",
    "UtilityResult",
    "compare",
    "run_utility",
]

REAL = "real"
NONE = "none"
DARK_CLEAN = "dark-clean"
N2LDIFF = "n2ldiff"
#: The default rows. Of Lv et al.'s 8 grid settings, only two: the enhancer's input is scaled to a fixed
#: mean, which removes most of what alpha and beta (global scales) do, leaving the two gammas (1.5, 5);
#: ``lv-grid`` in ``methods`` adds all 8.
DEFAULT_METHODS = (
    REAL,
    N2LDIFF,
    "lv-grid-a0.9-b0.5-g1.5",
    "lv-grid-a0.9-b0.5-g5",
    "lv-random",
    "lv-random-noise",
    "unprocess",
    "dark-isp",
    DARK_CLEAN,
    NONE,
)
#: Metrics (key, label, higher is better).
METRICS = (("psnr", "PSNR", True), ("ssim", "SSIM", True), ("lpips", "LPIPS", False))
#: The methods whose darkness is set by ``exposure``.
TAKES_EXPOSURE = (N2LDIFF, DARK_CLEAN)
#: Bump when the enhancer's network or the evaluation changes, so cached run results are not reused.
RESULT_VERSION = 1
# Training pairs synthesised per engine call: only a chunk's normal images are held as floats.
SYNTHESIS_CHUNK = 16

#: ``quick``: a few small images, a short recipe and two runs (an end-to-end check in about a minute).
QUICK: dict[str, Any] = {
    "runs": 2,
    "max_train_images": 6,
    "max_test_images": 3,
    "max_side": 128,
    "recipe": Recipe(crop=48, batch=4, steps=100),
}
_FULL: dict[str, Any] = {
    "runs": 3,
    "max_train_images": None,
    "max_test_images": None,
    "max_side": None,
    "recipe": Recipe(),
}
_PRESET_FIELDS = tuple(_FULL)


@dataclass
class UtilityConfig:
    """Everything a utility run depends on (recorded in results.json).

    ``runs``, ``max_train_images``, ``max_test_images``, ``max_side`` and ``recipe`` left at None take the
    full run's values, or with ``quick=True`` those of ``QUICK``; values given explicitly always win.
    """

    train: Path
    test: Path
    layout: str
    out: Path
    test_layout: str | None = None  # default: ``layout``
    train_split: str | None = "train"
    test_split: str | None = "test"
    methods: Sequence[str] = DEFAULT_METHODS
    runs: int | None = None
    seed: int = 0  # training seeds: seed, seed + 1, ..., seed + runs - 1
    synthesis_seed: int = 3407
    exposure: str = "oracle"
    model: Path | None = None
    sampler: str | None = None
    steps: int | None = None  # n2ldiff's network evaluations (default: the model's)
    recipe: Recipe | None = None
    max_train_images: int | None = None
    max_test_images: int | None = None
    max_side: int | None = None
    size_multiple: int = 32
    lpips_net: str = "alex"
    weights_dir: Path | None = None
    device: str = "auto"
    cache_dir: Path | None = None  # synthetic training images; default OUT/images
    resume: bool = True
    figures: bool = True
    example_scenes: int = 3
    example_crop: int = 160
    threads: int | None = None
    quick: bool = False

    def __post_init__(self) -> None:
        self.train, self.test, self.out = Path(self.train), Path(self.test), Path(self.out)
        for name in ("model", "weights_dir", "cache_dir"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, Path(value))
        preset = QUICK if self.quick else _FULL
        for name in _PRESET_FIELDS:
            if getattr(self, name) is None:
                setattr(self, name, preset[name])
        if self.test_layout is None:
            self.test_layout = self.layout
        for layout in (self.layout, self.test_layout):
            if layout not in LAYOUTS:
                raise N2LDiffError(f"unknown dataset layout {layout!r} (use one of {', '.join(LAYOUTS)})")
        self.methods = [m.strip() for m in self.methods if m.strip()]
        if not self.methods:
            raise N2LDiffError("no methods given")
        self.exposure = str(Exposure.parse(self.exposure))
        if Exposure.parse(self.exposure).kind == "range":
            raise N2LDiffError("exposure: use oracle, auto or a number (a range would differ between runs of rows)")
        assert self.runs is not None
        if self.runs < 1:
            raise N2LDiffError(f"runs must be >= 1, got {self.runs}")
        for name in ("max_train_images", "max_test_images", "max_side", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise N2LDiffError(f"{name.replace('_', ' ')} must be >= 1, got {value}")
        if self.size_multiple < 1:
            raise N2LDiffError(f"size multiple must be >= 1, got {self.size_multiple}")
        if self.example_scenes < 0 or self.example_crop < 16:
            raise N2LDiffError("example scenes must be >= 0 and the example crop >= 16 px")

    @property
    def seeds(self) -> list[int]:
        assert self.runs is not None
        return [self.seed + k for k in range(self.runs)]

    @property
    def images_dir(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else self.out / "images"

    @property
    def runs_dir(self) -> Path:
        return self.out / "runs"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Recipe):
                value = value.as_dict()
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, (list, tuple)):
                value = list(value)
            out[f.name] = value
        return out


@dataclass
class RunResult:
    """One trained enhancer (one row, one seed), evaluated on every test pair."""

    seed: int
    psnr: list[float]  # per test pair, output scaled to the normal image's mean
    ssim: list[float]
    lpips: list[float]
    psnr_raw: list[float]  # per test pair, output as predicted
    train_seconds: float = math.nan
    eval_seconds: float = math.nan
    final_loss: float = math.nan
    weights_sha256: str | None = None
    recipe: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    cached: bool = False

    def mean(self, metric: str) -> float:
        values = getattr(self, metric)
        return float(torch.tensor(values, dtype=torch.float64).mean()) if values else math.nan

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class RowResult:
    """One row: ``kind`` is "trained" (an enhancer per seed) or "reference" (``none``: one deterministic run)."""

    name: str
    kind: str
    settings: dict[str, Any]
    runs: list[RunResult]
    synthesis: dict[str, Any] = field(default_factory=dict)  # cache folder, images made / cached, seconds

    def run_means(self, metric: str) -> list[float]:
        return [r.mean(metric) for r in self.runs]

    def summary(self, metric: str) -> dict[str, float]:
        """Mean over runs of the per-run mean over test pairs, and the sd over runs (nan for one run)."""
        values = torch.tensor(self.run_means(metric), dtype=torch.float64)
        if values.numel() == 0:
            return {"mean": math.nan, "sd": math.nan}
        sd = float(values.std(unbiased=True)) if values.numel() > 1 else math.nan
        return {"mean": float(values.mean()), "sd": sd}


@dataclass
class UtilityResult:
    config: UtilityConfig
    run: dict[str, Any]
    train_pairs: list[str]
    test_pairs: list[str]
    rows: list[RowResult]
    examples: dict[str, list[Tensor]]  # column label -> one centre crop per example test pair
    example_pairs: list[str] = field(default_factory=list)

    def row(self, name: str) -> RowResult:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)


def compare(a: RowResult, b: RowResult, metric: str) -> dict[str, Any]:
    """Difference ``a - b`` of the means of ``metric`` and whether it exceeds 2 sd (see the module docstring).

    ``better`` names the better row when the difference exceeds 2 sd (None otherwise); a row without a
    spread (``none``) counts as sd 0.
    """
    sa, sb = a.summary(metric), b.summary(metric)
    sd_a = 0.0 if math.isnan(sa["sd"]) else sa["sd"]
    sd_b = 0.0 if math.isnan(sb["sd"]) else sb["sd"]
    diff = sa["mean"] - sb["mean"]
    sd = math.sqrt(sd_a**2 + sd_b**2)
    exceeds = math.isfinite(diff) and abs(diff) > 2 * sd and diff != 0
    higher_better = next(h for k, _, h in METRICS if k == metric)
    better = None
    if exceeds:
        better = a.name if (diff > 0) == higher_better else b.name
    return {"a": a.name, "b": b.name, "metric": metric, "difference": diff, "sd": sd, "exceeds_2sd": exceeds,
            "better": better}  # fmt: skip


# ------------------------------------------------------------------------------------------ data


@dataclass
class _TrainPair:
    name: str
    normal: Tensor  # uint8 3xHxW
    low: Tensor  # uint8 3xHxW, the real low image
    image: Any  # the normal image's LoadedImage (file, metadata) without its pixels: the engine's job input
    ratio: float  # real exposure ratio R, clamped to the range methods accept


@dataclass
class _TestPair:
    name: str
    normal: Tensor  # float 3xHxW
    low: Tensor


def _to_uint8(x: Tensor) -> Tensor:
    return (x.clamp(0, 1) * 255.0).round().to(torch.uint8)


def _read(
    pairs: Sequence[ImagePair], config: UtilityConfig, say: Callable[[str], None]
) -> tuple[list[Any], dict[str, str]]:
    """The benchmark's reader (``_read_scenes``), one pair at a time so training sets are kept at 8 bits."""
    from n2ldiff.benchmark.run import _read_scenes

    scenes, skipped = [], {}
    for pair in pairs:
        # The reader uses only ``size_multiple`` and ``max_side`` of its config, which this one has too.
        read, bad = _read_scenes([pair], config, say)  # type: ignore[arg-type]
        skipped.update(bad)
        scenes += read
    return scenes, skipped


def _scan(
    root: Path, layout: str, split: str | None, limit: int | None, what: str, say: Callable[[str], None]
) -> tuple[list[ImagePair], dict[str, str], list[str]]:
    found = scan_pairs(root, layout, split=split)
    for note in found.notes:
        say(f"note: {what}: {note}")
    skipped = {}
    for path in found.unmatched:
        from n2ldiff.benchmark.run import _relative_name

        name = _relative_name(path, root)
        skipped[name] = f"no partner image (a {path.parent.name}/ file without its pair)"
        say(f"{what}: skipped {name}: {skipped[name]}")
    pairs = found.pairs[:limit] if limit is not None else found.pairs
    return pairs, skipped, found.notes


def _load_data(config: UtilityConfig, say: Callable[[str], None]) -> dict[str, Any]:
    assert config.recipe is not None and config.test_layout is not None
    train_pairs, train_skipped, train_notes = _scan(
        config.train, config.layout, config.train_split, config.max_train_images, "train", say
    )
    test_pairs, test_skipped, test_notes = _scan(
        config.test, config.test_layout, config.test_split, config.max_test_images, "test", say
    )
    shared = {p.normal_path.resolve() for p in train_pairs} & {p.normal_path.resolve() for p in test_pairs}
    shared |= {p.low_path.resolve() for p in train_pairs} & {p.low_path.resolve() for p in test_pairs}
    if shared:
        raise N2LDiffError(
            f"train and test share {len(shared)} image file(s), e.g. {sorted(shared)[0]}; "
            "use disjoint data or splits (--train-split / --test-split)"
        )

    scenes, bad = _read(train_pairs, config, lambda message: say(f"train: {message}"))
    train_skipped.update(bad)
    train: list[_TrainPair] = []
    crop = config.recipe.crop
    for s in scenes:
        if min(s.normal.shape[-2:]) < crop:
            train_skipped[s.name] = f"{tuple(s.normal.shape[-2:])} is smaller than the enhancer's {crop}-px crop"
            say(f"train: skipped {s.name}: {train_skipped[s.name]}")
            continue
        ratio = float(exposure_ratio(s.normal, s.low))
        ratio = min(max(ratio, MIN_EXPOSURE), MAX_EXPOSURE)
        pixels_dropped = dataclasses.replace(s.image, rgb=torch.empty(0))
        train.append(_TrainPair(s.name, _to_uint8(s.normal), _to_uint8(s.low), pixels_dropped, ratio))
    scenes, bad = _read(test_pairs, config, lambda message: say(f"test: {message}"))
    test_skipped.update(bad)
    test = [_TestPair(s.name, s.normal, s.low) for s in scenes]
    if len(train) < 1:
        raise N2LDiffError(f"{config.train}: no usable training pairs")
    if len(test) < 1:
        raise N2LDiffError(f"{config.test}: no usable test pairs")
    return {
        "train": train,
        "test": test,
        "skipped": {"train": train_skipped, "test": test_skipped},
        "notes": {"train": train_notes, "test": test_notes},
    }


def _digest(tensors: Sequence[Tensor]) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(str(tuple(t.shape)).encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------ rows


def _expand(methods: Sequence[str]) -> list[str]:
    """Check every row name; expand ``lv-grid`` into its 8 settings."""
    from n2ldiff.baselines.registry import expand_methods

    names: list[str] = []
    for m in methods:
        names += [m] if m in (REAL, NONE, N2LDIFF, DARK_CLEAN) else expand_methods([m])
    if len(set(names)) != len(names):
        raise N2LDiffError(f"methods repeat: {', '.join(names)}")
    return names


def _load(name: str, config: UtilityConfig) -> tuple[Any, dict[str, Any], str, bool]:
    """(method, settings recorded, cache folder name, whether it is given the oracle R) for a synthetic row."""
    from n2ldiff.inference.methods import load_method

    exposure = config.exposure if name in TAKES_EXPOSURE else "auto"
    oracle = exposure == "oracle"
    if name == N2LDIFF:
        method = load_method(N2LDIFF, config.model, config.device, config.sampler, config.steps,
                             exposure=None if oracle else exposure)  # fmt: skip
    else:
        method = load_method(name, exposure=None if oracle else exposure)
    settings = dict(method.settings)
    if oracle:
        settings["exposure"] = "oracle"
    # The benchmark's row name for the same method and exposure, so the two can share a cache folder.
    folder = name if exposure == "auto" else f"{name}@{exposure}"
    return method, settings, folder, oracle


def _synthesise(
    name: str,
    config: UtilityConfig,
    train: Sequence[_TrainPair],
    device: torch.device,
    say: Callable[[str], None],
    progress: bool = False,
) -> tuple[list[Tensor], dict[str, Any], dict[str, Any], str | None]:
    """One synthetic low image (uint8) per training pair through the benchmark's cache; see the module docstring."""
    from n2ldiff.benchmark.run import BenchmarkConfig, _method_outputs, _Scene
    from n2ldiff.inference.engine import RunEvent

    method, settings, folder, oracle = _load(name, config)
    seed = config.synthesis_seed
    # The benchmark's row generation (the one engine, its cache folder and resume rules), a chunk at a time.
    bench = BenchmarkConfig(
        data=config.train,
        layout=config.layout,
        out=config.out,
        seeds=(seed,),
        size_multiple=config.size_multiple,
        max_side=config.max_side,
        cache_dir=config.images_dir,
        resume=config.resume,
    )
    lows: list[Tensor] = []
    made, seconds = 0, 0.0
    chunk = SYNTHESIS_CHUNK
    with ProgressBar(f"{name} images", enabled=progress) as bar:
        for start in range(0, len(train), chunk):
            part = train[start : start + chunk]
            scenes = [
                _Scene(p.name, dataclasses.replace(p.image, rgb=p.normal.float() / 255.0), p.low.float() / 255.0)
                for p in part
            ]

            def on_event(event: RunEvent, first: int = start, size: int = len(part)) -> None:
                # The engine counts only this chunk's outputs still to make; cached ones are already done.
                bar.update(first + size - event.total + event.done, len(train))

            outs, times, n_new = _method_outputs(
                folder, method, scenes, bench, False, [p.ratio for p in part] if oracle else None, on_event
            )
            lows += [_to_uint8(o) for o in outs[0]]
            made += n_new
            seconds += sum(t for t in times if math.isfinite(t)) if n_new else 0.0
            bar.update(min(start + chunk, len(train)), len(train))
            if not progress:  # the bar shows the count; a line printed under a live bar would garble it
                say(f"{name}: {min(start + chunk, len(train))}/{len(train)} training images synthesised")
    cache_dir = config.images_dir / folder.replace(":", "-")
    info = {
        "cache": str(cache_dir),
        "seed": seed,
        "made": made,
        "cached": len(train) - made,
        "seconds_made": round(seconds, 3),
        "darkness": "each pair's real R (oracle)" if oracle else (
            f"exposure {config.exposure}" if name in TAKES_EXPOSURE else "the method's own"
        ),
    }  # fmt: skip
    return lows, settings, info, method.weights_sha256


# ------------------------------------------------------------------------------------------ evaluation


def _mean_matched(x: Tensor, normal: Tensor) -> Tensor:
    """``x`` scaled to ``normal``'s mean brightness (over all pixels and channels), clamped to [0, 1]."""
    return (x * (normal.double().mean() / x.double().mean().clamp_min(1e-6)).float()).clamp(0, 1)


def _metrics(out: Tensor, normal: Tensor, lpips: Any, device: torch.device) -> tuple[float, float, float]:
    from n2ldiff.metrics.fidelity import psnr, ssim

    a, b = out[None].to(device), normal[None].to(device)
    with torch.no_grad():
        return float(psnr(a, b)[0]), float(ssim(a, b)[0]), float(lpips(a, b)[0])


def _none_row(test: Sequence[_TestPair], lpips: Any, device: torch.device) -> RowResult:
    values = [_metrics(_mean_matched(p.low, p.normal), p.normal, lpips, device) for p in test]
    psnr_, ssim_, lpips_ = (list(v) for v in zip(*values, strict=True))
    run = RunResult(seed=-1, psnr=psnr_, ssim=ssim_, lpips=lpips_, psnr_raw=list(psnr_))
    settings = {"reference": "the test low image scaled to its normal image's mean brightness (no training)"}
    return RowResult(NONE, "reference", settings, [run])


def _evaluate(model: Any, test: Sequence[_TestPair], recipe: Recipe, lpips: Any, device: torch.device) -> dict:
    from n2ldiff.metrics.fidelity import psnr

    out: dict[str, list[float]] = {"psnr": [], "ssim": [], "lpips": [], "psnr_raw": []}
    for p in test:
        raw = enhance(model, p.low[None], recipe.input_mean)[0]
        raw = _to_uint8(raw).float() / 255.0  # as an enhancer's output is saved
        p_, s_, l_ = _metrics(_mean_matched(raw, p.normal), p.normal, lpips, device)
        out["psnr"].append(p_)
        out["ssim"].append(s_)
        out["lpips"].append(l_)
        out["psnr_raw"].append(float(psnr(raw[None], p.normal[None])[0]))
    return out


def _save_weights(model: Any, path: Path) -> str:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))
    return sha256_file(path)


def _load_weights(path: Path, recipe: Recipe) -> Any:
    from safetensors.torch import load_file

    model = build_enhancer(recipe, 0)
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def _train_row(
    name: str,
    lows: Sequence[Tensor],
    train: Sequence[_TrainPair],
    test: Sequence[_TestPair],
    data_key: dict[str, str],
    config: UtilityConfig,
    lpips: Any,
    device: torch.device,
    say: Callable[[str], None],
    progress: bool = False,
) -> list[RunResult]:
    """Train and evaluate one enhancer per seed; results already on disk with the same key are reused."""
    recipe = config.recipe
    assert recipe is not None
    normals = [p.normal for p in train]
    folder = config.runs_dir / name
    runs = []
    for k, seed in enumerate(config.seeds):
        key_fields = {
            "recipe": recipe.as_dict(),
            "seed": seed,
            "version": RESULT_VERSION,
            "lpips_net": config.lpips_net,
            **data_key,
        }
        key = hashlib.sha256(json.dumps(key_fields, sort_keys=True).encode()).hexdigest()
        path = folder / f"seed{seed}.json"
        if config.resume and path.is_file():
            try:
                stored = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                stored = {}
            if stored.get("key") == key and (folder / f"seed{seed}.safetensors").is_file():
                run = RunResult.from_dict(stored)
                run.cached = True
                runs.append(run)
                say(f"{name} run {k + 1}/{len(config.seeds)} (seed {seed}): cached, PSNR {run.mean('psnr'):.2f}")
                continue
        t0 = time.perf_counter()
        losses: list[float] = []
        with ProgressBar(f"{name} seed {seed}", enabled=progress, unit="step") as bar:

            def on_step(step: int, loss: float, into: list[float] = losses, shown: ProgressBar = bar) -> None:
                into.append(loss)
                shown.update(step, recipe.steps)

            model = train_enhancer(lows, normals, recipe, seed, device, progress=on_step)
        train_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        metrics = _evaluate(model, test, recipe, lpips, device)
        eval_seconds = time.perf_counter() - t0
        weights_sha = _save_weights(model, folder / f"seed{seed}.safetensors")
        tail = losses[-max(1, len(losses) // 10) :]
        run = RunResult(
            seed=seed,
            **metrics,
            train_seconds=round(train_seconds, 3),
            eval_seconds=round(eval_seconds, 3),
            final_loss=sum(tail) / len(tail),
            weights_sha256=weights_sha,
            recipe=recipe.as_dict(),
            key=key,
        )
        write_text_atomic(path, json.dumps(run.to_dict(), indent=1) + "\n")
        runs.append(run)
        say(
            f"{name} run {k + 1}/{len(config.seeds)} (seed {seed}): PSNR {run.mean('psnr'):.2f}  "
            f"SSIM {run.mean('ssim'):.3f}  LPIPS {run.mean('lpips'):.3f}  "
            f"(train {train_seconds:.0f} s, {recipe.steps / max(train_seconds, 1e-9):.1f} steps/s; "
            f"eval {eval_seconds:.0f} s)"
        )
    return runs


def _centre_crop(x: Tensor, side: int) -> Tensor:
    h, w = x.shape[-2:]
    s = min(side, h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return x[..., top : top + s, left : left + s]


def _examples(
    config: UtilityConfig, rows: Sequence[RowResult], test: Sequence[_TestPair]
) -> tuple[dict[str, list[Tensor]], list[str]]:
    """Centre crops of a few test pairs: normal, ``none``, and each trained row's first-seed output."""
    recipe = config.recipe
    assert recipe is not None
    chosen = list(test[: config.example_scenes])
    crop = config.example_crop
    examples: dict[str, list[Tensor]] = {
        "normal (target)": [_centre_crop(p.normal, crop) for p in chosen],
        "real low": [_centre_crop(p.low, crop) for p in chosen],
    }
    for row in rows:
        if row.kind == "reference":
            examples[row.name] = [_centre_crop(_mean_matched(p.low, p.normal), crop) for p in chosen]
            continue
        model = _load_weights(config.runs_dir / row.name / f"seed{row.runs[0].seed}.safetensors", recipe)
        outs = []
        for p in chosen:
            raw = _to_uint8(enhance(model, p.low[None], recipe.input_mean)[0]).float() / 255.0
            outs.append(_centre_crop(_mean_matched(raw, p.normal), crop))
        examples[row.name] = outs
    return examples, [p.name for p in chosen]


# ------------------------------------------------------------------------------------------ engine


def _resolve_device(device: str) -> torch.device:
    from n2ldiff.benchmark.run import _resolve_device as resolve

    return resolve(device)


def run_utility(
    config: UtilityConfig, log: Callable[[str], None] | None = None, progress: bool = False
) -> UtilityResult:
    """Train the enhancer on every row's training pairs and test it on real low light; see the module docstring.

    ``log`` receives one line per step; ``progress`` draws bars on stderr (images synthesised per row,
    training steps per enhancer run).
    """
    say = log or (lambda _msg: None)
    threads_before = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        return _run(config, say, progress)
    finally:
        torch.set_num_threads(threads_before)


def _run(config: UtilityConfig, say: Callable[[str], None], progress: bool) -> UtilityResult:
    from n2ldiff.files import make_output_dir
    from n2ldiff.inference.manifest import run_info
    from n2ldiff.metrics.fidelity import LPIPS
    from n2ldiff.metrics.weights import default_weights_dir, lpips_file

    started = time.perf_counter()
    recipe = config.recipe
    assert recipe is not None
    device = _resolve_device(config.device)
    names = _expand(config.methods)
    for path, what in ((config.train, "train"), (config.test, "test")):
        if not path.exists():
            raise N2LDiffError(f"{path}: {what} data not found")
    make_output_dir(config.out)
    lpips = LPIPS(config.lpips_net, config.weights_dir).to(device)  # fails early when never fetched
    lpips_path = (config.weights_dir or default_weights_dir()) / lpips_file(config.lpips_net)

    t0 = time.perf_counter()
    data = _load_data(config, say)
    train, test = data["train"], data["test"]
    say(
        f"{len(train)} training pairs from {config.train} ({config.layout}, split {config.train_split}), "
        f"{len(test)} test pairs from {config.test} ({config.test_layout}, split {config.test_split}); "
        f"read in {time.perf_counter() - t0:.0f} s"
    )
    test_key = _digest([p.low for p in test] + [p.normal for p in test])
    normals_key = _digest([p.normal for p in train])

    rows: list[RowResult] = []
    weights: dict[str, str | None] = {}
    timings: dict[str, float] = {}
    for name in names:
        t0 = time.perf_counter()
        if name == NONE:
            rows.append(_none_row(test, lpips, device))
            timings[name] = round(time.perf_counter() - t0, 3)
            say(f"{NONE}: PSNR {rows[-1].summary('psnr')['mean']:.2f}  SSIM {rows[-1].summary('ssim')['mean']:.3f}  "
                f"LPIPS {rows[-1].summary('lpips')['mean']:.3f}")  # fmt: skip
            continue
        if name == REAL:
            lows = [p.low for p in train]
            settings: dict[str, Any] = {"training lows": "the real low images of the training pairs"}
            synthesis: dict[str, Any] = {}
        else:
            lows, settings, synthesis, weights[name] = _synthesise(name, config, train, device, say, progress)
            say(f"{name}: {synthesis['made']} training images synthesised ({synthesis['cached']} cached) "
                f"in {time.perf_counter() - t0:.0f} s")  # fmt: skip
        data_key = {"train_normals": normals_key, "train_lows": _digest(lows), "test": test_key}
        runs = _train_row(name, lows, train, test, data_key, config, lpips, device, say, progress)
        rows.append(RowResult(name, "trained", settings, runs, synthesis))
        timings[name] = round(time.perf_counter() - t0, 3)

    examples, example_pairs = _examples(config, rows, test) if config.example_scenes else ({}, [])
    record = run_info()
    record.update(
        {
            "config": config.as_dict(),
            "recipe": recipe.as_dict(),
            "enhancer_parameters": parameter_count(build_enhancer(recipe, 0)),
            "seeds": config.seeds,
            "synthesis_seed": config.synthesis_seed,
            "exposure": config.exposure,
            "rows": names,
            "data": {
                "train": {
                    "path": str(config.train),
                    "layout": config.layout,
                    "split": config.train_split,
                    "pairs": len(train),
                },
                "test": {
                    "path": str(config.test),
                    "layout": config.test_layout,
                    "split": config.test_split,
                    "pairs": len(test),
                },
                "max_side": config.max_side,
                "size_multiple": config.size_multiple,
                "train_oracle_exposures": {p.name: round(p.ratio, 4) for p in train},
            },  # fmt: skip
            "skipped_pairs": data["skipped"],
            "notes": data["notes"],
            "weights_sha256": {
                "methods": weights,
                f"lpips_{config.lpips_net}": sha256_file(lpips_path) if lpips_path.is_file() else None,
            },
            "device": str(device),
            "threads": torch.get_num_threads(),
            "seconds": {"rows": timings, "total": round(time.perf_counter() - started, 3)},
        }
    )
    return UtilityResult(config, record, [p.name for p in train], [p.name for p in test], rows, examples,
                         example_pairs)  # fmt: skip
