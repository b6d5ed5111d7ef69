"""``n2ldiff utility``: train a small enhancer on each method's synthetic pairs, test it on real low light."""

from __future__ import annotations

from pathlib import Path

import typer

from n2ldiff.cli.app import DEVICE_HELP, SAMPLER_HELP, app, console, progress_option, user_errors

# The default rows (n2ldiff.benchmark.utility.DEFAULT_METHODS; spelled out here so --help imports no torch).
DEFAULT_ROWS = (
    "real,n2ldiff,lv-grid-a0.9-b0.5-g1.5,lv-grid-a0.9-b0.5-g5,lv-random,lv-random-noise,unprocess,dark-isp,"
    "dark-clean,none"
)


def _split(value: str) -> str | None:
    return None if value.lower() == "all" else value


@app.command()
@user_errors
def utility(
    train: Path = typer.Option(..., "--train", help="Paired dataset whose pairs train the enhancers."),
    test: Path = typer.Option(..., "--test", help="Paired dataset whose real low images test them."),
    layout: str = typer.Option(..., "--layout", help="Layout of --train: lol | lolv2 | velol | pairs | csv | frames."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for results.json/.csv/.md, figures/ and runs/."),
    test_layout: str | None = typer.Option(None, help="Layout of --test (default: --layout)."),
    train_split: str = typer.Option("train", help="Split of --train: train | test | all."),
    test_split: str = typer.Option(
        "test", help="Split of --test: train | test | all (a folder without split.csv: every pair)."
    ),
    methods: str = typer.Option(
        DEFAULT_ROWS,
        help="Comma-separated rows: real, n2ldiff, any baseline (lv-grid = its 8 settings), dark-clean, none.",
    ),
    runs: int | None = typer.Option(None, help="Training seeds per row (default 3; --quick 2)."),
    seed: int = typer.Option(0, help="First training seed (the runs use seed, seed+1, ...)."),
    synthesis_seed: int = typer.Option(3407, help="Seed of the synthetic training images."),
    exposure: str = typer.Option(
        "oracle", help="Darkness for n2ldiff and dark-clean: oracle (each pair's real R), auto or a number."
    ),
    model: Path | None = typer.Option(None, help="n2ldiff model directory (default: the shipped model)."),
    sampler: str | None = typer.Option(None, help=SAMPLER_HELP + " For the n2ldiff row."),
    steps: int | None = typer.Option(None, help="n2ldiff network evaluations (default: the model's)."),
    enhancer_steps: int | None = typer.Option(None, help="Enhancer training steps (default 400; --quick 100)."),
    crop: int | None = typer.Option(None, help="Enhancer training crop in px (default 96; --quick 48)."),
    batch_size: int | None = typer.Option(None, help="Enhancer batch size (default 8; --quick 4)."),
    max_train_images: int | None = typer.Option(None, help="Use only the first N training pairs (--quick 6)."),
    max_test_images: int | None = typer.Option(None, help="Use only the first N test pairs (--quick 3)."),
    max_side: int | None = typer.Option(None, help="Resize all images so the longer side is at most N (--quick 128)."),
    size_multiple: int = typer.Option(32, help="Crop images (top-left) to multiples of this."),
    lpips_net: str = typer.Option("alex", help="LPIPS backbone: alex | vgg."),
    cache_dir: Path | None = typer.Option(
        None, help="Where synthetic training images are cached (default OUT/images)."
    ),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Reuse cached images and finished runs."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write figures/*.png."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    threads: int | None = typer.Option(None, help="CPU threads for torch (default: torch's choice)."),
    quick: bool = typer.Option(False, "--quick", help="A small end-to-end check (about a minute on a CPU)."),
    progress: bool = progress_option(),
) -> None:
    """Does an enhancer trained on each method's synthetic pairs work on real low-light photos?"""
    import dataclasses

    from n2ldiff.benchmark.utility import QUICK, UtilityConfig, run_utility
    from n2ldiff.benchmark.utility_report import write_utility_report

    recipe = None
    changes = {k: v for k, v in (("steps", enhancer_steps), ("crop", crop), ("batch", batch_size)) if v is not None}
    if changes:
        from n2ldiff.benchmark.enhancer import Recipe

        recipe = dataclasses.replace(QUICK["recipe"] if quick else Recipe(), **changes)
    config = UtilityConfig(
        train=train,
        test=test,
        layout=layout,
        out=out,
        test_layout=test_layout,
        train_split=_split(train_split),
        test_split=_split(test_split),
        methods=[m.strip() for m in methods.split(",") if m.strip()],
        runs=runs,
        seed=seed,
        synthesis_seed=synthesis_seed,
        exposure=exposure,
        model=model,
        sampler=sampler,
        steps=steps,
        recipe=recipe,
        max_train_images=max_train_images,
        max_test_images=max_test_images,
        max_side=max_side,
        size_multiple=size_multiple,
        lpips_net=lpips_net,
        cache_dir=cache_dir,
        resume=resume,
        figures=figures,
        device=device,
        threads=threads,
        quick=quick,
    )
    result = run_utility(config, log=lambda msg: console.print(msg, highlight=False), progress=progress)
    paths = write_utility_report(result)
    for what, path in paths.items():
        console.print(f"{what}: {path}", highlight=False)
