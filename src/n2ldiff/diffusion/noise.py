"""Sources of the Gaussian noise a sampler consumes.

A sampler asks for draw ``k`` (k = 0 is the start noise x_T - c, k = 1..n the noise of step k) of the
shape of the current sample. Two sources:

* ``PositionalNoise``: noise that is a pure function of (seed, draw, pixel position). Each image gets its
  own seed, so its output never depends on batch size, order or neighbours, and a tile of a large image
  receives exactly the noise the untiled image would have had there (seamless tiling).
* ``ReplayNoise``: a fixed list of tensors (e.g. to replay another implementation's random draws).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch


class NoiseSource(Protocol):
    def __call__(self, draw: int, like: torch.Tensor) -> torch.Tensor: ...


_MASK64 = (1 << 64) - 1


def _mix(*values: int) -> int:
    """A 63-bit hash of integers (splitmix64 finaliser), stable across runs and platforms."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (v & _MASK64)) & _MASK64
        h = (h * 0xBF58476D1CE4E5B9) & _MASK64
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & _MASK64
        h ^= h >> 29
    return h >> 1


class PositionalNoise:
    """Standard normal noise that depends only on (seed, draw, absolute pixel position).

    The image plane is cut into ``block`` x ``block`` cells; each cell's noise comes from its own CPU
    generator seeded by a hash of (seed, draw, cell row, cell column). ``offset`` is the position of the
    tensor's top-left pixel in the full image.
    """

    def __init__(self, seeds: Sequence[int], offset: tuple[int, int] = (0, 0), block: int = 64) -> None:
        self.seeds = [int(s) for s in seeds]
        self.offset = offset
        self.block = block

    def at(self, offset: tuple[int, int]) -> PositionalNoise:
        """The same noise field seen from a tile whose top-left pixel is at ``offset``."""
        return PositionalNoise(self.seeds, offset, self.block)

    def __call__(self, draw: int, like: torch.Tensor) -> torch.Tensor:
        n, c, h, w = like.shape
        if n != len(self.seeds):
            raise ValueError(f"{len(self.seeds)} seeds for a batch of {n}")
        y0, x0 = self.offset
        b = self.block
        out = torch.empty((n, c, h, w), dtype=torch.float32)
        gen = torch.Generator()
        for i, seed in enumerate(self.seeds):
            for by in range(y0 // b, (y0 + h - 1) // b + 1):
                for bx in range(x0 // b, (x0 + w - 1) // b + 1):
                    gen.manual_seed(_mix(seed, draw, by, bx))
                    cell = torch.randn((c, b, b), generator=gen)
                    # Intersection of this cell with the requested window, in both coordinate frames.
                    ys, ye = max(by * b, y0), min((by + 1) * b, y0 + h)
                    xs, xe = max(bx * b, x0), min((bx + 1) * b, x0 + w)
                    out[i, :, ys - y0 : ye - y0, xs - x0 : xe - x0] = cell[
                        :, ys - by * b : ye - by * b, xs - bx * b : xe - bx * b
                    ]
        return out.to(device=like.device, dtype=like.dtype)


class ReplayNoise:
    """Returns ``draws[k - first_draw]`` for draw k."""

    def __init__(self, draws: Sequence[torch.Tensor], first_draw: int = 0) -> None:
        self.draws = list(draws)
        self.first_draw = first_draw

    def __call__(self, draw: int, like: torch.Tensor) -> torch.Tensor:
        return self.draws[draw - self.first_draw].to(device=like.device, dtype=like.dtype)
