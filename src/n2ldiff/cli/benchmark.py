"""``n2ldiff benchmark``: synthetic vs real low light on paired data, with realism controls."""

from __future__ import annotations

from pathlib import Path

import typer

from n2ldiff.cli.app import DEVICE_HELP, SAMPLER_HELP, app, console, progress_option, seeds_option, user_errors
from n2ldiff.seeds import SEEDS_HELP


@app.command()
@user_errors
def benchmark(
    data: Path = typer.Option(..., "--data", help="Paired dataset folder (or CSV for --layout csv)."),
    layout: str = typer.Option(..., "--layout", help="lol | lolv2 | velol | pairs | csv | frames."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for results.json/.csv/.md and figures/."),
    split: str | None = typer.Option(
        "test", help="train | test (pairs/csv: from split.csv; without one, every pair is used)."
    ),
    methods: str = typer.Option(
        "n2ldiff,lv-grid,lv-random,unprocess,dark-isp",
        help="Comma-separated: n2ldiff, lv-grid (8 rows), lv-grid-a..-b..-g.., lv-random, "
        "lv-random-noise, unprocess, dark-isp.",
    ),
    seeds: list[str] = seeds_option(SEEDS_HELP + " Two or more measure diversity."),
    exposure: list[str] = typer.Option(
        ["auto"],
        "--exposure",
        help="n2ldiff's exposure ratio R: auto, oracle (each pair's real R), a number or a range; repeat "
        "for one n2ldiff row per setting (n2ldiff, n2ldiff@oracle, ...).",
    ),
    model: Path | None = typer.Option(None, help="n2ldiff model directory (default: the shipped model)."),
    sampler: str | None = typer.Option(None, help=SAMPLER_HELP),
    steps: int | None = typer.Option(
        None, help="Denoiser steps (0 = the encoder alone, one network pass; default: the model's)."
    ),
    max_images: int | None = typer.Option(None, help="Use only the first N pairs (by name)."),
    max_side: int | None = typer.Option(None, help="Resize so the longer side is at most N px first."),
    size_multiple: int = typer.Option(32, help="Crop images (top-left) to multiples of this."),
    lpips_net: str = typer.Option("alex", help="LPIPS backbone: alex | vgg."),
    real_low: Path | None = typer.Option(None, help="Folder of real low-light images for KID/FID."),
    fid: bool = typer.Option(False, "--fid/--no-fid", help="Also FID (slow on CPU; needs --real-low)."),
    subsets: int = typer.Option(4, help="Disjoint scene subsets for the spread of realism statistics."),
    region_tile: int = typer.Option(
        32, help="Checkerboard square (px) splitting each image into the halves compared by realism statistics."
    ),
    cache_dir: Path | None = typer.Option(None, help="Where outputs are cached (default OUT/images)."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Reuse cached outputs."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write figures/*.png."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    progress: bool = progress_option(),
) -> None:
    """Compare synthetic low-light images (n2ldiff and physics baselines) with real ones."""
    from n2ldiff.benchmark import BenchmarkConfig, run_benchmark, write_report
    from n2ldiff.seeds import parse_seeds

    config = BenchmarkConfig(
        data=data,
        layout=layout,
        out=out,
        methods=[m.strip() for m in methods.split(",") if m.strip()],
        seeds=parse_seeds(seeds),
        exposures=exposure,
        split=split,
        model=model,
        sampler=sampler,
        steps=steps,
        max_images=max_images,
        max_side=max_side,
        size_multiple=size_multiple,
        lpips_net=lpips_net,
        real_low=real_low,
        compute_fid=fid,
        n_subsets=subsets,
        region_tile=region_tile,
        cache_dir=cache_dir,
        resume=resume,
        figures=figures,
        device=device,
    )
    result = run_benchmark(config, log=lambda msg: console.print(msg, highlight=False), progress=progress)
    paths = write_report(result)
    for what, path in paths.items():
        console.print(f"{what}: {path}", highlight=False)
