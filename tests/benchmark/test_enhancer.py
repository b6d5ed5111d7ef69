"""The utility benchmark's enhancer: its size, its seeded recipe (the same batches for every row), that it learns."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from n2ldiff.benchmark import enhancer as E
from n2ldiff.benchmark.enhancer import MAX_PARAMETERS, Recipe, build_enhancer, data_order, enhance, train_enhancer
from n2ldiff.benchmark.utility import QUICK
from n2ldiff.errors import N2LDiffError
from n2ldiff.metrics.fidelity import psnr


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("recipe", [Recipe(), QUICK["recipe"]], ids=["full", "quick"])
def test_enhancer_has_at_most_half_a_million_parameters(recipe):
    n = _count(build_enhancer(recipe, 0))
    assert 50_000 < n <= MAX_PARAMETERS
    assert n == 131_324  # the documented size of the default widths (16, 32, 64), unshuffled 2x


def test_a_wider_enhancer_is_refused():
    with pytest.raises(N2LDiffError, match="parameters"):
        build_enhancer(Recipe(widths=(32, 64, 128)), 0)


def test_bad_recipes_are_one_line_errors():
    with pytest.raises(N2LDiffError, match="too small"):
        Recipe(crop=16)
    with pytest.raises(N2LDiffError, match=">= 1"):
        Recipe(steps=0)


def test_initial_weights_are_a_function_of_the_seed():
    a, b, c = build_enhancer(Recipe(), 3), build_enhancer(Recipe(), 3), build_enhancer(Recipe(), 4)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True))


def test_data_order_is_a_function_of_pairs_recipe_and_seed():
    recipe = Recipe(steps=30, batch=4)
    first, again, other = data_order(10, recipe, 0), data_order(10, recipe, 0), data_order(10, recipe, 1)
    for field in ("index", "top", "left", "flip"):
        assert torch.equal(getattr(first, field), getattr(again, field))
    assert not torch.equal(first.index, other.index)
    assert first.index.shape == (30, 4) and int(first.index.max()) < 10
    assert 0 < float(first.flip.float().mean()) < 1
    assert not bool(data_order(10, dataclasses.replace(recipe, flips=False), 0).flip.any())


def _pairs(n: int, side: int, seed: int, darken) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, side), torch.linspace(0, 1, side), indexing="ij")
    lows, normals = [], []
    for _ in range(n):
        colour = torch.rand(3, 1, 1, generator=gen) * 0.5 + 0.4
        texture = torch.rand(1, side, side, generator=gen) * 0.2
        normal = (colour * (0.3 + 0.5 * (xx + yy) / 2) + texture).clamp(0, 1)
        lows.append((darken(normal) * 255).round().to(torch.uint8))
        normals.append((normal * 255).round().to(torch.uint8))
    return lows, normals


def test_every_row_gets_the_same_batches_and_initial_weights(monkeypatch):
    """Only the low images differ between rows: the pairs, crops and flips drawn are the same for a seed."""
    recipe = Recipe(crop=32, batch=2, steps=6)
    seen: list[list[tuple]] = []
    real_batch = E._batch

    def spy(lows, normals, means, order, step, recipe_):
        seen[-1].append((order.index[step].tolist(), order.top[step].tolist(), order.flip[step].tolist()))
        return real_batch(lows, normals, means, order, step, recipe_)

    monkeypatch.setattr(E, "_batch", spy)
    _, normals = _pairs(5, 48, 0, lambda x: x)
    for darken in (lambda x: x * 0.2, lambda x: x.pow(2) * 0.3):
        lows, _ = _pairs(5, 48, 0, darken)
        seen.append([])
        train_enhancer(lows, normals, recipe, seed=7)
    assert len(seen[0]) == recipe.steps
    assert seen[0] == seen[1]


def test_training_is_reproducible():
    lows, normals = _pairs(4, 48, 0, lambda x: x * 0.25)
    recipe = Recipe(crop=32, batch=2, steps=5)
    a, b = train_enhancer(lows, normals, recipe, 1), train_enhancer(lows, normals, recipe, 1)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_the_enhancer_learns_to_undo_a_tone_curve():
    """Low = 0.3 * normal^2: scaling to the right mean cannot undo the curve; a trained enhancer does better.

    Both are compared at the normal image's mean brightness, as the utility benchmark measures them.
    """
    lows, normals = _pairs(6, 64, 0, lambda x: 0.3 * x.pow(2))
    recipe = Recipe(crop=32, batch=4, steps=200, lr=3e-3)
    model = train_enhancer(lows, normals, recipe, seed=0)
    test_lows, test_normals = _pairs(2, 64, 1, lambda x: 0.3 * x.pow(2))
    low = torch.stack(test_lows).float() / 255
    normal = torch.stack(test_normals).float() / 255

    def mean_matched(x: torch.Tensor) -> torch.Tensor:
        return (x * normal.mean(dim=(1, 2, 3), keepdim=True) / x.mean(dim=(1, 2, 3), keepdim=True)).clamp(0, 1)

    enhanced = mean_matched(enhance(model, low, recipe.input_mean))
    assert float(psnr(enhanced, normal).mean()) > float(psnr(mean_matched(low), normal).mean()) + 1.5


def test_enhance_keeps_any_size():
    model = build_enhancer(Recipe(), 0)
    low = torch.rand(1, 3, 37, 53) * 0.1
    out = enhance(model, low, 0.4)
    assert out.shape == low.shape
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_training_pairs_smaller_than_the_crop_are_refused():
    lows, normals = _pairs(2, 40, 0, lambda x: x * 0.2)
    with pytest.raises(N2LDiffError, match="at least 48"):
        train_enhancer(lows, normals, Recipe(crop=48, batch=2, steps=1), 0)


def test_an_untrained_enhancer_returns_its_scaled_input():
    """The head starts at zero: before training, the output is the input scaled to the fixed mean (`none`)."""
    low = torch.rand(2, 3, 40, 48) * 0.2
    out = enhance(build_enhancer(Recipe(), 5), low, 0.4)
    assert torch.allclose(out, E.normalise_input(low, 0.4).clamp(0, 1), atol=1e-6)
