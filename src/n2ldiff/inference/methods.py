"""Every way of making a low-light image behind one interface: ``method(images, seeds) -> images``.

This module is the only place that turns a method name into a ``LowLightMethod``: ``generate``,
``simulate``, the benchmark, the dataset builders and the demo all call ``load_method``.

* ``n2ldiff`` is the diffusion pipeline (``LowLightPipeline.method``, an ``N2LDiffMethod``), loaded from a
  model folder (``None`` = the shipped model) or taken from an already loaded pipeline;
* ``dark-clean`` is the normal image darkened by the exposure ratio R alone (``DarkCleanMethod``);
* every other name is a physics baseline from ``n2ldiff.baselines`` (``BaselineMethod``: each row seeded
  by its own ``torch.Generator``).

Methods that take an exposure ratio (``n2ldiff`` with an exposure-conditioned model, ``dark-clean``) also
have ``exposures(images, seeds)`` (the R each row is made at, recorded in the manifest) and accept
``__call__(images, seeds, exposures=[...])``: one R per row, overriding their setting (the benchmark's
oracle passes each pair's real R this way).

``load_method(..., cache=True)`` keeps loaded models for the life of the process (dataset-builder workers
load the model once for all their shards).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from n2ldiff.baselines.dark_clean import dark_clean
from n2ldiff.baselines.registry import get_method
from n2ldiff.defaults import DEFAULT_TILE_SIZE
from n2ldiff.errors import N2LDiffError
from n2ldiff.exposure import Exposure

__all__ = [
    "DARK_CLEAN",
    "N2LDIFF",
    "BaselineMethod",
    "DarkCleanMethod",
    "LowLightMethod",
    "clear_method_cache",
    "load_method",
    "takes_exposures",
]

#: The diffusion model's method name (``N2LDiffMethod.name``).
N2LDIFF = "n2ldiff"
#: Darkening by R alone, no noise (``DarkCleanMethod.name``).
DARK_CLEAN = "dark-clean"


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


def takes_exposures(method: Any) -> bool:
    """Whether ``method`` reports and accepts one exposure ratio per row (see the module docstring)."""
    return callable(getattr(method, "exposures", None))


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
            if not self._quantiles:  # refuse now rather than fail on every image
                raise N2LDiffError(
                    f"{DARK_CLEAN} with exposure auto: the shipped model stores no training distribution of R; "
                    "give --exposure a number (4) or a range (2:16)"
                )

    @property
    def settings(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.name, "exposure": str(self.exposure)}
        if self.exposure.kind == "auto":
            out["exposure_quantiles"] = list(self._quantiles)
        return out

    def exposures(self, images: torch.Tensor, seeds: list[int]) -> list[float]:
        return [self.exposure.draw(image, seed, self._quantiles) for image, seed in zip(images, seeds, strict=True)]

    def __call__(
        self, images: torch.Tensor, seeds: list[int], exposures: Sequence[float] | None = None
    ) -> torch.Tensor:
        ratios = list(exposures) if exposures is not None else self.exposures(images, seeds)
        return torch.cat([dark_clean(image[None], r) for image, r in zip(images, ratios, strict=True)])


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
    exposure: Exposure | str | float | None = None,
    backend: str = "torch",
    **sampling: Any,
) -> LowLightMethod:
    """``"n2ldiff"``, ``"dark-clean"`` or a baseline name -> a ``LowLightMethod``.

    For ``n2ldiff``: ``pipeline`` (an already loaded ``LowLightPipeline``) or the model folder ``model``
    (``None`` = the shipped default) on ``device``; ``sampler``, ``steps`` and any other sampling option
    (``eta``, ``start``, ...) are validated now and fixed for every call. ``cache``: reuse the method
    loaded with the same arguments earlier in this process. ``exposure`` (``n2ldiff.exposure``: a number,
    a range ``"2:16"``, ``"auto"`` or None, ``"oracle"``) applies to the methods that take a darkness
    (n2ldiff, dark-clean); for the others it must be left at auto. ``backend`` (n2ldiff from ``model``):
    ``torch``, ``onnx`` or ``openvino``, see ``LowLightPipeline``. Unknown names, samplers and steps and a
    bad exposure raise ``N2LDiffError``.
    """
    spec = Exposure.parse(exposure)
    if name == DARK_CLEAN:
        return DarkCleanMethod(spec)
    if name != N2LDIFF:
        if spec.kind != "auto":
            raise N2LDiffError(f"{name} draws its own darkness; --exposure applies to {N2LDIFF} and {DARK_CLEAN} only")
        return BaselineMethod(name)
    if pipeline is not None:
        return pipeline.method(exposure=spec, sampler=sampler, steps=steps, **sampling)
    key = (
        None if model is None else os.path.abspath(model),
        str(device),
        sampler,
        steps,
        tile_size,
        str(spec),
        tuple(sorted(sampling.items())),
        backend,
    )
    if cache and key in _CACHE:
        return _CACHE[key]
    from n2ldiff.pipeline import LowLightPipeline

    pipe = LowLightPipeline.from_pretrained(model, device=device, tile_size=tile_size, backend=backend)
    method = pipe.method(exposure=spec, sampler=sampler, steps=steps, **sampling)
    if cache:
        _CACHE[key] = method
    return method
