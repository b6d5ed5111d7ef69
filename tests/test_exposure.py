"""The exposure ratio: its definition, the ways a user gives it, and reproducible draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from n2ldiff.errors import N2LDiffError
from n2ldiff.exposure import Exposure, exposure_ratio, training_quantiles


def test_exposure_ratio_is_the_ratio_of_means():
    normal = torch.rand(2, 3, 8, 8)
    low = normal / 4
    torch.testing.assert_close(exposure_ratio(normal, low), torch.full((2,), 4.0))
    assert float(exposure_ratio(normal[0], normal[0] * 0.5)) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("text", "kind", "low", "high"),
    [("4", "fixed", 4, 4), (8, "fixed", 8, 8), ("2:16", "range", 2, 16), ("auto", "auto", None, None),
     (None, "auto", None, None), ("oracle", "oracle", None, None), (" AUTO ", "auto", None, None)],
)  # fmt: skip
def test_parse(text, kind, low, high):
    spec = Exposure.parse(text)
    assert (spec.kind, spec.low, spec.high) == (kind, low, high)
    assert Exposure.parse(str(spec)) == spec  # the text form round-trips (manifests, settings)


@pytest.mark.parametrize("bad", ["0.5", "dark", "16:2", "nan", "2:", "1e9", True])
def test_parse_rejects_with_a_clear_message(bad):
    with pytest.raises(N2LDiffError, match="exposure"):
        Exposure.parse(bad)


def test_draws_are_reproducible_per_image_and_seed_and_cover_the_range():
    images = torch.rand(40, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    spec = Exposure.parse("2:16")
    draws = [spec.draw(im, seed) for im in images for seed in (1, 2)]
    assert all(2 <= d <= 16 for d in draws)
    assert draws == [spec.draw(im, seed) for im in images for seed in (1, 2)]
    assert len(set(draws)) == len(draws)  # both the image and the seed change the draw
    logs = np.log(draws)
    assert logs.min() < math.log(3) and logs.max() > math.log(10)  # log-uniform, not stuck


def test_auto_draws_follow_the_stored_quantiles():
    ratios = list(np.exp(np.random.default_rng(0).normal(1.2, 0.5, 2000)))
    quantiles = training_quantiles(ratios, 41)
    images = torch.rand(400, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    draws = np.array([Exposure.parse("auto").draw(im, 3, quantiles) for im in images])
    assert quantiles[0] <= draws.min() and draws.max() <= quantiles[-1]
    assert np.median(draws) == pytest.approx(np.median(ratios), rel=0.1)
    with pytest.raises(N2LDiffError, match="no training distribution"):
        Exposure.parse("auto").draw(images[0], 3, ())
    with pytest.raises(N2LDiffError, match="oracle"):
        Exposure.parse("oracle").draw(images[0], 3, quantiles)
