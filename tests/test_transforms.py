"""RandomLowLight: a drop-in Dataset transform with fresh, reproducible noise per call."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from n2ldiff.pipeline import LowLightPipeline
from n2ldiff.transforms import RandomLowLight


class NormalImages(Dataset):
    def __init__(self, transform) -> None:
        self.transform = transform
        gen = torch.Generator().manual_seed(0)
        self.images = [torch.rand(3, 24, 32, generator=gen) for _ in range(4)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i])


def test_transform_matches_the_pipeline_and_varies_per_call(tiny_model_dir):
    transform = RandomLowLight(tiny_model_dir, seed=1)
    image = torch.rand(3, 24, 32)
    first, second = transform(image), transform(image)
    assert first.shape == image.shape
    assert (first - second).abs().mean() > 0.01  # a new low-light version every call
    pipe = LowLightPipeline.from_pretrained(tiny_model_dir, device="cpu")
    torch.testing.assert_close(second, pipe.generate(image[None], [transform.last_seed])[0])
    again = RandomLowLight(tiny_model_dir, seed=1)
    assert torch.equal(again(image), first)  # same transform seed, same sequence


def test_transform_in_a_dataloader_with_pairs(tiny_model_dir):
    dataset = NormalImages(RandomLowLight(tiny_model_dir, seed=3, return_pair=True))
    low, normal = next(iter(DataLoader(dataset, batch_size=2)))
    assert low.shape == normal.shape == (2, 3, 24, 32)
    assert torch.equal(normal[0], dataset.images[0])


def test_transform_passes_the_exposure(tiny_v2_model_dir):
    pipe = LowLightPipeline.from_pretrained(tiny_v2_model_dir, device="cpu")
    image = torch.rand(3, 24, 32)
    transform = RandomLowLight(pipeline=pipe, seed=2, exposure=8)
    low = transform(image)
    torch.testing.assert_close(low, pipe.generate(image[None], [transform.last_seed], exposure=8)[0])
    assert not torch.equal(low, pipe.generate(image[None], [transform.last_seed], exposure=2)[0])
