"""Does the model darken by the exposure ratio it is asked for?

For every normal image of a paired dataset's test split and every requested R, generate one output and
measure R = mean(normal) / mean(output). Prints, per requested R, the median measured R over scenes, its
ratio to the request (target: within +-15 %) and the share of scenes whose measured R increases with the
request (monotonic).

    python benchmarks/exposure_accuracy.py --data ../shared/data/sice_pairs --layout pairs
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from n2ldiff.data.io import read_image
from n2ldiff.data.layouts import find_pairs
from n2ldiff.exposure import exposure_ratio
from n2ldiff.pipeline import LowLightPipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--layout", default="pairs")
    parser.add_argument("--split", default="test")
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the shipped one)")
    parser.add_argument("--exposures", type=float, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--seed", type=int, default=3407)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = LowLightPipeline.from_pretrained(args.model, device="cpu")
    scenes = find_pairs(args.data, args.layout, split=args.split)
    measured: list[list[float]] = []
    for pair in scenes:
        normal = read_image(pair.normal_path).rgb[None]
        row = [float(exposure_ratio(normal, pipe(normal, seeds=[args.seed], exposure=r))[0]) for r in args.exposures]
        measured.append(row)
    monotonic = sum(row == sorted(row) for row in measured) / len(measured)
    print(f"{len(scenes)} scenes of {args.data} ({args.layout}, split {args.split}); seed {args.seed}\n")
    print("| requested R | median measured R | ratio | within 15 % |")
    print("|---|---|---|---|")
    for i, r in enumerate(args.exposures):
        med = statistics.median(row[i] for row in measured)
        print(f"| {r:g} | {med:.2f} | {med / r:.3f} | {'yes' if abs(med / r - 1) <= 0.15 else 'no'} |")
    print(f"\nmonotonic in the request: {monotonic:.0%} of scenes")


if __name__ == "__main__":
    main()
