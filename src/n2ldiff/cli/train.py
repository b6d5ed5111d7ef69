"""``n2ldiff train``: train a model from a YAML config (Lightning; CPU, GPU, multi-GPU, multi-node)."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from n2ldiff.cli.app import app, console, user_errors
from n2ldiff.errors import N2LDiffError


def parse_overrides(items: list[str]) -> dict[str, object]:
    """``["trainer.max_steps=5", "data.root=/x"]`` -> dict with YAML-typed values."""
    overrides: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise N2LDiffError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise N2LDiffError(f"--set {item}: not a valid YAML value ({str(err).splitlines()[0]})") from None
    return overrides


@app.command()
@user_errors
def train(
    config: Path = typer.Option(..., "--config", "-c", help="Training YAML (see configs/)."),
    resume: Path | None = typer.Option(None, "--resume", help="Checkpoint to continue from exactly."),
    set_: list[str] = typer.Option([], "--set", help="Override a config value, e.g. trainer.max_steps=10."),
) -> None:
    """Train N2LDiff on paired normal/low-light images."""
    from n2ldiff.config import load_train_config
    from n2ldiff.training.run import train as run_training

    cfg = load_train_config(config, parse_overrides(set_))
    model_dir = run_training(cfg, resume=resume)
    console.print(f"model written to {model_dir}")
