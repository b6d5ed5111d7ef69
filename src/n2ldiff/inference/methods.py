"""Every way of making a low-light image behind one interface: ``method(images, seeds) -> images``.

This module is the only place that turns a method name into a ``LowLightMethod``: ``generate``,
``simulate``, the benchmark, the dataset builders and the demo all call ``load_method``.

* ``n2ldiff`` is the diffusion pipeline (``LowLightPipeline.method``, an ``N2LDiffMethod``), loaded from a
  model folder (``None`` = the shipped model) or taken from an already loaded pipeline;
* every other name is a physics baseline from ``n2ldiff.baselines`` (``BaselineMethod``: each row seeded
  by its own ``torch.Generator``).

``load_method(..., cache=True)`` keeps loaded models for the life of the process (dataset-builder workers
load the model once for all their shards).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from n2ldiff.baselines.registry import get_method
from n2ldiff.defaults import DEFAULT_TILE_SIZE

__all__ = ["N2LDIFF", "BaselineMethod", "LowLightMethod", "clear_method_cache", "load_method"]

#: The diffusion model's method name (``N2LDiffMethod.name``).
N2LDIFF = "n2ldiff"


@runtime_checkable
class LowLightMethod(Protocol):
    """Anything that turns normal-light images into low-light ones, one seed per image.

    ``__call__(images Nx3xHxW in [0, 1], seeds)`` returns Nx3xHxW in [0, 1]; row i must depend only on
    (images[i], seeds[i]) - never on the other rows. ``settings`` (a JSON-able dict) and
    ``weights_sha256`` identify what made an output: they are recorded in every manifest line, and a
    resumed run refuses a folder whose outputs were made with others.
    """

    name: str
    settings: dict[str, Any]
    weights_sha256: str | None

    def __call__(self, images: torch.Tensor, seeds: list[int]) -> torch.Tensor: ...


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


_CACHE: dict[tuple[Any, ...], LowLightMethod] = {}


def clear_method_cache() -> None:
    """Forget the models kept by ``load_method(..., cache=True)``."""
    _CACHE.clear()


def load_method(
    name: str,
    model: str | Path | None = None,
    device: str = "auto",
    sampler: str | None = None,
    steps: int | None = None,
    tile_size: int = DEFAULT_TILE_SIZE,
    *,
    pipeline: Any = None,
    cache: bool = False,
    **sampling: Any,
) -> LowLightMethod:
    """``"n2ldiff"`` or a baseline name -> a ``LowLightMethod``.

    For ``n2ldiff``: ``pipeline`` (an already loaded ``LowLightPipeline``) or the model folder ``model``
    (``None`` = the shipped default) on ``device``; ``sampler``, ``steps`` and any other sampling option
    (``eta``, ``start``, ...) are validated now and fixed for every call. ``cache``: reuse the method
    loaded with the same arguments earlier in this process. Unknown names, samplers and steps raise
    ``N2LDiffError``.
    """
    if name != N2LDIFF:
        return BaselineMethod(name)
    if pipeline is not None:
        return pipeline.method(sampler=sampler, steps=steps, **sampling)
    key = (
        None if model is None else os.path.abspath(model),
        str(device),
        sampler,
        steps,
        tile_size,
        tuple(sorted(sampling.items())),
    )
    if cache and key in _CACHE:
        return _CACHE[key]
    from n2ldiff.pipeline import LowLightPipeline

    pipe = LowLightPipeline.from_pretrained(model, device=device, tile_size=tile_size)
    method = pipe.method(sampler=sampler, steps=steps, **sampling)
    if cache:
        _CACHE[key] = method
    return method
