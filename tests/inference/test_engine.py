"""The engine's guarantees: one run per folder, resume refuses other settings, changed inputs are redone,
and how far outputs may move with batch size and thread count (measured, then pinned)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from n2ldiff.errors import N2LDiffError
from n2ldiff.files import LOCK_NAME, TEMP_SUFFIX
from n2ldiff.inference.engine import Job, RunEvent, identity_differences, run
from n2ldiff.inference.manifest import read_manifest
from n2ldiff.inference.runner import run_jobs
from tests.inference.test_runner import ToyMethod, make_inputs


def test_a_second_run_into_the_same_folder_is_refused_at_once(tmp_path):
    inputs = make_inputs(tmp_path / "in", n=2)
    out = tmp_path / "out"
    seen = {}

    class Intruder(ToyMethod):
        def __call__(self, images, seeds):
            if not seen:  # while the first run is working, a second one starts on the same folder
                (out / f".img1_s1.png.x{TEMP_SUFFIX}").write_bytes(b"the first run's write in progress")
                with pytest.raises(N2LDiffError, match="is in use by another n2ldiff run") as err:
                    run_jobs(inputs, out, [1], ToyMethod(), resume=True, progress=False)
                seen["message"] = str(err.value)
                seen["temp kept"] = (out / f".img1_s1.png.x{TEMP_SUFFIX}").exists()
            return super().__call__(images, seeds)

    summary = run_jobs(inputs, out, [1], Intruder(), progress=False)
    assert summary.ok and len(summary.written) == 2
    assert seen["temp kept"]  # the refused run touched nothing
    assert str(out) in seen["message"] and "\n" not in seen["message"]
    assert len(read_manifest(out)) == 2  # no duplicate records
    assert not (out / LOCK_NAME).exists()
    # once the first run is over, the folder is free again
    assert len(run_jobs(inputs, out, [1], ToyMethod(), resume=True, progress=False).skipped) == 2


def test_resume_refuses_other_settings_and_names_the_difference(tmp_path):
    inputs = make_inputs(tmp_path / "in", n=2)
    out = tmp_path / "out"
    run_jobs(inputs, out, [1], ToyMethod(), progress=False)

    other_steps = ToyMethod()
    other_steps.settings = {"scale": 0.3, "steps": 2}
    with pytest.raises(N2LDiffError, match=r"other settings \(steps 1 -> 2;") as err:
        run_jobs(inputs, out, [1], other_steps, resume=True, progress=False)
    assert "\n" not in str(err.value) and other_steps.calls == []

    new_key = ToyMethod()  # a setting that did not exist when the folder was made is a difference too
    new_key.settings = {"scale": 0.3, "steps": 1, "exposure": 0.5}
    with pytest.raises(N2LDiffError, match=r"exposure \(none\) -> 0.5"):
        run_jobs(inputs, out, [1], new_key, resume=True, progress=False)

    other_weights = ToyMethod()
    other_weights.weights_sha256 = "fff000"
    with pytest.raises(N2LDiffError, match="model weights"):
        run_jobs(inputs, out, [1], other_weights, resume=True, progress=False)

    with pytest.raises(N2LDiffError, match="format 'png' -> 'jpg'"):
        run_jobs(inputs, out, [1], ToyMethod(), resume=True, image_format="jpg", progress=False)

    # the same settings resume; --overwrite replaces whatever was there
    assert len(run_jobs(inputs, out, [1], ToyMethod(), resume=True, progress=False).skipped) == 2
    assert len(run_jobs(inputs, out, [1], other_steps, overwrite=True, progress=False).written) == 2
    assert len(run_jobs(inputs, out, [1], other_steps, resume=True, progress=False).skipped) == 2


def test_resume_redoes_outputs_whose_input_changed(tmp_path):
    inputs = make_inputs(tmp_path / "in", n=3)
    out = tmp_path / "out"
    run_jobs(inputs, out, [4], ToyMethod(), progress=False)
    Image.fromarray(np.zeros((24, 32, 3), dtype=np.uint8)).save(inputs[1])  # new content, same name
    summary = run_jobs(inputs, out, [4], ToyMethod(), resume=True, progress=False)
    assert [p.name for p in summary.written] == ["img1_s4.png"] and len(summary.skipped) == 2
    assert np.asarray(Image.open(out / "img1_s4.png")).mean() < 10  # made from the new, black input


def test_jobs_with_preloaded_images_events_and_extra_fields(tmp_path):
    from n2ldiff.data.io import read_image

    image = read_image(make_inputs(tmp_path / "in", n=1)[0])
    jobs = [
        Job("scene-a", seed, tmp_path / "out" / f"a_s{seed}.png", f"a_s{seed}.png", image=image, key="a",
            fields={"scene": "a"})
        for seed in (1, 2)
    ]  # fmt: skip
    events: list[RunEvent] = []
    outputs = {}
    summary = run(jobs, ToyMethod(), tmp_path / "out", on_event=events.append,
                  on_output=lambda job, low, record: outputs.setdefault(job.rel, low))  # fmt: skip
    assert summary.ok and [(e.status, e.done, e.total) for e in events] == [
        ("start", 0, 2), ("written", 1, 2), ("written", 2, 2),
    ]  # fmt: skip
    records = read_manifest(tmp_path / "out")
    assert [(r["input"], r["scene"], r["seed"], r["input_sha256"]) for r in records] == [
        ("scene-a", "a", 1, image.sha256), ("scene-a", "a", 2, image.sha256),
    ]  # fmt: skip
    assert outputs["a_s1.png"].dtype == torch.float32  # the float result, before 8-bit rounding


class DarkenBy(ToyMethod):
    """A method that takes an exposure ratio: rows are divided by R (drawn as 2 + seed unless given)."""

    name = "darken"

    def __init__(self, exposure: str = "auto") -> None:
        super().__init__()
        self.settings = {"exposure": exposure}
        self.given: list[list[float] | None] = []

    def exposures(self, images, seeds):
        return [2.0 + seed for seed in seeds]

    def __call__(self, images, seeds, exposures=None):
        self.given.append(None if exposures is None else list(exposures))
        ratios = exposures if exposures is not None else self.exposures(images, seeds)
        return torch.stack([image / r for image, r in zip(images, ratios, strict=True)])


def test_exposure_is_recorded_per_output_and_given_per_job(tmp_path):
    inputs = make_inputs(tmp_path / "in", n=2)
    out = tmp_path / "out"
    method = DarkenBy()
    assert run_jobs(inputs, out, [1, 2], method, progress=False).ok
    assert method.given == [None] * 4  # the method draws its own R
    assert sorted((r["output"], r["exposure"]) for r in read_manifest(out)) == [
        ("img0_s1.png", 3.0), ("img0_s2.png", 4.0), ("img1_s1.png", 3.0), ("img1_s2.png", 4.0),
    ]  # fmt: skip
    # methods without an exposure record None
    assert {r["exposure"] for r in read_manifest(run_jobs(inputs, tmp_path / "toy", [1], ToyMethod(),
                                                          progress=False).out_dir)} == {None}  # fmt: skip

    # a job's own ratio (the benchmark's oracle) is passed to the method and recorded; on resume an output
    # made at another ratio is made again
    from n2ldiff.data.io import read_image

    image = read_image(inputs[0])
    folder = tmp_path / "oracle"

    def jobs(ratio, where=folder):
        return [Job("a", 1, where / "a_s1.png", "a_s1.png", image=image, exposure=ratio)]

    oracle = DarkenBy("oracle")
    assert run(jobs(5.0), oracle, folder).ok and oracle.given == [[5.0]]
    assert read_manifest(folder)[-1]["exposure"] == 5.0
    assert len(run(jobs(5.0), oracle, folder, mode="resume").skipped) == 1
    again = run(jobs(6.5), oracle, folder, mode="resume")
    assert len(again.written) == 1 and oracle.given[-1] == [6.5] and read_manifest(folder)[-1]["exposure"] == 6.5

    # a method without an exposure cannot be given one: the output fails with the reason
    failed = run(jobs(2.0, tmp_path / "none"), ToyMethod(), tmp_path / "none")
    assert not failed.ok and "takes no exposure ratio" in failed.failed[0].reason


def test_resume_refuses_another_exposure_setting(tmp_path):
    inputs = make_inputs(tmp_path / "in", n=1)
    out = tmp_path / "out"
    run_jobs(inputs, out, [1], DarkenBy("4"), progress=False)
    with pytest.raises(N2LDiffError, match=r"exposure '4' -> '2:16'"):
        run_jobs(inputs, out, [1], DarkenBy("2:16"), resume=True, progress=False)
    assert len(run_jobs(inputs, out, [1], DarkenBy("4"), resume=True, progress=False).skipped) == 1


def test_identity_differences():
    record = {"method": "n2ldiff", "settings": {"sampler": "ddim", "steps": 6}, "weights_sha256": "a" * 64,
              "output": "x_s1.png"}  # fmt: skip
    same = {"method": "n2ldiff", "settings": {"sampler": "ddim", "steps": 6}, "weights_sha256": "a" * 64}
    assert identity_differences(record, {**same, "format": "png"}) == []
    assert identity_differences(record, {**same, "settings": {"sampler": "dpm-solver++", "steps": 2}}) == [
        "sampler 'ddim' -> 'dpm-solver++'",
        "steps 6 -> 2",
    ]
    assert identity_differences(record, {**same, "jpeg_quality": 80}) == []  # not recorded then: not compared


# ------------------------------------------------------------------------------------------ determinism


def _pixels(folder):
    return {p.name: np.asarray(Image.open(p), dtype=np.int16) for p in sorted(folder.glob("*.png"))}


@pytest.mark.slow
def test_outputs_by_batch_size_and_threads_differ_by_at_most_one_level(tmp_path, tiny_model_dir):
    """The documented guarantee (README, *Reproducible*): byte-identical for the same settings, batch size
    and thread count on the same machine; otherwise every value within 1/255."""
    from n2ldiff.inference.methods import load_method

    inputs = make_inputs(tmp_path / "in", n=4, sizes=((40, 56),))
    method = load_method("n2ldiff", tiny_model_dir, "cpu", "dpm-solver++", 3)
    before = torch.get_num_threads()
    runs = {}
    try:
        for threads, batch in ((1, 1), (1, 4), (2, 1), (2, 4), (2, 4)):
            torch.set_num_threads(threads)
            out = tmp_path / f"t{threads}-b{batch}-{len(runs)}"
            assert run_jobs(inputs, out, [3407, 5], method, batch_size=batch, progress=False).ok
            runs[out.name] = out
    finally:
        torch.set_num_threads(before)
    reference = _pixels(runs["t1-b1-0"])
    assert len(reference) == 8
    for name, out in runs.items():
        pixels = _pixels(out)
        worst = max(int(np.abs(pixels[k] - reference[k]).max()) for k in reference)
        assert worst <= 1, f"{name}: {worst} levels from the 1-thread, batch-1 run"
    for name in reference:  # same settings, batch size and threads: the same bytes
        assert (runs["t2-b4-3"] / name).read_bytes() == (runs["t2-b4-4"] / name).read_bytes()


def test_resume_refuses_auto_draws_from_a_recalibrated_exposure_distribution(tmp_path, tiny_v2_model_dir):
    """``auto`` records the quantiles it drew from: after a model's ``exposure_quantiles`` change (same
    weights), its old outputs are not silently resumed."""
    import json
    import shutil

    from n2ldiff.inference.methods import load_method

    model = tmp_path / "model"
    shutil.copytree(tiny_v2_model_dir, model)
    inputs = make_inputs(tmp_path / "in", n=1)
    out = tmp_path / "out"
    run_jobs(inputs, out, [1], load_method("n2ldiff", model, "cpu", exposure="auto"), progress=False)
    config = json.loads((model / "config.json").read_text())
    config["exposure_quantiles"] = [2 * q for q in config["exposure_quantiles"]]
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(N2LDiffError, match="exposure_quantiles"):
        run_jobs(inputs, out, [1], load_method("n2ldiff", model, "cpu", exposure="auto"), resume=True, progress=False)
    fixed = load_method("n2ldiff", model, "cpu", exposure=4)
    assert "exposure_quantiles" not in fixed.settings  # a fixed R does not depend on them
