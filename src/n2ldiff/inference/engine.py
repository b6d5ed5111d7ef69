"""The engine: run a low-light method over images and write one file per (image, seed).

Every user of the package that turns images into files goes through here: ``generate`` and ``simulate``
(``runner.run_jobs``), the dataset builders' shards (local, worker processes or Ray), the benchmark's
output cache and the demo. Each of them only plans its ``Job`` list (which input, which seed, which output
name) and adds what is its own (shards and Ray, metrics, the gallery).

``run(jobs, method, out_dir, mode=...)`` does the rest, in this order:

1. **Lock**: the output folder is checked and created (a file in its path or a read-only place is a
   one-line error before any work) and used by one run at a time (``files.folder_lock``); a second run
   is refused at once with a message that says the folder is in use.
2. **Clean**: temporary files left by killed runs are removed (safe only under the lock).
3. **Select** (``select_jobs``): ``mode="new"`` refuses before any work if an output already exists;
   ``"overwrite"`` redoes everything; ``"resume"`` first refuses if the folder's recorded outputs were
   made with other settings (the method's name, its ``settings`` dict, its weights hash and the caller's
   ``identity`` fields such as the output format; the message names each difference), then skips every
   output that is recorded as complete, exists, and was made from an input with the same sha256 (and,
   for a job that gives its own exposure ratio, at that ratio). An output whose input changed since is
   made again.
4. **Execute** (``execute``): inputs are read once (EXIF orientation applied, alpha kept apart), jobs of
   equal image size are batched (``batch_size``), the method runs under ``torch.no_grad``, and each
   result is checked (shape, finite values), written atomically and then recorded as one line of
   ``manifest.jsonl`` (``make_record``: the one manifest schema). Methods that take an exposure ratio
   (``methods.takes_exposures``) are given the jobs' own ratios where jobs carry one (the benchmark's
   oracle) and otherwise draw theirs; either way each output's ratio is recorded as ``exposure`` (None
   for methods without one). A failing input or batch is recorded in the summary with a one-line reason
   and the run goes on; a full disk (an output or a manifest line that cannot be written for lack of
   space) stops the run with an ``N2LDiffError``, the manifest keeping its complete lines. Memory stays
   bounded: at most ``4 * batch_size`` decoded images wait for a batch.
5. **Report**: a ``RunSummary`` (written, skipped, failed, seconds, notes on inputs such as animated
   files of which only the first frame is used); progress goes to ``on_event`` as
   ``RunEvent``s, so the command line draws a bar and the demo its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import n2ldiff
from n2ldiff.data.io import LoadedImage, read_image, write_image
from n2ldiff.defaults import DEFAULT_JPEG_QUALITY
from n2ldiff.errors import N2LDiffError
from n2ldiff.files import folder_lock, is_disk_full, remove_stale_temps, sha256_file
from n2ldiff.inference.manifest import MANIFEST_NAME, ManifestWriter, read_manifest, run_info
from n2ldiff.inference.methods import LowLightMethod, takes_exposures

__all__ = [
    "MODES",
    "Failure",
    "Job",
    "RunEvent",
    "RunSummary",
    "execute",
    "identity_differences",
    "latest_records",
    "make_record",
    "one_line",
    "method_identity",
    "run",
    "select_jobs",
]

#: ``new``: existing outputs stop the run; ``resume``: finish an earlier run; ``overwrite``: redo all.
MODES = ("new", "resume", "overwrite")

#: ``finish(job, image, low) -> (rgb, alpha)``: the last change before writing (the dataset builders
#: turn the output back to the stored pixel grid); ``alpha`` is written for PNG outputs only.
Finish = Callable[["Job", LoadedImage, torch.Tensor], tuple[torch.Tensor, "torch.Tensor | None"]]


@dataclass(frozen=True)
class Job:
    """One output: ``input`` made with ``seed`` -> ``output`` (``rel``: its path relative to the folder).

    ``input`` is what the manifest records; the image is read from ``source`` (default: ``input``) unless
    ``image`` is given already decoded. ``noise_seed`` is passed to the method instead of ``seed`` when
    set (the dataset builders derive one per image). ``exposure``: the exposure ratio R to make this
    output at, overriding the method's own setting (only for methods that take one). ``key`` names the
    input in failures; ``fields`` are extra manifest fields of this output. The output format follows the
    output's suffix.
    """

    input: Path | str
    seed: int
    output: Path
    rel: str
    source: Path | None = None
    image: LoadedImage | None = field(default=None, compare=False, repr=False)
    noise_seed: int | None = None
    exposure: float | None = None
    key: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def format(self) -> str:
        """``jpg`` for ``.jpg``/``.jpeg`` outputs, else ``png``."""
        return "jpg" if self.output.suffix.lower() in (".jpg", ".jpeg") else "png"

    @property
    def read_from(self) -> Path:
        return Path(self.source if self.source is not None else self.input)

    @property
    def method_seed(self) -> int:
        return int(self.seed if self.noise_seed is None else self.noise_seed)


@dataclass(frozen=True)
class Failure:
    """An output that was not made (``input``, ``seed``), and why (one line)."""

    input: Path | str
    reason: str
    seed: int | None = None
    key: str | None = None

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
        return self.out_dir / MANIFEST_NAME

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

    def failure_lines(self) -> list[str]:
        """One line per failed input and reason (the seeds of an unreadable input are listed together)."""
        grouped: dict[tuple[str, str], list[int]] = {}
        for failure in self.failed:
            seeds = grouped.setdefault((str(failure.input), failure.reason), [])
            if failure.seed is not None:
                seeds.append(failure.seed)
        lines = []
        for (name, reason), seeds in grouped.items():
            label = (
                ""
                if not seeds
                else f" (seed {seeds[0]})"
                if len(seeds) == 1
                else f" (seeds {', '.join(map(str, seeds))})"
            )
            lines.append(f"{name}{label}: {reason}")
        return lines


@dataclass(frozen=True)
class RunEvent:
    """Progress: ``status`` is ``start`` (``job`` None), ``written`` or ``failed`` (with ``failure``).

    ``done`` of ``total`` outputs of this run are finished (skipped outputs are not part of it).
    """

    done: int
    total: int
    status: str
    job: Job | None = None
    failure: Failure | None = None


# ------------------------------------------------------------------------------------------- identity


def method_identity(method: LowLightMethod, identity: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What made an output: the method's name, settings and weights hash, and the caller's fields."""
    return {
        "method": getattr(method, "name", None),
        "settings": dict(getattr(method, "settings", {}) or {}),
        "weights_sha256": getattr(method, "weights_sha256", None),
        **dict(identity or {}),
    }


def _show(value: Any) -> str:
    return "(none)" if value is None else repr(value) if isinstance(value, str) else str(value)


def identity_differences(record: Mapping[str, Any], identity: Mapping[str, Any]) -> list[str]:
    """How ``record`` (a manifest line) differs from ``identity``: ``["steps 6 -> 2", ...]`` (empty: same).

    The ``settings`` dicts are compared key by key, so a new setting is covered without naming it. A
    top-level field that the record lacks was not recorded by the version that wrote it and is not
    compared, except ``format``, which is read from the output's suffix.
    """
    out: list[str] = []
    for key, now in identity.items():
        if key == "settings":
            was_settings = record.get("settings")
            was_settings = was_settings if isinstance(was_settings, dict) else {}
            for name in sorted(set(was_settings) | set(now or {}), key=str):
                was, new = was_settings.get(name), (now or {}).get(name)
                if was != new:
                    out.append(f"{name} {_show(was)} -> {_show(new)}")
            continue
        if key in record:
            was = record[key]
        elif key == "format" and "output" in record:
            was = "jpg" if str(record["output"]).lower().endswith((".jpg", ".jpeg")) else "png"
        else:
            continue
        if was != now:
            label = "model weights" if key == "weights_sha256" else key
            if key == "weights_sha256":
                out.append(f"{label} {str(was)[:12]}... -> {str(now)[:12]}...")
            else:
                out.append(f"{label} {_show(was)} -> {_show(now)}")
    return out


def latest_records(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last complete record of every output (later lines win: an overwritten output's newest)."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("status", "ok") == "ok" and "output" in record:
            latest[str(record["output"])] = dict(record)
    return latest


def make_record(
    job: Job,
    image: LoadedImage,
    written: torch.Tensor,
    alpha_written: bool,
    identity: Mapping[str, Any],
    seconds: float,
    jpeg_quality: int,
    run: Mapping[str, Any],
    exposure: float | None = None,
) -> dict[str, Any]:
    """The manifest line of one output (the one schema every engine user writes).

    ``exposure``: the exposure ratio R the output was made at (None: the method takes none).
    """
    return {
        "input": str(job.input),
        "input_sha256": image.sha256,
        "seed": job.seed,
        "output": job.rel,
        **identity,
        "exposure": None if exposure is None else round(float(exposure), 4),
        "format": job.format,
        "jpeg_quality": jpeg_quality if job.format == "jpg" else None,
        "version": n2ldiff.__version__,
        "seconds": round(seconds, 6),
        "size": [int(written.shape[-2]), int(written.shape[-1])],
        "input_mode": image.mode,
        "bit_depth": image.bit_depth,
        "alpha": None if image.alpha is None else ("kept" if alpha_written else "dropped"),
        **job.fields,
        "status": "ok",
        "run": dict(run),
    }


# ------------------------------------------------------------------------------------------- select


def _clash_message(clashes: Sequence[Job], folder: Path) -> str:
    return (
        f"{clashes[0].output} and {len(clashes) - 1} other output(s) already exist in {folder}; "
        "use --resume to finish an earlier run or --overwrite to replace them"
    )


RESUME_HINT = "use the same options to resume, --overwrite to replace them, or another output folder"


def select_jobs(
    jobs: Sequence[Job],
    records: Mapping[str, Mapping[str, Any]],
    mode: str,
    identity: Mapping[str, Any],
    folder: Path,
    hint: str = RESUME_HINT,
) -> tuple[list[Job], list[Job]]:
    """Split ``jobs`` into (to do, skipped) for ``mode`` (see the module docstring); refuses with
    ``N2LDiffError`` before any work. ``records``: ``latest_records`` of the folder, relative to ``folder``."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
    for job in jobs:
        if job.output.is_dir():
            raise N2LDiffError(f"{job.output}: output path is a folder")
    if mode == "new":
        clashes = [job for job in jobs if job.output.exists()]
        if clashes:
            raise N2LDiffError(_clash_message(clashes, folder))
        return list(jobs), []
    if mode == "overwrite":
        return list(jobs), []

    present = {rel: record for rel, record in records.items() if (folder / rel).is_file()}
    for rel in sorted(present):
        differences = identity_differences(present[rel], identity)
        if differences:
            raise N2LDiffError(
                f"{folder} holds outputs made with other settings ({', '.join(differences)}; e.g. {rel}); {hint}"
            )
    hashes: dict[Path, str | None] = {}

    def input_sha256(job: Job) -> str | None:
        if job.image is not None:
            return job.image.sha256
        path = job.read_from
        if path not in hashes:
            try:
                hashes[path] = sha256_file(path)
            except OSError:
                hashes[path] = None  # unreadable now: redo, and the read reports why
        return hashes[path]

    def same_exposure(job: Job, record: Mapping[str, Any]) -> bool:
        return job.exposure is None or record.get("exposure") == round(float(job.exposure), 4)

    todo, skipped = [], []
    for job in jobs:
        record = present.get(job.rel)
        if record is not None and record.get("input_sha256") == input_sha256(job) and same_exposure(job, record):
            skipped.append(job)
        else:
            todo.append(job)
    return todo, skipped


# ------------------------------------------------------------------------------------------- execute


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def batch_exposures(
    method: LowLightMethod, images: torch.Tensor, jobs: Sequence[Job], seeds: list[int]
) -> tuple[list[float] | None, bool]:
    """The exposure ratio of each row of a batch, and whether jobs gave any (then all are passed to the
    method). A job's own ``exposure`` wins, the method draws the others; (None, False) for a method that
    takes none (``N2LDiffError`` if a job gives one to it)."""
    name = getattr(method, "name", "this method")
    given = [job.exposure for job in jobs]
    if not takes_exposures(method):
        if any(e is not None for e in given):
            raise N2LDiffError(f"{name} takes no exposure ratio")
        return None, False
    draw: Any = method.exposures  # type: ignore[attr-defined]
    if all(e is None for e in given):
        return draw(images, seeds), False
    missing = [i for i, e in enumerate(given) if e is None]
    if missing:
        drawn = draw(images[missing], [seeds[i] for i in missing])
        if drawn is None:
            raise N2LDiffError(f"{name} takes no exposure ratio")
        for i, value in zip(missing, drawn, strict=True):
            given[i] = value
    return [float(e) for e in given if e is not None], True


def _check_options(batch_size: int, jpeg_quality: int) -> None:
    if batch_size < 1:
        raise N2LDiffError(f"batch size must be at least 1, got {batch_size}")
    if not 1 <= jpeg_quality <= 100:
        raise N2LDiffError(f"JPEG quality must be in 1..100, got {jpeg_quality}")


def execute(
    jobs: Sequence[Job],
    method: LowLightMethod,
    out_dir: Path,
    *,
    manifest_dir: Path | None = None,
    batch_size: int = 1,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    identity: Mapping[str, Any] | None = None,
    min_side: int = 16,
    finish: Finish | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    on_output: Callable[[Job, torch.Tensor, dict[str, Any]], None] | None = None,
) -> RunSummary:
    """Make every job's output (no selection, no lock: ``run`` does both); returns a ``RunSummary``.

    Records go to ``manifest_dir/manifest.jsonl`` (default ``out_dir``). ``on_output(job, low, record)``
    receives each written output as the float tensor before 8-bit rounding.
    """
    started = time.perf_counter()
    _check_options(batch_size, jpeg_quality)
    summary = RunSummary(out_dir=Path(out_dir))
    total, done = len(jobs), 0
    ident = method_identity(method, identity)

    def emit(event: RunEvent) -> None:
        if on_event is not None:
            on_event(event)

    emit(RunEvent(0, total, "start"))
    if not jobs:
        return summary

    def fail(job: Job, reason: str) -> None:
        nonlocal done
        failure = Failure(job.input, reason, job.seed, job.key)
        summary.failed.append(failure)
        done += 1
        emit(RunEvent(done, total, "failed", job, failure))

    groups: dict[Any, list[Job]] = {}
    for job in jobs:  # each input is read once, whatever the number of its seeds
        groups.setdefault(("image", id(job.image)) if job.image is not None else ("file", job.read_from), []).append(
            job
        )
    info = run_info()
    with ManifestWriter(manifest_dir if manifest_dir is not None else out_dir) as manifest:

        def run_batch(items: list[tuple[Job, LoadedImage]]) -> None:
            nonlocal done
            images = torch.stack([image.rgb for _, image in items])
            seeds = [job.method_seed for job, _ in items]
            t0 = time.perf_counter()
            try:
                exposures, given = batch_exposures(method, images, [job for job, _ in items], seeds)
                options = {"exposures": exposures} if given else {}
                with torch.no_grad():
                    result = method(images, seeds, **options)
                if not isinstance(result, torch.Tensor) or tuple(result.shape) != tuple(images.shape):
                    shape = tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
                    raise RuntimeError(f"method returned {shape}, expected {tuple(images.shape)}")
                result = result.detach().to("cpu", torch.float32)
                if not torch.isfinite(result).all():
                    raise RuntimeError("method returned NaN or infinite values")
            except Exception as err:  # noqa: BLE001 - one failing batch must not stop the run
                for job, _ in items:
                    fail(job, one_line(err))
                return
            per_image = (time.perf_counter() - t0) / len(items)
            for i, ((job, image), low) in enumerate(zip(items, result, strict=True)):
                try:
                    rgb, alpha = finish(job, image, low) if finish is not None else (low, image.alpha)
                    alpha = alpha if job.format == "png" else None
                    write_image(job.output, rgb, alpha, job.format, jpeg_quality)
                except Exception as err:  # noqa: BLE001 - e.g. a read-only file: report it, go on
                    if is_disk_full(err):  # every later output would fail too: stop the run here
                        raise N2LDiffError(f"{job.output}: disk full ({err.strerror}); the run stopped") from None
                    fail(job, f"cannot write {job.output}: {one_line(err)}")
                    continue
                exposure = None if exposures is None else exposures[i]
                record = make_record(job, image, rgb, alpha is not None, ident, per_image, jpeg_quality, info, exposure)
                manifest.write(record)
                summary.written.append(job.output)
                if on_output is not None:
                    on_output(job, rgb, record)
                done += 1
                emit(RunEvent(done, total, "written", job))

        buckets: dict[tuple[int, int], list[tuple[Job, LoadedImage]]] = {}
        max_pending = 4 * batch_size
        for group in groups.values():
            first = group[0]
            if first.image is not None:
                image = first.image
            else:
                try:
                    image = read_image(first.read_from, min_side=min_side)
                except N2LDiffError as err:
                    reason = str(err).removeprefix(f"{first.read_from}: ")
                    for job in group:
                        fail(job, reason)
                    continue
            summary.notes.extend(f"{first.input}: {note}" for note in image.notes)
            for job in group:
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


# ----------------------------------------------------------------------------------------------- run


def run(
    jobs: Sequence[Job],
    method: LowLightMethod,
    out_dir: str | Path,
    *,
    mode: str = "new",
    batch_size: int = 1,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    identity: Mapping[str, Any] | None = None,
    min_side: int = 16,
    finish: Finish | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    on_output: Callable[[Job, torch.Tensor, dict[str, Any]], None] | None = None,
    forget_records: bool = False,
    hint: str = RESUME_HINT,
) -> RunSummary:
    """Lock ``out_dir``, clean it, select, execute and summarise (see the module docstring).

    ``jobs``' ``rel`` paths are relative to ``out_dir``, where ``manifest.jsonl`` is kept. ``identity``:
    fields recorded with every output and compared on resume besides the method's (e.g. the format).
    ``forget_records``: start the manifest afresh (with ``overwrite``: nothing earlier counts any more).
    ``hint``: what the resume refusal suggests. Bad options and refusals raise ``N2LDiffError`` before
    any output is written; per-input problems are listed in ``RunSummary.failed``.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    _check_options(batch_size, jpeg_quality)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
    if out_dir.exists() and not out_dir.is_dir():
        raise N2LDiffError(f"{out_dir}: output path exists and is not a folder")
    with folder_lock(out_dir):
        remove_stale_temps(out_dir)
        if forget_records:
            (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
        records = latest_records(read_manifest(out_dir)) if mode == "resume" else {}
        todo, skipped = select_jobs(jobs, records, mode, method_identity(method, identity), out_dir, hint)
        summary = execute(
            todo,
            method,
            out_dir,
            batch_size=batch_size,
            jpeg_quality=jpeg_quality,
            identity=identity,
            min_side=min_side,
            finish=finish,
            on_event=on_event,
            on_output=on_output,
        )
    summary.skipped = [job.output for job in skipped]
    summary.seconds = time.perf_counter() - started
    return summary
