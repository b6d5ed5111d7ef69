"""Generation speed and peak memory on this machine: a table with ratios (not a test).

    python benchmarks/generate_speed.py                # 600x400, default model, samplers x steps, paper config
    python benchmarks/generate_speed.py --large        # also one 6000x4000 (24 MP) image, tiled

Every configuration runs in its own subprocess so its peak memory (max RSS) is its own. The paper
configuration (width 64, dim_mults (1,2,2,4,4,8), ancestral DDPM over 100 steps) uses random weights:
speed does not depend on the weights. Its time per image is the encoder plus 100 x its measured time per
denoising step.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch


def run_one(spec: dict) -> dict:
    from n2ldiff.config import DiffusionConfig, ModelConfig, PipelineConfig
    from n2ldiff.models.n2ldiff import N2LDiff
    from n2ldiff.pipeline import LowLightPipeline

    torch.set_num_threads(spec["threads"])
    h, w = spec["size"]
    image = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    if spec["model"] == "paper":
        model = N2LDiff(PipelineConfig(model=ModelConfig(), diffusion=DiffusionConfig()))
        pipe = LowLightPipeline(model, device="cpu")
        padded = torch.nn.functional.pad(image, (0, (-w) % 32, 0, (-h) % 32), mode="reflect")
        with torch.no_grad():
            start = time.perf_counter()
            center, feats = pipe.model.encode(padded)
            encode = time.perf_counter() - start
            t = torch.full((1,), 50, dtype=torch.long)
            times = []
            for _ in range(spec["paper_steps"]):
                start = time.perf_counter()
                pipe.model.denoise(center * 2 - 1, t, padded, feats)
                times.append(time.perf_counter() - start)
        step = min(times)
        seconds = encode + 100 * step
        extra = {"seconds_per_step": step, "extrapolated": True}
    else:
        pipe = LowLightPipeline.from_pretrained(spec["model"], device="cpu")
        pipe(image[..., :64, :64], seeds=[0], sampler=spec["sampler"], steps=spec["steps"])  # warm-up
        start = time.perf_counter()
        pipe(image, seeds=[1], sampler=spec["sampler"], steps=spec["steps"])
        seconds = time.perf_counter() - start
        extra = {"extrapolated": False}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak_mb, **extra}


def measure(spec: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--large", action="store_true", help="also a 6000x4000 image at default settings")
    parser.add_argument("--paper-steps", type=int, default=2, help="denoiser calls timed for the paper model")
    parser.add_argument(
        "--large-steps", type=int, default=None, help="steps for the 24 MP run (peak memory does not depend on it)"
    )
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return

    from n2ldiff.pipeline import LowLightPipeline, default_model_dir

    model_dir = str(args.model or default_model_dir())
    defaults = LowLightPipeline.from_pretrained(model_dir, device="cpu").settings()
    base = {"threads": args.threads, "size": [400, 600], "model": model_dir, "paper_steps": args.paper_steps}
    rows = []
    paper = measure({**base, "model": "paper"})
    rows.append(("paper config (width 64, 6 levels)", "ddpm", 100, paper))
    for sampler, steps in [
        (defaults.sampler, defaults.steps),
        ("ddim", 10),
        ("dpm-solver++", 10),
        ("ddim", 20),
        ("ddpm", 100),
    ]:
        rows.append(("default model", sampler, steps, measure({**base, "sampler": sampler, "steps": steps})))
    print(f"CPU, {args.threads} threads, torch {torch.__version__}; 600x400 image, one seed")
    print(f"default model settings: {defaults.sampler}, {defaults.steps} steps\n")
    print("| model | sampler | steps | s / image | peak memory (MB) | speed-up vs paper |")
    print("|---|---|---|---|---|---|")
    for name, sampler, steps, r in rows:
        note = " (extrapolated: encoder + 100 x step)" if r.get("extrapolated") else ""
        ratio = paper["seconds"] / r["seconds"]
        print(f"| {name} | {sampler} | {steps} | {r['seconds']:.2f}{note} | {r['peak_mb']:.0f} | {ratio:.0f}x |")
    if args.large:
        steps = args.large_steps or defaults.steps
        large = measure({**base, "size": [4000, 6000], "sampler": defaults.sampler, "steps": steps})
        print(
            f"\n6000x4000 (24 MP), {defaults.sampler} {steps} steps, tiled: {large['seconds']:.0f} s, "
            f"peak memory {large['peak_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
