"""The ``n2ldiff demo`` page: layout only.

The page reads uploads with ``n2ldiff.data.io.read_image`` and runs everything through
``n2ldiff.demo.results.compare`` (the engine and method loader of ``n2ldiff.inference``, as the CLI does);
views and downloads come from ``n2ldiff.demo.results`` too. Gradio is imported here only, and with
analytics off: the page works without a network connection (no share links, no CDN fonts).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before importing gradio: no phoning home

import gradio as gr  # noqa: E402

from n2ldiff.data.io import IMAGE_EXTENSIONS, read_image  # noqa: E402
from n2ldiff.demo import results as R  # noqa: E402
from n2ldiff.diffusion.samplers import SAMPLERS  # noqa: E402
from n2ldiff.errors import N2LDiffError  # noqa: E402

__all__ = ["build_demo", "find_examples", "launch"]

MAX_COLUMNS = 9
INTRO = """# n2ldiff: normal light → realistic low light
Upload photos (or pick an example), choose seeds, sampler and methods, then **Generate**.
Each row shows the normal photo and one method's low-light results, one per seed. *Brightened* scales
each result to the photo's mean brightness so the synthetic noise is visible; *Zoomed crop* enlarges
the center. Everything runs on this machine."""

CSS = """
#n2l-status { min-height: 1.5em; }
"""


def find_examples() -> list[Path]:
    """Shipped example photos: ``./examples`` or the repository's ``examples/`` (source checkouts)."""
    candidates = [Path.cwd() / "examples", Path(__file__).resolve().parents[3] / "examples"]
    for folder in candidates:
        if folder.is_dir():
            found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            if found:
                return found
    return []


def _read_uploads(paths: Sequence[str]) -> list[tuple[str, Any]]:
    """Read uploads as ``n2ldiff generate`` reads files (same decoder, same size and bomb limits).

    A bad one becomes a warning toast naming the file (the others still run); an animated one an info
    toast saying that only its first frame is used.
    """
    names = [Path(p).name for p in paths]
    loaded = []
    for path, name, stem in zip(paths, names, R.unique_stems(names), strict=True):
        try:
            image = read_image(path)
        except N2LDiffError as err:
            gr.Warning(f"Skipped {name}: {str(err).replace(str(path), '').lstrip(': ')}")
            continue
        for note in image.notes:
            gr.Info(f"{name}: {note}")
        loaded.append((stem, image))
    return loaded


def _result_gallery(label: str, **extra: Any) -> gr.Gallery:
    """One of the three result views (side by side, brightened, zoomed): same look, other label."""
    return gr.Gallery(label=label, height="auto", format="png", object_fit="contain", **extra)


def build_demo(pipeline: Any, examples: Sequence[Path] | None = None) -> gr.Blocks:
    """The page for ``pipeline`` (a ``LowLightPipeline``); ``examples`` default to ``find_examples()``."""
    examples = find_examples() if examples is None else list(examples)
    work_root = Path(tempfile.mkdtemp(prefix="n2ldiff-demo-"))
    atexit.register(shutil.rmtree, work_root, ignore_errors=True)
    default = pipeline.settings()
    max_steps = int(pipeline.config.timesteps)
    methods = R.available_methods()
    main_methods = [m for m in methods if not m.startswith("lv-grid-")]
    grid_methods = [m for m in methods if m.startswith("lv-grid-")]
    preselected = [m for m in methods if m == R.N2LDIFF or m in R.PREFERRED_BASELINES]

    def on_sampler(sampler: str) -> Any:
        try:
            return gr.Slider(value=pipeline.settings(sampler).steps)
        except N2LDiffError:
            return gr.Slider()

    def on_run(
        files: list[str] | None,
        seeds_text: str,
        sampler: str,
        steps: float,
        exposure: float,
        chosen: list[str],
        chosen_grid: list[str],
        progress: gr.Progress = gr.Progress(),
    ) -> tuple[Any, ...]:
        chosen = [*(chosen or []), *(chosen_grid or [])]
        if not files:
            raise gr.Error("Upload at least one photo (or pick an example) first.")
        try:
            seeds = R.parse_seeds(seeds_text)
            inputs = _read_uploads(files)
            if not inputs:
                raise N2LDiffError("none of the uploaded files is a readable image")
            t0 = time.perf_counter()
            results = R.compare(
                pipeline,
                inputs,
                seeds,
                chosen,
                sampler=sampler,
                steps=int(steps),
                exposure=float(exposure) if exposure and float(exposure) >= 1 else "auto",
                progress=lambda done, total, desc: progress((done, total), desc=desc, unit="images"),
                out_dir=tempfile.mkdtemp(dir=work_root, prefix="run-"),
            )
            seconds = time.perf_counter() - t0
            saved = R.save_results(results)
        except N2LDiffError as err:
            raise gr.Error(str(err)) from None
        side, bright, zoom = [], [], []
        paths = iter(saved.pngs)
        previous = None
        for result in results:  # one row per (photo, method): the normal photo, then each seed
            if (result.name, result.method) != previous:
                previous = (result.name, result.method)
                label = f"{result.name} · normal"
                side.append((R.to_uint8(result.normal), label))
                bright.append((R.to_uint8(result.normal), label))
                zoom.append((R.to_uint8(R.zoom_crop(result.normal)), label))
            side.append((str(next(paths)), result.caption))
            bright.append((R.to_uint8(R.brighten(result.image, result.normal)), result.caption))
            zoom.append((R.to_uint8(R.zoom_crop(result.image)), result.caption))
        columns = min(MAX_COLUMNS, 1 + len(seeds))
        status = (
            f"**{len(results)} results** from {len(inputs)} photo(s) × {len(dict.fromkeys(chosen))} "
            f"method(s) × {len(seeds)} seed(s) in {seconds:.1f} s. Download the zip (PNGs + manifest.jsonl) "
            "or single PNGs below."
        )
        return (
            status,
            gr.Gallery(value=side, columns=columns),
            gr.Gallery(value=bright, columns=columns),
            gr.Gallery(value=zoom, columns=columns),
            [str(saved.zip), *map(str, saved.pngs)],
        )

    with gr.Blocks(title="n2ldiff demo", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                upload = gr.File(
                    label="Normal-light photos",
                    file_count="multiple",
                    file_types=sorted(IMAGE_EXTENSIONS),
                    elem_id="n2l-upload",
                )
                if examples:
                    gr.Examples(
                        examples=[[[str(p)]] for p in examples],
                        inputs=[upload],
                        label="Example photos",
                        example_labels=[p.stem for p in examples],
                    )
                seeds = gr.Textbox(
                    value=R.DEFAULT_SEEDS_TEXT,
                    label="Seeds",
                    info="Whole numbers, comma separated",
                    elem_id="n2l-seeds",
                )
                sampler = gr.Dropdown(
                    choices=list(SAMPLERS), value=default.sampler, label="Sampler", elem_id="n2l-sampler"
                )
                steps = gr.Slider(
                    min(1, default.steps),  # 0 (one network pass) where the model samples that way by default
                    max_steps,
                    value=default.steps,
                    step=1,
                    label="Steps (n2ldiff)",
                    elem_id="n2l-steps",
                )
                exposure = gr.Slider(
                    0,
                    32,
                    value=0,
                    step=0.5,
                    label="Exposure ratio R (n2ldiff)",
                    info="How much darker: 4 = two stops; 0 = auto (drawn like the training photos)",
                    elem_id="n2l-exposure",
                    visible=bool(getattr(pipeline, "takes_exposure", False)),
                )
                chosen = gr.CheckboxGroup(
                    choices=main_methods, value=preselected, label="Methods to compare", elem_id="n2l-methods"
                )
                with gr.Accordion("Lv et al. grid settings", open=False, visible=bool(grid_methods)):
                    chosen_grid = gr.CheckboxGroup(choices=grid_methods, value=[], show_label=False)
                run = gr.Button("Generate", variant="primary", elem_id="n2l-run")
            with gr.Column(scale=3):
                status = gr.Markdown(elem_id="n2l-status")
                with gr.Tabs():
                    with gr.Tab("Side by side"):
                        side = _result_gallery("Normal and low-light", elem_id="n2l-results")
                    with gr.Tab("Brightened"):
                        bright = _result_gallery("Brightened to the normal mean")
                    with gr.Tab("Zoomed crop"):
                        zoom = _result_gallery("Center crop, nearest-neighbour zoom")
                downloads = gr.File(
                    label="Downloads", file_count="multiple", interactive=False, elem_id="n2l-downloads"
                )
        sampler.change(on_sampler, sampler, steps)
        run.click(
            on_run,
            [upload, seeds, sampler, steps, exposure, chosen, chosen_grid],
            [status, side, bright, zoom, downloads],
            concurrency_limit=1,
        )
    return demo


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def launch(pipeline: Any, host: str = "127.0.0.1", port: int = 7860, examples: Sequence[Path] | None = None) -> None:
    """Build the page and serve it until interrupted (no share link, no analytics)."""
    demo = build_demo(pipeline, examples)
    if threading.current_thread() is threading.main_thread():  # SIGTERM: shut down like Ctrl+C
        signal.signal(signal.SIGTERM, _interrupt)
    allowed = sorted({str(p.parent) for p in (examples if examples is not None else find_examples())})
    try:
        demo.queue(default_concurrency_limit=1).launch(
            server_name=host,
            server_port=port,
            share=False,
            inbrowser=False,
            show_error=False,
            allowed_paths=allowed,
            footer_links=[],
            run_history=False,
            enable_monitoring=False,
            mcp_server=False,
            ssr_mode=False,
            css=CSS,
        )
    except OSError as err:
        if "empty port" in str(err):
            raise N2LDiffError(f"port {port} on {host} is in use; choose another --port") from None
        raise N2LDiffError(f"cannot serve on {host}:{port} ({err})") from None
