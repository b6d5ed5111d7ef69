"""``n2ldiff demo``: a local web page to try n2ldiff next to the physics baselines (``n2ldiff[demo]``)."""

from __future__ import annotations

from pathlib import Path

import typer

from n2ldiff.cli.app import DEVICE_HELP, app, console, user_errors


@app.command("demo")
@user_errors
def demo(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to serve on (0.0.0.0: the local network)."),
    port: int = typer.Option(7860, "--port", help="Port to serve on."),
    model: Path | None = typer.Option(
        None, "--model", help="Model directory (config.json + model.safetensors); default: the shipped model."
    ),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
) -> None:
    """Start the web demo: upload photos, compare n2ldiff with the baselines, download PNGs or a zip."""
    from n2ldiff.demo import require_gradio
    from n2ldiff.errors import N2LDiffError
    from n2ldiff.pipeline import LowLightPipeline, default_model_dir

    require_gradio()
    if model is None and not (default_model_dir() / "config.json").is_file():
        raise N2LDiffError(
            f"no default model is installed ({default_model_dir()}); pass --model DIR "
            "(a folder written by `n2ldiff convert` or by training)"
        )
    console.print(f"loading model {model or default_model_dir()} ...", highlight=False)
    pipeline = LowLightPipeline.from_pretrained(model, device=device)
    console.print(f"starting the demo on http://{host}:{port} (Ctrl+C stops it)", highlight=False)

    from n2ldiff.demo.app import launch

    launch(pipeline, host=host, port=port)
