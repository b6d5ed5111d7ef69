"""Metrics: paired fidelity (PSNR/SSIM/LPIPS), realism statistics (noise level, tone curve, colour,
diversity, KID/FID) and the torchvision-free feature networks they use. Weights come from ``n2ldiff fetch-weights``.
"""

from n2ldiff.metrics.fidelity import LPIPS, pad_or_crop_to_multiple, psnr, ssim
from n2ldiff.metrics.realism import (
    DistributionScores,
    NoiseLevelFunction,
    StatisticAssessment,
    ToneCurve,
    assess_statistic,
    checkerboard_regions,
    colour_statistics,
    diversity,
    fid_kid,
    inception_features,
    nlf_distance,
    noise_level_function,
    split_subsets,
    tone_curve,
    tone_curve_distance,
)
from n2ldiff.metrics.weights import (
    default_weights_dir,
    fetch_metric_weights,
    load_inception,
    load_lpips_weights,
    weights_available,
)

__all__ = [
    "LPIPS",
    "DistributionScores",
    "NoiseLevelFunction",
    "StatisticAssessment",
    "ToneCurve",
    "assess_statistic",
    "checkerboard_regions",
    "colour_statistics",
    "default_weights_dir",
    "diversity",
    "fetch_metric_weights",
    "fid_kid",
    "inception_features",
    "load_inception",
    "load_lpips_weights",
    "nlf_distance",
    "noise_level_function",
    "pad_or_crop_to_multiple",
    "psnr",
    "split_subsets",
    "ssim",
    "tone_curve",
    "tone_curve_distance",
    "weights_available",
]
