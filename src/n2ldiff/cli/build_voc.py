"""``n2ldiff build-voc``: a whole VOC (or COCO-style) dataset -> its low-light version, resumable."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from n2ldiff.cli.app import DEVICE_HELP, app, console, user_errors
from n2ldiff.errors import N2LDiffError


class _Layout(str, Enum):
    voc = "voc"
    coco = "coco"


def parse_seeds(values: list[str] | None) -> list[int]:
    """``--seeds 0 --seeds 1,2`` -> [0, 1, 2] (repeated and/or comma-separated)."""
    if not values:
        return [0]
    seeds = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                seeds.append(int(part))
            except ValueError:
                raise N2LDiffError(f"seed {part!r} is not an integer") from None
    return seeds


@app.command("build-voc")
@user_errors
def build_voc(
    voc_root: Path = typer.Argument(..., help="VOCdevkit/VOC2007 folder (or a COCO root with --layout coco)."),
    out_root: Path = typer.Argument(..., help="Output dataset folder (same layout, low-light images)."),
    seeds: list[str] | None = typer.Option(
        None,
        "--seeds",
        metavar="SEEDS",
        help="Seed(s), repeated or comma-separated (default 0). The first seed writes "
        "JPEGImages/, each further seed S a parallel JPEGImages_sS/.",
    ),
    model: Path | None = typer.Option(None, "--model", help="Model folder (default: the shipped model)."),
    split: str = typer.Option(
        "all", "--split", help="all, or an ImageSets/Main list (trainval, test, ...); COCO: all or a folder."
    ),
    layout: _Layout = typer.Option(_Layout.voc, "--layout", help="voc or coco (annotations/ + image folders)."),
    jpeg_quality: int = typer.Option(95, "--jpeg-quality", help="JPEG quality of the written images (1-100)."),
    sampler: str | None = typer.Option(None, "--sampler", help="ddpm, ddim or dpm-solver++ (default: model's)."),
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
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Make a low-light copy of a VOC dataset: images regenerated, annotations and lists copied as is.

    Rerun the same command to resume: finished shards and images are skipped. Exit code 1 when an
    image failed (listed in OUT_ROOT/failed.jsonl).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from n2ldiff.builders.voc import build_dataset

    bar = Progress(
        TextColumn("[bold]build-voc"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    )
    with bar:
        task = bar.add_task("build", total=None)
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
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    for item in summary.failed[:20]:
        seed = "" if item.get("seed") is None else f" (seed {item['seed']})"
        console.print(f"[yellow]failed[/] {item['input']}{seed}: {item['reason']}", highlight=False)
    if len(summary.failed) > 20:
        console.print(f"... and {len(summary.failed) - 20} more in {summary.out_root / 'failed.jsonl'}")
    console.print(summary.describe(), highlight=False)
    if summary.exit_code:
        raise typer.Exit(code=summary.exit_code)
