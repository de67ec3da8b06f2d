"""Photo / texture / mask loading: formats, modes, orientation, precision, limits and errors.

Every file is written into tmp_path from a small crop of a real photo (a London neutral photo)
or from constructed arrays with known values.
"""

from __future__ import annotations

import logging
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from facetex.errors import InputImageError, ShapeMismatchError
from facetex.io.images import (
    ALPHA_BACKGROUND,
    DEMO_SOURCE,
    demo_photo,
    downscale_for_fitting,
    load_image,
    load_mask,
    load_photo,
)
from facetex.types import Photo

EXIF_ORIENTATION = 0x0112


@pytest.fixture(scope="module")
def face_u8(london_neutral) -> np.ndarray:
    """A 96 × 64 (H × W) uint8 RGB crop around the eyes and nose of a London photo: asymmetric
    content, so any flip or rotation is visible."""
    with Image.open(london_neutral[0]) as im:
        crop = im.convert("RGB").crop((450, 450, 900, 1125)).resize((64, 96), Image.Resampling.BOX)
    return np.asarray(crop)


def _mode(path) -> str:
    with Image.open(path) as im:
        return im.mode


def _mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64))))


# ------------------------------------------------------------------------------ orientation


def test_exif_orientation_6_jpeg_is_rotated_clockwise(tmp_path, face_u8):
    # Orientation 6: the stored pixels must be rotated 90° clockwise to display upright.
    stored = np.rot90(face_u8, k=1)  # the camera stored the upright image turned anticlockwise
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif)

    rgb = load_image(path)

    assert rgb.shape == (96, 64, 3)
    upright = face_u8.astype(np.float32) / 255.0
    wrong_way = np.rot90(stored, k=1).astype(np.float32) / 255.0  # rotated anticlockwise instead
    assert _mae(rgb, upright) < 0.03
    assert _mae(rgb, upright) < _mae(rgb, wrong_way) / 3


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(tmp_path, face_u8, orientation):
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    path = tmp_path / f"o{orientation}.png"
    Image.fromarray(face_u8).save(path, exif=exif)
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.float32) / 255.0

    np.testing.assert_array_equal(load_image(path), expected)


# ------------------------------------------------------------------------------ colour modes


def test_grayscale_is_replicated_exactly(tmp_path, face_u8):
    grey = np.asarray(Image.fromarray(face_u8).convert("L"))
    path = tmp_path / "grey.png"
    Image.fromarray(grey).save(path)

    rgb = load_image(path)

    assert rgb.dtype == np.float32 and rgb.shape == (96, 64, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], grey.astype(np.float32) / 255.0)


def test_bilevel_image(tmp_path):
    bits = np.zeros((8, 8), dtype=bool)
    bits[2:5, 3:7] = True
    path = tmp_path / "bits.png"
    Image.fromarray(bits).save(path)
    assert _mode(path) == "1"

    np.testing.assert_array_equal(load_image(path)[..., 1], bits.astype(np.float32))


def test_16bit_grey_png_keeps_precision(tmp_path, rng):
    values = rng.integers(0, 65536, size=(20, 30)).astype(np.uint16)
    values[0, :2] = [1000, 1001]  # equal after 8-bit quantisation, distinct in 16 bits
    path = tmp_path / "grey16.png"
    Image.fromarray(values).save(path)
    assert _mode(path).startswith("I;16")

    rgb = load_image(path)

    np.testing.assert_allclose(rgb[..., 0], values / 65535.0, atol=1e-7)
    assert rgb[0, 1, 0] > rgb[0, 0, 0]


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_rgb_keeps_precision(tmp_path, rng, suffix):
    values = rng.integers(0, 65536, size=(12, 16, 3)).astype(np.uint16)
    path = tmp_path / f"rgb16{suffix}"
    assert cv2.imwrite(str(path), values[..., ::-1])  # OpenCV writes BGR

    rgb = load_image(path)

    np.testing.assert_allclose(rgb, values / 65535.0, atol=1e-7)


def test_16bit_rgba_png_composited_with_full_precision(tmp_path, rng):
    colour = rng.integers(0, 65536, size=(6, 7, 3)).astype(np.uint16)
    alpha = rng.integers(0, 65536, size=(6, 7)).astype(np.uint16)
    path = tmp_path / "rgba16.png"
    assert cv2.imwrite(str(path), np.dstack([colour[..., ::-1], alpha]))

    a = alpha[..., None] / 65535.0
    expected = colour / 65535.0 * a + ALPHA_BACKGROUND * (1 - a)
    np.testing.assert_allclose(load_image(path), expected, atol=1e-6)


def test_rgba_is_composited_over_mid_grey(tmp_path):
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # pure red
    rgba[0, 0, 3] = 255  # opaque
    rgba[0, 1, 3] = 0  # transparent
    rgba[0, 2, 3] = 51  # 20 % opaque
    rgba[1, :, 3] = 255
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, mode="RGBA").save(path)

    rgb = load_image(path)

    np.testing.assert_allclose(rgb[0, 0], [1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(rgb[0, 1], [ALPHA_BACKGROUND] * 3, atol=1e-6)
    np.testing.assert_allclose(rgb[0, 2], [0.2 + 0.8 * 0.5, 0.4, 0.4], atol=1e-6)


def test_grey_with_alpha(tmp_path):
    la = np.array([[[200, 255], [200, 0]]], dtype=np.uint8)
    path = tmp_path / "la.png"
    Image.fromarray(la, mode="LA").save(path)

    rgb = load_image(path)

    np.testing.assert_allclose(rgb[0, 0], [200 / 255] * 3, atol=1e-6)
    np.testing.assert_allclose(rgb[0, 1], [ALPHA_BACKGROUND] * 3, atol=1e-6)


def test_palette_image(tmp_path, face_u8):
    pal = Image.fromarray(face_u8).quantize(colors=32)
    path = tmp_path / "pal.png"
    pal.save(path)
    expected = np.asarray(pal.convert("RGB"), dtype=np.float32) / 255.0

    np.testing.assert_array_equal(load_image(path), expected)


def test_palette_transparency(tmp_path):
    pal = Image.new("P", (4, 1))
    pal.putpalette([0, 0, 255, 255, 255, 0] + [0] * 762)
    pal.putdata([0, 1, 0, 1])
    path = tmp_path / "pal_t.png"
    pal.save(path, transparency=0)

    rgb = load_image(path)

    np.testing.assert_allclose(rgb[0, 0], [ALPHA_BACKGROUND] * 3, atol=1e-6)
    np.testing.assert_allclose(rgb[0, 1], [1.0, 1.0, 0.0], atol=1e-6)


def test_cmyk_jpeg_matches_the_rgb_it_came_from(tmp_path, face_u8):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(face_u8).convert("CMYK").save(path, quality=95)
    assert _mode(path) == "CMYK"

    rgb = load_image(path)

    assert rgb.shape == (96, 64, 3)
    assert _mae(rgb, face_u8 / 255.0) < 0.03


def test_cmyk_with_unusable_icc_profile_falls_back_with_a_warning(tmp_path, face_u8, caplog):
    path = tmp_path / "cmyk_icc.jpg"
    Image.fromarray(face_u8).convert("CMYK").save(path, quality=95, icc_profile=b"not a profile")

    with caplog.at_level(logging.WARNING, logger="facetex.io.images"):
        rgb = load_image(path)

    assert _mae(rgb, face_u8 / 255.0) < 0.03
    assert any("ICC profile" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("suffix", "options"),
    [(".webp", {"lossless": True}), (".bmp", {}), (".tif", {}), (".png", {})],
)
def test_lossless_formats_round_trip(tmp_path, face_u8, suffix, options):
    path = tmp_path / f"face{suffix}"
    Image.fromarray(face_u8).save(path, **options)

    np.testing.assert_array_equal(load_image(path), face_u8.astype(np.float32) / 255.0)


def test_float_tiff_in_unit_range_and_out_of_it(tmp_path):
    good = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    Image.fromarray(good, mode="F").save(tmp_path / "good.tif")
    np.testing.assert_array_equal(load_image(tmp_path / "good.tif")[..., 2], good)

    Image.fromarray(good * 3.0, mode="F").save(tmp_path / "bad.tif")
    with pytest.raises(InputImageError, match=r"bad\.tif.*outside \[0, 1\]"):
        load_image(tmp_path / "bad.tif")


def test_load_photo_keeps_full_resolution(london_neutral):
    photo = load_photo(london_neutral[0])

    with Image.open(london_neutral[0]) as im:
        assert photo.size == (im.height, im.width)
    assert photo.rgb.dtype == np.float32
    assert 0.0 <= photo.rgb.min() and photo.rgb.max() <= 1.0
    assert photo.source == str(london_neutral[0])


def test_demo_photo():
    photo = demo_photo()

    assert isinstance(photo, Photo)
    assert photo.rgb.shape == (512, 512, 3) and photo.rgb.dtype == np.float32
    assert photo.source == DEMO_SOURCE


# ------------------------------------------------------------------------------ masks


def test_load_mask_thresholds_grey_and_honours_alpha(tmp_path):
    grey = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "m.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png"), [[False, False, True, True]])

    la = np.array([[[255, 255], [255, 0], [0, 255]]], dtype=np.uint8)
    Image.fromarray(la, mode="LA").save(tmp_path / "ma.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "ma.png"), [[True, False, False]])


# ------------------------------------------------------------------------------ errors


def _zero_width_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.png", b"", "empty"),
        ("notes.png", b"these are not pixels\n" * 10, "not an image"),
        ("zero.png", _zero_width_png(), "not an image"),
    ],
)
def test_bad_files_raise_one_line_errors_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(InputImageError, match=message) as info:
        load_photo(path)

    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_truncated_jpeg(tmp_path, london_neutral):
    data = london_neutral[0].read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(InputImageError, match=r"cut\.jpg.*truncated"):
        load_photo(path)


def test_corrupt_png_data(tmp_path, face_u8):
    path = tmp_path / "broken.png"
    Image.fromarray(face_u8).save(path)
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 8
    data[start : start + 200] = bytes(200)  # zero a run of compressed pixel data
    path.write_bytes(bytes(data))

    with pytest.raises(InputImageError, match=r"broken\.png.*corrupt"):
        load_photo(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(InputImageError, match="no such file"):
        load_photo(tmp_path / "absent.jpg")
    with pytest.raises(InputImageError, match="directory"):
        load_photo(tmp_path)


def test_size_limits_are_checked_and_pillow_state_restored(tmp_path, face_u8):
    path = tmp_path / "face.png"
    Image.fromarray(face_u8).save(path)
    before = Image.MAX_IMAGE_PIXELS

    with pytest.raises(InputImageError, match=r"face\.png.*max_pixels"):
        load_photo(path, max_pixels=64 * 96 - 1)
    with pytest.raises(InputImageError, match=r"face\.png.*max_side"):
        load_photo(path, max_side=95)

    assert Image.MAX_IMAGE_PIXELS == before
    assert load_photo(path, max_pixels=64 * 96, max_side=96).size == (96, 64)
    assert Image.MAX_IMAGE_PIXELS == before


def test_limit_overrides_pillows_global_for_the_call_only(tmp_path, face_u8, monkeypatch):
    # Pillow refuses images above twice its global MAX_IMAGE_PIXELS; facetex's per-call limit
    # replaces it during the call (here 100 → 10 000 pixels) and restores it afterwards.
    path = tmp_path / "face.png"
    Image.fromarray(face_u8).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(Image.DecompressionBombError), Image.open(path):
        pass

    assert load_image(path, max_pixels=10_000).shape == (96, 64, 3)
    assert Image.MAX_IMAGE_PIXELS == 100


# ------------------------------------------------------------------------------ downscaling


def test_downscale_for_fitting():
    rgb = np.full((300, 600, 3), 0.25, dtype=np.float32)
    rgb[:, 300:] = 0.75

    small, scale = downscale_for_fitting(rgb, 200)

    assert small.shape == (100, 200, 3) and small.dtype == np.float32
    assert scale == pytest.approx(1 / 3)
    np.testing.assert_allclose(small[:, :99], 0.25, atol=1e-6)  # area averaging, no overshoot
    np.testing.assert_allclose(small[:, 101:], 0.75, atol=1e-6)
    assert small.mean() == pytest.approx(0.5, abs=1e-6)


def test_downscale_is_identity_when_small_enough():
    rgb = np.zeros((40, 30, 3), dtype=np.float32)
    small, scale = downscale_for_fitting(rgb, 40)
    assert small is rgb and scale == 1.0


def test_downscale_rejects_bad_input():
    with pytest.raises(ShapeMismatchError):
        downscale_for_fitting(np.zeros((4, 4, 2), dtype=np.float32), 2)
    with pytest.raises(ValueError, match="max_side"):
        downscale_for_fitting(np.zeros((4, 4, 3), dtype=np.float32), 0)
