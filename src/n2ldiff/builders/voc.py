"""Build low-light versions of whole detection datasets (PASCAL VOC, COCO-style), resumable and sharded.

``build_dataset(src_root, out_root, ...)`` mirrors a dataset tree:

* ``layout="voc"``: ``src_root`` is ``VOCdevkit/VOC2007`` (``JPEGImages/``, ``Annotations/``,
  ``ImageSets/``); ``out_root`` gets low-light ``JPEGImages/`` (same file names, same width x height,
  JPEG quality ``jpeg_quality``) and byte-identical copies of ``Annotations/`` and ``ImageSets/`` (whole
  folders, whatever the split). ``split``: ``all`` (every image in ``JPEGImages``, default) or the name of
  a list in ``ImageSets/Main`` (``trainval``, ``test``, ``train``, ``val``).
* ``layout="coco"``: ``src_root`` holds ``annotations/`` (copied unchanged) and image folders (``images/``,
  ``train2017/``, ``val2017/``, ...: every other folder with images); ``split``: ``all`` or one folder name.

Seeds: the first seed writes the main image folder (``JPEGImages/``, or the COCO folder itself); each
further seed ``s`` writes a full parallel folder ``JPEGImages_s<s>/`` (``<folder>_s<s>/``). Every image gets
its own noise seed, ``image_seed(seed, image_id)`` (a hash), so images of equal size never share a noise
field; the manifest records both.

Work is cut into shards of ``shard_size`` images in sorted id order and run in this process, on local
worker processes (``workers``) or as Ray tasks (``ray_address``), all through ``shards.build_shard`` on
the engine (``n2ldiff.inference.engine``). The driver holds the output folder's lock for the whole build
(a second build into the same folder is refused at once). State lives in ``out_root``: ``build.json``
(model, settings, seeds: a rerun must match), ``shards/`` (one manifest per shard and one ``.done`` marker
per finished shard), ``manifest.jsonl`` (all outputs, merged from the shard manifests at the end of every
run) and ``failed.jsonl`` (this run's failures). A rerun of the same command skips finished shards and
images and redoes the rest, including images whose source file changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from n2ldiff.builders.shards import (
    SHARDS_DIR,
    ImageTask,
    OutputSpec,
    ShardResult,
    ShardTask,
    default_threads,
    done_marker,
    init_ray,
    run_in_process,
    run_local_pool,
    run_ray,
    shard_jobs,
)
from n2ldiff.defaults import DEFAULT_JPEG_QUALITY, DEFAULT_SEEDS
from n2ldiff.errors import N2LDiffError
from n2ldiff.files import atomic_path, folder_lock, remove_stale_temps, write_text_atomic
from n2ldiff.inference.engine import latest_records, method_identity, select_jobs
from n2ldiff.inference.manifest import MANIFEST_NAME, read_manifest
from n2ldiff.inference.methods import N2LDIFF, load_method
from n2ldiff.seeds import check_seeds

__all__ = [
    "BuildSummary",
    "DatasetImage",
    "build_dataset",
    "build_voc",
    "find_images",
    "image_seed",
    "plan_shards",
]

LAYOUTS = ("voc", "coco")
#: Image files the builders convert (others are left out: the output must keep the name and format).
BUILD_EXTENSIONS = (".jpg", ".jpeg", ".png")
BUILD_FILE = "build.json"
FAILED_FILE = "failed.jsonl"
DEFAULT_SHARD_SIZE = 64


@dataclass(frozen=True)
class DatasetImage:
    """An image of the source tree: ``key`` (VOC id or COCO relative path), path relative to the root,
    and the folder (relative) that holds the images, used to name the folders of further seeds."""

    key: str
    rel: str
    folder: str


@dataclass
class BuildSummary:
    """What a build did. ``failed``: ``{"image", "input", "seed", "reason"}`` dicts (also in failed.jsonl)."""

    out_root: Path
    images: int = 0
    outputs: int = 0
    written: int = 0
    skipped: int = 0
    shards: int = 0
    shards_skipped: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def images_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        return (
            f"{self.images} images, {self.shards} shards ({self.shards_skipped} already done): written "
            f"{self.written}, skipped {self.skipped}, failed {len(self.failed)} in {self.seconds:.1f} s "
            f"-> {self.out_root}"
        )


def image_seed(seed: int, key: str) -> int:
    """The noise seed of image ``key`` for user seed ``seed``: a stable 63-bit hash of both."""
    digest = hashlib.sha256(f"{int(seed)}/{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


# -------------------------------------------------------------------------------------------- layouts


def _is_build_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in BUILD_EXTENSIONS and not path.name.startswith(".")


def _voc_root(root: Path) -> Path:
    if (root / "JPEGImages").is_dir():
        return root
    candidates = sorted(p for p in root.glob("VOC*") if (p / "JPEGImages").is_dir()) if root.is_dir() else []
    if len(candidates) == 1:  # VOCdevkit/ given instead of VOCdevkit/VOC2007
        return candidates[0]
    raise N2LDiffError(f"{root}: not a VOC tree (expected JPEGImages/, Annotations/, ImageSets/ in it)")


def _voc_images(root: Path, split: str) -> tuple[list[DatasetImage], list[dict[str, Any]]]:
    folder = root / "JPEGImages"
    if split == "all":
        files = sorted(p for p in folder.iterdir() if _is_build_image(p))
        return [DatasetImage(p.stem, f"JPEGImages/{p.name}", "JPEGImages") for p in files], []
    listing = root / "ImageSets" / "Main" / f"{split}.txt"
    if not listing.is_file():
        lists = sorted(p.stem for p in (root / "ImageSets" / "Main").glob("*.txt") if "_" not in p.stem)
        raise N2LDiffError(f"{listing}: no such split list (choose all or one of: {', '.join(lists) or 'none found'})")
    ids = sorted({line.split()[0] for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()})
    by_stem = {p.stem: p for p in folder.iterdir() if _is_build_image(p)}
    images, missing = [], []
    for key in ids:
        path = by_stem.get(key)
        if path is None:
            reason = f"listed in ImageSets/Main/{split}.txt but JPEGImages/{key}.jpg is missing"
            missing.append({"image": key, "input": f"JPEGImages/{key}.jpg", "seed": None, "reason": reason})
        else:
            images.append(DatasetImage(key, f"JPEGImages/{path.name}", "JPEGImages"))
    return images, missing


def _coco_images(root: Path, split: str) -> list[DatasetImage]:
    if not (root / "annotations").is_dir():
        raise N2LDiffError(f"{root}: not a COCO tree (expected annotations/ and image folders in it)")
    folders = sorted(
        p
        for p in root.iterdir()
        if p.is_dir() and p.name not in ("annotations", SHARDS_DIR) and not p.name.startswith(".")
    )
    if split != "all":
        folders = [p for p in folders if p.name == split]
        if not folders:
            raise N2LDiffError(f"{root / split}: no such image folder (use --split all or a folder name)")
    images = []
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                path = Path(dirpath) / name
                if _is_build_image(path):
                    rel = path.relative_to(root).as_posix()
                    images.append(DatasetImage(rel, rel, folder.name))
    return sorted(images, key=lambda im: im.key)


def find_images(
    src_root: str | Path, layout: str = "voc", split: str = "all"
) -> tuple[Path, list[DatasetImage], list[dict[str, Any]], list[str]]:
    """(dataset root, images sorted by id, listed-but-missing images, folders to copy unchanged)."""
    root = Path(src_root)
    if not root.is_dir():
        raise N2LDiffError(f"{root}: no such folder")
    if layout == "voc":
        root = _voc_root(root)
        images, missing = _voc_images(root, split)
        copies = [name for name in ("Annotations", "ImageSets") if (root / name).is_dir()]
    elif layout == "coco":
        images, missing = _coco_images(root, split), []
        copies = ["annotations"]
    else:
        raise N2LDiffError(f"unknown layout {layout!r} (choose {' or '.join(LAYOUTS)})")
    if not images and not missing:
        raise N2LDiffError(f"{root}: no {', '.join(BUILD_EXTENSIONS)} images found for split {split!r}")
    return root, images, missing, copies


def output_rel(image: DatasetImage, seed_index: int, seed: int) -> str:
    """Where ``image`` goes for the ``seed_index``-th seed (see the module docstring)."""
    if seed_index == 0:
        return image.rel
    return f"{image.folder}_s{seed}" + image.rel[len(image.folder) :]


def plan_shards(
    images: Sequence[DatasetImage], seeds: Sequence[int], shard_size: int, prefix: str
) -> list[tuple[str, tuple[ImageTask, ...]]]:
    """Cut images (sorted by id) into shards; a shard's name ends with a hash of its content, so a changed
    plan (other shard size, seeds, images) never reuses a stale done-marker."""
    if shard_size < 1:
        raise N2LDiffError(f"shard size must be at least 1, got {shard_size}")
    ordered = sorted(images, key=lambda im: im.key)
    shards = []
    for index, start in enumerate(range(0, len(ordered), shard_size)):
        chunk = tuple(
            ImageTask(
                key=im.key,
                src=im.rel,
                outputs=tuple(
                    OutputSpec(seed, image_seed(seed, im.key), output_rel(im, i, seed)) for i, seed in enumerate(seeds)
                ),
            )
            for im in ordered[start : start + shard_size]
        )
        content = json.dumps([[t.key, t.src, [[o.seed, o.rel] for o in t.outputs]] for t in chunk])
        digest = hashlib.sha256(content.encode()).hexdigest()[:10]
        shards.append((f"{prefix}-{index:05d}-{digest}", chunk))
    return shards


# ------------------------------------------------------------------------------------------- helpers


def _same_file(a: Path, b: Path) -> bool:
    if not b.is_file() or a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(1 << 20), fb.read(1 << 20)
            if ca != cb:
                return False
            if not ca:
                return True


def copy_tree_unchanged(src: Path, dst: Path) -> int:
    """Copy every file of ``src`` into ``dst`` byte for byte (atomic per file; identical files are kept).
    Returns the number of files copied."""
    copied = 0
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        rel = Path(dirpath).relative_to(src)
        for name in sorted(filenames):
            source, target = Path(dirpath) / name, dst / rel / name
            if _same_file(source, target):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
            copied += 1
    return copied


def _completed(out_root: Path) -> dict[str, dict[str, Any]]:
    """Records of every output written by earlier runs (from the shard manifests), by output path."""
    shards = out_root / SHARDS_DIR
    folders = sorted(p for p in shards.iterdir() if p.is_dir()) if shards.is_dir() else []
    return latest_records(record for folder in folders for record in read_manifest(folder))


def _check_build_file(out_root: Path, identity: dict[str, Any]) -> None:
    path = out_root / BUILD_FILE
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            previous = None
        if isinstance(previous, dict):
            # the model is identified by its weights hash: a moved model folder may resume
            changed = [k for k in identity if k != "model" and previous.get(k) != identity[k]]
            if changed:
                raise N2LDiffError(
                    f"{out_root} was built with other {', '.join(changed)} ({path}); "
                    "use the same options to resume, or a new output folder"
                )
            return
    write_text_atomic(path, json.dumps(identity, indent=2) + "\n")


def _write_jsonl_atomic(path: Path, records: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
    write_text_atomic(path, text)


# --------------------------------------------------------------------------------------------- build


def build_dataset(
    src_root: str | Path,
    out_root: str | Path,
    *,
    layout: str = "voc",
    split: str = "all",
    seeds: Sequence[int] = DEFAULT_SEEDS,
    model: str | Path | None = None,
    sampler: str | None = None,
    steps: int | None = None,
    device: str = "auto",
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    shard_size: int = DEFAULT_SHARD_SIZE,
    workers: int = 1,
    ray_address: str | None = None,
    use_ray: bool = False,
    threads: int | None = None,
    min_side: int = 16,
    progress: Callable[[int, int], None] | None = None,
    backend: str = "torch",
) -> BuildSummary:
    """Build the low-light dataset (see the module docstring); returns a ``BuildSummary``.

    ``workers`` > 1: that many local processes. ``use_ray``/``ray_address``: one Ray task per shard
    (``ray_address`` ``local``, ``auto`` or a cluster address; ``None`` with ``use_ray`` = the current Ray
    instance, or a new local one). ``threads``: torch threads per worker (default: cores / workers; the
    in-process run keeps the current setting). ``progress(done, total)`` is called as outputs finish.
    ``backend``: where the networks run (``torch``, ``onnx``, ``openvino``; see ``LowLightPipeline``).
    Bad arguments, an output folder in use by another build, or one built with other options raise
    ``N2LDiffError`` before any work; per-image failures are listed in the summary.
    """
    started = time.perf_counter()
    src_root, out_root = Path(src_root), Path(out_root)
    seeds = check_seeds(list(seeds))
    if not 1 <= jpeg_quality <= 100:
        raise N2LDiffError(f"JPEG quality must be in 1..100, got {jpeg_quality}")
    if workers < 1:
        raise N2LDiffError(f"workers must be at least 1, got {workers}")
    if shard_size < 1:
        raise N2LDiffError(f"shard size must be at least 1, got {shard_size}")
    root, images, missing, copies = find_images(src_root, layout, split)
    src_abs, out_abs = Path(os.path.abspath(root)), Path(os.path.abspath(out_root))
    if out_abs == src_abs or out_abs.is_relative_to(src_abs) or src_abs.is_relative_to(out_abs):
        raise N2LDiffError(f"{out_root}: the output folder must be outside the dataset folder {root}")
    if out_root.exists() and not out_root.is_dir():
        raise N2LDiffError(f"{out_root}: output path exists and is not a folder")
    use_ray = use_ray or ray_address is not None
    if model is not None and not Path(model).is_dir():
        raise N2LDiffError(f"{model}: no such model folder")
    model_dir = None if model is None else os.path.abspath(model)

    # Load once here: validates model, sampler and steps before any work, and gives the weights hash
    # (cached: the in-process shards reuse it). With Ray the tasks may run on GPUs elsewhere, so the
    # driver only checks on the CPU.
    check_device = "cpu" if use_ray else device
    method = load_method(N2LDIFF, model_dir, check_device, sampler, steps, cache=True, backend=backend)
    settings = dict(method.settings)
    identity = {
        "layout": layout,
        "model": model_dir or "default",
        "weights_sha256": method.weights_sha256,
        "settings": settings,
        "seeds": seeds,
        "jpeg_quality": jpeg_quality,
    }
    with folder_lock(out_root):  # one build per output folder; workers write under the driver's lock
        _check_build_file(out_root, identity)
        remove_stale_temps(out_root)
        for name in copies:
            copy_tree_unchanged(root / name, out_root / name)
        plan = plan_shards(images, seeds, shard_size, prefix=f"{layout}-{split}".replace("/", "_"))

        summary = BuildSummary(out_root=out_root, images=len(images) + len(missing), shards=len(plan))
        summary.failed.extend(missing)
        summary.outputs = sum(len(t.outputs) for _, chunk in plan for t in chunk)
        tasks = [
            ShardTask(
                name=name,
                src_root=str(src_abs),
                out_root=str(out_abs),
                images=chunk,
                skip=frozenset(),
                model_dir=model_dir,
                device=device,
                sampler=sampler,
                steps=steps,
                jpeg_quality=jpeg_quality,
                min_side=min_side,
                threads=threads,
                extra={"model": identity["model"], "dataset": layout, "split": split},
                backend=backend,
            )
            for name, chunk in plan
        ]
        # The engine's resume rules: complete, present, same settings, unchanged input.
        jobs = [job for task in tasks for job in shard_jobs(task)]
        hint = "use the same options to resume, or a new output folder"
        _, skipped = select_jobs(jobs, _completed(out_root), "resume", method_identity(method), out_root, hint)
        done_rels = {job.rel for job in skipped}
        todo_tasks = []
        for task in tasks:
            rels = [o.rel for t in task.images for o in t.outputs]
            skip = frozenset(r for r in rels if r in done_rels)
            if done_marker(out_root, task.name).is_file() and len(skip) == len(rels):
                summary.shards_skipped += 1
                summary.skipped += len(rels)
                continue
            todo_tasks.append(replace(task, skip=skip))

        done = summary.skipped
        if progress:
            progress(done, summary.outputs)

        def count(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, summary.outputs)

        results: Iterator[ShardResult]
        if not todo_tasks:
            results = iter(())
        elif use_ray:
            init_ray(ray_address, num_cpus=workers if workers > 1 else None)
            results = run_ray(todo_tasks)
        elif workers > 1:
            results = run_local_pool(
                [t if t.threads else replace(t, threads=default_threads(workers)) for t in todo_tasks], workers
            )
        else:
            results = run_in_process(todo_tasks, on_image=count)
        try:
            for result in results:
                summary.written += result.written
                summary.skipped += result.skipped
                summary.failed.extend(result.failed)
                if use_ray or workers > 1:
                    count(result.written + result.skipped + len(result.failed))
                else:
                    count(result.skipped)
        finally:
            _finish(out_root, summary)
        summary.seconds = time.perf_counter() - started
        return summary


def _finish(out_root: Path, summary: BuildSummary) -> None:
    """Merge the shard manifests into ``manifest.jsonl`` and write ``failed.jsonl`` (also after a crash)."""
    records = _completed(out_root)
    _write_jsonl_atomic(out_root / MANIFEST_NAME, [records[k] for k in sorted(records)])
    failed = sorted(summary.failed, key=lambda f: (str(f.get("image")), f.get("seed") is None, f.get("seed") or 0))
    _write_jsonl_atomic(out_root / FAILED_FILE, failed)


def build_voc(voc_root: str | Path, out_root: str | Path, **kwargs: Any) -> BuildSummary:
    """``build_dataset`` with ``layout="voc"``: VOC2007 (or any VOC year) -> its low-light version."""
    return build_dataset(voc_root, out_root, layout="voc", **kwargs)
