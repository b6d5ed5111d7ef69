"""``n2ldiff export`` and ``--backend`` as a user runs them."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from n2ldiff.backends import find_onnx
from n2ldiff.cli import app
from n2ldiff.files import sha256_file

WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}


def test_export_writes_both_networks_with_their_inputs_and_outputs(tiny_v2_model_dir, tmp_path):
    for module in ("onnx", "onnxscript"):
        pytest.importorskip(module, reason=f"n2ldiff export needs {module} (pip install 'n2ldiff[onnx]')")
    model = tmp_path / "model"
    shutil.copytree(tiny_v2_model_dir, model)
    result = CliRunner().invoke(app, ["export", "--model", str(model)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "normal, exposure -> center, log_noise_std, exposure_emb" in result.output
    assert "x_t, t, normal, feature0, feature1, exposure_emb -> output" in result.output
    assert find_onnx(model, sha256_file(model / "model.safetensors")) is not None
    assert sorted(p.name for p in model.iterdir()) == [
        "config.json",
        "denoiser.onnx",
        "encoder.onnx",
        "model.safetensors",
    ]  # written in place, no temporary folder left


def test_export_to_a_path_through_a_file_is_a_one_line_error(tiny_v2_model_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(app, ["export", "--model", str(tiny_v2_model_dir), "--out", str(blocker / "onnx")])
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output


def test_generate_with_an_unknown_backend_is_a_usage_error(tiny_v2_model_dir, tmp_path):
    args = ["generate", str(tmp_path), "--out", str(tmp_path / "out"), "--model", str(tiny_v2_model_dir)]
    result = CliRunner().invoke(app, [*args, "--backend", "tpu"])
    assert result.exit_code == 2
    assert "unknown backend 'tpu'" in result.output and not (tmp_path / "out").exists()
