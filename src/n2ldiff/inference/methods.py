"""Every way of making a low-light image behind one interface: ``method(images, seeds) -> images``.

``n2ldiff`` is the diffusion pipeline; every other name is a physics baseline from
``n2ldiff.baselines`` (each row seeded by its own ``torch.Generator``), so generate, simulate, the
benchmark, the dataset builders and the demo all treat them alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from n2ldiff.baselines.dark_clean import dark_clean
from n2ldiff.baselines.registry import get_method
from n2ldiff.errors import N2LDiffError
from n2ldiff.exposure import Exposure

DARK_CLEAN = "dark-clean"


class BaselineMethod:
    """A seeded physics baseline as a ``LowLightMethod`` (one generator per image, from its seed)."""

    weights_sha256 = None

    def __init__(self, name: str) -> None:
        self.name = name
        self._fn = get_method(name)  # raises a clear error for unknown names

    @property
    def settings(self) -> dict[str, Any]:
        return {"method": self.name}

    def __call__(self, images: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        outs = []
        for image, seed in zip(images, seeds, strict=True):
            gen = torch.Generator().manual_seed(int(seed))
            outs.append(self._fn(image[None].cpu(), gen).to(images.device))
        return torch.cat(outs).clamp(0, 1)


class DarkCleanMethod:
    """``dark-clean`` as a ``LowLightMethod``: darkening by R alone (``auto`` draws R like the default model)."""

    name = DARK_CLEAN
    weights_sha256 = None

    def __init__(self, exposure: Exposure | str | float | None = None) -> None:
        self.exposure = Exposure.parse(exposure)
        self._quantiles: tuple[float, ...] = ()
        if self.exposure.kind == "auto":
            from n2ldiff.pipeline import default_model_dir

            config = json.loads((default_model_dir() / "config.json").read_text())
            self._quantiles = tuple(config.get("exposure_quantiles", ()))

    @property
    def settings(self) -> dict[str, Any]:
        return {"method": self.name, "exposure": str(self.exposure)}

    def exposures(self, images: torch.Tensor, seeds: list[int]) -> list[float]:
        return [self.exposure.draw(image, seed, self._quantiles) for image, seed in zip(images, seeds, strict=True)]

    def __call__(
        self, images: torch.Tensor, seeds: list[int], exposures: Sequence[float] | None = None
    ) -> torch.Tensor:
        ratios = list(exposures) if exposures is not None else self.exposures(images, seeds)
        return torch.cat([dark_clean(image[None], r) for image, r in zip(images, ratios, strict=True)])


def load_method(
    name: str,
    model: str | Path | None = None,
    device: str = "auto",
    sampler: str | None = None,
    steps: int | None = None,
    tile_size: int = 768,
    exposure: Exposure | str | float | None = None,
    backend: str = "torch",
    **sampling: Any,
) -> Any:
    """``"n2ldiff"`` (loading ``model``, None = the shipped default), ``"dark-clean"`` or a baseline name.

    ``exposure`` applies to the methods that take a darkness (n2ldiff, dark-clean); for the others it must
    be left at auto. ``backend`` (n2ldiff only): ``torch``, ``onnx`` or ``openvino``, see ``LowLightPipeline``.
    """
    if name == "n2ldiff":
        from n2ldiff.pipeline import LowLightPipeline

        pipe = LowLightPipeline.from_pretrained(model, device=device, tile_size=tile_size, backend=backend)
        return pipe.method(exposure=exposure, sampler=sampler, steps=steps, **sampling)
    if name == DARK_CLEAN:
        return DarkCleanMethod(exposure)
    if Exposure.parse(exposure).kind != "auto":
        raise N2LDiffError(f"{name} draws its own darkness; --exposure applies to n2ldiff and {DARK_CLEAN} only")
    return BaselineMethod(name)
