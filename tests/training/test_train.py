"""Training: a few steps of the tiny config, exact resume, clear config errors, two-process DDP.

The data is a small pairs dataset made by the ``tiny_pairs_dir`` fixture, so these run without ../shared.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from n2ldiff.cli import app
from n2ldiff.config import load_train_config
from n2ldiff.errors import N2LDiffError
from n2ldiff.training.run import train
from tests.conftest import REPO_ROOT

TINY = REPO_ROOT / "configs" / "tiny.yaml"


def tiny_config(pairs_dir: Path, out: Path, **overrides):
    base = {"data.root": str(pairs_dir), "output_dir": str(out)}
    base.update(overrides)
    return load_train_config(TINY, base)


def final_weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "model" / "model.safetensors"))


def test_tiny_training_writes_everything(tiny_pairs_dir, tmp_path):
    out = tmp_path / "run"
    model_dir = train(tiny_config(tiny_pairs_dir, out))
    assert (model_dir / "model_ema.safetensors").is_file() and (model_dir / "config.json").is_file()
    assert {p.name for p in (out / "checkpoints").iterdir()} >= {"last.ckpt", "step0000002.ckpt"}
    metrics = (out / "logs" / "metrics.csv").read_text()
    assert "train/loss" in metrics and "val/psnr" in metrics
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert list((out / "samples").glob("step_*.png"))
    record = json.loads((out / "run.json").read_text())
    assert record["global_step"] == 4 and record["seed"] == 3407 and len(record["weights_sha256"]) == 64
    # The exported model loads and generates.
    from n2ldiff.pipeline import LowLightPipeline

    low = LowLightPipeline.from_pretrained(model_dir, device="cpu")(torch.rand(1, 3, 20, 24), seeds=[1])
    assert low.shape == (1, 3, 20, 24)


def test_resume_continues_exactly(tiny_pairs_dir, tmp_path):
    straight = tmp_path / "straight"
    train(tiny_config(tiny_pairs_dir, straight))
    resumed = tmp_path / "resumed"
    train(tiny_config(tiny_pairs_dir, resumed), resume=straight / "checkpoints" / "step0000002.ckpt")
    a, b = final_weights(straight), final_weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=0, rtol=0, msg=key)
    ema_a = load_file(str(straight / "model" / "model_ema.safetensors"))
    ema_b = load_file(str(resumed / "model" / "model_ema.safetensors"))
    assert all(torch.equal(ema_a[k], ema_b[k]) for k in ema_a)


def test_training_changes_the_weights(tiny_pairs_dir, tmp_path):
    out = tmp_path / "run"
    train(tiny_config(tiny_pairs_dir, out, **{"trainer.val_every": 100}))
    ckpt = torch.load(out / "checkpoints" / "step0000002.ckpt", map_location="cpu", weights_only=False)
    first = {k[len("model.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    last = final_weights(out)
    assert any(not torch.equal(first[k], last[k]) for k in last)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"trainer.max_stepz": 3}, "unknown key 'max_stepz'"),
        ({"trainer.max_steps": "many"}, "expected an integer"),
        ({"optim.optimizer": "sgd"}, "not one of"),
        ({"data.root": "/does/not/exist"}, "folder not found"),
    ],
)
def test_config_errors_are_one_line_and_early(tiny_pairs_dir, tmp_path, override, message):
    overrides = {"data.root": str(tiny_pairs_dir), "output_dir": str(tmp_path / "o")}
    overrides.update(override)
    with pytest.raises(N2LDiffError, match=message) as info:
        train(load_train_config(TINY, overrides))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "o").exists()  # nothing was started


def test_cli_train_reports_config_errors_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer:\n  batch_size: [1, 2]\n")
    result = CliRunner().invoke(app, ["train", "--config", str(bad)])
    assert result.exit_code == 2
    assert "trainer.batch_size" in result.output and "Traceback" not in result.output


def test_ddp_two_cpu_processes_agree(tiny_pairs_dir, tmp_path):
    """Lightning DDP (gloo) with two CPU processes: both ranks end with identical weights."""
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "n2ldiff", "train", "--config", str(TINY),
        "--set", f"data.root={tiny_pairs_dir}", "--set", f"output_dir={out}",
        "--set", "trainer.devices=2", "--set", "trainer.strategy=ddp", "--set", "trainer.val_every=100",
    ]  # fmt: skip
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = sorted((out / "rank_checksums").iterdir())
    assert [p.name for p in ranks] == ["rank0.txt", "rank1.txt"]
    assert ranks[0].read_text() == ranks[1].read_text()
    assert json.loads((out / "run.json").read_text())["global_step"] == 4


V2_OVERRIDES = {
    "model.instance_norm": False,
    "model.upsample": "resize-conv",
    "model.exposure_conditioning": True,
    "model.noise_level_head": True,
    "diffusion.timesteps": 1000,
    "diffusion.start_timestep": 150,
    "diffusion.timestep_spacing": "geometric",
    "diffusion.prediction_type": "preconditioned",
    "diffusion.eta": 1.0,
    "loss.noise_level_weight": 0.1,
}


def test_v2_objective_trains_on_frames_and_stores_the_exposure_distribution(shared_dir, tmp_path):
    """The default model's recipe (noise-level head, exposure, frames layout) on the tiny network."""
    out = tmp_path / "v2"
    overrides = dict(V2_OVERRIDES, **{"data.root": str(shared_dir / "data" / "sice_frames"), "data.layout": "frames"})
    config = load_train_config(TINY, {"output_dir": str(out), **overrides})
    model_dir = train(config)
    metrics = (out / "logs" / "metrics.csv").read_text()
    assert "train/noise_nll" in metrics and "train/denoise" in metrics and "val/psnr" in metrics
    saved = json.loads((model_dir / "config.json").read_text())
    quantiles = saved["exposure_quantiles"]
    assert len(quantiles) == 21 and quantiles == sorted(quantiles)
    assert quantiles[0] > 1.5 and quantiles[-1] < 30  # the train frames' R range is 1.7-27
    from n2ldiff.pipeline import LowLightPipeline

    pipe = LowLightPipeline.from_pretrained(model_dir, device="cpu")
    normal = torch.rand(1, 3, 24, 24)
    assert pipe(normal, seeds=[1], exposure=4).shape == (1, 3, 24, 24)
    assert quantiles[0] <= pipe.exposures(normal, [5])[0] <= quantiles[-1]
