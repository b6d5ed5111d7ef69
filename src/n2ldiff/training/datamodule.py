"""Training data for Lightning: paired crops whose content depends only on (seed, step), not on loaders.

Every batch is a pure function of the run's seed and the global step (and the DDP rank), so a run that is
stopped and resumed from a checkpoint continues with exactly the batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from n2ldiff.config import DataConfig, TrainerConfig
from n2ldiff.data.datasets import item_generator, paired_crop_flip
from n2ldiff.data.io import read_image
from n2ldiff.data.layouts import ImagePair, find_pairs
from n2ldiff.errors import N2LDiffError
from n2ldiff.exposure import MAX_EXPOSURE, MIN_EXPOSURE, exposure_ratio


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields, for steps ``start_step .. num_steps-1``, this rank's share of a global batch.

    Items are ``(pair index, crop seed)``. Pairs are visited in a fresh permutation per pass over the data
    (seeded by the pass number), so every pair is used once per pass.
    """

    def __init__(
        self, num_items: int, batch_size: int, seed: int, num_steps: int, rank: int = 0, world_size: int = 1
    ) -> None:
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.num_steps = num_steps
        self.rank = rank
        self.world_size = world_size
        self.start_step = 0

    def __len__(self) -> int:
        return max(self.num_steps - self.start_step, 0)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_items)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        global_batch = self.batch_size * self.world_size
        for step in range(self.start_step, self.num_steps):
            first = step * global_batch + self.rank * self.batch_size
            items = []
            for position in range(first, first + self.batch_size):
                epoch, offset = divmod(position, self.num_items)
                items.append((int(self._permutation(epoch)[offset]), position))
            yield items


class PairCropDataset(Dataset):
    """``dataset[(index, crop_seed)]`` -> aligned random crops of pair ``index`` (normal in, low target).

    Items also carry the pair's exposure ratio R, measured on the whole images (what a user asks for).
    """

    def __init__(self, pairs: list[ImagePair], crop_size: int | None, flip: bool, seed: int, cache: bool) -> None:
        self.pairs = pairs
        self.crop_size = crop_size
        self.flip = flip
        self.seed = seed
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = {} if cache else None
        self._exposures: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._cache is not None and index in self._cache:
            normal8, low8 = self._cache[index]
            return normal8.float() / 255, low8.float() / 255
        pair = self.pairs[index]
        normal, low = read_image(pair.normal_path).rgb, read_image(pair.low_path).rgb
        if normal.shape != low.shape:
            raise N2LDiffError(f"{pair.low_path}: size differs from its normal image {pair.normal_path}")
        if self._cache is not None:  # keep 8-bit copies: 4x less memory than float
            self._cache[index] = ((normal * 255).round().byte(), (low * 255).round().byte())
            return self._load(index)
        return normal, low

    def __getitem__(self, item: tuple[int, int] | int) -> dict[str, torch.Tensor | str]:
        index, crop_seed = item if isinstance(item, tuple) else (item, item)
        normal, low = self._load(index)
        exposure = self.exposure(index, normal, low)
        normal, low = paired_crop_flip(normal, low, self.crop_size, self.flip, item_generator(self.seed, 0, crop_seed))
        return {"normal": normal, "low": low, "exposure": torch.tensor(exposure), "name": self.pairs[index].name}

    def exposure(self, index: int, normal: torch.Tensor | None = None, low: torch.Tensor | None = None) -> float:
        """The whole-image exposure ratio of pair ``index`` (cached)."""
        if index not in self._exposures:
            if normal is None or low is None:
                normal, low = self._load(index)
            self._exposures[index] = float(exposure_ratio(normal, low).clamp(MIN_EXPOSURE, MAX_EXPOSURE))
        return self._exposures[index]


class PairedDataModule(L.LightningDataModule):
    def __init__(self, data: DataConfig, trainer: TrainerConfig) -> None:
        super().__init__()
        self.data_config = data
        self.trainer_config = trainer
        self.train_pairs = self._pairs(data.train_split)
        self.val_pairs = self._pairs(data.val_split)[: data.max_val_images] if data.val_split else []
        self._train_dataset: PairCropDataset | None = None

    def _pairs(self, split: str | None) -> list[ImagePair]:
        d = self.data_config
        if not d.root.exists():
            raise N2LDiffError(f"data.root: folder not found: {d.root}")
        return find_pairs(d.root, d.layout, split=split)

    def train_dataset(self) -> PairCropDataset:
        if self._train_dataset is None:
            d, t = self.data_config, self.trainer_config
            self._train_dataset = PairCropDataset(self.train_pairs, d.crop_size, d.flip, t.seed, d.cache_images)
        return self._train_dataset

    def train_exposures(self) -> list[float]:
        """The exposure ratio R of every training pair (loads each pair once)."""
        dataset = self.train_dataset()
        return [dataset.exposure(i) for i in range(len(dataset))]

    def train_dataloader(self) -> DataLoader:
        d, t = self.data_config, self.trainer_config
        trainer = self.trainer
        rank = trainer.global_rank if trainer else 0
        world = trainer.world_size if trainer else 1
        sampler = StepBatchSampler(len(self.train_pairs), t.batch_size, t.seed, t.max_steps, rank, world)
        sampler.start_step = trainer.global_step if trainer else 0
        dataset = self.train_dataset()
        return DataLoader(
            dataset, batch_sampler=sampler, num_workers=d.num_workers, persistent_workers=d.num_workers > 0
        )

    def val_dataloader(self) -> DataLoader:
        d = self.data_config
        dataset = PairCropDataset(self.val_pairs, d.val_crop_size, False, 0, cache=True)
        return DataLoader(dataset, batch_size=1, num_workers=0)
