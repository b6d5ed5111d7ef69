"""``n2ldiff build-voc``: a whole VOC (or COCO-style) dataset -> its low-light version, resumable."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from n2ldiff.cli.app import (
    BACKEND_HELP,
    DEVICE_HELP,
    SAMPLER_HELP,
    app,
    console,
    progress_option,
    seeds_option,
    user_errors,
)
from n2ldiff.defaults import DEFAULT_JPEG_QUALITY
from n2ldiff.seeds import SEEDS_HELP


class _Layout(str, Enum):
    voc = "voc"
    coco = "coco"


@app.command("build-voc")
@user_errors
def build_voc(
    voc_root: Path = typer.Argument(..., help="VOCdevkit/VOC2007 folder (or a COCO root with --layout coco)."),
    out_root: Path = typer.Argument(..., help="Output dataset folder (same layout, low-light images)."),
    seeds: list[str] = seeds_option(
        SEEDS_HELP + " The first seed writes JPEGImages/, each further seed S a parallel JPEGImages_sS/."
    ),
    model: Path | None = typer.Option(None, "--model", help="Model folder (default: the shipped model)."),
    split: str = typer.Option(
        "all", "--split", help="all, or an ImageSets/Main list (trainval, test, ...); COCO: all or a folder."
    ),
    layout: _Layout = typer.Option(_Layout.voc, "--layout", help="voc or coco (annotations/ + image folders)."),
    jpeg_quality: int = typer.Option(
        DEFAULT_JPEG_QUALITY, "--jpeg-quality", help="JPEG quality of the written images (1-100)."
    ),
    sampler: str | None = typer.Option(None, "--sampler", help=SAMPLER_HELP),
    steps: int | None = typer.Option(
        None, "--steps", help="Denoiser steps (0 = the encoder alone; default: the model's)."
    ),
    workers: int = typer.Option(1, "--workers", help="Local worker processes (1 = in this process)."),
    ray: str | None = typer.Option(
        None,
        "--ray",
        metavar="ADDRESS",
        help="Run shards as Ray tasks: local (start one here), auto (the "
        "cluster of `ray start`) or an address (host:6379, ray://host:10001).",
    ),
    shard_size: int = typer.Option(64, "--shard-size", help="Images per shard (unit of work and of resume)."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    backend: str = typer.Option("torch", "--backend", help=BACKEND_HELP),
    progress: bool = progress_option(),
) -> None:
    """Make a low-light copy of a VOC dataset: images regenerated, annotations and lists copied as is.

    Every seed after the first writes a parallel image folder (JPEGImages_s<seed>/). Rerun the same
    command to resume: finished shards and images are skipped. Exit code 1 when an image failed (listed
    in OUT_ROOT/failed.jsonl).
    """
    from n2ldiff.builders.voc import build_dataset
    from n2ldiff.inference.progress import ProgressBar
    from n2ldiff.seeds import parse_seeds

    with ProgressBar("build-voc", enabled=progress, console=console) as bar:
        summary = build_dataset(
            voc_root,
            out_root,
            layout=layout.value,
            split=split,
            seeds=parse_seeds(seeds),
            model=model,
            sampler=sampler,
            steps=steps,
            device=device,
            jpeg_quality=jpeg_quality,
            shard_size=shard_size,
            workers=workers,
            ray_address=ray,
            backend=backend,
            progress=bar.update,
        )
    for item in summary.failed[:20]:
        seed = "" if item.get("seed") is None else f" (seed {item['seed']})"
        console.print(f"[red]failed[/] {item['input']}{seed}: {item['reason']}", highlight=False)
    if len(summary.failed) > 20:
        console.print(f"... and {len(summary.failed) - 20} more in {summary.out_root / 'failed.jsonl'}")
    console.print(summary.describe(), highlight=False)
    if summary.exit_code:
        raise typer.Exit(code=summary.exit_code)
