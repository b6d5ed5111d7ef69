"""Defaults shared by every command, the Python API and the demo, each written once.

Sampling defaults (sampler, steps, eta, start) belong to the model (its ``config.json``) and the sampler
names to the registry ``n2ldiff.diffusion.samplers.SAMPLERS``; they are not repeated here.
"""

from __future__ import annotations

#: Seeds when none are given: one output per input (``generate``, ``simulate``, ``benchmark``,
#: ``build-voc``, the demo's seed box).
DEFAULT_SEEDS: tuple[int, ...] = (3407,)
#: Images larger than this (pixels per side) are sampled in overlapping tiles, which bounds memory.
DEFAULT_TILE_SIZE = 768
#: JPEG quality of written JPEG outputs.
DEFAULT_JPEG_QUALITY = 95

__all__ = ["DEFAULT_JPEG_QUALITY", "DEFAULT_SEEDS", "DEFAULT_TILE_SIZE"]
