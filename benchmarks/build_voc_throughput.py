"""Measured throughput of ``n2ldiff build-voc`` on a VOC-layout tree of real photos (not a test).

    python benchmarks/build_voc_throughput.py --source ../shared/data/sice_pairs/normal ../shared/data/sice_frames
    python benchmarks/build_voc_throughput.py --source DIR --images 20 --modes workers1   # quick check

1. Builds ``VOCdevkit/VOC2007`` with ``--images`` (default 300) real photos of VOC size: every photo found under
   the ``--source`` folders whose mean brightness is that of a normal-light photo (grey level 0.15-0.75; dark
   and blown-out frames of exposure brackets are left out) is centre-cropped to 4:3 (every other one to 3:4,
   as VOC has landscape and portrait images) and resized to 500x375 (375x500), then saved as JPEG (quality 90).
   Each gets an annotation XML with its size and one object, and ``ImageSets/Main/trainval.txt`` lists them.
   When there are fewer usable photos than ``--images``, the photos are reused with other crops (shifted
   windows, mirrored), so no two images are equal.
2. Runs the real command, ``n2ldiff build-voc VOC2007 OUT --no-progress ...``, in a fresh process per row, once
   with ``--workers 1``, once with ``--workers 2`` and once with ``--ray local`` (skipped, with a note, when
   Ray is not installed). Wall time includes start-up and model loading, as a user would see it; one-time
   costs (the ONNX export of ``--backend onnx/openvino`` into the cache) are paid by a warm-up run first.
3. Prints images/s per row and projects the wall time for all 9,963 VOC2007 images from the best row:
   ``start-up + 9,963 / steady rate``, where the start-up is the same command's time on ``--startup-images``
   (default 2) images and the steady rate is ``(images - startup images) / (wall - startup wall)``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

VOC2007_IMAGES = 9963
VOC_SIZE = (500, 375)
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
MODES = {"workers1": ["--workers", "1"], "workers2": ["--workers", "2"], "ray": ["--ray", "local"]}


def find_photos(sources: list[Path], low: float = 0.15, high: float = 0.75) -> list[Path]:
    """Photos under ``sources`` (recursively, sorted) whose mean grey level is in [low, high]."""
    photos = []
    for source in sources:
        if not source.exists():
            raise SystemExit(f"--source {source}: no such folder")
        files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        for path in files:
            if path.suffix.lower() not in PHOTO_SUFFIXES:
                continue
            with Image.open(path) as im:
                grey = np.asarray(ImageOps.exif_transpose(im).convert("L").reduce(8), dtype=np.float32) / 255
            if low <= grey.mean() <= high:
                photos.append(path)
    return photos


def voc_crop(photo: Image.Image, index: int, variant: int) -> Image.Image:
    """A 4:3 (even ``index``) or 3:4 (odd) crop of ``photo`` resized to VOC size; ``variant`` shifts/mirrors it."""
    w, h = photo.size
    target = VOC_SIZE if index % 2 == 0 else VOC_SIZE[::-1]
    aspect = target[0] / target[1]
    cw, ch = (min(w, round(h * aspect)), min(h, round(w / aspect)))
    shift = [0.5, 0.2, 0.8, 0.35, 0.65][variant % 5]
    x0, y0 = round((w - cw) * shift), round((h - ch) * (1 - shift))
    crop = photo.crop((x0, y0, x0 + cw, y0 + ch)).resize(target, Image.Resampling.LANCZOS)
    return ImageOps.mirror(crop) if (variant // 5) % 2 else crop


def annotation(key: str, size: tuple[int, int]) -> str:
    w, h = size
    return (
        f"<annotation><folder>VOC2007</folder><filename>{key}.jpg</filename>"
        f"<size><width>{w}</width><height>{h}</height><depth>3</depth></size><segmented>0</segmented>"
        f"<object><name>pottedplant</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
        f"<bndbox><xmin>{w // 4}</xmin><ymin>{h // 4}</ymin><xmax>{3 * w // 4}</xmax><ymax>{3 * h // 4}</ymax>"
        f"</bndbox></object></annotation>\n"
    )


def make_voc_tree(root: Path, photos: list[Path], n: int) -> Path:
    """``root/VOCdevkit/VOC2007`` with ``n`` VOC-size JPEGs made from ``photos``; returns the VOC2007 folder."""
    if not photos:
        raise SystemExit("no usable photos under --source (need JPEG/PNG photos of normal brightness)")
    voc = root / "VOCdevkit" / "VOC2007"
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    keys = []
    for i in range(n):
        key = f"{i + 1:06d}"
        with Image.open(photos[i % len(photos)]) as im:
            image = voc_crop(ImageOps.exif_transpose(im).convert("RGB"), i, i // len(photos))
        image.save(voc / "JPEGImages" / f"{key}.jpg", quality=90)
        (voc / "Annotations" / f"{key}.xml").write_text(annotation(key, image.size))
        keys.append(key)
    (voc / "ImageSets" / "Main" / "trainval.txt").write_text("\n".join(keys) + "\n")
    return voc


def run_build(voc: Path, out: Path, extra: list[str], options: list[str]) -> float:
    """Wall seconds of one ``n2ldiff build-voc`` run in a fresh process."""
    cmd = [sys.executable, "-m", "n2ldiff", "build-voc", str(voc), str(out), "--no-progress", *options, *extra]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall


def ray_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", nargs="+", type=Path, required=True, help="folders (or files) of real photos")
    parser.add_argument("--images", type=int, default=300, help="images in the VOC tree (default 300)")
    parser.add_argument("--startup-images", type=int, default=2, help="images of the start-up run (default 2)")
    parser.add_argument("--modes", default="workers1,workers2,ray", help="rows: workers1, workers2, ray")
    parser.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    parser.add_argument("--backend", default="torch", help="torch, onnx or openvino (default torch)")
    parser.add_argument("--shard-size", type=int, default=None, help="default: images / (2 x 2 workers), <= 64")
    parser.add_argument("--keep", type=Path, default=None, help="build in this folder and keep it")
    args = parser.parse_args()
    if args.images < 1 or not 0 < args.startup_images < args.images:
        raise SystemExit("need --images >= 1 and 0 < --startup-images < --images")
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        raise SystemExit(f"unknown mode(s) {sorted(unknown)}; choose from {', '.join(MODES)}")

    shard = args.shard_size or max(1, min(64, args.images // 4))
    options = ["--shard-size", str(shard)]
    options += ["--model", args.model] if args.model else []
    options += ["--steps", str(args.steps)] if args.steps else []
    options += ["--backend", args.backend]
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="voc-throughput-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        photos = find_photos(args.source)
        voc = make_voc_tree(tmp / "src", photos, args.images)
        small = make_voc_tree(tmp / "src-startup", photos, args.startup_images)
        print(
            f"VOC tree: {args.images} images of {VOC_SIZE[0]}x{VOC_SIZE[1]} / {VOC_SIZE[1]}x{VOC_SIZE[0]} from "
            f"{len(photos)} usable photos ({time.perf_counter() - start:.0f} s); shard size {shard}; "
            f"{os.cpu_count()} CPU cores; model {args.model or 'shipped default'}, backend {args.backend}"
        )
        # One-time costs (an ONNX export into the cache for --backend onnx/openvino) stay out of every row.
        run_build(small, tmp / "out-warm-up", MODES["workers1"], options)
        rows = []
        for mode in modes:
            if mode == "ray" and not ray_available():
                print("--ray local: skipped, Ray is not installed (pip install 'n2ldiff[ray]')")
                continue
            startup = run_build(small, tmp / f"out-startup-{mode}", MODES[mode], options)
            wall = run_build(voc, tmp / f"out-{mode}", MODES[mode], options)
            if wall <= startup:  # the machine's load changed between the two runs
                print(f"  {' '.join(MODES[mode])}: {wall:.1f} s, not above its start-up run ({startup:.1f} s); no row")
                continue
            steady = (args.images - args.startup_images) / (wall - startup)
            projected = startup + VOC2007_IMAGES / steady
            rows.append((" ".join(MODES[mode]), wall, args.images / wall, startup, steady, projected))
            print(f"  {rows[-1][0]}: {wall:.1f} s", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)

    print(
        f"\n| build-voc | images | wall s | images/s | start-up s ({args.startup_images} images) "
        f"| steady images/s | projected {VOC2007_IMAGES} images |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, wall, ips, startup, steady, projected in rows:
        print(
            f"| {name} | {args.images} | {wall:.1f} | {ips:.3f} | {startup:.1f} | {steady:.3f} "
            f"| {projected / 3600:.2f} h |"
        )
    if rows:
        best = min(rows, key=lambda r: r[5])
        verdict = "PASS" if best[5] < 2 * 3600 else "FAIL"
        print(
            f"\nfull VOC2007-LL build ({VOC2007_IMAGES} images), best row ({best[0]}): {best[5] / 3600:.2f} h "
            f"projected; target < 2 h: {verdict}"
        )


if __name__ == "__main__":
    main()
