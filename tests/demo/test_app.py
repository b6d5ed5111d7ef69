"""The demo page's controls match the model it serves (built without a browser)."""

from __future__ import annotations

import pytest


def test_the_steps_slider_admits_the_shipped_models_default_steps():
    pytest.importorskip("gradio")
    from n2ldiff.demo.app import build_demo
    from n2ldiff.pipeline import LowLightPipeline

    pipeline = LowLightPipeline.from_pretrained(device="cpu")
    page = build_demo(pipeline, examples=[])
    slider = next(block for block in page.blocks.values() if getattr(block, "elem_id", None) == "n2l-steps")
    default = pipeline.settings().steps
    assert slider.value == default
    assert slider.minimum <= default <= slider.maximum  # Gradio refuses a value below the minimum
    slider.preprocess(default)  # what a run with the untouched slider sends; raises when out of range
