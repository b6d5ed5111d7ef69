"""The baseline registry: names, uniform signature, seeding, errors."""

from __future__ import annotations

import pytest
import torch

from n2ldiff.baselines.registry import expand_methods, get_method, list_methods, lv_grid_name, run_method
from n2ldiff.errors import N2LDiffError

EXPECTED = {
    "lv-grid-a0.9-b0.5-g1.5",
    "lv-grid-a0.9-b0.5-g5",
    "lv-grid-a0.9-b1-g1.5",
    "lv-grid-a0.9-b1-g5",
    "lv-grid-a1-b0.5-g1.5",
    "lv-grid-a1-b0.5-g5",
    "lv-grid-a1-b1-g1.5",
    "lv-grid-a1-b1-g5",
    "lv-random",
    "lv-random-noise",
    "unprocess",
    "dark-isp",
}


def test_names() -> None:
    assert set(list_methods()) == EXPECTED
    assert len(list_methods()) == len(EXPECTED)
    assert lv_grid_name(0.9, 1.0, 5.0) == "lv-grid-a0.9-b1-g5"
    assert expand_methods(["lv-grid", "unprocess"]) == [n for n in list_methods() if n.startswith("lv-grid")] + [
        "unprocess"
    ]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_uniform_signature_and_seeding(name: str) -> None:
    x = 0.1 + 0.8 * torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    a = run_method(name, x, torch.Generator().manual_seed(4))
    b = get_method(name)(x, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert a.shape == x.shape and a.dtype == torch.float32
    assert a.min() >= 0 and a.max() <= 1
    assert a.mean() < x.mean()


def test_grid_method_is_deterministic_formula() -> None:
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    out = get_method("lv-grid-a0.9-b0.5-g5")(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, 0.5 * (0.9 * x) ** 5)


def test_unknown() -> None:
    with pytest.raises(N2LDiffError, match="unknown baseline"):
        get_method("nope")
    with pytest.raises(N2LDiffError):
        expand_methods(["lv-grid", "nope"])
