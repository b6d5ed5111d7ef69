"""Name -> baseline method, all with the uniform signature ``method(image, generator) -> image``.

Names: ``lv-grid-a{alpha}-b{beta}-g{gamma}`` for the 8 settings of Lv et al.'s grid (e.g.
``lv-grid-a0.9-b0.5-g1.5``), ``lv-random``, ``lv-random-noise``, ``unprocess``, ``dark-isp``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor

from n2ldiff.baselines.dark_isp import dark_isp
from n2ldiff.baselines.lv import LV_GRID, lv
from n2ldiff.baselines.unprocess import unprocess_lowlight
from n2ldiff.errors import N2LDiffError

Method = Callable[[Tensor, torch.Generator], Tensor]


def lv_grid_name(alpha: float, beta: float, gamma: float) -> str:
    """Registry name of one Lv grid setting, e.g. ``lv-grid-a0.9-b0.5-g1.5``."""
    return f"lv-grid-a{alpha:g}-b{beta:g}-g{gamma:g}"


def _build() -> dict[str, Method]:
    methods: dict[str, Method] = {}
    for a, b, g in LV_GRID:
        methods[lv_grid_name(a, b, g)] = functools.partial(lv, alpha=a, beta=b, gamma=g)
    methods["lv-random"] = functools.partial(lv)
    methods["lv-random-noise"] = functools.partial(lv, noise=True)
    methods["unprocess"] = functools.partial(unprocess_lowlight)
    methods["dark-isp"] = functools.partial(dark_isp)
    return methods


_METHODS = _build()


def list_methods() -> list[str]:
    """All registered baseline names, grid first."""
    return list(_METHODS)


def get_method(name: str) -> Method:
    """The baseline called ``name``; ``lv-grid`` alone is not a method (use ``expand_methods``)."""
    try:
        return _METHODS[name]
    except KeyError:
        raise N2LDiffError(f"unknown baseline {name!r}; choose from {', '.join(_METHODS)}") from None


def expand_methods(names: list[str]) -> list[str]:
    """Expand the group name ``lv-grid`` into its 8 settings; check the others exist."""
    out: list[str] = []
    for name in names:
        if name == "lv-grid":
            out += [lv_grid_name(*p) for p in LV_GRID]
        else:
            get_method(name)
            out.append(name)
    return out


def run_method(name: str, image: Tensor, generator: torch.Generator) -> Tensor:
    """Apply baseline ``name`` to an N×3×H×W [0,1] image with ``generator``."""
    return get_method(name)(image, generator)
