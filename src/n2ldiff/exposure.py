"""The exposure ratio R = mean(normal) / mean(low): how much darker a low-light image is.

Means are over all pixels and RGB channels of images in [0, 1]; R = 4 is two stops darker. One name
everywhere: ``exposure`` (``--exposure`` in the CLI). A user gives it as

* a number, ``4``;
* a range, ``2:16``, drawn log-uniformly per image and seed;
* ``auto`` (the default), drawn from the distribution of R stored with the model (its quantiles: training
  stores its training pairs'; the shipped model's are SICE's train pairs', one low-light photo per scene);
* ``oracle`` (benchmark only): each pair's own real R.

Draws are a pure function of (image content, seed), so they are reproducible and independent of batch
size, order and neighbours.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from n2ldiff.errors import N2LDiffError

MIN_EXPOSURE = 1.0
MAX_EXPOSURE = 1000.0


def exposure_ratio(normal: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
    """R per row of two N x 3 x H x W (or 3 x H x W) images in [0, 1]."""
    dims = tuple(range(-3, 0))
    return normal.float().mean(dim=dims) / low.float().mean(dim=dims).clamp_min(1e-6)


def _check(value: float, what: str) -> float:
    if not math.isfinite(value) or not MIN_EXPOSURE <= value <= MAX_EXPOSURE:
        raise N2LDiffError(f"{what}: exposure ratio must be between {MIN_EXPOSURE:g} and {MAX_EXPOSURE:g}, got {value}")
    return value


def _uniform(image: torch.Tensor, seed: int) -> float:
    """A number in (0, 1) from the image's 8-bit content and the seed."""
    h = hashlib.sha256()
    h.update(f"exposure/{int(seed)}/{tuple(image.shape)}/".encode())
    h.update((image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy().tobytes())
    return (int.from_bytes(h.digest()[:8], "big") + 0.5) / 2**64


@dataclass(frozen=True)
class Exposure:
    """A requested exposure: ``kind`` is "fixed", "range", "auto" or "oracle"."""

    kind: str
    low: float | None = None
    high: float | None = None

    @classmethod
    def parse(cls, value: str | float | int | Exposure | None) -> Exposure:
        """``4`` / ``"4"`` / ``"2:16"`` / ``"auto"`` / ``"oracle"`` / None (= auto)."""
        if isinstance(value, Exposure):
            return value
        if value is None:
            return cls("auto")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            v = _check(float(value), "exposure")
            return cls("fixed", v, v)
        text = str(value).strip().lower()
        if text in ("auto", "oracle"):
            return cls(text)
        try:
            if ":" in text:
                a, b = (float(part) for part in text.split(":", 1))
                a, b = _check(a, "exposure"), _check(b, "exposure")
                if a > b:
                    raise N2LDiffError(f"exposure range {value!r}: the first number must not exceed the second")
                return cls("range", a, b)
            v = _check(float(text), "exposure")
        except ValueError:
            raise N2LDiffError(f"exposure {value!r}: use a number (4), a range (2:16), auto or oracle") from None
        return cls("fixed", v, v)

    def __str__(self) -> str:
        if self.kind == "fixed":
            return f"{self.low:g}"
        if self.kind == "range":
            return f"{self.low:g}:{self.high:g}"
        return self.kind

    def draw(self, image: torch.Tensor, seed: int, quantiles: Sequence[float] = ()) -> float:
        """R for one image (3 x H x W) and seed. ``quantiles``: the model's training distribution (auto)."""
        if self.kind == "fixed":
            assert self.low is not None
            return self.low
        if self.kind == "oracle":
            raise N2LDiffError("exposure oracle needs the real low image: it is only available in the benchmark")
        u = _uniform(image, seed)
        if self.kind == "range":
            assert self.low is not None and self.high is not None
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        if not quantiles:
            raise N2LDiffError("exposure auto: this model stores no training distribution of R; give a number")
        grid = np.linspace(0.0, 1.0, len(quantiles))
        return float(np.exp(np.interp(u, grid, np.log(np.asarray(quantiles, dtype=np.float64)))))


def training_quantiles(ratios: Sequence[float], count: int = 21) -> tuple[float, ...]:
    """``count`` quantiles (probabilities 0, 1/(count-1), ..., 1) of the training pairs' R, rounded."""
    if not ratios:
        raise N2LDiffError("no training exposure ratios")
    q = np.quantile(np.asarray(ratios, dtype=np.float64), np.linspace(0, 1, count))
    return tuple(round(float(v), 4) for v in q)
