"""``generate`` and ``simulate``: input files x seeds -> output files, through the engine.

``run_jobs`` plans the outputs of a list of input files (``plan_outputs``) and hands them to
``engine.run``, which locks the folder, resumes, writes atomically and keeps the manifest:

* outputs are named by ``name_template`` (default ``{stem}_s{seed}``) and keep the inputs' sub-folder
  structure relative to the common folder of all inputs, so equal stems in different folders never
  collide (equal stems in the *same* folder, e.g. ``a.jpg`` and ``a.png``, get the extension added:
  ``a_jpg_s1.png``);
* existing outputs stop the run before any work unless ``resume`` (skip outputs that the manifest lists
  as complete, that exist and whose input is unchanged; redo the rest; refuse if the folder's outputs
  were made with other settings or another format) or ``overwrite``;
* alpha is re-attached for PNG output and dropped for JPEG output;
* the exposure ratio each output was made at is recorded in the manifest (methods that take one).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from n2ldiff.defaults import DEFAULT_JPEG_QUALITY
from n2ldiff.errors import N2LDiffError
from n2ldiff.files import check_output_location
from n2ldiff.inference.engine import Failure, Job, RunEvent, RunSummary, run
from n2ldiff.inference.methods import LowLightMethod
from n2ldiff.inference.progress import ProgressBar
from n2ldiff.seeds import check_seeds

__all__ = ["Failure", "Job", "LowLightMethod", "RunEvent", "RunSummary", "plan_outputs", "run_jobs"]


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


def run_jobs(
    inputs: list[Path],
    out_dir: Path,
    seeds: Sequence[int],
    method: LowLightMethod,
    *,
    batch_size: int = 1,
    image_format: str = "png",
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | Any = True,
    name_template: str = "{stem}_s{seed}",
    min_side: int = 16,
) -> RunSummary:
    """Make one output per (input, seed) with ``method``; see the module docstring for the rules.

    ``progress``: True draws a bar on stderr, False nothing, a callable receives the engine's
    ``RunEvent``s. Raises ``N2LDiffError`` before any work for bad arguments, existing outputs (without
    resume or overwrite), a folder in use by another run, or a resume with other settings. Per-input
    problems do not stop the run: they are listed in ``RunSummary.failed``.
    """
    out_dir = Path(out_dir)
    seeds = check_seeds(seeds)
    if resume and overwrite:
        raise N2LDiffError("choose either --resume or --overwrite, not both")
    if batch_size < 1:
        raise N2LDiffError(f"batch size must be at least 1, got {batch_size}")
    if not 1 <= jpeg_quality <= 100:
        raise N2LDiffError(f"JPEG quality must be in 1..100, got {jpeg_quality}")
    if out_dir.exists() and not out_dir.is_dir():
        raise N2LDiffError(f"{out_dir}: output path exists and is not a folder")
    check_output_location(out_dir)  # a file in the path, a read-only place: one line, before any work
    if getattr(getattr(method, "exposure", None), "kind", None) == "oracle":
        raise N2LDiffError(
            "exposure oracle needs each image's real low-light photo: it is only available in the benchmark"
        )
    fmt = "png" if _extension(image_format) == ".png" else "jpg"
    jobs = plan_outputs(inputs, out_dir, seeds, fmt, name_template, method_name=getattr(method, "name", ""))
    identity = {"format": fmt, **({"jpeg_quality": jpeg_quality} if fmt == "jpg" else {})}
    options: dict[str, Any] = {
        "mode": "resume" if resume else "overwrite" if overwrite else "new",
        "batch_size": batch_size,
        "jpeg_quality": jpeg_quality,
        "identity": identity,
        "min_side": min_side,
    }
    if callable(progress):
        return run(jobs, method, out_dir, on_event=progress, **options)
    with ProgressBar(getattr(method, "name", "run"), enabled=bool(progress)) as bar:
        return run(jobs, method, out_dir, on_event=bar, **options)
