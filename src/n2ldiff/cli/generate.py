"""``n2ldiff generate`` (diffusion) and ``n2ldiff simulate`` (physics baselines): files in, files out."""

from __future__ import annotations

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
from n2ldiff.defaults import DEFAULT_JPEG_QUALITY, DEFAULT_TILE_SIZE

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
    "log-uniformly per image and seed) or auto (drawn from the distribution of R stored with the model). "
    "Recorded per output."
)


def _run(method, inputs: list[str], out: Path, seeds: list[str] | None, **options) -> None:
    from n2ldiff.data.io import scan_inputs
    from n2ldiff.inference.runner import run_jobs
    from n2ldiff.seeds import parse_seeds

    seed_list = parse_seeds(seeds)
    scan = scan_inputs(inputs, exclude=[out])
    files = scan.files
    console.print(f"{len(files)} input image(s) x {len(seed_list)} seed(s) with {method.name} {method.settings}")
    summary = run_jobs(files, out, seed_list, method, **options)
    if not options.get("progress", True):  # with progress on, the bar printed each one as it happened
        for line in summary.failure_lines():
            console.print(f"[red]failed[/] {line}", highlight=False)
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
    seeds: list[str] = seeds_option(),
    sampler: str | None = typer.Option(None, help=SAMPLER_HELP),
    steps: int | None = typer.Option(
        None, help="Denoiser steps (0 = the encoder alone, one network pass; default: the model's)."
    ),
    eta: float | None = typer.Option(None, help="DDIM stochasticity (0 = deterministic)."),
    start: str | None = typer.Option(None, help="center+noise (default) or center (the original's)."),
    exposure: str = typer.Option("auto", help=EXPOSURE_HELP),
    batch_size: int = typer.Option(1, help="Images of equal size sampled together."),
    tile_size: int = typer.Option(DEFAULT_TILE_SIZE, help=TILE_HELP),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    backend: str = typer.Option("torch", help=BACKEND_HELP),
    image_format: str = typer.Option("png", "--format", help="png | jpg."),
    jpeg_quality: int = typer.Option(DEFAULT_JPEG_QUALITY, help="JPEG quality when --format jpg."),
    resume: bool = typer.Option(False, "--resume", help="Skip outputs already complete."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    progress: bool = progress_option(),
) -> None:
    """Turn normal-light photos into realistic low-light ones with N2LDiff."""
    from n2ldiff.inference.methods import load_method

    method = load_method(
        "n2ldiff",
        model,
        device,
        sampler,
        steps,
        tile_size=tile_size,
        eta=eta,
        start=start,
        exposure=exposure,
        backend=backend,
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
    method: str = typer.Option("lv-random-noise", help="A physics baseline (--list prints them) or dark-clean."),
    seeds: list[str] = seeds_option(),
    exposure: str = typer.Option("auto", help="For dark-clean (the only baseline that takes R): " + EXPOSURE_HELP),
    image_format: str = typer.Option("png", "--format", help="png | jpg."),
    jpeg_quality: int = typer.Option(DEFAULT_JPEG_QUALITY, help="JPEG quality when --format jpg."),
    resume: bool = typer.Option(False, "--resume", help="Skip outputs already complete."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    progress: bool = progress_option(),
    list_: bool = typer.Option(
        False, "--list", callback=_print_methods, is_eager=True, help="Print the method names and exit."
    ),
) -> None:
    """Darken photos with a physics simulator (lv-grid-*, lv-random, lv-random-noise, unprocess, dark-isp).

    ``--method dark-clean`` is the control without noise: each photo divided by the exposure ratio R.
    """
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
