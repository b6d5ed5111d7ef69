"""Start-up: ``n2ldiff generate`` and ``--help`` import only what they use.

Each case runs the real command line in a fresh interpreter and then lists which heavy modules ended up
in ``sys.modules``. Lightning, Gradio, matplotlib, Ray and the rest cost seconds to import and are used
only by train, demo, benchmark and build-voc; ``torch._dynamo`` (and sympy) come in when a tensor op on the
meta device falls back to torch's Python reference code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

#: Imported by none of the commands below (each is a second or more, or pulls in large dependency trees).
HEAVY = (
    "lightning",
    "pytorch_lightning",
    "gradio",
    "matplotlib",
    "ray",
    "torchmetrics",
    "tensorboard",
    "scipy",
    "pandas",
    "skimage",
    "diffusers",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "sympy",
    "torch._dynamo",
)

DRIVER = """
import json, sys
args, heavy = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.argv = ["n2ldiff", *args]
from n2ldiff.cli import main
code = 0
try:
    main()
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "loaded": sorted(m for m in heavy if m in sys.modules)}))
"""


def run_cli(args: list[str]) -> dict:
    """Run ``n2ldiff ARGS`` in a fresh interpreter; its exit code and the ``HEAVY`` modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["generate", "--help"], ["--version"]])
def test_help_imports_nothing_heavy(args):
    result = run_cli(args)
    assert result["code"] in (0, None), result
    assert result["loaded"] == []


def test_generate_one_image_imports_nothing_heavy(tiny_v2_model_dir, tmp_path: Path):
    photo = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((40, 52, 3)) * 255).astype(np.uint8)).save(photo)
    out = tmp_path / "out"
    result = run_cli(["generate", str(photo), "--out", str(out), "--model", str(tiny_v2_model_dir), "--no-progress"])
    assert result["code"] in (0, None), result
    assert (out / "photo_s3407.png").is_file()  # the generate path really ran
    assert result["loaded"] == []
