"""Throughput of ``n2ldiff build-voc``: images/s for 1 and 2 local workers on a generated fake VOC tree.

    python benchmarks/build_voc_throughput.py                       # default settings, VOC-sized images
    python benchmarks/build_voc_throughput.py --images 4 --steps 2  # quick look

Uses the shipped default model (``n2ldiff/weights/default``) when it exists, else a randomly initialised
model with the default config (same architecture, so the same cost per image). Prints a table (wall
time includes starting the workers and loading the model) and, from the measured time per image, the
estimated wall time for all 9,963 VOC2007 images on this machine. ``--flops`` also counts the
floating-point operations of one image (for GPU estimates).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

VOC2007_IMAGES = 9963


def make_fake_voc(root: Path, n: int, size: tuple[int, int]) -> Path:
    voc = root / "VOCdevkit" / "VOC2007"
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    w, h = size
    keys = [f"{i:06d}" for i in range(1, n + 1)]
    for i, key in enumerate(keys):
        hh, ww = (h, w) if i % 2 == 0 else (w, h)  # VOC has landscape and portrait images
        base = np.linspace(40, 220, ww)[None, :, None] * np.ones((hh, 1, 3))
        img = np.clip(base + rng.normal(0, 20, (hh, ww, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(voc / "JPEGImages" / f"{key}.jpg", quality=90)
        (voc / "Annotations" / f"{key}.xml").write_text(f"<annotation><filename>{key}.jpg</filename></annotation>\n")
    (voc / "ImageSets/Main/trainval.txt").write_text("\n".join(keys) + "\n")
    return voc


def model_dir(tmp: Path) -> tuple[str | None, str]:
    from n2ldiff.pipeline import default_model_dir

    if (default_model_dir() / "config.json").is_file():
        return None, "shipped default model"
    from n2ldiff.config import PipelineConfig
    from n2ldiff.models.n2ldiff import N2LDiff

    path = N2LDiff(PipelineConfig()).save_pretrained(tmp / "random-default")
    return str(path), "random model, default config (no shipped default model yet)"


def count_flops(model: str | None, size: tuple[int, int], steps: int | None, sampler: str | None) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from n2ldiff.pipeline import LowLightPipeline

    pipe = LowLightPipeline.from_pretrained(model, device="cpu")
    settings = pipe.settings(sampler, steps)
    w, h = size
    image = torch.rand(1, 3, h, w)
    # One sampler step costs one denoiser call; count a 1-step run and the encoder, then scale.
    with FlopCounterMode(display=False) as one:
        pipe.generate(image, [0], settings.sampler, 1)
    with FlopCounterMode(display=False) as enc:
        pipe.model.encode(torch.rand(1, 3, (h + 31) // 32 * 32, (w + 31) // 32 * 32))
    per_step = one.get_total_flops() - enc.get_total_flops()
    return enc.get_total_flops() + per_step * settings.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4, help="images in the fake VOC tree (default 4)")
    parser.add_argument("--size", default="500x375", help="WxH of the images (VOC2007 is mostly 500x375)")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure (default 1,2)")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    parser.add_argument("--sampler", default=None, help="sampler (default: the model's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--flops", action="store_true", help="also count FLOPs per image")
    args = parser.parse_args()

    from n2ldiff.builders.voc import build_dataset
    from n2ldiff.inference.manifest import read_manifest
    from n2ldiff.pipeline import LowLightPipeline

    w, h = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model, what = model_dir(tmp)
        settings = LowLightPipeline.from_pretrained(model, device="cpu").settings(args.sampler, args.steps)
        voc = make_fake_voc(tmp / "src", args.images, (w, h))
        print(f"model: {what}; sampler {settings.sampler}, {settings.steps} steps; {args.images} images {w}x{h}")
        rows = []
        for workers in (int(v) for v in args.workers.split(",")):
            out = tmp / f"out{workers}"
            t0 = time.perf_counter()
            summary = build_dataset(
                voc,
                out,
                model=model,
                sampler=args.sampler,
                steps=args.steps,
                device=args.device,
                workers=workers,
                shard_size=max(1, args.images // (2 * workers)),
            )
            wall = time.perf_counter() - t0
            per_image = statistics.median(r["seconds"] for r in read_manifest(out))
            rows.append((workers, summary.written, wall, summary.written / wall, per_image))
        print(f"\n{'workers':>7} {'images':>6} {'wall s':>9} {'images/s':>9} {'s/image (per worker)':>21}")
        for workers, n, wall, ips, per in rows:
            print(f"{workers:>7} {n:>6} {wall:>9.1f} {ips:>9.4f} {per:>21.2f}")
        best = max(rows, key=lambda r: r[3])
        hours = VOC2007_IMAGES / best[3] / 3600
        print(
            f"\nestimated wall time, all {VOC2007_IMAGES} VOC2007 images at these settings on this machine: "
            f"{hours:.1f} h ({best[0]} worker(s), {best[3]:.4f} images/s)"
        )
        if args.flops:
            flops = count_flops(model, (w, h), args.steps, args.sampler)
            print(
                f"FLOPs per {w}x{h} image: {flops / 1e12:.2f} TFLOP "
                f"({VOC2007_IMAGES * flops / 1e15:.0f} PFLOP for VOC2007)"
            )


if __name__ == "__main__":
    main()
