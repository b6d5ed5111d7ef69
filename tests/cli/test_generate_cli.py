"""``n2ldiff generate`` / ``simulate`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from n2ldiff.cli import app, spread_multi_value_options


def make_photos(folder: Path) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((40, 52, 3)) * 255).astype(np.uint8)).save(folder / "a.png")
    Image.fromarray((rng.random((33, 47, 3)) * 255).astype(np.uint8)).save(folder / "b.jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    return folder


def test_help_lists_the_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("generate", "simulate", "convert", "train", "benchmark", "build-voc", "demo", "fetch-weights"):
        assert command in result.output


def test_seeds_take_several_values():
    argv = ["generate", "x.png", "--seeds", "1", "2", "--out", "o", "-s", "5", "./7"]
    assert spread_multi_value_options(argv) == [
        "generate", "x.png", "--seeds", "1", "--seeds", "2", "--out", "o", "-s", "5", "./7",
    ]  # fmt: skip


def test_generate_writes_outputs_manifest_and_reports_failures(tiny_model_dir, tmp_path):
    photos = make_photos(tmp_path / "photos")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "n2ldiff", "generate", str(photos), "--out", str(out), "--model",
           str(tiny_model_dir), "--seeds", "3407", "12", "--no-progress"]  # fmt: skip
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 1, first.stderr  # the broken file failed, the rest was written
    assert "broken.png" in first.stderr and "written 4, skipped 0, failed" in first.stderr
    assert "Traceback" not in first.stderr
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["a_s12.png", "a_s3407.png", "b_s12.png", "b_s3407.png"]
    assert Image.open(out / "b_s12.png").size == (47, 33)
    lines = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert {(Path(r["input"]).name, r["seed"]) for r in lines} == {
        ("a.png", 3407),
        ("a.png", 12),
        ("b.jpg", 3407),
        ("b.jpg", 12),
    }
    assert all(r["settings"]["sampler"] == "ddim" and len(r["weights_sha256"]) == 64 for r in lines)

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "--resume" in again.stderr  # nothing overwritten by accident
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert "written 0, skipped 4" in resumed.stderr


def test_simulate_uses_the_same_engine(tmp_path):
    photos = make_photos(tmp_path / "photos")
    (photos / "broken.png").unlink()
    out = tmp_path / "sim"
    result = CliRunner().invoke(
        app,
        ["simulate", str(photos), "--out", str(out), "--method", "lv-random-noise", "--seeds", "1", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    low = np.asarray(Image.open(out / "a_s1.png"), dtype=np.float32)
    normal = np.asarray(Image.open(photos / "a.png"), dtype=np.float32)
    assert low.shape == normal.shape and low.mean() < normal.mean()
    unknown = CliRunner().invoke(app, ["simulate", str(photos), "--out", str(out), "--method", "nope"])
    assert unknown.exit_code == 2 and "unknown baseline" in unknown.output


def test_shared_options_and_registry_help():
    from n2ldiff.diffusion.samplers import SAMPLERS

    runner = CliRunner()
    for command in ("generate", "simulate", "benchmark", "build-voc"):
        result = runner.invoke(app, [command, "--help"], terminal_width=200)
        assert result.exit_code == 0, result.output
        assert "--seeds" in result.output and "--no-progress" in result.output and "--quiet" not in result.output
        assert "3407" in result.output  # one default seed everywhere
        if command != "simulate":
            assert all(name in result.output for name in SAMPLERS) and "{samplers}" not in result.output


def test_the_command_line_starts_without_torch():
    code = "import sys, n2ldiff.cli; assert 'torch' not in sys.modules, 'the CLI imports torch at start'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_folder_in_use_and_a_resume_with_other_settings_are_refused(tiny_model_dir, tmp_path):
    from n2ldiff.files import folder_lock

    photos = make_photos(tmp_path / "photos")
    (photos / "broken.png").unlink()
    out = tmp_path / "out"
    runner = CliRunner()
    base = ["generate", str(photos), "--out", str(out), "--model", str(tiny_model_dir), "--no-progress"]
    first = runner.invoke(app, spread_multi_value_options([*base, "--seeds", "1,2"]))
    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in out.glob("*.png")) == ["a_s1.png", "a_s2.png", "b_s1.png", "b_s2.png"]

    with folder_lock(out):  # another run is using the folder
        busy = runner.invoke(app, [*base, "--seeds", "1", "--resume"])
    assert busy.exit_code == 2 and "in use by another n2ldiff run" in busy.output

    other = runner.invoke(app, [*base, "--seeds", "1", "--resume", "--steps", "2", "--sampler", "dpm-solver++"])
    assert other.exit_code == 2 and "other settings" in other.output
    assert "sampler 'ddim' -> 'dpm-solver++'" in other.output and "steps 3 -> 2" in other.output
    same = runner.invoke(app, spread_multi_value_options([*base, "--seeds", "1", "2", "--resume"]))
    assert same.exit_code == 0 and "written 0, skipped 4" in same.output


def test_generate_exposure_is_recorded_and_a_setting_of_resume(tiny_v2_model_dir, tiny_model_dir, tmp_path):
    photos = make_photos(tmp_path / "photos")
    (photos / "broken.png").unlink()
    out = tmp_path / "out"
    runner = CliRunner()
    base = ["generate", str(photos / "a.png"), "--out", str(out), "--model", str(tiny_v2_model_dir), "--no-progress"]
    first = runner.invoke(app, [*base, "--exposure", "4"])
    assert first.exit_code == 0, first.output
    (record,) = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert record["exposure"] == 4.0 and record["settings"]["exposure"] == "4"

    other = runner.invoke(app, [*base, "--exposure", "8", "--resume"])
    assert other.exit_code == 2 and "exposure '4' -> '8'" in other.output
    assert "written 0, skipped 1" in runner.invoke(app, [*base, "--exposure", "4", "--resume"]).output

    oracle = runner.invoke(app, [*base, "--exposure", "oracle", "--overwrite"])
    assert oracle.exit_code == 2 and "only available in the benchmark" in oracle.output
    ranged = runner.invoke(app, [*base, "--exposure", "2:16", "--overwrite", "--seeds", "1,2"])
    assert ranged.exit_code == 0, ranged.output
    drawn = [json.loads(line)["exposure"] for line in (out / "manifest.jsonl").read_text().splitlines()[-2:]]
    assert all(2 <= r <= 16 for r in drawn) and drawn[0] != drawn[1]

    v1 = ["generate", str(photos / "a.png"), "--out", str(tmp_path / "v1"), "--model", str(tiny_model_dir)]
    refused = runner.invoke(app, [*v1, "--exposure", "4"])
    assert refused.exit_code == 2 and "not conditioned on the exposure" in refused.output


def test_simulate_dark_clean_takes_the_exposure(tmp_path):
    photos = make_photos(tmp_path / "photos")
    (photos / "broken.png").unlink()
    out = tmp_path / "dark"
    runner = CliRunner()
    args = ["simulate", str(photos / "a.png"), "--out", str(out), "--no-progress", "--exposure", "4"]
    result = runner.invoke(app, [*args, "--method", "dark-clean"])
    assert result.exit_code == 0, result.output
    low = np.asarray(Image.open(out / "a_s3407.png"), dtype=np.float32)
    normal = np.asarray(Image.open(photos / "a.png"), dtype=np.float32)
    assert np.abs(low - normal / 4).max() <= 0.5 + 1e-3  # the photo divided by R, rounded to 8 bits
    (record,) = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert record["method"] == "dark-clean" and record["exposure"] == 4.0
    baseline = runner.invoke(app, [*args[:3], str(tmp_path / "lv"), *args[4:], "--method", "lv-random"])
    assert baseline.exit_code == 2 and "draws its own darkness" in baseline.output
