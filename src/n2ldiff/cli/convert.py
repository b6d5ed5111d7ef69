"""``n2ldiff convert``: original Lightning checkpoint -> n2ldiff model directory."""

from __future__ import annotations

from pathlib import Path

import typer

from n2ldiff.cli.app import app, console, user_errors


@app.command()
@user_errors
def convert(
    checkpoint: Path = typer.Argument(..., help="Original N2LDiff Lightning checkpoint (.ckpt)."),
    out_dir: Path = typer.Argument(..., help="Directory to write config.json + model.safetensors into."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the model files (config.json, *.safetensors) in OUT_DIR; others stay."
    ),
) -> None:
    """Convert an original N2LDiff checkpoint (read without executing code) into our format."""
    from n2ldiff.convert import convert_checkpoint

    written = convert_checkpoint(checkpoint, out_dir, overwrite=overwrite)
    console.print(f"wrote {written}")
