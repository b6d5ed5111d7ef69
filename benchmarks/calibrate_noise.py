"""Calibrate a noise-level model's ``noise_scale`` on the TRAIN split (never the test split).

For each training pair, generate two seeds at the pair's own exposure ratio and measure, in regions flat in
the normal image, the per-pixel std across seeds over the real low image's noise (metrics/artifacts.py).
The suggested ``diffusion.noise_scale`` is the current one divided by the median ratio.

    python benchmarks/calibrate_noise.py --data ../shared/data/sice_frames --layout frames --pairs 24
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from n2ldiff.data.io import read_image
from n2ldiff.data.layouts import find_pairs
from n2ldiff.exposure import exposure_ratio
from n2ldiff.metrics.artifacts import seed_noise_ratio
from n2ldiff.pipeline import LowLightPipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--layout", default="frames")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--pairs", type=int, default=24, help="every k-th train pair so that this many are used")
    parser.add_argument("--seeds", type=int, nargs=2, default=[11, 12])
    args = parser.parse_args()
    pipe = LowLightPipeline.from_pretrained(args.model, device="cpu")
    pairs = find_pairs(args.data, args.layout, split="train")
    pairs = pairs[:: max(1, len(pairs) // args.pairs)][: args.pairs]
    ratios = []
    for pair in pairs:
        normal, low = read_image(pair.normal_path).rgb, read_image(pair.low_path).rgb
        r = float(exposure_ratio(normal, low))
        outs = pipe.generate(normal[None].repeat(2, 1, 1, 1), list(args.seeds), exposure=[r, r])
        outs = (outs * 255).round() / 255  # as saved
        ratios.append(seed_noise_ratio(outs, low, normal))
    median = statistics.median(ratios)
    current = pipe.config.noise_scale
    print(f"{len(pairs)} train pairs: median seed/real noise ratio {median:.3f} at noise_scale {current:g}")
    print(f"suggested noise_scale: {current / median:.3f}")


if __name__ == "__main__":
    main()
