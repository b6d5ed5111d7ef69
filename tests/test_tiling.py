from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from n2ldiff.errors import N2LDiffError
from n2ldiff.tiling import (
    blend_window,
    crop_to,
    pad_bottom_right,
    pad_to_multiple,
    plan_tiles,
    seam_energy,
    tile_size_for_memory,
    tiled_apply,
)


def image(h: int, w: int, n: int | None = None, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    shape = (3, h, w) if n is None else (n, 3, h, w)
    return torch.rand(shape, generator=gen)


def box_blur(x: torch.Tensor, _offset=None) -> torch.Tensor:
    """5x5 mean filter with reflect padding: a non-pointwise function that sees tile edges."""
    y = x[None] if x.ndim == 3 else x
    y = F.avg_pool2d(F.pad(y, (2, 2, 2, 2), mode="reflect"), 5, stride=1)
    return y[0] if x.ndim == 3 else y


@given(h=st.integers(1, 40), w=st.integers(1, 40), m=st.sampled_from([1, 3, 8, 16]))
@settings(max_examples=40, deadline=None)
def test_pad_to_multiple_round_trip(h, w, m):
    x = image(h, w)
    padded, size = pad_to_multiple(x, m)
    assert size == (h, w)
    assert padded.shape[-2] % m == 0 and padded.shape[-1] % m == 0
    assert padded.shape[-2] - h < m and padded.shape[-1] - w < m
    assert torch.equal(crop_to(padded, h, w), x)


def test_pad_reflects_and_handles_pads_larger_than_the_image():
    x = torch.arange(3.0).reshape(1, 1, 3)
    assert pad_bottom_right(x, 0, 2).flatten().tolist() == [0, 1, 2, 1, 0]
    big = pad_bottom_right(x, 0, 7)  # more than size-1: repeated reflection
    assert big.shape[-1] == 10 and set(big.flatten().tolist()) <= {0.0, 1.0, 2.0}
    one = pad_bottom_right(torch.ones(2, 1, 1), 5, 6)  # a 1-pixel side falls back to replicate
    assert one.shape == (2, 6, 7) and torch.equal(one, torch.ones(2, 6, 7))
    assert pad_bottom_right(x, 0, 2, "constant").flatten().tolist() == [0, 1, 2, 0, 0]
    assert pad_bottom_right(x, 0, 2, "replicate").flatten().tolist() == [0, 1, 2, 2, 2]


def test_plan_tiles_covers_everything_with_inward_last_tiles():
    boxes = plan_tiles(104, 72, tile=32, overlap=8, multiple=8)
    cover = torch.zeros(104, 72)
    for y0, y1, x0, x1 in boxes:
        assert (y1 - y0, x1 - x0) == (32, 32)
        assert y0 >= 0 and y1 <= 104 and x0 >= 0 and x1 <= 72
        cover[y0:y1, x0:x1] += 1
    assert (cover > 0).all()
    assert max(b[1] for b in boxes) == 104 and max(b[3] for b in boxes) == 72
    assert plan_tiles(16, 24, tile=64, overlap=8, multiple=8) == [(0, 16, 0, 24)]


def test_plan_tiles_rejects_bad_settings():
    with pytest.raises(N2LDiffError, match="smaller than the tile"):
        plan_tiles(64, 64, tile=32, overlap=32)
    with pytest.raises(N2LDiffError, match="multiple"):
        plan_tiles(64, 64, tile=30, overlap=4, multiple=8)
    with pytest.raises(ValueError, match="multiple"):
        plan_tiles(63, 64, tile=32, overlap=4, multiple=8)


def test_blend_window_is_positive_and_smooth():
    win = blend_window(32, 40, 8)
    assert win.shape == (32, 40) and (win > 0).all() and win.max() == 1.0
    assert torch.equal(win, win.flip(0)) and torch.equal(win, win.flip(1))
    assert (win[:8, 20].diff() > 0).all()  # rising ramp
    assert torch.equal(blend_window(4, 4, 0), torch.ones(4, 4))


@pytest.mark.parametrize(("h", "w"), [(37, 53), (64, 64), (5, 90), (7, 3)])
def test_identity_is_reconstructed_exactly(h, w):
    x = image(h, w)
    out = tiled_apply(lambda t, off: t, x, tile=16, overlap=4, multiple=8)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x, rtol=0, atol=1e-6)


def test_pointwise_function_tiled_equals_untiled_and_batches_work():
    x = image(45, 70, n=2)

    def fn(t, off):
        return t.pow(2.2) * 0.3

    torch.testing.assert_close(tiled_apply(fn, x, tile=24, overlap=8, multiple=8), fn(x, None), atol=1e-6, rtol=0)


def test_offsets_locate_tiles_in_the_padded_image():
    x = image(40, 50)
    seen = []

    def fn(t, off):
        y0, x0 = off
        seen.append(off)
        # position-dependent output: the global pixel coordinates
        ys = torch.arange(y0, y0 + t.shape[-2]).float()[:, None].expand(t.shape[-2:])
        return ys.expand(t.shape).clone()

    out = tiled_apply(fn, x, tile=16, overlap=4, multiple=8)
    expected = torch.arange(40).float()[:, None].expand(40, 50)
    torch.testing.assert_close(out[0], expected, atol=1e-4, rtol=0)
    assert len(seen) > 4 and (0, 0) in seen


def test_single_tile_is_one_untiled_call():
    x = image(20, 30)
    calls = []
    out = tiled_apply(lambda t, off: calls.append(off) or box_blur(t), x, tile=64, overlap=8, multiple=8)
    assert calls == [(0, 0)]
    padded, _ = pad_to_multiple(x, 8)
    torch.testing.assert_close(out, crop_to(box_blur(padded), 20, 30))


def test_blur_seam_energy_is_low_with_blending():
    x = image(96, 128, seed=3)
    x = box_blur(box_blur(x))  # some spatial structure
    reference = box_blur(x)
    boxes = plan_tiles(96, 128, tile=48, overlap=16, multiple=8)
    blended = tiled_apply(box_blur, x, tile=48, overlap=16, multiple=8)
    hard = tiled_apply(box_blur, x, tile=48, overlap=0, multiple=8)
    hard_boxes = plan_tiles(96, 128, tile=48, overlap=0, multiple=8)
    e_blend = seam_energy(blended, reference, boxes)
    e_hard = seam_energy(hard, reference, hard_boxes)
    # without overlap the tile borders see reflect padding instead of their neighbours: a visible seam
    assert e_hard.boundary > 10 * max(e_hard.elsewhere, 1e-6)
    # with raised-cosine blending the seams nearly vanish
    assert e_blend.boundary < 0.2 * e_hard.boundary
    assert (blended - reference).abs().max() < 0.02
    assert e_blend.elsewhere < 1e-3


def test_seam_energy_flags_a_seam():
    ref = torch.zeros(1, 32, 32)
    seam = ref.clone()
    seam[:, :, 15:17] = 1.0
    e = seam_energy(seam, ref, [(0, 32, 0, 16), (0, 32, 16, 32)], band=2)
    assert e.boundary > 0.4 and e.elsewhere == 0.0


def test_tile_size_for_memory():
    side = tile_size_for_memory(bytes_per_pixel=1000, cap_bytes=1e9, multiple=8)
    assert side % 8 == 0 and side * side * 1000 <= 1e9 and (side + 8) ** 2 * 1000 > 1e9
    assert tile_size_for_memory(1e9, 1, multiple=16) == 16
    with pytest.raises(ValueError):
        tile_size_for_memory(0, 1)


def test_wrong_output_size_is_an_error():
    with pytest.raises(ValueError, match="spatial size"):
        tiled_apply(lambda t, off: t[..., :-1], image(40, 40), tile=16, overlap=4)
