"""Shards: the unit of work of the dataset builders, and the three ways of running them.

A shard is a fixed list of images (consecutive in sorted image-id order) with the output paths and
seeds of each. ``build_shard`` processes one shard and is the *same* function whether it runs in the
calling process, in a local worker process (``run_local_pool``) or as a Ray task (``run_ray``). It only
turns the shard into engine jobs (``shard_jobs``) and runs them with ``inference.engine.execute``:

* the model is loaded once per process (``load_method(..., cache=True)``);
* outputs listed in ``skip`` (complete from an earlier run, chosen by the driver under its folder lock)
  are left alone;
* each image is written atomically, turned back to its stored pixel grid (EXIF orientation undone: the
  annotations refer to it), then recorded in the shard's own manifest ``shards/<shard>/manifest.jsonl``
  (one writer per file, so it is safe on shared filesystems);
* images that cannot be read or generated are returned as failures, the rest go on;
* when every image of the shard is complete it writes the done-marker ``shards/<shard>.done``.

Workers need the source tree, the output tree and the model directory at the same paths (one machine,
or a shared filesystem on a cluster).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from n2ldiff.errors import N2LDiffError
from n2ldiff.files import write_text_atomic
from n2ldiff.inference.engine import Failure, Job, execute, one_line
from n2ldiff.inference.methods import N2LDIFF, load_method

__all__ = [
    "ImageTask",
    "OutputSpec",
    "ShardResult",
    "ShardTask",
    "build_shard",
    "failure_record",
    "run_in_process",
    "run_local_pool",
    "run_ray",
    "shard_jobs",
]

SHARDS_DIR = "shards"


@dataclass(frozen=True)
class OutputSpec:
    """One output of an image: user ``seed``, the per-image ``image_seed`` derived from it, the path."""

    seed: int
    image_seed: int
    rel: str  # relative to the output root, POSIX


@dataclass(frozen=True)
class ImageTask:
    """An image (``key``: its id) read from ``src`` (relative to the source root) and its outputs."""

    key: str
    src: str
    outputs: tuple[OutputSpec, ...]


@dataclass(frozen=True)
class ShardTask:
    """Everything a worker needs to process one shard (plain data: picklable, sent to workers)."""

    name: str
    src_root: str
    out_root: str
    images: tuple[ImageTask, ...]
    skip: frozenset[str]
    model_dir: str | None
    device: str
    sampler: str | None
    steps: int | None
    jpeg_quality: int
    min_side: int = 16
    threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # copied into every manifest record
    backend: str = "torch"  # where the networks run (n2ldiff.backends)

    @property
    def n_outputs(self) -> int:
        return sum(len(image.outputs) for image in self.images)


@dataclass
class ShardResult:
    """What ``build_shard`` did: counts, failures ``{"image", "input", "seed", "reason"}``, time, host."""

    name: str
    written: int = 0
    skipped: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    host: str = ""
    done: bool = False


def shard_dir(out_root: str | Path, name: str) -> Path:
    return Path(out_root) / SHARDS_DIR / name


def done_marker(out_root: str | Path, name: str) -> Path:
    return Path(out_root) / SHARDS_DIR / f"{name}.done"


# --------------------------------------------------------------------------------- the shard function


def _orientation(path: Path) -> int:
    """EXIF orientation of the stored file (1 when absent or unreadable)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            value = int(img.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - decoding errors are reported by read_image
        return 1
    return value if 1 <= value <= 8 else 1


def _undo_orientation(x, orientation: int):
    """Inverse of ``read_image``'s EXIF transpose on a 3xHxW tensor: back to the stored pixel grid.

    Annotations (VOC boxes, COCO width/height) refer to the stored grid, and the written JPEG carries no
    EXIF, so the output must have the stored width and height.
    """
    import torch

    if orientation == 2:
        return x.flip(-1)
    if orientation == 3:
        return x.flip(-1).flip(-2)
    if orientation == 4:
        return x.flip(-2)
    if orientation == 5:
        return x.transpose(-1, -2)
    if orientation == 6:
        return torch.rot90(x, 1, dims=(-2, -1))
    if orientation == 7:
        return x.transpose(-1, -2).flip(-1).flip(-2)
    if orientation == 8:
        return torch.rot90(x, -1, dims=(-2, -1))
    return x


def _stored_grid(job: Job, image: Any, low: Any) -> tuple[Any, Any]:
    """The engine's ``finish``: back to the stored pixel grid; alpha only when the grid is unchanged."""
    orientation = _orientation(job.read_from)
    return _undo_orientation(low, orientation), (image.alpha if orientation == 1 else None)


def shard_jobs(task: ShardTask) -> list[Job]:
    """The engine jobs of a shard: one per output, including those listed in ``task.skip``."""
    src_root, out_root = Path(task.src_root), Path(task.out_root)
    return [
        Job(
            input=image.src,
            seed=o.seed,
            output=out_root / o.rel,
            rel=o.rel,
            source=src_root / image.src,
            noise_seed=o.image_seed,
            key=image.key,
            fields={"image": image.key, "image_seed": o.image_seed, **task.extra, "shard": task.name},
        )
        for image in task.images
        for o in image.outputs
    ]


def failure_record(failure: Failure) -> dict[str, Any]:
    """A failure as a line of ``failed.jsonl``: ``{"image", "input", "seed", "reason"}``."""
    return {"image": failure.key, "input": str(failure.input), "seed": failure.seed, "reason": failure.reason}


def build_shard(task: ShardTask, on_image: Callable[[int], None] | None = None) -> ShardResult:
    """Process one shard (see the module docstring). ``on_image(n)`` is called after n outputs."""
    import torch

    started = time.perf_counter()
    if task.threads:
        torch.set_num_threads(task.threads)
    result = ShardResult(name=task.name, host=socket.gethostname())
    jobs = [job for job in shard_jobs(task) if job.rel not in task.skip]
    result.skipped = task.n_outputs - len(jobs)
    if jobs:
        method = load_method(
            N2LDIFF, task.model_dir, task.device, task.sampler, task.steps, cache=True, backend=task.backend
        )
        summary = execute(
            jobs,
            method,
            Path(task.out_root),
            manifest_dir=shard_dir(task.out_root, task.name),
            jpeg_quality=task.jpeg_quality,
            min_side=task.min_side,
            finish=_stored_grid,
            on_event=None if on_image is None else lambda event: on_image(1) if event.job is not None else None,
        )
        result.written = len(summary.written)
        result.failed = [failure_record(f) for f in summary.failed]
    if not result.failed:
        marker = {"shard": task.name, "outputs": task.n_outputs, "host": result.host}
        write_text_atomic(done_marker(task.out_root, task.name), json.dumps(marker) + "\n")
        result.done = True
    result.seconds = time.perf_counter() - started
    return result


# ---------------------------------------------------------------------------------------- executors


def run_in_process(tasks: Sequence[ShardTask], on_image: Callable[[int], None] | None = None) -> Iterator[ShardResult]:
    """Run shards one after another in this process (threads, if set, are restored afterwards)."""
    import torch

    previous = torch.get_num_threads()
    try:
        for task in tasks:
            yield build_shard(task, on_image)
    finally:
        torch.set_num_threads(previous)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def default_threads(workers: int) -> int:
    """Torch threads per worker so that ``workers`` processes share the machine's cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))


def run_local_pool(tasks: Sequence[ShardTask], workers: int) -> Iterator[ShardResult]:
    """Run shards on ``workers`` spawned local processes; each loads the model once, shards in any order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = default_threads(workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(threads,)) as pool:
        futures = [pool.submit(build_shard, task) for task in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def import_ray() -> Any:
    """Import Ray, or explain how to install it."""
    try:
        import ray
    except ImportError:
        raise N2LDiffError(
            "--ray needs Ray, which is not installed: pip install 'n2ldiff[ray]' (on every node of a cluster)"
        ) from None
    return ray


def init_ray(address: str | None, num_cpus: int | None = None) -> Any:
    """Connect to Ray: ``None`` = the already initialised instance (else a local one), ``local`` = start a
    local instance, ``auto`` = the cluster this machine belongs to, or an address (``host:6379``,
    ``ray://host:10001``)."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    try:
        if address in (None, "", "local"):
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise N2LDiffError(f"cannot connect to Ray at {address!r}: {one_line(err)}") from None
    return ray


def run_ray(
    tasks: Sequence[ShardTask], gpus_per_task: float | None = None, cpus_per_task: float = 1
) -> Iterator[ShardResult]:
    """One Ray task per shard on the current Ray instance (``init_ray`` first).

    ``gpus_per_task`` None: 1 when the cluster has GPUs, else 0 (CPU tasks). Torch threads per CPU task
    follow ``cpus_per_task``.
    """
    ray = import_ray()
    if gpus_per_task is None:
        gpus_per_task = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
    threads = max(1, int(cpus_per_task))
    remote = ray.remote(num_cpus=cpus_per_task, num_gpus=gpus_per_task, max_retries=2)(build_shard)
    pending = [remote.remote(_with_threads(task, threads)) for task in tasks]
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield ray.get(ready[0])
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise


def _with_threads(task: ShardTask, threads: int) -> ShardTask:
    from dataclasses import replace

    return task if task.threads else replace(task, threads=threads)
