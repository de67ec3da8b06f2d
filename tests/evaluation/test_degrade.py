"""Degradations do what they claim: blur and downsampling remove detail, hiding hides."""

from __future__ import annotations

import numpy as np
import pytest

from facetex.errors import ShapeMismatchError
from facetex.evaluation import degrade as D
from facetex.evaluation import spectra as S
from facetex.types import PartialAlbedo


def _band(image, reference, band, *, patch=64, width=None):
    corners = S.skin_patches(np.ones(image.shape[:2], bool), patch)
    a = S.radial_power_spectrum(image, corners, patch, resolution=width)
    b = S.radial_power_spectrum(reference, corners, patch, resolution=width)
    return S.band_log_error(a, b, band)


def test_blur_sigma_is_a_fraction_of_the_eye_distance():
    assert D.blur_sigma(200.0) == pytest.approx(8.0)
    assert D.blur_sigma(100.0, 0.1) == pytest.approx(10.0)
    with pytest.raises(ValueError):
        D.blur_sigma(0.0)


def test_blur_removes_the_mesoscopic_band(face_crops):
    face = face_crops[0]
    # The crop shows 500 px of a 1350² London photo at 256 px: eye distance ≈ 200 · 0.512 px.
    eye_distance = 200.0 * 256 / 500
    blurred = D.blur_photo(face, D.blur_sigma(eye_distance))
    assert blurred.shape == face.shape and blurred.dtype == np.float32
    face_width = 2.2 * eye_distance
    detail = _band(blurred, face, S.MESOSCOPIC_BAND, width=face_width)
    assert detail.log_ratio < -2.0  # at least 100× less power in 24–96 cycles per face width
    coarse = _band(blurred, face, (1.0, 4.0), width=face_width)
    assert coarse.log_ratio > -0.5  # the face's large-scale shading stays
    np.testing.assert_array_equal(D.blur_photo(face, 0.0), face)


def test_downsample_keeps_low_and_removes_high_frequencies(face_crops):
    face = face_crops[1]
    low = D.downsample_photo(face, 4)
    assert low.shape == face.shape
    # 4× down: the new Nyquist limit is 1/8 cycle per pixel = 32 cycles per 256 px.
    assert _band(low, face, (48.0, 128.0)).log_ratio < -1.0
    assert abs(_band(low, face, (4.0, 16.0)).log_ratio) < 0.15
    with pytest.raises(ValueError):
        D.downsample_photo(face, 1)
    with pytest.raises(ShapeMismatchError):
        D.downsample_photo(face[..., 0])


def test_occluder_covers_one_cheek():
    box = np.array([100.0, 50.0, 300.0, 350.0])
    mask = D.occluder_mask((400, 400), box, side="right")
    area = np.pi * (0.22 * 200) * (0.20 * 300)
    assert mask.sum() == pytest.approx(area, rel=0.02)
    ys, xs = np.nonzero(mask)
    assert xs.mean() == pytest.approx(100 + 0.27 * 200, abs=1.0)  # subject's right = image left
    assert ys.mean() == pytest.approx(50 + 0.60 * 300, abs=1.0)
    left = D.occluder_mask((400, 400), box, side="left")
    np.testing.assert_array_equal(left, mask[:, ::-1])  # mirror image about the box centre x = 200

    rgb = np.random.default_rng(0).uniform(size=(400, 400, 3)).astype(np.float32)
    out = D.occlude_photo(rgb, box, side="right")
    np.testing.assert_array_equal(out[mask], np.tile(np.float32(D.OCCLUDER_COLOUR), (mask.sum(), 1)))
    np.testing.assert_array_equal(out[~mask], rgb[~mask])
    with pytest.raises(ValueError):
        D.occluder_mask((10, 10), np.array([5.0, 5.0, 5.0, 9.0]))


def _partial(r=64):
    rng = np.random.default_rng(2)
    chart = np.zeros((r, r), bool)
    chart[4:-4, 4:-4] = True
    mask = chart.copy()
    mask[20:30, 20:40] = False
    albedo = np.where(mask[..., None], rng.uniform(0.2, 0.8, (r, r, 3)), 0.5).astype(np.float32)
    return PartialAlbedo(albedo=albedo, mask=mask, lowfreq=np.full((r, r, 3), 0.6, np.float32),
                         shading=np.where(mask[..., None], 1.0, 0.0).astype(np.float32), chart=chart)


def test_turn_hides_one_side_of_the_chart():
    hidden = D.turn_mask(10, 0.4, "right")
    np.testing.assert_array_equal(hidden[0], [True] * 4 + [False] * 6)  # u = 0.05 … 0.35 < 0.4
    np.testing.assert_array_equal(D.turn_mask(10, 0.4, "left")[0], [False] * 6 + [True] * 4)
    partial = _partial()
    before = partial.mask.copy()
    turned = D.hide_turn(partial, 0.5, "right")
    cut = D.turn_mask(64, 0.5, "right")
    np.testing.assert_array_equal(turned.mask, before & ~cut)
    assert (turned.albedo[cut] == 0.5).all() and (turned.shading[cut] == 0.0).all()
    np.testing.assert_array_equal(turned.albedo[~cut], partial.albedo[~cut])
    np.testing.assert_array_equal(turned.lowfreq, partial.lowfreq)
    np.testing.assert_array_equal(partial.mask, before)  # the input is not modified


def test_turn_zeroes_the_photos_sampling_density_on_the_hidden_side():
    import dataclasses

    if "pixels_per_texel" not in {f.name for f in dataclasses.fields(PartialAlbedo)}:
        pytest.skip("this PartialAlbedo has no sampling density")
    partial = dataclasses.replace(_partial(), pixels_per_texel=np.full((64, 64), 2.0, np.float32))
    turned = D.hide_turn(partial, 0.5, "right")
    cut = D.turn_mask(64, 0.5, "right")
    assert (turned.pixels_per_texel[cut] == 0).all() and (turned.pixels_per_texel[~cut] == 2).all()
    assert (partial.pixels_per_texel == 2).all()  # the input is not modified


def test_degrade_config_validation():
    D.DegradeConfig(detail="downsample", hide="occluder", side="left")
    for bad in ({"detail": "jpeg"}, {"hide": "hat"}, {"side": "top"}, {"blur_fraction": 0.0},
                {"downsample_factor": 1}, {"turn_fraction": 1.0}, {"occluder_colour": (2.0, 0.0, 0.0)}):
        with pytest.raises(ValueError):
            D.DegradeConfig(**bad)


def test_a_degraded_photo_is_quantised_to_8_bits_as_a_saved_photo(face_crops):
    from facetex.detect import eye_centers
    from facetex.types import Detection, Photo

    rgb = face_crops[0].astype(np.float32)
    h, w = rgb.shape[:2]
    landmarks = np.zeros((478, 3))
    landmarks[:, 0], landmarks[:, 1] = w / 2, h / 2
    landmarks[468:473, 0], landmarks[473:, 0] = 0.3 * w, 0.7 * w  # the two irises (refined landmarks)
    detection = Detection(box=np.array([0.0, 0.0, w, h]), landmarks=landmarks,
                          person_mask=np.ones((h, w), np.float32), face_index=0, all_boxes=np.zeros((1, 4)))
    left, right = eye_centers(landmarks)
    photo = Photo(rgb=rgb, source="crop")
    assert D.degrade_photo(photo, detection, D.DegradeConfig(detail="none")) is photo
    blurred = D.degrade_photo(photo, detection, D.DegradeConfig(detail="blur")).rgb
    levels = blurred * 255.0
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)
    # the blur itself is kept: it differs from the photo, and from the unquantised blur by at most half a step
    exact = D.blur_photo(rgb, D.blur_sigma(float(np.linalg.norm(right - left)), 0.04))
    assert np.abs(blurred - exact).max() <= 0.5 / 255.0 + 1e-6
    assert np.abs(blurred - rgb).max() > 10 / 255.0
