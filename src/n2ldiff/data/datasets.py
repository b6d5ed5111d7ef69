"""Paired training data: the same random crop and flips on the normal image (input) and low image (target).

Randomness is drawn from a generator seeded by (``seed``, epoch, index) alone, so an item is the same
whatever the worker, worker count or order; call ``set_epoch`` to get new crops each epoch (with
``persistent_workers=True`` the workers keep the epoch they were started with).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from n2ldiff.data.io import read_image
from n2ldiff.data.layouts import ImagePair
from n2ldiff.errors import N2LDiffError
from n2ldiff.tiling import pad_bottom_right

__all__ = ["PairedDataset", "item_generator", "paired_crop_flip"]


def item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator determined by (seed, epoch, index) only."""
    state = np.random.SeedSequence([int(seed), int(epoch), int(index)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def paired_crop_flip(
    normal: torch.Tensor,
    low: torch.Tensor,
    crop_size: int | None,
    flip: bool,
    generator: torch.Generator,
    vflip: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply one random crop (reflect-padding images smaller than it) and flips to both 3xHxW tensors."""
    if normal.shape != low.shape:
        raise ValueError(f"pair shapes differ: {tuple(normal.shape)} vs {tuple(low.shape)}")
    if crop_size is not None:
        h, w = normal.shape[-2:]
        pad_h, pad_w = max(0, crop_size - h), max(0, crop_size - w)
        if pad_h or pad_w:
            normal = pad_bottom_right(normal, pad_h, pad_w, "reflect")
            low = pad_bottom_right(low, pad_h, pad_w, "reflect")
            h, w = normal.shape[-2:]
        top = int(torch.randint(0, h - crop_size + 1, (1,), generator=generator))
        left = int(torch.randint(0, w - crop_size + 1, (1,), generator=generator))
        normal = normal[..., top : top + crop_size, left : left + crop_size]
        low = low[..., top : top + crop_size, left : left + crop_size]
    if flip and bool(torch.rand((), generator=generator) < 0.5):
        normal, low = normal.flip(-1), low.flip(-1)
    if vflip and bool(torch.rand((), generator=generator) < 0.5):
        normal, low = normal.flip(-2), low.flip(-2)
    return normal.contiguous(), low.contiguous()


class PairedDataset(Dataset):
    """Items ``{"normal": 3xhxw, "low": 3xhxw, "name": str}`` from ``ImagePair``s.

    ``crop_size=None`` returns whole images (then only equal-size images can be batched). ``flip`` is a
    random horizontal flip, ``vflip`` a random vertical flip, both applied identically to the pair.
    """

    def __init__(
        self,
        pairs: Sequence[ImagePair],
        crop_size: int | None = None,
        flip: bool = False,
        seed: int = 0,
        vflip: bool = False,
        min_side: int = 1,
    ) -> None:
        if crop_size is not None and crop_size < 1:
            raise N2LDiffError(f"crop size must be positive, got {crop_size}")
        self.pairs = list(pairs)
        self.crop_size = crop_size
        self.flip = flip
        self.vflip = vflip
        self.seed = int(seed)
        self.min_side = min_side
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw different crops/flips for a new epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        pair = self.pairs[index]
        normal = read_image(pair.normal_path, min_side=self.min_side).rgb
        low = read_image(pair.low_path, min_side=self.min_side).rgb
        if normal.shape != low.shape:
            raise N2LDiffError(
                f"{pair.low_path}: size {tuple(low.shape[-2:])} differs from its normal image "
                f"{pair.normal_path} {tuple(normal.shape[-2:])}"
            )
        gen = item_generator(self.seed, self.epoch, index)
        normal, low = paired_crop_flip(normal, low, self.crop_size, self.flip, gen, self.vflip)
        return {"normal": normal, "low": low, "name": pair.name}
