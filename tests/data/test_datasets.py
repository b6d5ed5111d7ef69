from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from n2ldiff.data.datasets import PairedDataset, item_generator, paired_crop_flip
from n2ldiff.data.layouts import ImagePair
from n2ldiff.errors import N2LDiffError


def make_pair(tmp_path, name: str, h: int, w: int, seed: int = 0) -> ImagePair:
    rng = np.random.default_rng(seed)
    normal = rng.integers(0, 128, (h, w, 3), dtype=np.uint8) * 2  # even values: halving is exact
    (tmp_path / "normal").mkdir(exist_ok=True)
    (tmp_path / "low").mkdir(exist_ok=True)
    n, lo = tmp_path / "normal" / f"{name}.png", tmp_path / "low" / f"{name}.png"
    Image.fromarray(normal).save(n)
    Image.fromarray(normal // 2).save(lo)
    return ImagePair(name=name, normal_path=n, low_path=lo)


def contains(image: torch.Tensor, crop: torch.Tensor) -> bool:
    size = crop.shape[-1]
    windows = image.unfold(1, size, 1).unfold(2, size, 1)  # 3 x H' x W' x size x size
    return bool((windows == crop[:, None, None]).flatten(3).all(-1).all(0).any())


def test_crop_and_flip_stay_aligned(tmp_path):
    pairs = [make_pair(tmp_path, f"p{i}", 40, 56, seed=i) for i in range(3)]
    ds = PairedDataset(pairs, crop_size=16, flip=True, vflip=True, seed=7)
    flipped = 0
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            assert item["normal"].shape == item["low"].shape == (3, 16, 16)
            torch.testing.assert_close(item["low"], item["normal"] * 0.5, atol=0.6 / 255, rtol=0)
            assert item["name"] == f"p{i}"
            full = torch.from_numpy(np.array(Image.open(pairs[i].normal_path))).permute(2, 0, 1) / 255
            # the crop is a real window of the image, flipped or not
            variants = [contains(cand, item["normal"]) for cand in (full, full.flip(-1), full.flip(-2))]
            assert any(variants) or contains(full.flip(-1).flip(-2), item["normal"])
            flipped += int(not variants[0])
    assert flipped > 0  # flips actually happen


def test_items_are_deterministic_and_vary_with_epoch(tmp_path):
    pairs = [make_pair(tmp_path, "a", 64, 64)]
    ds1 = PairedDataset(pairs, crop_size=8, flip=True, seed=3)
    ds2 = PairedDataset(pairs, crop_size=8, flip=True, seed=3)
    assert torch.equal(ds1[0]["normal"], ds2[0]["normal"])
    crops = set()
    for epoch in range(6):
        ds1.set_epoch(epoch)
        crops.add(ds1[0]["normal"].numpy().tobytes())
    assert len(crops) > 1
    g1, g2 = item_generator(1, 0, 5), item_generator(1, 0, 5)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))
    assert not torch.equal(torch.rand(3, generator=item_generator(1, 0, 6)), torch.rand(3, generator=g2))


def test_small_images_are_reflect_padded(tmp_path):
    pairs = [make_pair(tmp_path, "s", 10, 12)]
    item = PairedDataset(pairs, crop_size=20, seed=0)[0]
    assert item["normal"].shape == (3, 20, 20)
    torch.testing.assert_close(item["low"], item["normal"] * 0.5, atol=0.6 / 255, rtol=0)


def test_whole_images_without_crop_and_size_mismatch(tmp_path):
    pair = make_pair(tmp_path, "w", 18, 22)
    assert PairedDataset([pair])[0]["normal"].shape == (3, 18, 22)
    Image.new("RGB", (5, 5)).save(pair.low_path)
    with pytest.raises(N2LDiffError, match="differs"):
        PairedDataset([pair])[0]
    with pytest.raises(ValueError, match="differ"):
        paired_crop_flip(torch.zeros(3, 4, 4), torch.zeros(3, 5, 4), 2, True, torch.Generator())
