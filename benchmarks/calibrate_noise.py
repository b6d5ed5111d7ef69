"""Calibrate a noise-level model's ``diffusion.noise_scale`` on the TRAIN split (never the test split).

The one-pass sampler (``steps=0``) draws low = clamp(center + k * s * z) with the encoder's center and
noise level s; this script finds the factor k = ``noise_scale`` at which seeds vary like real noise. For
every training pair it encodes the normal image once at the pair's own exposure ratio, then, for each k
on a grid, makes two seeds' outputs exactly as the pipeline does (same noise draws, 8-bit rounding as when
saved) and measures, in regions flat in the normal image, the per-pixel std across the seeds over the
real low image's noise (``metrics/artifacts.py``, the benchmark's measure). 8-bit rounding makes the
ratio non-linear in k (noise below half a level is rounded away), hence the grid instead of one division.
It prints the median ratio per k and the k where the median crosses 1.

    python benchmarks/calibrate_noise.py --data ../shared/data/sice_pairs --layout pairs
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch

from n2ldiff.data.io import read_image
from n2ldiff.data.layouts import find_pairs
from n2ldiff.diffusion.noise import PositionalNoise
from n2ldiff.diffusion.process import noise_std_from_log
from n2ldiff.diffusion.samplers import X0_DRAW
from n2ldiff.exposure import exposure_ratio
from n2ldiff.metrics.artifacts import flat_mask, real_noise_std, seed_std
from n2ldiff.pipeline import LowLightPipeline
from n2ldiff.sampling import matched_center

SEEDS = (11, 12)


@torch.no_grad()
def ratios_for_scales(
    pipe: LowLightPipeline, normal: torch.Tensor, low: torch.Tensor, scales: np.ndarray
) -> list[float]:
    """Seed/real noise ratio of the one-pass sampler at each noise scale, for one training pair."""
    multiple = pipe.model.config.model.size_multiple
    h, w = normal.shape[-2] // multiple * multiple, normal.shape[-1] // multiple * multiple
    normal, low = normal[:, :h, :w], low[:, :h, :w]
    r = float(exposure_ratio(normal, low))
    batch = normal[None].repeat(len(SEEDS), 1, 1, 1)
    exposure = torch.full((len(SEEDS),), r)
    encoding = pipe.model.encode(batch, exposure)
    center = encoding.center
    if pipe.config.match_exposure:
        center = matched_center(center, batch, exposure)
    assert encoding.log_noise_std is not None, "this model has no noise-level head"
    s = noise_std_from_log(encoding.log_noise_std)
    z = PositionalNoise(list(SEEDS))(X0_DRAW, center)
    mask = flat_mask(normal)  # seed_noise_ratio's measure, with the per-pair parts computed once
    real = max(real_noise_std(low, mask), 1e-6)
    out = []
    for k in scales:
        x0 = (2 * center - 1 + k * s * z).clamp(-1, 1)  # the sampler works in [-1, 1]
        low_out = ((x0 + 1) / 2 * 255).round() / 255
        out.append(seed_std(low_out, mask) / real)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--layout", default="pairs")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument(
        "--pairs", type=int, default=0, help="use every k-th train pair so that this many are used (0 = all)"
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = LowLightPipeline.from_pretrained(args.model, device="cpu")
    pairs = find_pairs(args.data, args.layout, split="train")
    if args.pairs:
        pairs = pairs[:: max(1, len(pairs) // args.pairs)][: args.pairs]
    scales = np.geomspace(0.05, 1.0, 27)
    rows = []
    for i, p in enumerate(pairs):
        rows.append(ratios_for_scales(pipe, read_image(p.normal_path).rgb, read_image(p.low_path).rgb, scales))
        print(f"\r{i + 1}/{len(pairs)} pairs", end="", flush=True)
    print()
    table = np.array(rows)
    medians = np.median(table, axis=0)
    print(f"{len(pairs)} train pairs of {args.data} ({args.layout}); current noise_scale {pipe.config.noise_scale:g}")
    print("noise_scale  median seed/real noise ratio")
    for k, m in zip(scales, medians, strict=True):
        print(f"{k:11.3f}  {m:.3f}")
    if medians[0] < 1 < medians[-1]:
        i = int(np.searchsorted(medians, 1.0))
        lo, hi = np.log(scales[i - 1]), np.log(scales[i])
        f = (1 - medians[i - 1]) / (medians[i] - medians[i - 1])
        print(f"median ratio 1 at noise_scale {float(np.exp(lo + f * (hi - lo))):.3f}")
    else:
        print(f"the median ratio does not cross 1 on the grid ({statistics.median(medians):.3f} in the middle)")


if __name__ == "__main__":
    main()
