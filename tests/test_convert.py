"""``n2ldiff convert``: original Lightning checkpoints in, our format out, nothing executed, no debris."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from n2ldiff.cli import app
from n2ldiff.convert import convert_checkpoint
from n2ldiff.errors import N2LDiffError
from n2ldiff.models.n2ldiff import EMA_WEIGHTS_NAME, N2LDiff


class HyperParameters:
    """Stands for the config object a real Lightning checkpoint pickles (not loadable weights-only)."""

    def __init__(self) -> None:
        self.lr = 4e-4


class Payload:
    """Unpickling this would create a folder: the converter must never run it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def assert_reproduces_fixture(model_dir: Path, original_io, use_ema: bool = True) -> None:
    model = N2LDiff.from_pretrained(model_dir, use_ema=use_ema)
    with torch.no_grad():
        encoding = model.encode(original_io["input_normal"])
        eps = model.denoise(original_io["x_t"], original_io["t"], original_io["input_normal"], encoding)
    torch.testing.assert_close(encoding.center, original_io["enc_center"], atol=1e-5, rtol=0)
    torch.testing.assert_close(eps, original_io["eps_pred"], atol=1e-5, rtol=0)


def test_converted_checkpoint_reproduces_the_original(write_original_ckpt, original_tiny_state, original_io, tmp_path):
    ckpt = write_original_ckpt(original_tiny_state)
    out = convert_checkpoint(ckpt, tmp_path / "converted")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    assert_reproduces_fixture(out, original_io)


def test_checkpoint_with_foreign_objects_is_read_without_running_them(
    write_original_ckpt, original_tiny_state, original_io, tmp_path
):
    marker = tmp_path / "payload-ran"
    state = dict(original_tiny_state)
    # Metric networks that a training checkpoint also carries are ignored.
    state["lpips.net.slice1.0.weight"] = torch.zeros(2, 3, 3, 3)
    ckpt = write_original_ckpt(state, hyper_parameters=HyperParameters(), callbacks={"x": Payload(str(marker))})
    with pytest.raises(pickle.UnpicklingError):
        torch.load(ckpt, weights_only=True)  # the plain safe loader refuses this file
    out = convert_checkpoint(ckpt, tmp_path / "converted")
    assert not marker.exists()
    assert_reproduces_fixture(out, original_io)


def test_ema_weights_are_converted_when_present(write_original_ckpt, original_tiny_state, original_io, tmp_path):
    state = dict(original_tiny_state)
    state.update({f"ema.{k}": v for k, v in original_tiny_state.items()})
    out = convert_checkpoint(write_original_ckpt(state), tmp_path / "converted")
    assert (out / EMA_WEIGHTS_NAME).is_file()
    assert_reproduces_fixture(out, original_io, use_ema=True)


def _bad_files(tmp_path: Path, write_original_ckpt, original_tiny_state) -> dict[str, Path]:
    text = tmp_path / "notes.ckpt"
    text.write_text("this is not a checkpoint\n")
    good = write_original_ckpt(original_tiny_state, name="good.ckpt")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    foreign = write_original_ckpt({"backbone.conv1.weight": torch.zeros(3)}, name="foreign.ckpt")
    partial_state = {k: v for k, v in original_tiny_state.items() if "final_conv" not in k}
    partial = write_original_ckpt(partial_state, name="partial.ckpt")
    return {
        "not a PyTorch": text,
        "unreadable|not a PyTorch": truncated,
        "not an N2LDiff checkpoint": foreign,
        "missing": partial,
    }


def test_bad_checkpoints_give_one_line_errors_and_leave_nothing(write_original_ckpt, original_tiny_state, tmp_path):
    for expected, path in _bad_files(tmp_path, write_original_ckpt, original_tiny_state).items():
        out = tmp_path / f"out-{path.stem}"
        with pytest.raises(N2LDiffError, match=expected) as info:
            convert_checkpoint(path, out)
        assert "\n" not in str(info.value)
        assert not out.exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")]
    assert leftovers == []


def test_cli_convert(write_original_ckpt, original_tiny_state, original_io, tmp_path):
    runner = CliRunner()
    ckpt = write_original_ckpt(original_tiny_state)
    result = runner.invoke(app, ["convert", str(ckpt), str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert_reproduces_fixture(tmp_path / "m", original_io)
    again = runner.invoke(app, ["convert", str(ckpt), str(tmp_path / "m")])
    assert again.exit_code == 2 and "--overwrite" in again.output
    missing = runner.invoke(app, ["convert", str(tmp_path / "nope.ckpt"), str(tmp_path / "x")])
    assert missing.exit_code == 2 and "not found" in missing.output
    assert "Traceback" not in missing.output
