from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile, ImageOps

from n2ldiff.data.io import (
    TEMP_SUFFIX,
    collect_inputs,
    read_image,
    sha256_file,
    to_tensor,
    write_image,
)
from n2ldiff.errors import N2LDiffError
from tests.data.images import encode_png16, make_odd_images

RNG = np.random.default_rng(1)
BASE = RNG.integers(0, 256, (20, 28, 3), dtype=np.uint8)


def as_hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


@pytest.mark.parametrize(("ext", "kwargs"), [("png", {}), ("bmp", {}), ("tif", {}), ("webp", {"lossless": True})])
def test_lossless_formats_round_trip_exactly(tmp_path, ext, kwargs):
    path = tmp_path / f"img.{ext}"
    Image.fromarray(BASE).save(path, **kwargs)
    loaded = read_image(path)
    assert loaded.rgb.dtype == torch.float32 and loaded.rgb.shape == (3, 20, 28)
    assert np.array_equal((as_hwc(loaded.rgb) * 255).round().astype(np.uint8), BASE)
    assert loaded.alpha is None and loaded.bit_depth == 8
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == sha256_file(path)


def test_jpeg_is_close(tmp_path):
    path = tmp_path / "img.jpg"
    yy, xx = np.mgrid[0:32, 0:48]
    smooth = np.stack([yy * 6, xx * 4, 255 - xx * 4], axis=2).astype(np.uint8)
    Image.fromarray(smooth).save(path, quality=98, subsampling=0)
    rgb = as_hwc(read_image(path).rgb) * 255
    assert np.abs(rgb - smooth).mean() < 2


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    path = tmp_path / f"o{orientation}.png"
    img = Image.fromarray(BASE)
    exif = img.getexif()
    exif[0x0112] = orientation
    img.save(path, exif=exif)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    got = (as_hwc(read_image(path).rgb) * 255).round().astype(np.uint8)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)
    if orientation in (5, 6, 7, 8):
        assert got.shape[:2] == (28, 20)


def test_grayscale_and_bilevel_are_replicated(tmp_path):
    Image.fromarray(BASE[..., 1]).save(tmp_path / "g.png")
    Image.fromarray(BASE[..., 1] > 128).save(tmp_path / "b.png")
    gray = read_image(tmp_path / "g.png")
    assert gray.mode == "L"
    assert torch.equal(gray.rgb[0], gray.rgb[1]) and torch.equal(gray.rgb[1], gray.rgb[2])
    assert np.allclose(gray.rgb[0].numpy() * 255, BASE[..., 1])
    bilevel = read_image(tmp_path / "b.png")
    assert bilevel.bit_depth == 1 and set(bilevel.rgb.unique().tolist()) <= {0.0, 1.0}


def test_16bit_gray_png_and_tiff_keep_precision(tmp_path):
    values = np.arange(20 * 28, dtype=np.uint16).reshape(20, 28) * 97 + 1
    for name in ("g16.png", "g16.tif"):
        Image.fromarray(values).save(tmp_path / name)
        loaded = read_image(tmp_path / name)
        assert loaded.bit_depth == 16
        np.testing.assert_allclose(loaded.rgb[2].numpy() * 65535, values, atol=1e-2)


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_16bit_colour_png_decoded_at_full_precision(tmp_path, channels):
    values = RNG.integers(0, 65536, (13, 11, channels), dtype=np.uint16)
    path = encode_png16(tmp_path / "c16.png", values)
    # the hand-made file is a valid PNG: Pillow reads it (at 8 bits) without complaint
    assert Image.open(path).size == (11, 13)
    loaded = read_image(path, min_side=1)
    assert loaded.bit_depth == 16
    colour = values[..., :1].repeat(3, axis=2) if channels == 2 else values[..., :3]
    np.testing.assert_allclose(as_hwc(loaded.rgb) * 65535, colour, atol=2e-2)
    if channels in (2, 4):
        np.testing.assert_allclose(loaded.alpha[0].numpy() * 65535, values[..., -1], atol=2e-2)
    else:
        assert loaded.alpha is None
    # Pillow's own (8-bit) reading agrees with the high bytes: an independent check of byte order
    if channels == 3:
        np.testing.assert_array_equal(np.asarray(Image.open(path).convert("RGB")), (values >> 8).astype(np.uint8))


def test_16bit_colour_tiff(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    values = RNG.integers(0, 65536, (17, 19, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "c16.tif", values, photometric="rgb")
    loaded = read_image(tmp_path / "c16.tif")
    assert loaded.bit_depth == 16
    np.testing.assert_allclose(as_hwc(loaded.rgb) * 65535, values, atol=2e-2)


def test_rgba_and_palette_alpha_kept_separately(tmp_path):
    alpha = RNG.integers(0, 256, (20, 28), dtype=np.uint8)
    Image.fromarray(np.dstack([BASE, alpha]), "RGBA").save(tmp_path / "a.png")
    loaded = read_image(tmp_path / "a.png")
    assert loaded.alpha is not None and loaded.alpha.shape == (1, 20, 28)
    assert np.array_equal((loaded.alpha[0].numpy() * 255).round(), alpha)
    assert np.array_equal((as_hwc(loaded.rgb) * 255).round(), BASE)  # not premultiplied
    pal = Image.fromarray(BASE).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "p.png", transparency=0)
    p = read_image(tmp_path / "p.png")
    assert p.alpha is not None and p.alpha.min() == 0.0 and p.alpha.max() == 1.0


def test_cmyk_is_converted_to_rgb(tmp_path):
    Image.fromarray(BASE).convert("CMYK").save(tmp_path / "c.jpg", quality=98)
    loaded = read_image(tmp_path / "c.jpg")
    assert loaded.mode == "CMYK" and loaded.rgb.shape == (3, 20, 28)
    expected = np.asarray(Image.open(tmp_path / "c.jpg").convert("RGB"), dtype=np.float32)
    assert np.abs(as_hwc(loaded.rgb) * 255 - expected).max() < 1.0


def test_bad_files_give_one_line_reasons(tmp_path):
    odd = make_odd_images(tmp_path)
    cases = {
        "truncated": "truncated",
        "text": "not an image",
        "tiny": "too small",
    }
    for kind, words in cases.items():
        with pytest.raises(N2LDiffError, match=words) as info:
            read_image(odd[kind])
        assert str(odd[kind]) in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(N2LDiffError, match="empty"):
        read_image(tmp_path / "empty.png")
    with pytest.raises(N2LDiffError, match="no such file"):
        read_image(tmp_path / "missing.png")
    assert read_image(odd["tiny"], min_side=8).size == (8, 8)


def test_truncated_images_fail_even_if_someone_enabled_lenient_loading(tmp_path):
    odd = make_odd_images(tmp_path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with pytest.raises(N2LDiffError, match="truncated"):
            read_image(odd["truncated"])
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def test_to_tensor_accepts_pil_numpy_and_tensors():
    pil = Image.fromarray(BASE)
    from_pil = to_tensor(pil)
    assert from_pil.shape == (3, 20, 28) and from_pil.dtype == torch.float32
    assert torch.allclose(to_tensor(BASE), from_pil)
    assert torch.allclose(to_tensor(BASE.astype(np.uint16) * 257), from_pil, atol=1e-6)
    assert torch.allclose(to_tensor(BASE.astype(np.float64) / 255), from_pil, atol=1e-6)
    assert to_tensor(np.stack([BASE, BASE])).shape == (2, 3, 20, 28)
    gray = to_tensor(BASE[..., 0])
    assert gray.shape == (3, 20, 28) and torch.equal(gray[0], gray[2])
    rgba = np.dstack([BASE, BASE[..., :1]])
    assert torch.allclose(to_tensor(rgba), from_pil)
    assert torch.equal(to_tensor(from_pil), from_pil)
    assert to_tensor(from_pil[None].double()).shape == (1, 3, 20, 28)
    assert torch.allclose(to_tensor(torch.from_numpy(BASE).permute(2, 0, 1)), from_pil)
    assert to_tensor(Image.fromarray(BASE).convert("CMYK")).shape == (3, 20, 28)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (np.full((4, 4, 3), 2.0, np.float32), r"\[0, 1\]"),
        (np.zeros((4, 4, 3), np.int32), "dtype"),
        (np.zeros((4, 4, 5), np.uint8), "shape"),
        (torch.zeros(4, 4), "shape"),
        (torch.full((3, 4, 4), float("nan")), "NaN"),
        ("image.png", "PIL image, numpy array or torch tensor"),
    ],
)
def test_to_tensor_rejects_bad_inputs(value, words):
    with pytest.raises(N2LDiffError, match=words):
        to_tensor(value)


def test_write_image_rounds_and_is_atomic(tmp_path):
    rgb = torch.zeros(3, 16, 16)
    rgb[0] = 0.6 / 255  # rounds to 1 (truncation would give 0)
    rgb[1] = 254.4 / 255  # rounds to 254
    rgb[2] = 1.7  # clamped
    path = write_image(tmp_path / "out.png", rgb)
    back = np.asarray(Image.open(path))
    assert back[..., 0].max() == 1 and back[..., 1].max() == 254 and back[..., 2].max() == 255
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(TEMP_SUFFIX)]


def test_write_image_alpha_png_kept_jpeg_dropped(tmp_path):
    rgb = torch.rand(3, 16, 20, generator=torch.Generator().manual_seed(0))
    alpha = torch.linspace(0, 1, 20).expand(1, 16, 20)
    png = read_image(write_image(tmp_path / "a.png", rgb, alpha))
    assert png.alpha is not None and torch.allclose(png.alpha, alpha, atol=0.5 / 255 + 1e-6)
    assert torch.allclose(png.rgb, rgb, atol=0.5 / 255 + 1e-6)
    jpg = read_image(write_image(tmp_path / "a.jpg", rgb, alpha, format="jpg", quality=90))
    assert jpg.alpha is None and Image.open(tmp_path / "a.jpg").format == "JPEG"


def test_write_image_failure_leaves_nothing(tmp_path, monkeypatch):
    def boom(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        write_image(tmp_path / "x.png", torch.zeros(3, 4, 4))
    assert list(tmp_path.iterdir()) == []


def test_write_image_rejects_bad_format_and_shape(tmp_path):
    with pytest.raises(N2LDiffError, match="format"):
        write_image(tmp_path / "x.gif", torch.zeros(3, 4, 4), format="gif")
    with pytest.raises(N2LDiffError, match="3xHxW"):
        write_image(tmp_path / "x.png", torch.zeros(4, 4))


def _touch_image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(BASE).save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    return path


def test_collect_inputs_folders_globs_files(tmp_path, monkeypatch):
    a = _touch_image(tmp_path / "in" / "b.png")
    b = _touch_image(tmp_path / "in" / "sub" / "a.JPG")
    _touch_image(tmp_path / "in" / ".hidden.png")
    _touch_image(tmp_path / "in" / ".cache" / "c.png")
    (tmp_path / "in" / "readme.txt").write_text("x")
    explicit = tmp_path / "odd.dat"
    explicit.write_text("x")
    assert collect_inputs([tmp_path / "in"]) == sorted([a, b], key=str)
    monkeypatch.chdir(tmp_path)
    assert collect_inputs(["in/**/*.JPG"]) == [b]
    assert collect_inputs(["in/*.png", str(a), "in"]) == sorted([a, b], key=str)  # de-duplicated
    assert collect_inputs([explicit]) == [explicit]  # named files are kept whatever the extension
    assert collect_inputs(["in"], exclude=[tmp_path / "in" / "sub"]) == [a]
    all_paths = collect_inputs(["in"])
    assert all(p.is_absolute() for p in all_paths)
    with pytest.raises(N2LDiffError, match="no such file or folder"):
        collect_inputs(["nope"])
    with pytest.raises(N2LDiffError, match="matches no image"):
        collect_inputs(["in/*.gif"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(N2LDiffError, match="empty"):
        collect_inputs(["empty"])


def test_to_tensor_takes_read_only_numpy_without_a_warning(monkeypatch):
    # np.asarray(PIL image) is read-only; torch warns (once per process) when it wraps such memory, so
    # also check directly that no read-only array reaches torch.
    import warnings

    def writable_only(convert):
        def wrapped(data, *args, **kwargs):
            assert not isinstance(data, np.ndarray) or data.flags.writeable
            return convert(data, *args, **kwargs)

        return wrapped

    monkeypatch.setattr(torch, "as_tensor", writable_only(torch.as_tensor))
    monkeypatch.setattr(torch, "from_numpy", writable_only(torch.from_numpy))
    for array in (np.asarray(Image.fromarray(BASE)), BASE / 255.0, BASE.astype(np.uint16) * 257):
        array = np.array(array)
        array.flags.writeable = False
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = to_tensor(array)
        assert out.shape == (3, 20, 28)
        assert torch.allclose(out, to_tensor(np.array(array)), atol=1e-6)


def test_png_pixel_bytes_is_height_times_row_bytes_plus_one():
    from n2ldiff.data.io import png_pixel_bytes

    assert png_pixel_bytes(40, 30, 16, 3, interlaced=False) == 30 * (40 * 6 + 1)
    assert png_pixel_bytes(5, 3, 1, 1, interlaced=False) == 3 * (1 + 1)  # bits round up to whole bytes
    # Adam7: the seven passes of an 8x8 image hold 1, 1, 2, 4, 8, 16, 32 pixels in 1, 1, 1, 2, 2, 4, 4 rows
    rows = [1, 1, 1, 2, 2, 4, 4]
    widths = [1, 1, 2, 2, 4, 4, 8]
    assert png_pixel_bytes(8, 8, 16, 3, interlaced=True) == sum(
        r * (w * 6 + 1) for r, w in zip(rows, widths, strict=True)
    )
    assert png_pixel_bytes(1, 1, 16, 4, interlaced=True) == 1 * (8 + 1)  # only the first pass is non-empty
