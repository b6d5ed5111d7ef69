"""The hostile-input corpus: files, paths, configs and model folders a user (or an attacker) may hand us.

Every case is generated here (``tests/hostile.py``), never stored. Each one must end in a one-line
``N2LDiffError`` (CLI: exit code 2, no traceback, no partial output) or in the documented behaviour,
with bounded memory and without deleting anything that n2ldiff did not write.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from n2ldiff.data.io import read_image, scan_inputs
from n2ldiff.errors import N2LDiffError
from tests import hostile

REPO_ROOT = Path(__file__).resolve().parents[1]


def one_line_error(info: pytest.ExceptionInfo) -> str:
    message = str(info.value)
    assert message and "\n" not in message, message
    return message


# ------------------------------------------------------------------------------------------ image files


def test_png16_bomb_is_refused_quickly(tmp_path):
    bomb = hostile.png16_bomb(tmp_path / "bomb.png", inflated_mb=256)
    assert bomb.stat().st_size < 1_000_000
    started = time.perf_counter()
    with pytest.raises(N2LDiffError, match="decompression bomb") as info:
        read_image(bomb)
    assert str(bomb) in one_line_error(info)
    assert time.perf_counter() - started < 10


def test_png16_bomb_memory_stays_bounded(tmp_path):
    """In a fresh process: reading a PNG that inflates to 256 MB must not grow the peak RSS by 64 MB."""
    bomb = hostile.png16_bomb(tmp_path / "bomb.png", inflated_mb=256)
    script = textwrap.dedent(
        f"""
        import resource, sys
        from n2ldiff.data.io import read_image
        from n2ldiff.errors import N2LDiffError
        import cv2  # imported up front so that its own size is not counted
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            read_image({str(bomb)!r})
        except N2LDiffError as err:
            print("refused:", err, file=sys.stderr)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) // 1024)
        """
    )
    env = {"PYTHONPATH": str(REPO_ROOT / "src"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stderr and "decompression bomb" in done.stderr
    assert int(done.stdout.strip()) < 64, f"peak RSS grew by {done.stdout.strip()} MB"


def test_png16_with_too_little_pixel_data(tmp_path):
    with pytest.raises(N2LDiffError, match="truncated or corrupt") as info:
        read_image(hostile.png16_short(tmp_path / "short.png"))
    one_line_error(info)


def test_png16_interlaced_is_read_at_full_precision(tmp_path):
    values = np.random.default_rng(3).integers(0, 65536, (21, 19, 4), dtype=np.uint16)
    loaded = read_image(hostile.png16_interlaced(tmp_path / "adam7.png", values))
    assert loaded.bit_depth == 16
    np.testing.assert_allclose(loaded.rgb.permute(1, 2, 0).numpy() * 65535, values[..., :3], atol=2e-2)
    np.testing.assert_allclose(loaded.alpha[0].numpy() * 65535, values[..., 3], atol=2e-2)


@pytest.mark.parametrize("name", ["anim.gif", "anim.webp"])
def test_animated_files_use_the_first_frame_and_say_so(tmp_path, name):
    path = hostile.animated(tmp_path / name, frames=3)
    loaded = read_image(path)
    assert loaded.frames == 3
    assert loaded.notes == ["animated (3 frames): only the first frame is used"]
    first = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
    np.testing.assert_allclose(loaded.rgb.permute(1, 2, 0).numpy(), first, atol=1 / 255)
    assert read_image(hostile.photo(tmp_path / "still.png")).notes == []


def test_folders_list_the_files_they_ignore(tmp_path):
    folder = tmp_path / "in"
    hostile.photo(folder / "a.png")
    hostile.animated(folder / "b.gif")
    (folder / "notes.txt").write_text("not a photo")
    (folder / "raw" / "c.heic").parent.mkdir()
    (folder / "raw" / "c.heic").write_bytes(b"\0" * 10)
    (folder / ".DS_Store").write_bytes(b"\0")
    scan = scan_inputs([folder])
    assert [p.name for p in scan.files] == ["a.png", "b.gif"]  # GIF is read (first frame)
    assert [(p.name, "not an image file type" in why) for p, why in scan.ignored] == [
        ("notes.txt", True),
        ("c.heic", True),
    ]
    line = scan.describe_ignored()
    assert line.startswith("ignored 2 file(s)") and "notes.txt" in line and "'.heic'" in line
    only_text = tmp_path / "text"
    (only_text / "x.txt").parent.mkdir()
    (only_text / "x.txt").write_text("x")
    with pytest.raises(N2LDiffError, match="matches no image files.*ignored 1 other file") as info:
        scan_inputs([only_text])
    one_line_error(info)


# ---------------------------------------------------------------------------------------- model folders


def cli(*args: str):
    from typer.testing import CliRunner

    from n2ldiff.cli import app

    return CliRunner().invoke(app, list(args))


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m n2ldiff ARGS`` in a fresh process, as a user runs it."""
    env = {"PYTHONPATH": str(REPO_ROOT / "src"), "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "n2ldiff", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def assert_one_line_exit_2(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"base_channels": 100000}, "base_channels: must be between 1 and 1024, got 100000"),
        ({"base_channels": -16}, "base_channels: must be between 1 and 1024, got -16"),
        ({"channel_mults": []}, "channel_mults: needs 1 to 8 levels"),
        ({"channel_mults": [1, 0]}, r"channel_mults\[1\]: must be between 1 and 64"),
        ({"base_channels": 512, "channel_mults": [1, 16]}, "widest level has 8192 channels"),
        ({"base_channels": 8}, "weights do not match config.json .*with other shapes"),
        ({"channel_mults": [1, 2, 2]}, "weights do not match config.json .*missing"),
    ],
)
def test_model_folder_config_is_checked_before_allocating(tiny_model_dir, tmp_path, fields, words):
    from n2ldiff.models.n2ldiff import N2LDiff

    folder = hostile.edit_model_config(hostile.copy_model(tiny_model_dir, tmp_path / "m"), **fields)
    with pytest.raises(N2LDiffError, match=words) as info:
        N2LDiff.from_pretrained(folder)
    one_line_error(info)


def test_model_folder_that_would_need_gigabytes_is_refused_without_allocating(tiny_model_dir, tmp_path):
    """Within every per-field bound, but 3.9 G parameters: refused on shapes, in a process that stays small."""
    folder = hostile.edit_model_config(
        hostile.copy_model(tiny_model_dir, tmp_path / "m"), base_channels=1024, channel_mults=[1, 2, 4]
    )
    script = textwrap.dedent(
        f"""
        import resource, sys
        import torch
        from n2ldiff.models.n2ldiff import N2LDiff
        from n2ldiff.errors import N2LDiffError
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            N2LDiff.from_pretrained({str(folder)!r})
        except N2LDiffError as err:
            print("refused:", err, file=sys.stderr)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
        """
    )
    env = {"PYTHONPATH": str(REPO_ROOT / "src"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stderr and "do not match" in done.stderr
    assert int(done.stdout.strip()) < 200, f"peak RSS grew by {done.stdout.strip()} MB"


def test_model_folder_broken_files(tiny_model_dir, tmp_path):
    from safetensors.torch import save_file

    from n2ldiff.models.n2ldiff import N2LDiff

    cases = {}
    binary = hostile.copy_model(tiny_model_dir, tmp_path / "binary")
    hostile.binary_junk(binary / "config.json")
    cases[binary] = "not a text file"
    listed = hostile.copy_model(tiny_model_dir, tmp_path / "list")
    (listed / "config.json").write_text("[1, 2]")
    cases[listed] = "expected a JSON object"
    deep = hostile.copy_model(tiny_model_dir, tmp_path / "deep")
    (deep / "config.json").write_text("[" * 100000 + "]" * 100000)
    cases[deep] = "invalid JSON|too large"
    huge = hostile.copy_model(tiny_model_dir, tmp_path / "huge")
    (huge / "config.json").write_text(" " * (2 << 20) + "{}")
    cases[huge] = "too large for a model config"
    steps = hostile.copy_model(tiny_model_dir, tmp_path / "steps")
    config = json.loads((steps / "config.json").read_text())
    config["diffusion"]["timesteps"] = 0
    (steps / "config.json").write_text(json.dumps(config))
    cases[steps] = "timesteps: must be between 1 and 10000, got 0"
    truncated = hostile.copy_model(tiny_model_dir, tmp_path / "truncated")
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    cases[truncated] = "unreadable weights"
    header = hostile.copy_model(tiny_model_dir, tmp_path / "header")
    (header / "model.safetensors").write_bytes((2**62).to_bytes(8, "little") + b"{}")
    cases[header] = "unreadable weights"
    ints = hostile.copy_model(tiny_model_dir, tmp_path / "ints")
    state = {k: v.to(torch.int64) for k, v in N2LDiff.from_pretrained(tiny_model_dir).state_dict().items()}
    save_file(state, str(ints / "model.safetensors"))
    cases[ints] = "not floating point"
    for folder, words in cases.items():
        with pytest.raises(N2LDiffError, match=words) as info:
            N2LDiff.from_pretrained(folder, use_ema=False)
        one_line_error(info)


def test_generate_with_a_mismatched_model_folder_is_one_line(tiny_model_dir, tmp_path):
    folder = hostile.edit_model_config(hostile.copy_model(tiny_model_dir, tmp_path / "m"), base_channels=8)
    photo = hostile.photo(tmp_path / "in" / "a.png")
    result = cli("generate", str(photo), "--out", str(tmp_path / "out"), "--model", str(folder), "--no-progress")
    assert "do not match" in assert_one_line_exit_2(result)
    assert not (tmp_path / "out").exists()
    negative = hostile.edit_model_config(hostile.copy_model(tiny_model_dir, tmp_path / "neg"), base_channels=-4)
    result = cli("generate", str(photo), "--out", str(tmp_path / "out"), "--model", str(negative))
    assert "base_channels" in assert_one_line_exit_2(result)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------- convert / save a model


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def hidden_leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".") and "n2ldiff" in p.name]


def test_convert_overwrite_into_the_checkpoint_folder_keeps_everything_else(
    write_original_ckpt, original_tiny_state, tiny_model_dir, tmp_path
):
    from n2ldiff.models.n2ldiff import N2LDiff

    folder = tmp_path / "m"
    hostile.copy_model(tiny_model_dir, folder)  # an older model, with EMA weights
    (folder / "model_ema.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    ckpt = write_original_ckpt(original_tiny_state, name="orig.ckpt")
    ckpt = ckpt.rename(folder / "orig.ckpt")
    (folder / "notes.txt").write_text("my notes")
    (folder / "sub").mkdir()
    (folder / "sub" / "keep.bin").write_bytes(b"\1\2")
    before = snapshot(folder)
    refused = cli("convert", str(ckpt), str(folder))
    assert "--overwrite" in assert_one_line_exit_2(refused)
    assert snapshot(folder) == before
    result = cli("convert", str(ckpt), str(folder), "--overwrite")
    assert result.exit_code == 0, result.output
    after = snapshot(folder)
    assert after["orig.ckpt"] == before["orig.ckpt"] and after["notes.txt"] == b"my notes"
    assert (folder / "sub" / "keep.bin").read_bytes() == b"\1\2"
    assert "model_ema.safetensors" not in after  # the old model's EMA must not outlive it
    assert after["model.safetensors"] != before["model.safetensors"]
    assert N2LDiff.from_pretrained(folder).config.model.base_channels != 4
    assert hidden_leftovers(tmp_path) == []


def test_convert_into_a_folder_without_a_model_needs_no_overwrite(write_original_ckpt, original_tiny_state, tmp_path):
    ckpt = write_original_ckpt(original_tiny_state)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "README.txt").write_text("mine")
    result = cli("convert", str(ckpt), str(folder))
    assert result.exit_code == 0, result.output
    assert {p.name for p in folder.iterdir()} == {"README.txt", "config.json", "model.safetensors"}


def test_failed_save_leaves_the_old_model_untouched(tiny_model_dir, tmp_path, monkeypatch):
    import errno

    import n2ldiff.models.n2ldiff as n2ldiff_module
    from n2ldiff.models.n2ldiff import N2LDiff

    folder = hostile.copy_model(tiny_model_dir, tmp_path / "m")
    (folder / "notes.txt").write_text("mine")
    before = snapshot(folder)
    model = N2LDiff.from_pretrained(folder)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(n2ldiff_module, "save_file", full_disk)
    with pytest.raises(N2LDiffError, match="cannot save the model.*No space left") as info:
        model.save_pretrained(folder)
    one_line_error(info)
    assert snapshot(folder) == before
    assert hidden_leftovers(tmp_path) == []


def test_a_swap_that_fails_half_way_is_rolled_back(tiny_model_dir, tmp_path, monkeypatch):
    import os

    import n2ldiff.model_folder as model_folder
    from n2ldiff.models.n2ldiff import N2LDiff

    folder = hostile.copy_model(tiny_model_dir, tmp_path / "m")
    (folder / "model_ema.safetensors").write_bytes(b"old ema")
    before = snapshot(folder)
    model = N2LDiff.from_pretrained(folder, use_ema=False)
    real_replace = os.replace
    calls = []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 4:  # three old files moved aside, then the first new file fails
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(model_folder.os, "replace", flaky_replace)
    with pytest.raises(N2LDiffError, match="cannot save the model"):
        model.save_pretrained(folder)
    monkeypatch.undo()
    assert snapshot(folder) == before
    assert hidden_leftovers(tmp_path) == []


def test_convert_to_a_file_or_a_read_only_place_is_one_line(write_original_ckpt, original_tiny_state, tmp_path):
    ckpt = write_original_ckpt(original_tiny_state)
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = cli("convert", str(ckpt), str(afile))
    assert "not a folder" in assert_one_line_exit_2(result)
    result = cli("convert", str(ckpt), str(afile / "sub"))
    assert "afile is a file" in assert_one_line_exit_2(result)
    assert afile.read_text() == "x"
    read_only = hostile.read_only_folder(tmp_path)
    if read_only is None:
        pytest.skip("no read-only folder on this machine")
    result = cli("convert", str(ckpt), str(read_only / "m"))
    assert "cannot write" in assert_one_line_exit_2(result)
    assert not (read_only / "m").exists()


# ------------------------------------------------------------------------------------------ train configs


def pairs_folder(root: Path, names=("a", "b", "c"), size=(48, 40)) -> Path:
    for i, name in enumerate(names):
        hostile.photo(root / "normal" / f"{name}.png", size, seed=i)
        hostile.photo(root / "low" / f"{name}.png", size, seed=100 + i)
    return root


def tiny_train_yaml(tmp_path: Path) -> Path:
    data = pairs_folder(tmp_path / "data")
    path = tmp_path / "tiny.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            output_dir: {tmp_path / "runs" / "tiny"}
            model: {{base_channels: 4, channel_mults: [1, 2]}}
            diffusion: {{sampler: ddim, steps: 3}}
            data: {{root: {data}, layout: pairs, train_split: null, val_split: null, crop_size: 32,
                    val_crop_size: 32, cache_images: false}}
            loss: {{perceptual_weight: 0.0, noise_weight: 1.0}}
            optim: {{optimizer: adamw, lr: 0.001}}
            trainer: {{max_steps: 1, batch_size: 1, checkpoint_every: 1, val_every: 100, log_every: 1,
                       val_steps: 2, accelerator: cpu, tensorboard: false}}
            """
        )
    )
    return path


def test_train_config_that_is_a_binary_file(tmp_path):
    config = hostile.binary_junk(tmp_path / "config.yaml")
    assert "not a text file" in assert_one_line_exit_2(cli("train", "--config", str(config)))


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        (["model.base_channels=-16"], "model.base_channels: must be between 1 and 1024, got -16"),
        (["model.channel_mults=[]"], "model.channel_mults: needs 1 to 8 levels"),
        (["trainer.batch_size=0"], "trainer.batch_size: must be at least 1, got 0"),
        # three levels halve the size twice: crops must be multiples of 4 and at least 8 px
        (["model.channel_mults=[1, 2, 2]", "data.crop_size=4"], "data.crop_size: must be at least 8, got 4"),
        (["data.crop_size=33"], "data.crop_size: must be a multiple of 2"),
        (["data.val_crop_size=2"], "data.val_crop_size: must be at least 4, got 2"),
        (["diffusion.timesteps=0"], "diffusion.timesteps: must be between 1 and 10000, got 0"),
        (["diffusion.steps=500"], "diffusion.steps: must be between 0 and 100"),  # 0: one network pass
        (["trainer.val_steps=0"], "trainer.val_steps: must be between 1 and 100"),
        (["optim.lr=0"], "optim.lr: must be greater than 0"),
        (["optim.lr=.nan"], "optim.lr: must be a finite number"),
        (["optim.ema_decay=2"], "optim.ema_decay: must be at most 1"),
        (["loss.noise_weight=-1"], "loss.noise_weight: must be at least 0"),
        (["trainer.max_steps=0"], "trainer.max_steps: must be at least 1"),
        (["trainer.seed=-1"], "trainer.seed: must be between 0 and"),
        (["data.num_workers=-2"], "data.num_workers: must be at least 0"),
        (["trainer.devices=0"], "trainer.devices: must be at least 1"),
        (["model.base_channels=["], "not a valid YAML value"),
    ],
)
def test_train_out_of_range_values_stop_before_any_work(tmp_path, settings, words):
    config = tiny_train_yaml(tmp_path)
    overrides = [arg for setting in settings for arg in ("--set", setting)]
    assert words in assert_one_line_exit_2(cli("train", "--config", str(config), *overrides))
    assert not (tmp_path / "runs").exists()


def test_train_failing_on_bad_data_leaves_no_run_folder(tmp_path):
    config = tiny_train_yaml(tmp_path)
    for image in (tmp_path / "data" / "low").iterdir():
        image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # every target image is broken
    done = run_cli("train", "--config", str(config))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "error:" in done.stderr and "not an image file" in done.stderr
    assert not (tmp_path / "runs" / "tiny").exists()


# --------------------------------------------------------------------------------------- generate paths


def generate_args(tiny_model_dir: Path, inputs: Path, out: Path, *extra: str) -> list[str]:
    return ["generate", str(inputs), "--out", str(out), "--model", str(tiny_model_dir), "--no-progress", *extra]


def test_generate_into_a_path_through_a_file_is_one_line(tiny_model_dir, tmp_path):
    photo = hostile.photo(tmp_path / "in" / "a.png")
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    line = assert_one_line_exit_2(cli(*generate_args(tiny_model_dir, photo, afile / "sub")))
    assert "afile is a file, not a folder" in line
    line = assert_one_line_exit_2(cli(*generate_args(tiny_model_dir, photo, afile)))
    assert "not a folder" in line
    assert afile.read_text() == "keep me"


def test_generate_into_a_read_only_place_is_one_line(tiny_model_dir, tmp_path):
    photo = hostile.photo(tmp_path / "in" / "a.png")
    read_only = hostile.read_only_folder(tmp_path)
    if read_only is None:
        pytest.skip("no read-only folder on this machine")
    for out in (read_only / "sub", read_only):
        line = assert_one_line_exit_2(cli(*generate_args(tiny_model_dir, photo, out)))
        assert "cannot write the output folder" in line
    assert not (read_only / "sub").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_generate_on_a_full_disk_stops_with_one_line(tiny_model_dir, tmp_path):
    photos = tmp_path / "in"
    for i in range(3):
        hostile.photo(photos / f"p{i}.png", seed=i)
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.jsonl").symlink_to("/dev/full")  # every append fails with ENOSPC, like a full disk
    line = assert_one_line_exit_2(cli(*generate_args(tiny_model_dir, photos, out)))
    assert "disk full" in line and "No space left on device" in line


def test_a_manifest_write_that_fails_half_way_leaves_complete_lines(tmp_path, monkeypatch):
    import errno

    import n2ldiff.inference.manifest as manifest_module
    from n2ldiff.inference.manifest import MANIFEST_NAME, ManifestWriter, read_manifest

    with ManifestWriter(tmp_path) as writer:
        writer.write({"output": "a.png", "status": "ok"})
    real_write = manifest_module.os.write

    def half_then_full(fd, data):
        if len(data) > 4:
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(manifest_module.os, "write", half_then_full)
    with ManifestWriter(tmp_path) as writer, pytest.raises(N2LDiffError, match="disk full.*complete lines") as info:
        writer.write({"output": "b.png", "status": "ok", "padding": "x" * 100})
    one_line_error(info)
    monkeypatch.undo()
    text = (tmp_path / MANIFEST_NAME).read_text()
    assert text.endswith("\n") and [json.loads(line) for line in text.splitlines()] == read_manifest(tmp_path)
    assert [r["output"] for r in read_manifest(tmp_path)] == ["a.png"]


def test_an_image_write_on_a_full_disk_stops_the_run(tmp_path, monkeypatch):
    import errno

    import n2ldiff.inference.engine as engine
    import n2ldiff.inference.runner as runner
    from n2ldiff.inference.methods import BaselineMethod

    photos = tmp_path / "in"
    for i in range(3):
        hostile.photo(photos / f"p{i}.png", seed=i)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(engine, "write_image", full)  # every engine user writes through here
    files = sorted(photos.iterdir())
    with pytest.raises(N2LDiffError, match="disk full") as info:
        runner.run_jobs(files, tmp_path / "out", [1], BaselineMethod("lv-random"), progress=False)
    one_line_error(info)


def test_a_half_written_manifest_line_is_a_one_line_notice(tmp_path):
    photos = tmp_path / "in"
    hostile.photo(photos / "a.png")
    out = tmp_path / "out"
    first = run_cli("simulate", str(photos), "--out", str(out), "--method", "lv-random", "--no-progress")
    assert first.returncode == 0, first.stderr
    with open(out / "manifest.jsonl", "a") as handle:
        handle.write('{"input": "/x", "outp')  # a crash in the middle of a line
    again = run_cli("simulate", str(photos), "--out", str(out), "--method", "lv-random", "--no-progress", "--resume")
    assert again.returncode == 0, again.stderr
    notes = [line for line in again.stderr.splitlines() if "incomplete" in line]
    assert len(notes) == 1 and notes[0].startswith("note: ") and "line 2" in notes[0]
    assert "Warning" not in again.stderr and "warn(" not in again.stderr


def test_bad_inputs_are_failed_with_one_word_and_one_count(tmp_path):
    photos = tmp_path / "in"
    hostile.photo(photos / "good.png")
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    hostile.png16_bomb(photos / "bomb.png", inflated_mb=8)
    for progress in ("--progress", "--no-progress"):
        out = tmp_path / f"out{progress}"
        done = run_cli("simulate", str(photos), "--out", str(out), "--method", "lv-random", progress)
        assert done.returncode == 1, done.stderr
        assert "skipped" not in done.stderr.replace("skipped 0", "")
        failed = [line for line in done.stderr.splitlines() if line.startswith("failed ")]
        assert sorted(line.split()[1].rsplit("/", 1)[-1].rstrip(":") for line in failed) == ["bomb.png", "broken.png"]
        assert "written 1, skipped 0, failed 2" in done.stderr


def test_animated_and_ignored_files_are_reported_in_the_summary(tmp_path):
    photos = tmp_path / "in"
    hostile.photo(photos / "a.png")
    hostile.animated(photos / "clip.gif", frames=4)
    (photos / "notes.txt").write_text("x")
    out = tmp_path / "out"
    done = run_cli("simulate", str(photos), "--out", str(out), "--method", "lv-random", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "clip.gif: animated (4 frames): only the first frame is used" in done.stderr
    assert "ignored 1 file(s) that are not images" in done.stderr and "notes.txt" in done.stderr
    assert sorted(p.name for p in out.glob("*.png")) == ["a_s3407.png", "clip_s3407.png"]


# ----------------------------------------------------------------------------------------- benchmark data


def scene_image(path: Path, seed: int, scale: float = 1.0) -> Path:
    """A smooth 64x64 scene (the benchmark needs >= 32 px and flat regions)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:64] / 64
    base = 0.5 + 0.3 * np.sin(2 * np.pi * (yy * rng.uniform(0.5, 1.5) + xx * rng.uniform(0.5, 1.5)))
    image = np.stack([base * c for c in rng.uniform(0.6, 1.0, 3)], axis=-1) * scale
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8)).save(path)
    return path


def test_pairs_without_split_csv_and_with_an_orphan_are_benchmarked(tmp_path):
    from n2ldiff.benchmark import BenchmarkConfig, run_benchmark, write_report
    from n2ldiff.metrics.weights import default_weights_dir, weights_available

    if not weights_available("lpips", default_weights_dir()):
        pytest.skip("LPIPS weights not fetched; run `n2ldiff fetch-weights`")
    data = tmp_path / "data"
    for i, name in enumerate(("a", "b", "c")):
        scene_image(data / "normal" / f"{name}.png", i)
        scene_image(data / "low" / f"{name}.png", i, scale=0.3)
    scene_image(data / "normal" / "orphan.png", 9)  # a normal image without its low image
    logged: list[str] = []
    config = BenchmarkConfig(
        data=data, layout="pairs", out=tmp_path / "o", methods=["lv-random"], n_subsets=2, device="cpu", figures=False
    )  # split defaults to "test", and there is no split.csv
    result = run_benchmark(config, log=logged.append)
    assert result.scenes == ["a", "b", "c"]
    assert any(m.startswith("note:") and "no split.csv" in m and "all 3 pairs" in m for m in logged)
    assert result.run["skipped_pairs"] == {"normal/orphan.png": "no partner image (a normal/ file without its pair)"}
    assert any(m.startswith("skipped normal/orphan.png") for m in logged)
    markdown = write_report(result)["markdown"].read_text()
    assert "no split.csv" in markdown and "normal/orphan.png" in markdown


def test_layout_scan_reports_instead_of_failing(tmp_path):
    from n2ldiff.data.layouts import find_pairs, scan_pairs

    for name in ("a", "b"):
        hostile.photo(tmp_path / "normal" / f"{name}.png")
        hostile.photo(tmp_path / "low" / f"{name}.png")
    hostile.photo(tmp_path / "low" / "lonely.png")
    scan = scan_pairs(tmp_path, "pairs", split="test")
    assert [p.name for p in scan.pairs] == ["a", "b"]
    assert scan.unmatched == [tmp_path / "low" / "lonely.png"]
    assert len(scan.notes) == 1 and "no split.csv" in scan.notes[0]
    with pytest.raises(N2LDiffError, match="unmatched"):  # the strict form (training) still refuses
        find_pairs(tmp_path, "pairs")
    (tmp_path / "low" / "lonely.png").unlink()
    with pytest.raises(N2LDiffError, match="split file not found .*none to use every pair"):
        find_pairs(tmp_path, "pairs", split="test")
    with pytest.raises(N2LDiffError, match="split file not found"):  # a named split file must exist
        scan_pairs(tmp_path, "pairs", split="test", split_csv=tmp_path / "mine.csv")


# ------------------------------------------------------------------------------------------ demo uploads


def test_demo_uploads_are_read_like_generate_reads_files(tmp_path, monkeypatch):
    pytest.importorskip("gradio")
    from n2ldiff.demo import app

    toasts: list[tuple[str, str]] = []
    monkeypatch.setattr(app.gr, "Warning", lambda message, *a, **k: toasts.append(("warning", message)))
    monkeypatch.setattr(app.gr, "Info", lambda message, *a, **k: toasts.append(("info", message)))
    bomb = hostile.png16_bomb(tmp_path / "bomb.png", inflated_mb=64)
    clip = hostile.animated(tmp_path / "clip.webp", frames=2)
    good = hostile.photo(tmp_path / "good.png")
    started = time.perf_counter()
    loaded = app._read_uploads([str(bomb), str(clip), str(good)])
    assert time.perf_counter() - started < 10
    assert [stem for stem, _ in loaded] == ["clip", "good"]
    assert toasts[0][0] == "warning" and toasts[0][1].startswith("Skipped bomb.png:")
    assert "decompression bomb" in toasts[0][1] and str(tmp_path) not in toasts[0][1]
    assert toasts[1] == ("info", "clip.webp: animated (2 frames): only the first frame is used")
    assert len(toasts) == 2
