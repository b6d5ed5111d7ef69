"""Generation speed and peak memory on this machine: a table with ratios and the speed targets (not a test).

    python benchmarks/generate_speed.py                 # 600x400, default model, samplers x steps, paper config
    python benchmarks/generate_speed.py --large         # also one 6000x4000 (24 MP) image, tiled, default settings
    python benchmarks/generate_speed.py --profile       # also where the time of one image goes, stage by stage
    python benchmarks/generate_speed.py --backend onnx  # the networks on ONNX Runtime
    python benchmarks/generate_speed.py --size 64x48 --samplers default --paper-steps 1 --profile   # quick check
    python benchmarks/generate_speed.py --samplers default --skip-paper --profile   # default settings only

Every configuration runs in its own subprocess so its peak memory (max RSS) is its own, and the times are
net of start-up (imports, model loading, one warm-up image of the same size). The paper configuration
(width 64, dim_mults (1,2,2,4,4,8), ancestral DDPM over 100 steps) uses random weights: speed does not
depend on the weights. Its time per image is the encoder plus 100 x its measured time per denoising step.

``--profile`` times one image the way ``n2ldiff generate`` makes it: read the PNG file, generate at default
settings, write the PNG; the stages are the encoder pass, the denoiser passes, file I/O (read + decode,
encode + write) and the rest (padding, exposure, noise, sampler arithmetic), medians over
``--profile-repeats`` images; start-up (from the process's launch: interpreter, imports, model loading) is
timed separately.

The targets of issue 17 are printed with PASS/FAIL: <= 0.5 s per 600x400 image net of start-up, peak RSS
< 1 GB at 600x400, a full VOC2007-LL build (9,963 images, mostly 500x375) projected at < 2 h on this
machine (here from one process's time per 500x375 image including file I/O; ``build_voc_throughput.py``
measures the real build) and, with ``--large``, peak RSS < 4 GB for the tiled 24 MP image.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VOC2007_IMAGES = 9963
TARGET_SECONDS = 0.5
TARGET_RSS_MB = 1024
TARGET_VOC_HOURS = 2.0
TARGET_LARGE_RSS_MB = 4096


def sample_image(h: int, w: int, seed: int = 0):
    """A smooth random image with some texture (PNG-compressible like a photo, unlike pure noise)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, max(2, h // 16), max(2, w // 16), generator=gen)
    smooth = torch.nn.functional.interpolate(base, size=(h, w), mode="bicubic", align_corners=False)
    return (smooth + 0.03 * torch.randn(1, 3, h, w, generator=gen)).clamp(0, 1)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_paper(spec: dict) -> dict:
    import torch

    from n2ldiff.config import DiffusionConfig, ModelConfig, PipelineConfig
    from n2ldiff.models.n2ldiff import N2LDiff
    from n2ldiff.pipeline import LowLightPipeline

    h, w = spec["size"]
    model = N2LDiff(PipelineConfig(model=ModelConfig(), diffusion=DiffusionConfig()))
    pipe = LowLightPipeline(model, device="cpu")
    image = sample_image(h, w)
    padded = torch.nn.functional.pad(image, (0, (-w) % 32, 0, (-h) % 32), mode="reflect")
    with torch.no_grad():
        start = time.perf_counter()
        encoding = pipe.model.encode(padded)
        encode = time.perf_counter() - start
        t = torch.full((1,), 50, dtype=torch.long)
        times = []
        for _ in range(spec["paper_steps"]):
            start = time.perf_counter()
            pipe.model.denoise(encoding.center * 2 - 1, t, padded, encoding)
            times.append(time.perf_counter() - start)
    step = min(times)
    return {"seconds": encode + 100 * step, "seconds_per_step": step, "extrapolated": True, "peak_mb": peak_mb()}


def run_model(spec: dict) -> dict:
    from n2ldiff.pipeline import LowLightPipeline

    h, w = spec["size"]
    image = sample_image(h, w)
    pipe = LowLightPipeline.from_pretrained(spec["model"], device="cpu", backend=spec["backend"])
    # Warm-up at the size the networks will see (the image, or one tile of a large one): one-time costs per
    # size (oneDNN primitives, OpenVINO's shape inference) are start-up, as in a run of many same-size images.
    warm = sample_image(min(h, pipe.tile_size), min(w, pipe.tile_size), seed=1)
    pipe(warm, seeds=[0], sampler=spec["sampler"], steps=spec["steps"])
    start = time.perf_counter()
    pipe(image, seeds=[1], sampler=spec["sampler"], steps=spec["steps"])
    return {"seconds": time.perf_counter() - start, "extrapolated": False, "peak_mb": peak_mb()}


def run_profile(spec: dict) -> dict:
    """Stage times of ``--profile`` (see the module docstring) and the time per VOC-size image."""
    from types import SimpleNamespace

    from n2ldiff.data.io import read_image, write_image
    from n2ldiff.pipeline import LowLightPipeline

    pipe = LowLightPipeline.from_pretrained(spec["model"], device="cpu", backend=spec["backend"])
    startup = time.time() - spec["spawned"]  # interpreter, imports (torch, n2ldiff) and model loading
    stages = {"encoder": 0.0, "denoiser": 0.0}
    networks = pipe.networks

    def timed(stage: str, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            stages[stage] += time.perf_counter() - t0
            return out

        return wrapper

    pipe.networks = SimpleNamespace(  # the same networks, each pass timed
        config=networks.config, encode=timed("encoder", networks.encode), denoise=timed("denoiser", networks.denoise)
    )
    settings = pipe.settings()

    def one_image(folder: Path, size: tuple[int, int], seed: int) -> dict[str, float]:
        source, target = folder / f"in{seed}.png", folder / f"out{seed}.png"
        write_image(source, sample_image(*size, seed=seed)[0])
        stages.update(encoder=0.0, denoiser=0.0)
        t0 = time.perf_counter()
        loaded = read_image(source)
        t1 = time.perf_counter()
        low = pipe.generate(loaded.rgb[None], [seed], settings.sampler, settings.steps)
        t2 = time.perf_counter()
        write_image(target, low[0])
        t3 = time.perf_counter()
        io = (t1 - t0) + (t3 - t2)
        rest = (t2 - t1) - stages["encoder"] - stages["denoiser"]
        return {**stages, "io": io, "rest": rest, "total": t3 - t0}

    with tempfile.TemporaryDirectory() as tmp:
        one_image(Path(tmp), tuple(spec["size"]), 0)  # warm-up at each size (see run_model)
        runs = [one_image(Path(tmp), tuple(spec["size"]), seed) for seed in range(1, spec["repeats"] + 1)]
        one_image(Path(tmp), (375, 500), 99)
        voc = [one_image(Path(tmp), (375, 500), 100 + seed)["total"] for seed in range(spec["repeats"])]
    medians = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    return {
        "stages": medians,
        "startup": startup,
        "voc_seconds": statistics.median(voc),
        "steps": settings.steps,
        "sampler": settings.sampler,
        "peak_mb": peak_mb(),
    }


def run_one(spec: dict) -> dict:
    import torch

    torch.set_num_threads(spec["threads"])
    if spec["model"] == "paper":
        return run_paper(spec)
    if spec.get("profile"):
        return run_profile(spec)
    return run_model(spec)


def measure(spec: dict) -> dict:
    spec = {**spec, "spawned": time.time()}
    out = subprocess.run(
        [sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"configuration {spec} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def parse_samplers(text: str, default: tuple[str, int]) -> list[tuple[str, int]]:
    """``default,ddim:10,ddpm:100`` -> [(sampler, steps), ...]; ``default`` is the model's own setting."""
    rows = []
    for item in text.split(","):
        if item == "default":
            rows.append(default)
        elif item:
            name, _, steps = item.partition(":")
            rows.append((name, int(steps)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    parser.add_argument("--backend", default="torch", help="torch or onnx (default torch)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--size", default="600x400", help="WxH of the timed image (default 600x400)")
    parser.add_argument(
        "--samplers",
        default="default,ddim:10,dpm-solver++:10,ddim:20,ddpm:100",
        help="rows: comma-separated sampler:steps, 'default' = the model's own (default: %(default)s)",
    )
    parser.add_argument("--large", action="store_true", help="also a 6000x4000 image at default settings")
    parser.add_argument("--paper-steps", type=int, default=2, help="denoiser calls timed for the paper model")
    parser.add_argument("--skip-paper", action="store_true", help="leave out the paper-configuration row")
    parser.add_argument(
        "--large-steps", type=int, default=None, help="steps for the 24 MP run (peak memory does not depend on it)"
    )
    parser.add_argument("--profile", action="store_true", help="also time the stages of one image (see above)")
    parser.add_argument("--profile-repeats", type=int, default=3, help="images timed by --profile (median)")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return

    import torch

    from n2ldiff.pipeline import LowLightPipeline, default_model_dir

    model_dir = str(args.model or default_model_dir())
    defaults = LowLightPipeline.from_pretrained(model_dir, device="cpu").settings()
    w, h = (int(v) for v in args.size.lower().split("x"))
    base = {"threads": args.threads, "size": [h, w], "model": model_dir, "backend": args.backend}
    rows = []
    paper = None
    if not args.skip_paper:
        paper = measure({**base, "model": "paper", "paper_steps": args.paper_steps})
        rows.append(("paper config (width 64, 6 levels)", "ddpm", 100, paper))
    default_row = None
    for sampler, steps in parse_samplers(args.samplers, (defaults.sampler, defaults.steps)):
        result = measure({**base, "sampler": sampler, "steps": steps})
        is_default = (sampler, steps) == (defaults.sampler, defaults.steps)
        name = "default model" + (" (default settings)" if is_default else "")
        rows.append((name, sampler, steps, result))
        if is_default and default_row is None:
            default_row = result
    print(f"CPU, {args.threads} threads, torch {torch.__version__}, backend {args.backend}; {w}x{h} image, one seed")
    print(f"default model settings: {defaults.sampler}, {defaults.steps} steps\n")
    print("| model | sampler | steps | s / image | peak memory (MB) | speed-up vs paper |")
    print("|---|---|---|---|---|---|")
    for name, sampler, steps, r in rows:
        note = " (extrapolated: encoder + 100 x step)" if r.get("extrapolated") else ""
        ratio = f"{paper['seconds'] / r['seconds']:.0f}x" if paper else "-"
        print(f"| {name} | {sampler} | {steps} | {r['seconds']:.2f}{note} | {r['peak_mb']:.0f} | {ratio} |")

    profile = None
    if args.profile:
        profile = measure({**base, "profile": True, "repeats": args.profile_repeats})
        stages, total = profile["stages"], profile["stages"]["total"]
        print(
            f"\nper-stage profile, one {w}x{h} image file -> PNG file at default settings "
            f"({profile['sampler']}, {profile['steps']} steps), median of {args.profile_repeats}:"
        )
        print("| stage | s | share |")
        print("|---|---|---|")
        labels = {
            "encoder": "encoder pass (1)",
            "denoiser": f"denoiser passes ({profile['steps']})",
            "io": "file I/O (read + decode, encode + write PNG)",
            "rest": "rest (padding, exposure, noise, sampler arithmetic)",
        }
        for key, label in labels.items():
            print(f"| {label} | {stages[key]:.3f} | {100 * stages[key] / total:.0f} % |")
        print(f"| **total per image** | **{total:.3f}** | 100 % |")
        print(
            f"| start-up (from launch: interpreter, imports, model loading; once per process, not in the total) "
            f"| {profile['startup']:.2f} | |"
        )

    large = None
    if args.large:
        steps = args.large_steps or defaults.steps
        large = measure({**base, "size": [4000, 6000], "sampler": defaults.sampler, "steps": steps})
        print(
            f"\n6000x4000 (24 MP), {defaults.sampler} {steps} steps, tiled (768 px): "
            f"{large['seconds']:.1f} s per image, peak memory {large['peak_mb']:.0f} MB"
        )

    print(f"\ntargets (issue 17), default settings, {args.threads} threads:")
    if (w, h) != (600, 400):
        print(f"  (the targets are for 600x400 images; this run timed {w}x{h})")
    if default_row is not None:
        s, mb = default_row["seconds"], default_row["peak_mb"]
        print(f"  s / image net of start-up <= {TARGET_SECONDS} s: {s:.2f} s  {verdict(s <= TARGET_SECONDS)}")
        print(f"  peak RSS < {TARGET_RSS_MB} MB: {mb:.0f} MB  {verdict(mb < TARGET_RSS_MB)}")
    else:
        print("  s / image and peak RSS: no default-settings row (add 'default' to --samplers)")
    if profile is not None:
        hours = VOC2007_IMAGES * profile["voc_seconds"] / 3600
        print(
            f"  VOC2007-LL projected < {TARGET_VOC_HOURS:.0f} h: {hours:.2f} h  {verdict(hours < TARGET_VOC_HOURS)} "
            f"({VOC2007_IMAGES} x {profile['voc_seconds']:.2f} s per 500x375 image incl. file I/O, one process; "
            "benchmarks/build_voc_throughput.py measures the real build)"
        )
    else:
        print("  VOC2007-LL projected: run with --profile")
    if large is not None:
        mb = large["peak_mb"]
        print(f"  24 MP tiled peak RSS < {TARGET_LARGE_RSS_MB} MB: {mb:.0f} MB  {verdict(mb < TARGET_LARGE_RSS_MB)}")


if __name__ == "__main__":
    main()
