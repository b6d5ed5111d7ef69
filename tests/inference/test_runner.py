from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import n2ldiff
from n2ldiff.data.io import read_image
from n2ldiff.errors import N2LDiffError
from n2ldiff.files import TEMP_SUFFIX
from n2ldiff.inference.engine import latest_records
from n2ldiff.inference.manifest import ManifestWriter, read_manifest, run_info
from n2ldiff.inference.runner import LowLightMethod, plan_outputs, run_jobs
from tests.data.images import make_odd_images


class ToyMethod:
    """images * 0.3 + noise seeded per row; optionally interrupts after ``stop_after`` images."""

    name = "toy"
    weights_sha256 = "abc123"

    def __init__(self, stop_after: int | None = None) -> None:
        self.settings = {"scale": 0.3, "steps": 1}
        self.calls: list[list[int]] = []
        self.done = 0
        self.stop_after = stop_after

    def __call__(self, images: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        self.calls.append(list(seeds))
        if self.stop_after is not None and self.done + len(seeds) > self.stop_after:
            raise KeyboardInterrupt
        self.done += len(seeds)
        rows = []
        for img, seed in zip(images, seeds, strict=True):
            gen = torch.Generator().manual_seed(seed)
            rows.append((img * 0.3 + 0.02 * torch.randn(img.shape, generator=gen)).clamp(0, 1))
        return torch.stack(rows)


def make_inputs(folder: Path, n: int = 3, sizes=((24, 32), (24, 32), (20, 36))) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    paths = []
    for i in range(n):
        h, w = sizes[i % len(sizes)]
        p = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(TEMP_SUFFIX)]


def test_toy_method_satisfies_protocol():
    assert isinstance(ToyMethod(), LowLightMethod)


def test_outputs_and_manifest(tmp_path):
    inputs = make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    summary = run_jobs(inputs, out, [3407, 7], ToyMethod(), progress=False)
    assert summary.ok and summary.exit_code == 0 and len(summary.written) == 6 and not summary.skipped
    for p in inputs:
        for seed in (3407, 7):
            o = out / f"{p.stem}_s{seed}.png"
            assert o.is_file()
            assert Image.open(o).size == Image.open(p).size
    records = read_manifest(out)
    assert len(records) == 6
    rec = next(r for r in records if r["output"] == "img1_s7.png")
    assert rec["input"] == str(inputs[1].resolve())
    assert rec["input_sha256"] == read_image(inputs[1]).sha256
    assert rec["seed"] == 7 and rec["method"] == "toy" and rec["settings"] == {"scale": 0.3, "steps": 1}
    assert rec["weights_sha256"] == "abc123" and rec["version"] == n2ldiff.__version__
    assert rec["seconds"] >= 0 and rec["status"] == "ok" and rec["run"]["torch_version"] == torch.__version__
    # the content is the method's output for (image, seed)
    expected = ToyMethod()(read_image(inputs[1]).rgb[None], [7])[0]
    got = read_image(out / "img1_s7.png").rgb
    assert (got - expected).abs().max() <= 0.5 / 255 + 1e-6
    assert "written 6" in summary.describe()


def test_batching_groups_equal_sizes_and_does_not_change_results(tmp_path):
    inputs = make_inputs(tmp_path / "in", n=5)
    one, four = ToyMethod(), ToyMethod()
    run_jobs(inputs, tmp_path / "b1", [1, 2], one, batch_size=1, progress=False)
    run_jobs(inputs, tmp_path / "b4", [1, 2], four, batch_size=4, progress=False)
    assert max(len(c) for c in one.calls) == 1
    assert max(len(c) for c in four.calls) == 4 and len(four.calls) < len(one.calls)
    for o in (tmp_path / "b1").glob("*.png"):
        assert np.array_equal(np.asarray(Image.open(o)), np.asarray(Image.open(tmp_path / "b4" / o.name)))


def test_existing_outputs_need_resume_or_overwrite(tmp_path):
    inputs = make_inputs(tmp_path / "in", n=2)
    out = tmp_path / "out"
    run_jobs(inputs, out, [1], ToyMethod(), progress=False)
    method = ToyMethod()
    with pytest.raises(N2LDiffError, match="already exist.*--resume.*--overwrite"):
        run_jobs(inputs, out, [1], method, progress=False)
    assert method.calls == []  # refused before any work
    again = run_jobs(inputs, out, [1], method, overwrite=True, progress=False)
    assert len(again.written) == 2 and len(read_manifest(out)) == 4
    with pytest.raises(N2LDiffError, match="not both"):
        run_jobs(inputs, out, [1], method, overwrite=True, resume=True, progress=False)


def test_resume_after_kill_finishes_only_the_rest(tmp_path):
    inputs = make_inputs(tmp_path / "in", n=5)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_jobs(inputs, out, [11], ToyMethod(stop_after=2), progress=False)
    assert no_temp_files(out)
    first = completed_outputs(out)
    assert len(first) == 2 and len(list(out.glob("*.png"))) == 2
    # a killed writer may also leave a stale temp file and half a manifest line
    (out / f".img4_s11.png.xyz{TEMP_SUFFIX}").write_bytes(b"partial")
    with open(out / "manifest.jsonl", "a") as handle:
        handle.write('{"input": "/x", "outp')
    assert completed_outputs(out) == first
    method = ToyMethod()
    summary = run_jobs(inputs, out, [11], method, resume=True, progress=False)
    assert len(summary.skipped) == 2 and len(summary.written) == 3 and summary.ok
    assert sum(len(c) for c in method.calls) == 3
    assert no_temp_files(out)
    records = read_manifest(out)
    assert sorted(r["output"] for r in records) == sorted(f"img{i}_s11.png" for i in range(5))
    # resume redoes an output that is in the manifest but was deleted from disk
    (out / "img0_s11.png").unlink()
    summary = run_jobs(inputs, out, [11], ToyMethod(), resume=True, progress=False)
    assert [p.name for p in summary.written] == ["img0_s11.png"] and len(summary.skipped) == 4


def test_bad_inputs_are_skipped_with_reasons_and_others_finish(tmp_path):
    odd = make_odd_images(tmp_path / "in")
    inputs = sorted(odd.values())
    out = tmp_path / "out"
    summary = run_jobs(inputs, out, [5], ToyMethod(), progress=False)
    reasons = {f.input.name: f.reason for f in summary.failed}
    assert set(reasons) == {"notes.png", "cut.jpg", "tiny.png"}
    assert "not an image" in reasons["notes.png"]
    assert "truncated" in reasons["cut.jpg"]
    assert "too small" in reasons["tiny.png"]
    assert all("\n" not in r for r in reasons.values())
    assert summary.exit_code == 1 and len(summary.written) == 5
    # EXIF rotation applied: the 40x24 stored image is shown (and written) as 24x40
    assert Image.open(out / "exif_s5.png").size == (24, 40)
    # grayscale, CMYK and 16-bit become ordinary RGB outputs of the input's size
    for name in ("gray_s5.png", "cmyk_s5.png", "deep_s5.png"):
        img = Image.open(out / name)
        assert img.mode == "RGB" and img.size == (40, 24)
    # RGBA: alpha re-attached for PNG
    rgba = Image.open(out / "rgba_s5.png")
    assert rgba.mode == "RGBA"
    assert np.array_equal(np.asarray(rgba)[..., 3], np.asarray(Image.open(odd["rgba"]))[..., 3])
    by_output = {r["output"]: r for r in read_manifest(out)}
    assert by_output["deep_s5.png"]["bit_depth"] == 16 and by_output["rgba_s5.png"]["alpha"] == "kept"
    assert no_temp_files(out)


def test_jpeg_output_drops_alpha(tmp_path):
    odd = make_odd_images(tmp_path / "in")
    summary = run_jobs([odd["rgba"]], tmp_path / "out", [1], ToyMethod(), image_format="jpg", progress=False)
    out = summary.written[0]
    assert out.name == "rgba_s1.jpg" and Image.open(out).mode == "RGB"
    assert read_manifest(tmp_path / "out")[0]["alpha"] == "dropped"


def test_same_stem_in_different_folders_keeps_structure(tmp_path):
    a = make_inputs(tmp_path / "in" / "a", n=1)[0]
    b = make_inputs(tmp_path / "in" / "b" / "deep", n=1)[0]
    c = tmp_path / "in" / "a" / "img0.jpg"
    Image.open(a).convert("RGB").save(c)
    jobs = plan_outputs([a, b, c], tmp_path / "out", [3])
    rels = [j.rel for j in jobs]
    assert rels == ["a/img0_png_s3.png", "b/deep/img0_s3.png", "a/img0_jpg_s3.png"]
    summary = run_jobs([a, b, c], tmp_path / "out", [3], ToyMethod(), progress=False)
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in summary.written) == sorted(rels)


def test_bad_arguments_fail_before_work(tmp_path):
    inputs = make_inputs(tmp_path / "in", n=1)
    with pytest.raises(N2LDiffError, match="seed"):
        run_jobs(inputs, tmp_path / "o", [], ToyMethod(), progress=False)
    with pytest.raises(N2LDiffError, match="duplicates"):
        run_jobs(inputs, tmp_path / "o", [1, 1], ToyMethod(), progress=False)
    with pytest.raises(N2LDiffError, match="format"):
        run_jobs(inputs, tmp_path / "o", [1], ToyMethod(), image_format="gif", progress=False)
    with pytest.raises(N2LDiffError, match="collision"):
        run_jobs(inputs, tmp_path / "o", [1, 2], ToyMethod(), name_template="{stem}", progress=False)
    with pytest.raises(N2LDiffError, match="template"):
        run_jobs(inputs, tmp_path / "o", [1], ToyMethod(), name_template="{nope}", progress=False)
    assert not (tmp_path / "o").exists()


def test_failing_method_is_reported_per_image(tmp_path):
    class Broken(ToyMethod):
        def __call__(self, images, seeds):
            if 2 in seeds:
                raise RuntimeError("out of memory\nsecond line")
            return super().__call__(images, seeds)

    inputs = make_inputs(tmp_path / "in", n=2)
    summary = run_jobs(inputs, tmp_path / "out", [1, 2], Broken(), progress=False)
    assert len(summary.written) == 2 and len(summary.failed) == 2
    assert all(f.seed == 2 and f.reason == "RuntimeError: out of memory" for f in summary.failed)


def test_progress_bar_runs(tmp_path, capsys):
    inputs = make_inputs(tmp_path / "in", n=2)
    summary = run_jobs(inputs, tmp_path / "out", [1], ToyMethod(), progress=True)
    assert summary.ok
    err = capsys.readouterr().err
    assert "img/s" in err and "2/2" in err


def test_manifest_writer_recovers_from_truncated_line(tmp_path):
    path = tmp_path / "manifest.jsonl"
    path.write_text('{"output": "a.png", "status": "ok"}\n{"output": "b.p')
    with ManifestWriter(tmp_path) as writer:
        writer.write({"output": "c.png", "status": "ok"})
    lines = path.read_text().splitlines()
    assert json.loads(lines[-1]) == {"output": "c.png", "status": "ok"}
    notices = []
    assert completed_outputs(tmp_path, notify=notices.append) == {"a.png", "c.png"}
    assert notices == [f"{path}: ignored line 2, left incomplete by an interrupted run"]
    info = run_info()
    assert info["n2ldiff_version"] == n2ldiff.__version__ and {"python", "platform", "time"} <= set(info)


def test_progress_rate_is_over_the_images_finished():
    """One image every 38 s reads 0.0263 img/s, however the updates fall (not a recent-window speed)."""
    from rich.progress import Progress

    from n2ldiff.inference.progress import _UnitsPerSecond

    now = [0.0]
    bar = Progress(get_time=lambda: now[0], disable=True)
    task_id = bar.add_task("n2ldiff", total=10)
    column = _UnitsPerSecond("img")
    assert column.render(bar.tasks[0]).plain == "- img/s"
    for _ in range(3):
        now[0] += 38.0
        bar.advance(task_id)
    assert column.render(bar.tasks[0]).plain == "0.0263 img/s"
    now[0] += 2.0  # a batch of four finishing together does not inflate the rate
    bar.advance(task_id, 4)
    assert column.render(bar.tasks[0]).plain == f"{7 / 116:.3g} img/s"
    assert _UnitsPerSecond("step").render(bar.tasks[0]).plain == f"{7 / 116:.3g} step/s"


def completed_outputs(out_dir, notify=None) -> set[str]:
    return set(latest_records(read_manifest(out_dir, notify)))
