"""``n2ldiff export``: a model folder's two networks as ONNX files (for ``--backend onnx`` or deployment)."""

from __future__ import annotations

from pathlib import Path

import typer

from n2ldiff.cli.app import app, console, user_errors


@app.command()
@user_errors
def export(
    model: Path | None = typer.Option(None, "--model", help="Model folder (default: the shipped model)."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Folder for encoder.onnx and denoiser.onnx (default: the model folder)."
    ),
    no_ema: bool = typer.Option(False, "--no-ema", help="Export model.safetensors even when EMA weights exist."),
) -> None:
    """Export the encoder and the denoiser to ONNX (dynamic batch, height and width), replacing old files.

    Each file records the sha256 of the weights it came from; the onnx backend of generate uses the files
    in the model folder only while they match. The sampling loop is not exported: run the encoder once per image and
    the denoiser once per step, as the model's config.json says (see the README, Export to ONNX).
    """
    from n2ldiff.backends import denoiser_io, encoder_io, export_onnx
    from n2ldiff.files import sha256_file
    from n2ldiff.models.n2ldiff import N2LDiff
    from n2ldiff.pipeline import default_model_dir

    folder = model if model is not None else default_model_dir()
    network = N2LDiff.from_pretrained(folder, use_ema=not no_ema)
    digest = sha256_file(N2LDiff.weights_path(folder, not no_ema))
    console.print(f"exporting {folder} (weights sha256 {digest[:12]}...) to ONNX; this takes about half a minute")
    paths = export_onnx(network, out if out is not None else folder, digest)
    for path, (inputs, outputs) in zip(paths, (encoder_io(network.config), denoiser_io(network.config)), strict=True):
        console.print(f"wrote {path}: {', '.join(inputs)} -> {', '.join(outputs)}", highlight=False)
