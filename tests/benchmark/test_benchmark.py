"""The benchmark engine and report on 4 tiny synthetic pairs (low = 0.3 * normal + known noise)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from n2ldiff.benchmark import BenchmarkConfig, prepare_pair, run_benchmark, write_report
from n2ldiff.data.io import read_image
from n2ldiff.errors import N2LDiffError
from n2ldiff.metrics.fidelity import psnr, ssim
from n2ldiff.metrics.weights import default_weights_dir, weights_available
from tests.conftest import REPO_ROOT

SCENES = ("a", "b", "c", "d")


@pytest.fixture(scope="module", autouse=True)
def _needs_lpips():
    if not weights_available("lpips", default_weights_dir()):
        pytest.skip("LPIPS weights not fetched; run `n2ldiff fetch-weights`")


@pytest.fixture(autouse=True)
def _one_thread():
    # These tests compare no reference tensors; one thread avoids oversubscribing a busy machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _scene(rng: np.random.Generator, h: int = 70, w: int = 68) -> np.ndarray:
    """A smooth scene with flat patches and a few edges, values in [0.15, 0.85]."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = 0.5 + 0.3 * np.sin(2 * np.pi * (yy * rng.uniform(0.5, 1.5) + xx * rng.uniform(0.5, 1.5)))
    img = np.stack([base * c for c in rng.uniform(0.6, 1.0, 3)], axis=-1)
    img[h // 3 : h // 2, w // 4 : w // 2] *= 0.5  # an edge
    return np.clip(img, 0.15, 0.85)


def _write(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.clip(arr, 0, 1) * 255).round().astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(0)
    rows = ["scene,split"]
    for name in (*SCENES, "train1"):
        normal = _scene(rng)
        low = normal * 0.3 + rng.normal(0, 0.02, normal.shape)
        _write(root / "normal" / f"{name}.png", normal)
        _write(root / "low" / f"{name}.png", low)
        rows.append(f"{name},{'train' if name.startswith('train') else 'test'}")
    (root / "split.csv").write_text("\n".join(rows) + "\n")
    return root


def _config(dataset: Path, out: Path, **kw) -> BenchmarkConfig:
    base = dict(
        data=dataset,
        layout="pairs",
        out=out,
        methods=["lv-grid", "lv-random-noise"],
        seeds=[1, 2],
        n_subsets=2,
        device="cpu",
        example_scenes=2,
    )
    base.update(kw)
    return BenchmarkConfig(**base)


@pytest.fixture(scope="module")
def ran(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    config = _config(dataset, out)
    torch.set_num_threads(1)
    result = run_benchmark(config)
    paths = write_report(result)
    return config, result, paths


def test_prepare_pair_crops_top_left_to_multiples():
    normal = torch.rand(3, 70, 68)
    low = torch.rand(3, 72, 66)
    n, lo = prepare_pair(normal, low, 32)
    assert n.shape == lo.shape == (3, 64, 64)
    assert torch.equal(n, normal[:, :64, :64]) and torch.equal(lo, low[:, :64, :64])
    n2, _ = prepare_pair(torch.rand(3, 200, 100), torch.rand(3, 200, 100), 32, max_side=64)
    assert n2.shape == (3, 64, 32)


def test_split_and_rows(ran):
    config, result, _ = ran
    assert result.scenes == list(SCENES)  # the train scene is not in the test split
    methods = [g.name for g in result.groups if g.kind == "method"]
    assert len([m for m in methods if m.startswith("lv-grid-")]) == 8
    assert "lv-random-noise" in methods
    assert [g.name for g in result.groups if g.kind == "control"] == ["real low", "normal", "dark-clean"]
    for stat in result.statistics:
        if stat.name != "diversity":
            assert {"real-vs-real", "normal", "dark-clean"} <= set(stat.values)
        assert stat.label in ("informative", "uninformative", "descriptive")
        assert all(len(v) == 2 for v in stat.values.values())
    assert {s.name for s in result.statistics} >= {"nlf_distance", "brightness_error", "diversity"}


def test_paired_metrics_match_direct_calls(ran, dataset):
    config, result, _ = ran
    from n2ldiff.inference.methods import load_method

    name = "lv-grid-a1-b0.5-g1.5"
    g = result.group(name)
    for i, scene in enumerate(SCENES[:2]):
        normal, low = prepare_pair(
            read_image(dataset / "normal" / f"{scene}.png").rgb,
            read_image(dataset / "low" / f"{scene}.png").rgb,
        )
        out = load_method(name)(normal[None], [2])
        out = (out.clamp(0, 1) * 255).round() / 255  # outputs are scored as saved (8 bits)
        cached = read_image(config.images_dir / name / f"{scene}_s2.png").rgb[None]
        assert torch.allclose(out, cached, atol=1e-6)
        assert g.psnr[1][i] == pytest.approx(float(psnr(out, low[None])[0]), abs=1e-4)
        assert g.ssim[1][i] == pytest.approx(float(ssim(out, low[None])[0]), abs=1e-5)
    s = g.summary("psnr")
    t = torch.tensor(g.psnr, dtype=torch.float64)
    assert s["mean"] == pytest.approx(float(t.mean()))
    assert s["std"] == pytest.approx(float(t.mean(0).std()))
    # the noise-free grid setting is deterministic: identical across seeds, so zero diversity
    assert g.psnr[0] == g.psnr[1]
    assert max(g.diversity) < 1e-6
    assert min(result.group("lv-random-noise").diversity) > 0


def test_controls_behave(ran):
    _, result, _ = ran
    dark, normal = result.group("dark-clean"), result.group("normal")
    # exposure-matched noise-free darkening is much closer to 0.3*normal+noise than the normal image
    assert dark.summary("psnr")["mean"] > normal.summary("psnr")["mean"] + 5
    nlf = result.statistic("nlf_distance")
    # real-vs-real compares the two checkerboard halves of the same real images: same noise (std 0.02),
    # so close to 0; a noise-free darkening reads about log(0.02 / 0.001) away
    assert nlf.mean_std("real-vs-real")[0] < 0.3
    assert nlf.mean_std("dark-clean")[0] > 1.0
    tone = result.statistic("tone_curve_distance")
    # the real low images are 0.3 * normal (+ zero-mean noise): the untouched normal is log(1/0.3) away
    assert tone.mean_std("real-vs-real")[0] < 0.05
    assert tone.mean_std("normal")[0] > 0.8


def test_realism_values_are_subset_means_of_per_scene_values(ran):
    _, result, _ = ran
    for stat in result.statistics:
        if stat.name in ("diversity", "kid", "fid"):
            assert not stat.per_scene
            continue
        assert set(stat.per_scene) == set(stat.values)
        for row, per_scene in stat.per_scene.items():
            assert len(per_scene) == len(result.scenes)
            for value, idx in zip(stat.values[row], result.subsets, strict=True):
                assert value == pytest.approx(np.nanmean([per_scene[i] for i in idx]))


def test_outputs_written(ran):
    _, result, paths = ran
    data = json.loads(paths["json"].read_text())
    assert data["run"]["seeds"] == [1, 2] and "torch_version" in data["run"]
    assert data["run"]["config"]["layout"] == "pairs"
    assert {s["name"] for s in data["realism"]} >= {"nlf_distance", "tone_curve_distance", "diversity"}
    tone = next(s for s in data["realism"] if s["name"] == "tone_curve_distance")
    assert len(tone["per_scene"]["real-vs-real"]) == len(result.scenes)
    assert data["run"]["region_tile"] == 32
    with open(paths["csv"], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["name"] for r in rows[:3]] == ["real-vs-real", "normal", "dark-clean"]
    assert len(rows) == 3 + 9
    md = paths["markdown"].read_text()
    assert "*real-vs-real* (control)" in md and "`lv-grid-a0.9-b0.5-g5`" in md
    for stat in result.statistics:
        assert f"[{stat.label}]" in md
    for key in ("examples", "noise_level", "tone_curves"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_skips_finished_work(ran, monkeypatch):
    config, result, _ = ran
    from n2ldiff.inference import methods

    def fail(self, images, seeds):
        raise AssertionError("a cached output was generated again")

    monkeypatch.setattr(methods.BaselineMethod, "__call__", fail)
    again = run_benchmark(config)
    for g in result.groups:
        assert again.group(g.name).psnr == g.psnr
        assert again.group(g.name).seconds_per_image == pytest.approx(g.seconds_per_image, nan_ok=True)


def test_changed_settings_in_cache_is_an_error(dataset, tmp_path):
    config = _config(dataset, tmp_path, methods=["lv-random"], seeds=[1], max_images=2, figures=False)
    run_benchmark(config)
    manifest = tmp_path / "images" / "lv-random" / "manifest.jsonl"
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    manifest.write_text("".join(json.dumps({**r, "settings": {"method": "other"}}) + "\n" for r in records))
    with pytest.raises(N2LDiffError, match="other settings.*--no-resume"):
        run_benchmark(config)
    run_benchmark(_config(dataset, tmp_path, methods=["lv-random"], seeds=[1], max_images=2, resume=False))
    assert len(manifest.read_text().splitlines()) == 2  # --no-resume forgets the earlier records
    run_benchmark(config)  # and resumes from the new ones
    with pytest.raises(N2LDiffError, match="crop"):  # another crop is another setting
        run_benchmark(_config(dataset, tmp_path, methods=["lv-random"], seeds=[1], max_images=2, size_multiple=16))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"layout": "nope"}, "unknown dataset layout"),
        ({"data": Path("/nonexistent/benchmark-data")}, "not found"),
        ({"methods": ["lv-grid", "no-such-method"]}, "unknown baseline"),
        ({"seeds": []}, "seed"),
        ({"region_tile": 0}, "region tile"),
    ],
)
def test_user_errors_are_one_line(dataset, tmp_path, kw, match):
    with pytest.raises(N2LDiffError, match=match) as err:
        run_benchmark(_config(dataset, tmp_path, **kw))
    assert "\n" not in str(err.value)


def test_wrong_layout_folder(dataset, tmp_path):
    with pytest.raises(N2LDiffError) as err:
        run_benchmark(_config(dataset, tmp_path, layout="lol"))
    assert "\n" not in str(err.value)


def test_cli(dataset, tmp_path):
    from typer.testing import CliRunner

    from n2ldiff.cli import app, spread_multi_value_options

    runner = CliRunner()
    args = ["benchmark", "--data", str(dataset), "--layout", "pairs", "--methods", "lv-random",
            "--seeds", "1", "2", "--out", str(tmp_path / "o"), "--max-images", "2", "--subsets", "2",
            "--region-tile", "16", "--no-figures", "--device", "cpu"]  # fmt: skip
    res = runner.invoke(app, spread_multi_value_options(args))
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    assert data["run"]["seeds"] == [1, 2] and data["scenes"] == ["a", "b"]
    assert data["run"]["region_tile"] == 16
    bad = runner.invoke(app, ["benchmark", "--data", str(tmp_path / "missing"), "--layout", "pairs",
                              "--out", str(tmp_path / "x"), "--methods", "lv-random"])  # fmt: skip
    assert bad.exit_code == 2
    assert "error:" in bad.output and "Traceback" not in bad.output


def test_n2ldiff_method_row(dataset, tmp_path, tiny_model_dir):
    config = _config(
        dataset, tmp_path, methods=["n2ldiff"], seeds=[5], model=tiny_model_dir, max_images=2, figures=False
    )
    result = run_benchmark(config)
    g = result.group("n2ldiff")
    assert g.weights_sha256 and len(g.psnr[0]) == 2
    assert result.run["methods"]["n2ldiff"]["weights_sha256"] == g.weights_sha256
    assert (tmp_path / "images" / "n2ldiff" / "a_s5.png").is_file()


def test_kid_against_real_low(dataset, tmp_path):
    if not weights_available("inception", default_weights_dir()):
        pytest.skip("Inception weights not fetched")
    real = tmp_path / "real_low"
    for name in ("x", "y", "z"):
        _write(real / f"{name}.png", _scene(np.random.default_rng(len(name) + ord(name))) * 0.2)
    config = _config(dataset, tmp_path / "o", methods=["lv-random-noise"], seeds=[1], real_low=real, figures=False)
    result = run_benchmark(config)
    kid = result.statistic("kid")
    assert set(kid.values) == {"real-vs-real", "normal", "dark-clean", "lv-random-noise"}
    assert all(np.isfinite(v).all() for v in kid.values.values())
    assert result.run["real_low_images"] == 3


def test_assess_distance_needs_controls_worse_than_real():
    from n2ldiff.benchmark.run import assess_distance

    good = {"real-vs-real": [0.10, 0.12, 0.11], "normal": [0.9, 0.95, 0.92], "dark-clean": [0.6, 0.62, 0.61]}
    assert assess_distance(good)[0] == "informative"
    oracle = dict(good, **{"dark-clean": [0.0, 0.0, 0.0]})  # separated, but closer to real than real
    label, reason, _ = assess_distance(oracle)
    assert label == "uninformative" and "dark-clean" in reason
    blurry = dict(good, normal=[0.1, 0.3, 0.05])
    assert assess_distance(blurry)[0] == "uninformative"


def test_unusable_pairs_are_reported_and_skipped(dataset, tmp_path):
    """A corrupt file or a too-small image skips its pair (recorded), the rest is still benchmarked."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(dataset, data)
    (data / "normal" / "b.png").write_bytes(b"not an image")
    rng = np.random.default_rng(3)
    _write(data / "normal" / "c.png", _scene(rng, 20, 20))
    _write(data / "low" / "c.png", _scene(rng, 20, 20) * 0.3)
    logged: list[str] = []
    result = run_benchmark(_config(data, tmp_path / "o", methods=["lv-random"], figures=False), log=logged.append)
    assert result.scenes == ["a", "d"]
    skipped = result.run["skipped_pairs"]
    assert set(skipped) == {"b", "c"}
    assert "b.png" in skipped["b"] and "32" in skipped["c"]
    assert any(m.startswith("skipped b:") for m in logged)
    paths = write_report(result)
    assert "Skipped 2 unusable pair(s)" in paths["markdown"].read_text()
    assert json.loads(paths["json"].read_text())["run"]["skipped_pairs"] == skipped

    (data / "normal" / "d.png").write_bytes(b"")
    with pytest.raises(N2LDiffError, match="at least 2 readable pairs"):
        run_benchmark(_config(data, tmp_path / "o2", methods=["lv-random"], figures=False))


def test_n2ldiff_exposure_rows_and_the_oracle(dataset, tmp_path, tiny_v2_model_dir, tiny_model_dir):
    from n2ldiff.inference.manifest import read_manifest

    config = _config(dataset, tmp_path, methods=["n2ldiff"], seeds=[5, 6], model=tiny_v2_model_dir, max_images=2,
                     figures=False, exposures=["auto", "oracle", "4"])  # fmt: skip
    result = run_benchmark(config)
    assert [g.name for g in result.groups if g.kind == "method"] == ["n2ldiff", "n2ldiff@oracle", "n2ldiff@4"]
    oracle = result.run["oracle_exposures"]
    assert sorted(oracle) == ["a", "b"] and all(2.5 < r < 4.5 for r in oracle.values())  # low ~ 0.3 normal
    # each pair's real R reached the model, and is recorded per output
    records = read_manifest(tmp_path / "images" / "n2ldiff@oracle")
    assert len(records) == 4 and all(r["exposure"] == oracle[r["scene"]] for r in records)
    assert result.group("n2ldiff@oracle").settings["exposure"] == "oracle"
    assert {r["exposure"] for r in read_manifest(tmp_path / "images" / "n2ldiff@4")} == {4.0}
    for g in result.groups:  # artifact measures on every row, the seed ones with two seeds
        assert len(g.checkerboard) == len(g.exposure_ratio) == 2
        assert len(g.blotch) == len(g.seed_noise_ratio) == (2 if g.kind == "method" else 0)
    assert len(run_benchmark(config).groups) == len(result.groups)
    assert len(read_manifest(tmp_path / "images" / "n2ldiff@oracle")) == 4  # resumed: nothing made again
    with pytest.raises(N2LDiffError, match="not conditioned on the exposure"):
        run_benchmark(_config(dataset, tmp_path / "v1", methods=["n2ldiff"], seeds=[5], model=tiny_model_dir,
                              max_images=2, figures=False, exposures=["oracle"]))  # fmt: skip


def _readme_section(title: str) -> str:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split(f"### {title}\n", 1)[1].split("\n### ", 1)[0]


def _table_lines(results_md: str) -> list[str]:
    return [line for line in (REPO_ROOT / results_md).read_text(encoding="utf-8").splitlines() if line.startswith("| ")]


@pytest.mark.parametrize(
    ("title", "results_md"),
    [
        ("Results on SICE (test split, 34 pairs)", "docs/benchmark/results.md"),  # benchmarks/sice_benchmark.sh
        ("Results on SICE frames (test split, 125 frames of the 34 test scenes)", "docs/benchmark/frames/results.md"),
    ],
)
def test_the_readme_sice_tables_are_the_committed_run(title, results_md):
    """The README's SICE results are the committed benchmark outputs, table row for table row."""
    section = _readme_section(title).splitlines()
    table_lines = _table_lines(results_md)
    assert len(table_lines) > 15
    missing = [line for line in table_lines if line not in section]
    assert not missing, f"README lacks {len(missing)} rows of {results_md}, e.g. {missing[0]}"


def test_the_readme_summary_quotes_the_committed_oracle_scores():
    readme = " ".join((REPO_ROOT / "README.md").read_text(encoding="utf-8").split())
    oracle = next(x for x in _table_lines("docs/benchmark/results.md") if x.startswith("| `n2ldiff@oracle` |"))
    psnr, ssim, lpips = (cell.split(" ± ")[0].strip() for cell in oracle.split("|")[2:5])  # the paired table
    assert f"PSNR {psnr} dB, SSIM {ssim}, LPIPS {lpips}" in readme
