"""``n2ldiff generate`` (diffusion) and ``n2ldiff simulate`` (physics baselines): files in, files out."""

from __future__ import annotations

from pathlib import Path

import typer

from n2ldiff.cli.app import DEVICE_HELP, app, console, user_errors

SEEDS_HELP = "One output per input per seed, named <name>_s<seed>.png; several after one flag: --seeds 1 2 3."
PROGRESS_HELP = "Show a progress bar (images/s over the images finished, ETA)."
TILE_HELP = (
    "Larger images run as overlapping tiles of this size, which bounds memory: a multiple of the model's stride "
    "(8 for the shipped model) and larger than the 64-px overlap."
)


def _print_methods(value: bool) -> None:
    if value:
        from n2ldiff.baselines import list_methods

        typer.echo("\n".join(list_methods()))
        raise typer.Exit()


EXPOSURE_HELP = (
    "How much darker, R = mean(normal) / mean(low): a number (4 = two stops), a range 2:16 (drawn "
    "log-uniformly per image and seed) or auto (the model's training distribution). Recorded per output."
)


def _run(method, inputs: list[str], out: Path, seeds: list[int], **options) -> None:
    from n2ldiff.data.io import scan_inputs
    from n2ldiff.inference.runner import run_jobs

    scan = scan_inputs(inputs, exclude=[out])
    files = scan.files
    console.print(f"{len(files)} input image(s) x {len(seeds)} seed(s) with {method.name} {method.settings}")
    summary = run_jobs(files, out, seeds, method, **options)
    if not options.get("progress", True):  # with progress on, the runner printed each one as it happened
        for failure in summary.failed:
            console.print(f"[red]failed[/] {failure}", highlight=False)
    for note in summary.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(summary.describe(), highlight=False)
    if scan.ignored:
        console.print(scan.describe_ignored(), highlight=False)
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)


@app.command()
@user_errors
def generate(
    inputs: list[str] = typer.Argument(..., help="Image files, folders (recursive) or globs."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    model: Path | None = typer.Option(None, help="Model directory (default: the shipped default model)."),
    seeds: list[int] = typer.Option([3407], "--seeds", "-s", metavar="SEED...", help=SEEDS_HELP),
    sampler: str | None = typer.Option(None, help="ddpm | ddim | dpm-solver++ (default: the model's)."),
    steps: int | None = typer.Option(
        None, help="Denoiser steps (0 = the encoder alone, one network pass; default: the model's)."
    ),
    eta: float | None = typer.Option(None, help="DDIM stochasticity (0 = deterministic)."),
    start: str | None = typer.Option(None, help="center+noise (default) or center (the original's)."),
    exposure: str = typer.Option("auto", help=EXPOSURE_HELP),
    batch_size: int = typer.Option(1, help="Images of equal size sampled together."),
    tile_size: int = typer.Option(768, help=TILE_HELP),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    image_format: str = typer.Option("png", "--format", help="png | jpg."),
    jpeg_quality: int = typer.Option(95, help="JPEG quality when --format jpg."),
    resume: bool = typer.Option(False, "--resume", help="Skip outputs already complete."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help=PROGRESS_HELP),
) -> None:
    """Turn normal-light photos into realistic low-light ones with N2LDiff."""
    from n2ldiff.inference.methods import load_method

    method = load_method(
        "n2ldiff", model, device, sampler, steps, tile_size=tile_size, eta=eta, start=start, exposure=exposure
    )
    _run(
        method,
        inputs,
        out,
        seeds,
        batch_size=batch_size,
        image_format=image_format,
        jpeg_quality=jpeg_quality,
        resume=resume,
        overwrite=overwrite,
        progress=progress,
    )


@app.command()
@user_errors
def simulate(
    inputs: list[str] = typer.Argument(..., help="Image files, folders (recursive) or globs."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    method: str = typer.Option("lv-random-noise", help="A physics baseline (--list prints them all)."),
    seeds: list[int] = typer.Option([3407], "--seeds", "-s", metavar="SEED...", help=SEEDS_HELP),
    exposure: str = typer.Option("auto", help="For dark-clean (the only baseline that takes R): " + EXPOSURE_HELP),
    image_format: str = typer.Option("png", "--format", help="png | jpg."),
    jpeg_quality: int = typer.Option(95, help="JPEG quality when --format jpg."),
    resume: bool = typer.Option(False, "--resume", help="Skip outputs already complete."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help=PROGRESS_HELP),
    list_: bool = typer.Option(
        False, "--list", callback=_print_methods, is_eager=True, help="Print the method names and exit."
    ),
) -> None:
    """Darken photos with a physics simulator: lv-grid-*, lv-random, lv-random-noise, unprocess, dark-isp."""
    from n2ldiff.inference.methods import load_method

    _run(
        load_method(method, exposure=exposure),
        inputs,
        out,
        seeds,
        image_format=image_format,
        jpeg_quality=jpeg_quality,
        resume=resume,
        overwrite=overwrite,
        progress=progress,
    )
