"""build-voc: output layout, identical results in-process / local workers / Ray, resume, failures."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from n2ldiff.builders import shards as shards_module
from n2ldiff.builders.voc import build_dataset, find_images, image_seed, plan_shards
from n2ldiff.cli import app
from n2ldiff.defaults import DEFAULT_SEEDS
from n2ldiff.errors import N2LDiffError
from n2ldiff.inference.manifest import read_manifest
from n2ldiff.inference.methods import clear_method_cache

SIZES = {"000005": (40, 48), "000007": (48, 40), "000009": (36, 52), "000012": (40, 48), "000016": (44, 44)}
TRAINVAL = ["000005", "000007", "000012"]
TEST = ["000009", "000016"]
# Outputs depend on image, seed and settings only; one thread everywhere keeps CPU float sums identical.
FAST = {"threads": 1}


def make_voc(root: Path, sizes: dict[str, tuple[int, int]] = SIZES) -> Path:
    """A tiny VOCdevkit/VOC2007 tree: random JPEGs of different sizes, XML annotations, split lists."""
    voc = root / "VOCdevkit" / "VOC2007"
    rng = np.random.default_rng(7)
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    for key, (h, w) in sizes.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(voc / "JPEGImages" / f"{key}.jpg")
        (voc / "Annotations" / f"{key}.xml").write_text(
            f"<annotation><filename>{key}.jpg</filename><size><width>{w}</width><height>{h}</height>"
            "<depth>3</depth></size><object><name>dog</name><bndbox><xmin>2</xmin><ymin>3</ymin>"
            f"<xmax>{w - 2}</xmax><ymax>{h - 3}</ymax></bndbox></object></annotation>\n"
        )
    (voc / "ImageSets/Main/trainval.txt").write_text("\n".join(TRAINVAL) + "\n")
    (voc / "ImageSets/Main/test.txt").write_text("\n".join(TEST) + "\n")
    (voc / "ImageSets/Main/dog_trainval.txt").write_text("".join(f"{k}  1\n" for k in TRAINVAL))
    return voc


def tree(root: Path, skip=("shards", "manifest.jsonl", "build.json")) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] not in skip
    }


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture()
def voc(tmp_path) -> Path:
    return make_voc(tmp_path / "src")


def check_output(voc: Path, out: Path, keys=SIZES) -> None:
    for key in keys:
        with (
            Image.open(out / "JPEGImages" / f"{key}.jpg") as im,
            Image.open(voc / "JPEGImages" / f"{key}.jpg") as src,
        ):
            assert im.format == "JPEG" and im.size == src.size
    for sub in ("Annotations", "ImageSets"):
        for p in (voc / sub).rglob("*"):
            if p.is_file():
                assert (out / p.relative_to(voc)).read_bytes() == p.read_bytes()


def test_in_process_workers_and_layout(voc, tmp_path, tiny_model_dir):
    """In-process and 2 local workers give the same tree; manifest, markers and annotations are right."""
    a = build_dataset(voc, tmp_path / "a", model=tiny_model_dir, shard_size=2, **FAST)
    assert a.ok and a.written == 5 and a.shards == 3 and a.exit_code == 0
    check_output(voc, tmp_path / "a")
    records = read_manifest(tmp_path / "a")
    assert [r["image"] for r in records] == sorted(SIZES)
    r = records[0]
    seed = DEFAULT_SEEDS[0]  # the default seed of every command
    assert r["seed"] == seed and r["image_seed"] == image_seed(seed, r["image"]) and len(r["weights_sha256"]) == 64
    assert r["model"] == str(tiny_model_dir) and r["settings"]["steps"] == 3
    assert len(list((tmp_path / "a" / "shards").glob("*.done"))) == 3
    assert (tmp_path / "a" / "failed.jsonl").read_text() == ""
    # outputs are low-light versions, not copies
    assert pixels(tmp_path / "a/JPEGImages/000005.jpg").mean() != pixels(voc / "JPEGImages/000005.jpg").mean()

    b = build_dataset(voc, tmp_path / "b", model=tiny_model_dir, shard_size=2, workers=2, **FAST)
    assert b.ok and b.written == 5
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


@pytest.mark.ray
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the optional ray extra")
def test_ray_matches_in_process(voc, tmp_path, tiny_model_dir):
    import ray

    a = build_dataset(voc, tmp_path / "a", model=tiny_model_dir, shard_size=2, **FAST)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        c = build_dataset(voc, tmp_path / "c", model=tiny_model_dir, shard_size=2, use_ray=True, **FAST)
    finally:
        ray.shutdown()
    assert a.ok and c.ok and c.written == 5
    assert tree(tmp_path / "a") == tree(tmp_path / "c")
    assert {r["image"] for r in read_manifest(tmp_path / "c")} == set(SIZES)


def test_resume_after_kill(voc, tmp_path, tiny_model_dir, monkeypatch):
    out = tmp_path / "out"
    real = shards_module.load_method
    calls = []

    def dying(*args, **kwargs):
        method = real(*args, **kwargs)

        def call(images, seeds):
            calls.append(seeds[0])
            if len(calls) == 3:
                raise KeyboardInterrupt  # simulated kill in the middle of shard 2
            return method(images, seeds)

        return type(
            "M",
            (),
            {
                "name": method.name,
                "settings": method.settings,
                "weights_sha256": method.weights_sha256,
                "__call__": staticmethod(call),
            },
        )()

    monkeypatch.setattr(shards_module, "load_method", dying)
    clear_method_cache()
    with pytest.raises(KeyboardInterrupt):
        build_dataset(voc, out, model=tiny_model_dir, shard_size=2, device="cpu", **FAST)
    monkeypatch.setattr(shards_module, "load_method", real)
    # a half-written image of the killed run must not count: leave a stale temp file behind
    (out / "JPEGImages" / ".000012.jpg.x.n2ldiff-part").write_bytes(b"partial")
    done_before = {p.name: p.stat().st_mtime_ns for p in (out / "JPEGImages").glob("*.jpg")}
    assert len(done_before) == 2 and len(list((out / "shards").glob("*.done"))) == 1

    again = build_dataset(voc, out, model=tiny_model_dir, shard_size=2, device="cpu", **FAST)
    assert again.ok and again.written == 3 and again.skipped == 2 and again.shards_skipped == 1
    assert {
        p.name: p.stat().st_mtime_ns for p in (out / "JPEGImages").glob("*.jpg") if p.name in done_before
    } == done_before
    assert not list(out.rglob("*.n2ldiff-part"))
    check_output(voc, out)
    reference = build_dataset(voc, tmp_path / "ref", model=tiny_model_dir, shard_size=2, device="cpu", **FAST)
    assert reference.ok and tree(out) == tree(tmp_path / "ref")

    third = build_dataset(voc, out, model=tiny_model_dir, shard_size=2, device="cpu", **FAST)
    assert third.written == 0 and third.skipped == 5 and third.shards_skipped == 3
    with pytest.raises(N2LDiffError, match="jpeg_quality"):
        build_dataset(voc, out, model=tiny_model_dir, jpeg_quality=80)


def test_corrupt_jpeg_is_reported_and_rest_finishes(voc, tmp_path, tiny_model_dir):
    data = (voc / "JPEGImages" / "000009.jpg").read_bytes()
    (voc / "JPEGImages" / "000009.jpg").write_bytes(data[: len(data) // 2])  # truncated JPEG
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["build-voc", str(voc), str(out), "--model", str(tiny_model_dir), "--shard-size", "2", "--no-progress"]
    )
    assert result.exit_code == 1, result.output
    assert "000009.jpg" in result.output
    failed = [json.loads(line) for line in (out / "failed.jsonl").read_text().splitlines()]
    assert [(f["image"], f["seed"]) for f in failed] == [("000009", DEFAULT_SEEDS[0])]
    assert "corrupt" in failed[0]["reason"] or "truncated" in failed[0]["reason"]
    assert sorted(p.stem for p in (out / "JPEGImages").glob("*.jpg")) == sorted(set(SIZES) - {"000009"})
    assert len(list((out / "shards").glob("*.done"))) == 2  # the shard with the bad image stays open


def test_split_and_seeds(voc, tmp_path, tiny_model_dir):
    out = tmp_path / "out"
    s = build_dataset(voc, out, model=tiny_model_dir, split="test", seeds=[3, 11], **FAST)
    assert s.ok and s.written == 4
    assert sorted(p.name for p in (out / "JPEGImages").iterdir()) == ["000009.jpg", "000016.jpg"]
    assert sorted(p.name for p in (out / "JPEGImages_s11").iterdir()) == ["000009.jpg", "000016.jpg"]
    assert not (pixels(out / "JPEGImages/000009.jpg") == pixels(out / "JPEGImages_s11/000009.jpg")).all()
    check_output(voc, out, keys=TEST)  # annotations and lists are copied whole
    # the other split into the same folder: only its images are added
    t = build_dataset(voc, out, model=tiny_model_dir, split="trainval", seeds=[3, 11], **FAST)
    assert t.written == 6 and t.skipped == 0
    allsplit = build_dataset(voc, out, model=tiny_model_dir, split="all", seeds=[3, 11], **FAST)
    assert allsplit.written == 0 and allsplit.skipped == 10
    assert {(r["image"], r["seed"]) for r in read_manifest(out)} == {(k, s) for k in SIZES for s in (3, 11)}
    with pytest.raises(N2LDiffError, match="no such split"):
        find_images(voc, "voc", "val")


def test_listed_but_missing_image_and_bad_args(voc, tmp_path, tiny_model_dir):
    (voc / "JPEGImages" / "000016.jpg").unlink()
    s = build_dataset(voc, tmp_path / "out", model=tiny_model_dir, split="test", **FAST)
    assert s.written == 1 and s.exit_code == 1 and "missing" in s.failed[0]["reason"]
    with pytest.raises(N2LDiffError, match="outside"):
        build_dataset(voc, voc / "low", model=tiny_model_dir)
    with pytest.raises(N2LDiffError, match="not a VOC tree"):
        build_dataset(tmp_path, tmp_path / "x", model=tiny_model_dir)
    with pytest.raises(N2LDiffError, match="duplicates"):
        build_dataset(voc, tmp_path / "x", seeds=[1, 1], model=tiny_model_dir)


def test_coco_layout_and_exif_orientation(tmp_path, tiny_model_dir):
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_val2017.json").write_text('{"images": [], "annotations": []}\n')
    rng = np.random.default_rng(1)
    for folder, name, (h, w) in [("val2017", "000001.jpg", (40, 48)), ("train2017", "000002.jpg", (36, 44))]:
        (root / folder).mkdir()
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / folder / name)
    rotated = Image.fromarray(rng.integers(0, 256, (32, 56, 3), dtype=np.uint8))
    exif = rotated.getexif()
    exif[0x0112] = 6  # displayed rotated; the stored grid (and the annotations) stay 56 x 32
    rotated.save(root / "val2017" / "000003.jpg", exif=exif)
    out = tmp_path / "out"
    s = build_dataset(root, out, layout="coco", split="val2017", model=tiny_model_dir, **FAST)
    assert s.ok and s.written == 2
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg")) == [
        "val2017/000001.jpg",
        "val2017/000003.jpg",
    ]
    assert Image.open(out / "val2017/000003.jpg").size == (56, 32)
    assert (out / "annotations/instances_val2017.json").read_bytes() == (
        root / "annotations/instances_val2017.json"
    ).read_bytes()
    s = build_dataset(root, out, layout="coco", model=tiny_model_dir, **FAST)
    assert s.written == 1 and (out / "train2017/000002.jpg").is_file()


def test_plan_is_deterministic(voc):
    _, images, _, _ = find_images(voc, "voc", "all")
    a = plan_shards(images, [0], 2, "voc-all")
    b = plan_shards(list(reversed(images)), [0], 2, "voc-all")
    assert a == b and [len(c) for _, c in a] == [2, 2, 1]
    assert [t.key for _, c in a for t in c] == sorted(SIZES)
    assert plan_shards(images, [0], 3, "voc-all")[0][0] != a[0][0]
    assert image_seed(0, "000005") != image_seed(0, "000007") != image_seed(1, "000007")


def test_missing_ray_is_a_clear_error(voc, tmp_path, tiny_model_dir, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("no ray")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(N2LDiffError, match=r"n2ldiff\[ray\]"):
        build_dataset(voc, tmp_path / "out", model=tiny_model_dir, ray_address="local")
