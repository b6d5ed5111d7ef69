"""The generic engine behind ``generate`` (diffusion) and ``simulate`` (physics baselines).

``run_jobs`` turns input files x seeds into output files through any ``LowLightMethod``:

* outputs are named by ``name_template`` (default ``{stem}_s{seed}``) and keep the inputs' sub-folder
  structure relative to the common folder of all inputs, so equal stems in different folders never
  collide (equal stems in the *same* folder, e.g. ``a.jpg`` and ``a.png``, get the extension added:
  ``a_jpg_s1.png``);
* existing outputs stop the run before any work unless ``resume`` (skip outputs that the manifest lists
  as complete and that exist; redo the rest) or ``overwrite``;
* each output is written atomically and then recorded in ``manifest.jsonl``; a killed run leaves no
  partial file, and stale temporary files of earlier killed runs are removed;
* unreadable inputs and failing batches are recorded in ``RunSummary.failed`` with a one-line reason,
  and the run goes on;
* alpha is re-attached for PNG output and dropped for JPEG output.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

import n2ldiff
from n2ldiff.data.io import LoadedImage, read_image, write_image
from n2ldiff.errors import N2LDiffError
from n2ldiff.files import TEMP_SUFFIX, check_output_location, is_disk_full, make_output_dir
from n2ldiff.inference.manifest import ManifestWriter, completed_outputs, run_info

__all__ = ["Failure", "Job", "LowLightMethod", "RunSummary", "plan_outputs", "run_jobs"]


@runtime_checkable
class LowLightMethod(Protocol):
    """Anything that turns normal-light images into low-light ones, one seed per image.

    ``__call__(images Nx3xHxW in [0, 1], seeds)`` returns Nx3xHxW in [0, 1]; row i must depend only on
    (images[i], seeds[i]) - never on batch size, order or the other rows.
    """

    name: str
    settings: dict[str, Any]
    weights_sha256: str | None

    def __call__(self, images: torch.Tensor, seeds: list[int]) -> torch.Tensor: ...


@dataclass(frozen=True)
class Job:
    """One output: ``input`` with ``seed`` -> ``output`` (absolute) / ``rel`` (relative to out_dir)."""

    input: Path
    seed: int
    output: Path
    rel: str


@dataclass(frozen=True)
class Failure:
    """An input (and seed, when the failure was per seed) that produced no output, and why."""

    input: Path
    reason: str
    seed: int | None = None

    def __str__(self) -> str:
        seed = "" if self.seed is None else f" (seed {self.seed})"
        return f"{self.input}{seed}: {self.reason}"


@dataclass
class RunSummary:
    """What a run did: outputs written, outputs skipped (already complete), failures with reasons."""

    out_dir: Path
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # remarks on inputs, e.g. "only the first frame is used"

    @property
    def manifest_path(self) -> Path:
        """The run's ``manifest.jsonl``."""
        return self.out_dir / "manifest.jsonl"

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, else 1."""
        return 0 if self.ok else 1

    def describe(self) -> str:
        """One line: counts and time."""
        return (
            f"written {len(self.written)}, skipped {len(self.skipped)}, failed {len(self.failed)} "
            f"in {self.seconds:.1f} s -> {self.out_dir}"
        )


class _ImagesPerSecond(ProgressColumn):
    """Images finished over the time since the run started (Rich's own speed only spans recent updates)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed
        if not task.completed or not elapsed:
            return Text("- img/s", style="progress.data.speed")
        return Text(f"{task.completed / elapsed:.3g} img/s", style="progress.data.speed")


def _extension(image_format: str) -> str:
    fmt = image_format.lower()
    if fmt == "png":
        return ".png"
    if fmt in ("jpg", "jpeg"):
        return ".jpg"
    raise N2LDiffError(f"output format {image_format!r} is not supported (use png or jpg)")


def _render_name(template: str, **fields: Any) -> str:
    try:
        name = template.format(**fields)
    except (KeyError, IndexError, ValueError) as err:
        raise N2LDiffError(
            f"name template {template!r}: invalid ({err}); fields are {{stem}}, {{seed}}, {{ext}}, {{method}}"
        ) from None
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise N2LDiffError(f"name template {template!r} gives an invalid file name {name!r}")
    return name


def plan_outputs(
    inputs: Sequence[Path],
    out_dir: Path,
    seeds: Sequence[int],
    image_format: str = "png",
    name_template: str = "{stem}_s{seed}",
    method_name: str = "",
) -> list[Job]:
    """Output path of every (input, seed), in input order then seed order (see the module docstring)."""
    out_dir = Path(out_dir)
    ext = _extension(image_format)
    absolute = list(dict.fromkeys(Path(os.path.abspath(p)) for p in inputs))
    try:
        root = Path(os.path.commonpath([str(p.parent) for p in absolute])) if absolute else Path()
    except ValueError:  # e.g. different drives
        root = None

    def rel_dir(p: Path) -> Path:
        return p.parent.relative_to(root) if root is not None else Path()

    stems: dict[tuple[Path, str], list[Path]] = {}
    for p in absolute:
        stems.setdefault((rel_dir(p), p.stem), []).append(p)
    jobs: list[Job] = []
    owners: dict[str, Path] = {}
    for p in absolute:
        stem = p.stem if len(stems[(rel_dir(p), p.stem)]) == 1 else f"{p.stem}_{p.suffix.lstrip('.').lower()}"
        for seed in seeds:
            name = _render_name(name_template, stem=stem, seed=seed, ext=p.suffix.lstrip("."), method=method_name)
            rel = (rel_dir(p) / (name + ext)).as_posix()
            if rel in owners:
                raise N2LDiffError(
                    f"output name collision: {rel} for {owners.get(rel, p)} and {p} "
                    f"(the name template {name_template!r} must contain {{seed}} when several seeds are used)"
                )
            owners[rel] = p
            jobs.append(Job(input=p, seed=int(seed), output=out_dir / rel, rel=rel))
    return jobs


def _check_seeds(seeds: Sequence[int]) -> list[int]:
    if not seeds:
        raise N2LDiffError("no seeds given (give at least one, e.g. --seeds 3407)")
    out = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0 or s >= 2**63:
            raise N2LDiffError(f"seed {s!r} must be an integer in [0, 2**63)")
        out.append(int(s))
    if len(set(out)) != len(out):
        raise N2LDiffError(f"seeds contain duplicates: {out}")
    return out


def _remove_stale_temps(out_dir: Path) -> None:
    for dirpath, _, filenames in os.walk(out_dir):
        for name in filenames:
            if name.endswith(TEMP_SUFFIX):
                (Path(dirpath) / name).unlink(missing_ok=True)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def run_jobs(
    inputs: list[Path],
    out_dir: Path,
    seeds: list[int],
    method: LowLightMethod,
    *,
    batch_size: int = 1,
    image_format: str = "png",
    jpeg_quality: int = 95,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    name_template: str = "{stem}_s{seed}",
    min_side: int = 16,
) -> RunSummary:
    """Make one output per (input, seed) with ``method``; see the module docstring for the rules.

    Raises ``N2LDiffError`` before any work for bad arguments or existing outputs (without resume or
    overwrite). Per-input problems do not stop the run: they are listed in ``RunSummary.failed``.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    seeds = _check_seeds(seeds)
    if batch_size < 1:
        raise N2LDiffError(f"batch size must be at least 1, got {batch_size}")
    if resume and overwrite:
        raise N2LDiffError("choose either --resume or --overwrite, not both")
    if not 1 <= jpeg_quality <= 100:
        raise N2LDiffError(f"JPEG quality must be in 1..100, got {jpeg_quality}")
    if out_dir.exists() and not out_dir.is_dir():
        raise N2LDiffError(f"{out_dir}: output path exists and is not a folder")
    check_output_location(out_dir)  # a file in the path, a read-only place: one line, before any work
    fmt = "png" if _extension(image_format) == ".png" else "jpg"
    jobs = plan_outputs(inputs, out_dir, seeds, fmt, name_template, method_name=getattr(method, "name", ""))

    summary = RunSummary(out_dir=out_dir)
    done = completed_outputs(out_dir) if resume else set()
    todo: list[Job] = []
    clashes: list[Job] = []
    for job in jobs:
        if job.output.is_dir():
            raise N2LDiffError(f"{job.output}: output path is a folder")
        if resume and job.rel in done and job.output.is_file():
            summary.skipped.append(job.output)
            continue
        if job.output.exists() and not (resume or overwrite):
            clashes.append(job)
        todo.append(job)
    if clashes:
        raise N2LDiffError(
            f"{clashes[0].output} and {len(clashes) - 1} other output(s) already exist in {out_dir}; "
            "use --resume to finish an earlier run or --overwrite to replace them"
        )

    make_output_dir(out_dir)
    _remove_stale_temps(out_dir)
    info = run_info()
    by_input: dict[Path, list[Job]] = {}
    for job in todo:
        by_input.setdefault(job.input, []).append(job)

    with ExitStack() as stack:
        manifest = stack.enter_context(ManifestWriter(out_dir))
        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _ImagesPerSecond(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not progress,
            transient=False,
        )
        stack.enter_context(bar)
        task = bar.add_task(getattr(method, "name", "run"), total=len(todo))

        def fail(item: Failure) -> None:
            summary.failed.append(item)
            if progress:
                bar.console.print(f"[red]failed[/] {item}", highlight=False)

        def run_batch(items: list[tuple[Job, LoadedImage]]) -> None:
            images = torch.stack([img.rgb for _, img in items])
            batch_seeds = [job.seed for job, _ in items]
            t0 = time.perf_counter()
            try:
                result = method(images, batch_seeds)
                if not isinstance(result, torch.Tensor) or tuple(result.shape) != tuple(images.shape):
                    shape = tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
                    raise RuntimeError(f"method returned {shape}, expected {tuple(images.shape)}")
                result = result.detach().to("cpu", torch.float32)
                if not torch.isfinite(result).all():
                    raise RuntimeError("method returned NaN or infinite values")
            except Exception as err:  # noqa: BLE001 - one failing batch must not stop the run
                for job, _ in items:
                    fail(Failure(job.input, _one_line(err), job.seed))
                bar.advance(task, len(items))
                return
            per_image = (time.perf_counter() - t0) / len(items)
            # The exposure ratio each row was made at (methods that take one), for the manifest.
            exposures = method.exposures(images, batch_seeds) if hasattr(method, "exposures") else None
            for i, ((job, img), row) in enumerate(zip(items, result, strict=True)):
                t1 = time.perf_counter()
                try:
                    write_image(job.output, row, img.alpha if fmt == "png" else None, fmt, jpeg_quality)
                except (OSError, N2LDiffError) as err:
                    if is_disk_full(err):  # every later output would fail too: stop the run here
                        raise N2LDiffError(f"{job.output}: disk full ({err.strerror}); the run stopped") from None
                    fail(Failure(job.input, f"cannot write {job.output}: {_one_line(err)}", job.seed))
                    bar.advance(task)
                    continue
                manifest.write(
                    {
                        "input": str(job.input),
                        "input_sha256": img.sha256,
                        "seed": job.seed,
                        "output": job.rel,
                        "method": getattr(method, "name", None),
                        "settings": dict(getattr(method, "settings", {}) or {}),
                        "weights_sha256": getattr(method, "weights_sha256", None),
                        "exposure": None if exposures is None else round(exposures[i], 4),
                        "version": n2ldiff.__version__,
                        "seconds": round(per_image + time.perf_counter() - t1, 6),
                        "size": [img.size[0], img.size[1]],
                        "input_mode": img.mode,
                        "bit_depth": img.bit_depth,
                        "alpha": None if img.alpha is None else ("kept" if fmt == "png" else "dropped"),
                        "status": "ok",
                        "run": info,
                    }
                )
                summary.written.append(job.output)
                bar.advance(task)

        buckets: dict[tuple[int, int], list[tuple[Job, LoadedImage]]] = {}
        max_pending = 4 * batch_size
        for path, input_jobs in by_input.items():
            try:
                image = read_image(path, min_side=min_side)
            except N2LDiffError as err:
                fail(Failure(path, str(err).removeprefix(f"{path}: ")))
                bar.advance(task, len(input_jobs))
                continue
            summary.notes.extend(f"{path}: {note}" for note in image.notes)
            for job in input_jobs:
                bucket = buckets.setdefault(image.size, [])
                bucket.append((job, image))
                if len(bucket) >= batch_size:
                    run_batch(buckets.pop(image.size))
            while sum(len(b) for b in buckets.values()) > max_pending:
                run_batch(buckets.pop(next(iter(buckets))))  # oldest partial batch first: bounded memory
        for size in list(buckets):
            run_batch(buckets.pop(size))
    summary.seconds = time.perf_counter() - started
    return summary
