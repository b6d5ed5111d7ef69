"""Every way of making a low-light image behind one interface: ``method(images, seeds) -> images``.

``n2ldiff`` is the diffusion pipeline; every other name is a physics baseline from
``n2ldiff.baselines`` (each row seeded by its own ``torch.Generator``), so generate, simulate, the
benchmark, the dataset builders and the demo all treat them alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from n2ldiff.baselines.registry import get_method


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


def load_method(
    name: str,
    model: str | Path | None = None,
    device: str = "auto",
    sampler: str | None = None,
    steps: int | None = None,
    tile_size: int = 768,
    **sampling: Any,
) -> Any:
    """``"n2ldiff"`` (loading ``model``, None = the shipped default) or a baseline name."""
    if name == "n2ldiff":
        from n2ldiff.pipeline import LowLightPipeline

        pipe = LowLightPipeline.from_pretrained(model, device=device, tile_size=tile_size)
        return pipe.method(sampler=sampler, steps=steps, **sampling)
    return BaselineMethod(name)
