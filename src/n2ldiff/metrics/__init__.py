"""Metrics: paired fidelity (PSNR/SSIM/LPIPS), realism statistics (noise level, tone curve, colour,
diversity, KID/FID) and the torchvision-free feature networks they use. Weights come from ``n2ldiff fetch-weights``.

The names below are loaded on first use: importing one submodule (``n2ldiff.metrics.weights`` for
``fetch-weights``, ``n2ldiff.metrics.artifacts``) must not pay for SciPy, matplotlib and torchmetrics.
"""

from __future__ import annotations

import importlib
from typing import Any

_SOURCES = {
    "fidelity": ("LPIPS", "pad_or_crop_to_multiple", "psnr", "ssim"),
    "realism": (
        "DistributionScores",
        "NoiseLevelFunction",
        "StatisticAssessment",
        "ToneCurve",
        "assess_statistic",
        "checkerboard_regions",
        "colour_statistics",
        "diversity",
        "fid_kid",
        "inception_features",
        "nlf_distance",
        "noise_level_function",
        "split_subsets",
        "tone_curve",
        "tone_curve_distance",
    ),
    "weights": (
        "default_weights_dir",
        "fetch_metric_weights",
        "load_inception",
        "load_lpips_weights",
        "weights_available",
    ),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
