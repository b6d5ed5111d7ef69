"""The demo's Gradio-free helpers: seeds, method runs through the public API, views, saved zip."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from n2ldiff.data.io import read_image
from n2ldiff.demo import results as R
from n2ldiff.errors import N2LDiffError


@pytest.fixture(scope="module")
def pipeline(tiny_model_dir):
    from n2ldiff.pipeline import LowLightPipeline

    return LowLightPipeline.from_pretrained(tiny_model_dir, device="cpu")


@pytest.fixture()
def photo(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(24, 40, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    return read_image(path)


# --------------------------------------------------------------------------------------------- seeds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3407, 123456", [3407, 123456]),
        ("  7 ", [7]),
        ("1 2,3;4", [1, 2, 3, 4]),
        ("5;0", [5, 0]),
    ],
)
def test_parse_seeds(text, expected):
    assert R.parse_seeds(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "no seeds"), (None, "no seeds"), ("3, x", "'x'"), ("-1", "0 to 2"), ("5, 5", "duplicates")],
)
def test_parse_seeds_errors(text, message):
    with pytest.raises(N2LDiffError, match=message):
        R.parse_seeds(text)


def test_parse_seeds_limit():
    with pytest.raises(N2LDiffError, match="at most 3"):
        R.parse_seeds("1 2 3 4", limit=3)


def test_unique_stems():
    assert R.unique_stems(["a.jpg", "a.png", "b c.tif", "a.webp", ".png"]) == [
        "a",
        "a_2",
        "b_c",
        "a_3",
        "png",
    ]


# ------------------------------------------------------------------------------------------- methods


def test_available_methods_lists_n2ldiff_and_baselines():
    methods = R.available_methods()
    assert methods[0] == R.N2LDIFF
    assert len(methods) == len(set(methods))
    pytest.importorskip("n2ldiff.baselines.registry")
    assert {"lv-random", "unprocess", "dark-isp"} <= set(methods)
    assert methods[1:4] == list(R.PREFERRED_BASELINES)


def test_compare_uses_the_pipeline_api(pipeline, photo, tmp_path):
    calls = []
    results = R.compare(
        pipeline, [("photo", photo)], [3, 11], [R.N2LDIFF], "ddim", 2, lambda *a: calls.append(a), out_dir=tmp_path
    )
    assert [(r.method, r.seed) for r in results] == [("n2ldiff", 3), ("n2ldiff", 11)]
    expected = [pipeline(photo.rgb, seeds=[seed], sampler="ddim", steps=2)[0] for seed in (3, 11)]
    for result, row in zip(results, expected, strict=True):
        assert result.image.shape == (3, 24, 40)
        torch.testing.assert_close(result.image, row)
        assert result.settings["sampler"] == "ddim"
        assert result.settings["steps"] == 2
        assert result.weights_sha256 == pipeline.weights_sha256
        assert result.input_sha256 == photo.sha256
    assert [c[:2] for c in calls] == [(0, 2), (1, 2), (2, 2)]


def test_compare_baselines_are_seeded_per_image(pipeline, photo, tmp_path):
    registry = pytest.importorskip("n2ldiff.baselines.registry")
    results = R.compare(pipeline, [("a", photo), ("b", photo)], [5], ["unprocess", "lv-random"], out_dir=tmp_path)
    assert [(r.name, r.method) for r in results] == [
        ("a", "unprocess"),
        ("a", "lv-random"),
        ("b", "unprocess"),
        ("b", "lv-random"),
    ]
    expected = registry.get_method("unprocess")(photo.rgb[None], torch.Generator().manual_seed(5))[0]
    torch.testing.assert_close(results[0].image, expected.clamp(0, 1))
    torch.testing.assert_close(results[0].image, results[2].image)  # same image and seed, same output
    assert results[0].weights_sha256 is None
    assert results[0].settings == {"method": "unprocess"}  # the same record as `n2ldiff simulate` writes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"inputs": []}, "upload at least one photo"),
        ({"methods": []}, "at least one method"),
        ({"seeds": []}, "at least one seed"),
        ({"methods": ["no-such-method"]}, "no-such-method"),
        ({"sampler": "euler"}, "unknown sampler"),
    ],
)
def test_compare_rejects_bad_options_before_work(pipeline, photo, kwargs, message, tmp_path):
    calls = []
    args = {"inputs": [("photo", photo)], "seeds": [1], "methods": [R.N2LDIFF], "sampler": "ddim"}
    args.update(kwargs)
    with pytest.raises(N2LDiffError, match=message):
        R.compare(pipeline, progress=lambda *a: calls.append(a), out_dir=tmp_path / "out", **args)
    assert calls == [] and not (tmp_path / "out").exists()


def test_compare_exposure_reaches_n2ldiff_and_is_recorded(tiny_v2_model_dir, photo, tmp_path):
    """The demo's exposure slider: R goes to n2ldiff (not to the baselines) and each result records it."""
    from n2ldiff.pipeline import LowLightPipeline

    pipe = LowLightPipeline.from_pretrained(tiny_v2_model_dir, device="cpu")
    methods = [R.N2LDIFF, "lv-random"] if R.baseline_names() else [R.N2LDIFF]
    results = R.compare(pipe, [("p", photo)], [3], methods, exposure=4.0, out_dir=tmp_path / "four")
    torch.testing.assert_close(results[0].image, pipe(photo.rgb, seeds=[3], exposure=4.0)[0])
    assert results[0].exposure == 4.0 and results[0].settings["exposure"] == "4"
    assert all(r.exposure is None for r in results[1:])
    auto = R.compare(pipe, [("p", photo)], [3], [R.N2LDIFF], exposure="auto", out_dir=tmp_path / "auto")
    assert auto[0].exposure == round(pipe.exposures(photo.rgb[None], [3])[0], 4)


def test_compare_without_a_model_still_runs_baselines(photo, tmp_path):
    pytest.importorskip("n2ldiff.baselines.registry")
    assert len(R.compare(None, [("p", photo)], [1], ["dark-isp"], out_dir=tmp_path)) == 1
    with pytest.raises(N2LDiffError, match="no n2ldiff model"):
        R.compare(None, [("p", photo)], [1], [R.N2LDIFF], out_dir=tmp_path)


# --------------------------------------------------------------------------------------------- views


def test_brighten_matches_the_reference_mean_luminance():
    reference = torch.full((3, 8, 8), 0.5)
    low = 0.01 + torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.02
    out = R.brighten(low, reference)
    assert out.shape == low.shape
    assert float(R.luminance(out).mean()) == pytest.approx(0.5, rel=1e-5)
    torch.testing.assert_close(out / low, torch.full_like(low, float(out[0, 0, 0] / low[0, 0, 0])))  # one gain
    assert float(R.brighten(low, torch.ones(3, 8, 8)).max()) == 1.0  # clipped, not wrapped


def test_brighten_caps_the_gain_and_survives_black():
    reference = torch.ones(3, 4, 4)
    torch.testing.assert_close(
        R.brighten(torch.full((3, 4, 4), 0.001), reference, max_gain=10), torch.full((3, 4, 4), 0.01)
    )
    assert torch.equal(R.brighten(torch.zeros(3, 4, 4), reference), torch.zeros(3, 4, 4))


def test_luminance_weights():
    image = torch.zeros(3, 1, 1)
    image[1] = 1.0
    assert float(R.luminance(image)) == pytest.approx(0.7152)


def test_zoom_crop_is_a_nearest_neighbour_center_crop():
    image = torch.arange(3 * 40 * 60, dtype=torch.float32).reshape(3, 40, 60) / (3 * 40 * 60)
    out = R.zoom_crop(image, fraction=0.25, size=100)  # 10 px crop, x10
    assert out.shape == (3, 100, 100)
    crop = image[:, 15:25, 25:35]
    torch.testing.assert_close(out[:, ::10, ::10], crop)
    assert torch.equal(out[:, :10, :10], crop[:, :1, :1].expand(3, 10, 10))
    assert R.zoom_crop(image[None], 0.5, 20).shape == (1, 3, 20, 20)  # 20 px crop, factor 1
    with pytest.raises(N2LDiffError, match="fraction"):
        R.zoom_crop(image, 0)


def test_to_uint8_rounds_to_hwc():
    image = torch.tensor([0.0, 0.5, 1.0]).view(3, 1, 1).expand(3, 2, 5)
    out = R.to_uint8(image)
    assert out.shape == (2, 5, 3)
    assert out.dtype == np.uint8
    assert out[0, 0].tolist() == [0, 128, 255]


# -------------------------------------------------------------------------------------------- saving


def test_save_results_writes_pngs_manifest_and_zip(pipeline, photo, tmp_path):
    results = R.compare(pipeline, [("photo", photo)], [3407, 9], [R.N2LDIFF], "ddim", 2, out_dir=tmp_path / "out")
    saved = R.save_results(results)
    assert [p.name for p in saved.pngs] == ["photo_n2ldiff_s3407.png", "photo_n2ldiff_s9.png"]
    for path, result in zip(saved.pngs, results, strict=True):
        decoded = read_image(path)
        assert decoded.size == (24, 40)
        assert torch.allclose(decoded.rgb, result.image, atol=0.5 / 255 + 1e-6)
    with zipfile.ZipFile(saved.zip) as archive:
        names = archive.namelist()
        assert sorted(names) == sorted([p.name for p in saved.pngs] + ["manifest.jsonl"])
        records = [json.loads(line) for line in archive.read("manifest.jsonl").decode().splitlines()]
        with archive.open("photo_n2ldiff_s9.png") as handle:
            assert Image.open(handle).size == (40, 24)
    assert [(r["output"], r["seed"], r["method"]) for r in records] == [
        ("photo_n2ldiff_s3407.png", 3407, "n2ldiff"),
        ("photo_n2ldiff_s9.png", 9, "n2ldiff"),
    ]
    first = records[0]
    assert first["input"] == "photo"
    assert first["input_sha256"] == photo.sha256
    assert first["settings"]["sampler"] == "ddim"
    assert first["settings"]["steps"] == 2
    assert first["weights_sha256"] == pipeline.weights_sha256
    assert first["version"] == first["run"]["n2ldiff_version"]
    assert first["size"] == [24, 40]
    assert not list((tmp_path / "out").glob("*.part"))
