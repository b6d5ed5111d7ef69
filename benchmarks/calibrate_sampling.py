"""Calibrate a model's sampling-time settings on TRAIN splits (never a test split).

Two calibrations of ``diffusion`` in the model's ``config.json``, both made after training:

* ``noise_scale``: the one-pass sampler (``steps=0``) draws low = clamp(center + k * s * z) with the
  encoder's center and noise level s. For each k on a grid, two seeds' outputs are made exactly as the
  pipeline makes them (same noise draws, 8-bit rounding as when saved) and the benchmark's measure is taken:
  in regions flat in the normal image, the per-pixel std across the seeds over the real low image's noise
  (``metrics/artifacts.py``). 8-bit rounding makes the ratio non-linear in k (noise below half a level is
  rounded away), hence a grid instead of one division. The k where the median ratio crosses 1 is printed.
* ``normal_noise_scaling`` (b, n0): the per-scene camera noise differs widely, and the normal frame shows
  it too. Per pair, the real low image's noise (the normal image's own residual, darkened by R, removed
  in quadrature: that part is texture, not noise) over the model's (k = 1) is regressed on the normal
  image's own noise n in log-log; the slope is b, n0 the median n. With each pair's factor
  clamp((n / n0)^b, 1/4, 4), ``noise_scale`` is then fitted as above; each pair's ratio at k times its
  factor is read off its own grid (log-interpolated), since the factor only multiplies k.
* ``colour_shift``: a real low capture's mean chromaticity differs from its normal image's by a per-scene
  white-balance shift. A linear model shift = W @ [chroma(normal) - 1/3, 1] is fitted by least squares
  (W: 3 x 4). The script prints the benchmark's colour-cast error (L1 distance of the chromaticity shifts)
  of no shift (the dark-clean control), of the network's own colour and of the fitted model, the last
  leave-one-scene-out, so that the fit is judged on pairs it did not see.
* ``exposure_quantiles``: the distribution ``--exposure auto`` draws R from. The script prints the
  quantiles of R over *all* train pairs of each source (``--every`` does not thin them). A ``pairs``
  source is one low-light photo per scene (SICE's rule: each scene's darkest usable frame), which is what
  auto should imitate; a ``frames`` source also holds the brackets only 1.6-2.2x darker, which teach the
  exposure conditioning but are not what a user means by a low-light photo.

Every pair is encoded once at its own exposure ratio. Several ``--data DIR:LAYOUT`` sources are pooled.

    python benchmarks/calibrate_sampling.py --data ../shared/data/sice_pairs:pairs ../shared/data/sice_frames:frames
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from n2ldiff.data.io import read_image
from n2ldiff.data.layouts import ImagePair, find_pairs
from n2ldiff.diffusion.noise import PositionalNoise
from n2ldiff.diffusion.process import noise_std_from_log
from n2ldiff.diffusion.samplers import X0_DRAW
from n2ldiff.exposure import exposure_ratio, training_quantiles
from n2ldiff.image_noise import flat_mask, normal_noise_std, real_noise_std
from n2ldiff.metrics.artifacts import seed_std
from n2ldiff.metrics.realism import colour_statistics
from n2ldiff.pipeline import LowLightPipeline
from n2ldiff.sampling import calibrated_center, colour_shift_features, noise_gain, normal_chromaticity

SEEDS = (11, 12)
SCALES = np.geomspace(0.01, 2.0, 47)


@torch.no_grad()
def measure_pair(pipe: LowLightPipeline, normal: torch.Tensor, low: torch.Tensor) -> dict[str, np.ndarray]:
    """One training pair: seed/real noise ratio per noise scale, and the chromaticity terms."""
    multiple = pipe.model.config.model.size_multiple
    h, w = normal.shape[-2] // multiple * multiple, normal.shape[-1] // multiple * multiple
    normal, low = normal[None, :, :h, :w], low[None, :, :h, :w]
    exposure = torch.tensor([float(exposure_ratio(normal, low))])
    encoding = pipe.model.encode(normal, exposure)
    assert encoding.log_noise_std is not None, "this model has no noise-level head"
    settings = pipe.settings()
    center = calibrated_center(encoding.center, normal, exposure, settings)
    # The network's own colour: the exposure match only (a uniform gain), no colour shift.
    own = calibrated_center(encoding.center, normal, exposure, dataclasses.replace(settings, colour_shift=None))
    s = noise_std_from_log(encoding.log_noise_std)
    batch_center = center.repeat(len(SEEDS), 1, 1, 1)  # dense: seed_std reduces over this dim
    z = PositionalNoise(list(SEEDS))(X0_DRAW, batch_center)
    mask = flat_mask(normal[0])
    real = max(real_noise_std(low[0], mask), 1e-6)
    model_std = float((s / 2).pow(2).mean(1)[0][mask].mean().sqrt())  # k = 1, in [0, 1] units, unrounded
    ratios = []
    for k in SCALES:
        x0 = (2 * batch_center - 1 + k * s * z).clamp(-1, 1)  # the sampler works in [-1, 1]
        out = ((x0 + 1) / 2 * 255).round() / 255
        ratios.append(seed_std(out, mask) / real)
    return {
        "noise_ratios": np.array(ratios),
        "real_noise": np.array(real),
        "model_noise": np.array(model_std),
        "normal_noise": np.array(normal_noise_std(normal[0])),
        "exposure": np.array(float(exposure)),
        "real_shift": colour_statistics(low, normal)["chromaticity_shift"][0].double().numpy(),
        "own_shift": colour_statistics(own, normal)["chromaticity_shift"][0].double().numpy(),
        "features": colour_shift_features(normal_chromaticity(normal.double()))[0].numpy(),
    }


def fit_colour_shift(features: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """W (3 x 4) minimising ||features @ W.T - shifts||^2 (the minimum-norm solution: the chromaticity
    features sum to 0, so one column is redundant)."""
    weights, *_ = np.linalg.lstsq(features, shifts, rcond=None)
    return weights.T


def leave_one_out_error(features: np.ndarray, shifts: np.ndarray) -> float:
    """Mean colour-cast error (L1) of the linear model on each pair, fitted without that pair."""
    errors = []
    for i in range(len(features)):
        keep = np.arange(len(features)) != i
        weights = fit_colour_shift(features[keep], shifts[keep])
        errors.append(np.abs(weights @ features[i] - shifts[i]).sum())
    return float(np.mean(errors))


def noise_scale_at_one(medians: np.ndarray) -> float | None:
    """The noise scale where the median ratio crosses 1 (log-linear between grid points), or None."""
    if not medians[0] < 1 < medians[-1]:
        return None
    i = int(np.searchsorted(medians, 1.0))
    lo, hi = np.log(SCALES[i - 1]), np.log(SCALES[i])
    f = (1 - medians[i - 1]) / (medians[i] - medians[i - 1])
    return float(np.exp(lo + f * (hi - lo)))


def fit_normal_noise_scaling(table: dict[str, np.ndarray]) -> tuple[float, float]:
    """(b, n0): the log-log slope of the real low image's noise (texture removed) over the model's on the
    normal image's own noise n, and the median n."""
    n, real, r = table["normal_noise"], table["real_noise"], table["exposure"]
    texture = n / r  # the normal image's residual, darkened as the low frame is
    noise = np.sqrt(np.maximum(real**2 - texture**2, (0.1 * real) ** 2))
    reference = float(np.median(n))
    slope, _ = np.polyfit(np.log(n / reference), np.log(noise / table["model_noise"]), 1)
    return float(slope), reference


def ratios_at(table: dict[str, np.ndarray], scales: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """pairs x scales: each pair's seed/real ratio at scale k x its gain, log-interpolated on its grid."""
    log_grid = np.log(SCALES)
    return np.stack(
        [
            np.exp(np.interp(np.log(scales * g), log_grid, np.log(np.maximum(row, 1e-9))))
            for row, g in zip(table["noise_ratios"], gains, strict=True)
        ]
    )


def spread(ratios: np.ndarray) -> str:
    q = np.quantile(ratios, [0.1, 0.25, 0.5, 0.75, 0.9])
    inside = np.mean((ratios >= 0.67) & (ratios <= 1.5))
    return f"10/25/50/75/90 % {' '.join(f'{v:.2f}' for v in q)}; within 0.67-1.5: {inside:.0%}"


def exposure_quantiles(pairs: Sequence[ImagePair]) -> tuple[float, ...]:
    """The stored quantiles of R over ``pairs`` (as training stores them for auto)."""
    return training_quantiles(
        [float(exposure_ratio(read_image(p.normal_path).rgb, read_image(p.low_path).rgb)) for p in pairs]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", required=True, help="DIR:LAYOUT, one or more (train split used)")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--every", type=int, default=1, help="use every k-th train pair of each source")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save", type=Path, default=None, help="also write the per-pair values (.npz)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = LowLightPipeline.from_pretrained(args.model, device="cpu")
    rows: list[dict[str, np.ndarray]] = []
    sources = []
    distributions = {}
    for spec in args.data:
        root, _, layout = spec.rpartition(":")
        if not root:
            parser.error(f"--data {spec!r}: expected DIR:LAYOUT")
        every_pair = find_pairs(root, layout, split="train")
        distributions[f"{root} ({layout}, {len(every_pair)} train pairs)"] = exposure_quantiles(every_pair)
        pairs = every_pair[:: args.every]
        sources.append(f"{len(pairs)} train pairs of {root} ({layout})")
        live = sys.stderr.isatty()  # a live counter on a terminal; nothing in a log file
        for i, p in enumerate(pairs):
            rows.append(measure_pair(pipe, read_image(p.normal_path).rgb, read_image(p.low_path).rgb))
            if live:
                print(f"\r{root}: {i + 1}/{len(pairs)} pairs", end="", flush=True, file=sys.stderr)
        if live:
            print(file=sys.stderr)
    table = {key: np.stack([r[key] for r in rows]) for key in rows[0]}
    if args.save:
        np.savez(args.save, **table)

    print("; ".join(sources))
    print(f"\nnoise_scale (current {pipe.config.noise_scale:g}): median seed/real noise ratio")
    medians = np.median(table["noise_ratios"], axis=0)
    for k, m in zip(SCALES, medians, strict=True):
        print(f"{k:11.3f}  {m:.3f}")
    k_one = noise_scale_at_one(medians)
    print(f"median ratio 1 at noise_scale {k_one:.3f}" if k_one else "the median ratio does not cross 1 on the grid")
    if k_one:
        print("  per-pair ratios there:", spread(ratios_at(table, np.array([k_one]), np.ones(len(rows)))[:, 0]))

    exponent, reference = fit_normal_noise_scaling(table)
    gains = np.array([noise_gain(float(n), (exponent, reference)) for n in table["normal_noise"]])
    factors = f"factors {gains.min():.2f}-{gains.max():.2f}"
    print(f"\nnormal_noise_scaling: b = {exponent:.3f}, n0 = {reference:.5f} ({factors})")
    scaled = np.median(ratios_at(table, SCALES, gains), axis=0)
    k_scaled = noise_scale_at_one(scaled)
    if k_scaled:
        print(f"with it, median ratio 1 at noise_scale {k_scaled:.3f}")
        print("  per-pair ratios there:", spread(ratios_at(table, np.array([k_scaled]), gains)[:, 0]))
        print(
            'for config.json: "noise_scale":', round(k_scaled, 3),
            '"normal_noise_scaling":', json.dumps([round(exponent, 3), round(reference, 5)]),
        )  # fmt: skip

    real, own, features = table["real_shift"], table["own_shift"], table["features"]
    weights = fit_colour_shift(features, real)
    print("\ncolour_shift: mean colour-cast error (L1 of the chromaticity shift to the real low image's)")
    print(f"  no shift (dark-clean)               {np.abs(real).sum(1).mean():.4f}")
    print(f"  the network's own colour            {np.abs(own - real).sum(1).mean():.4f}")
    print(f"  linear model, leave-one-pair-out    {leave_one_out_error(features, real):.4f}")
    print(f"  linear model, fitted on all (in-sample) {np.abs(features @ weights.T - real).sum(1).mean():.4f}")
    print("colour_shift for config.json:", json.dumps([[round(float(v), 5) for v in row] for row in weights]))

    print("\nexposure_quantiles (auto's distribution of R; 21 quantiles, 0 % to 100 %), per source:")
    for source, quantiles in distributions.items():
        print(f"  {source}: median R {quantiles[len(quantiles) // 2]:g}")
        print("  exposure_quantiles for config.json:", json.dumps(list(quantiles)))


if __name__ == "__main__":
    main()
