"""Fidelity metrics per octave band on real face crops, and on cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from facetex.errors import ShapeMismatchError
from facetex.evaluation import fidelity as F
from facetex.texture.color import MASK_VALUE

R = 256


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return np.stack([gaussian_filter(image[..., c], sigma) for c in range(3)], axis=-1).astype(np.float32)


def _partial(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A partial albedo made of a real crop: the right two thirds observed, 0.5 elsewhere."""
    mask = np.zeros(crop.shape[:2], bool)
    mask[:, crop.shape[1] // 3 :] = True
    return np.where(mask[..., None], crop, MASK_VALUE).astype(np.float32), mask


def test_bands_and_filters():
    assert F.bands_at(256) == ((16.0, 32.0), (32.0, 64.0), (64.0, 128.0))  # 128–256 is above Nyquist
    assert F.bands_at(512) == F.FIDELITY_BANDS and F.bands_at(32) == ()
    assert [F.band_label(b) for b in F.FIDELITY_BANDS] == ["16-32", "32-64", "64-128", "128-256"]
    s_hi, s_lo = F.band_sigmas(256, (16, 32))
    assert s_hi == pytest.approx(256 / (2 * math.pi * 32)) and s_lo == pytest.approx(2 * s_hi)
    assert F.default_margin(256) == 5 and F.default_margin(64) == 2
    with pytest.raises(ValueError):
        F.bands_at(256, ((32, 16),))


def test_bandpass_passes_its_band_and_stops_the_others():
    x = np.arange(R) / R  # one face width
    def wave(cycles):
        return np.broadcast_to(0.5 + 0.1 * np.sin(2 * np.pi * cycles * x)[None, :], (R, R))
    inner = np.ones((R, R), bool)
    inner[:, :32] = inner[:, -32:] = False  # away from the reflected borders
    s_hi, s_lo = F.band_sigmas(R, (16, 32))
    for f in (4, 23, 100):  # the difference of the two Gaussians' responses exp(−2π²σ²ν²)
        gain = np.std(F.bandpass(wave(f), (16, 32))[inner]) / np.std(wave(f)[inner])
        nu = f / R
        expected = math.exp(-2 * math.pi**2 * s_hi**2 * nu**2) - math.exp(-2 * math.pi**2 * s_lo**2 * nu**2)
        assert gain == pytest.approx(expected, abs=2e-3), f
    assert expected < 0.01 and gain > 0  # 100 c/fw: almost nothing passes


def test_a_partial_albedo_against_itself_scores_perfectly(face_crops):
    partial, mask = _partial(face_crops[0])
    scores = F.band_fidelity(partial, partial, mask)
    assert list(scores) == ["16-32", "32-64", "64-128"]
    for s in scores.values():
        assert s.correlation == pytest.approx(1.0) and s.log_ratio == pytest.approx(0.0, abs=1e-12)
        assert 0 < s.texels < mask.sum()  # eroded


def test_the_grey_off_the_mask_does_not_leak_into_the_scored_texels(face_crops):
    partial, mask = _partial(face_crops[0])
    scores = F.band_fidelity(partial, face_crops[0], mask)  # partial (grey outside) vs the whole crop
    assert all(s.correlation > 0.99 and abs(s.log_ratio) < 0.01 for s in scores.values())
    leaky = F.band_fidelity(partial, face_crops[0], mask, margin=0)["16-32"]
    assert leaky.correlation < scores["16-32"].correlation


def test_blur_lowers_the_high_bands_most(face_crops):
    truth = face_crops[1]
    scores = F.band_fidelity(_blur(truth, 1.5), truth)
    corr = [s.correlation for s in scores.values()]
    ratio = [s.log_ratio for s in scores.values()]
    assert corr[0] > 0.9 and corr[0] > corr[1] > corr[2] and corr[2] < 0.6
    assert 0 > ratio[0] > ratio[1] > ratio[2] and ratio[2] < -1.0


def test_contrast_change_keeps_the_correlation_and_shifts_the_power(face_crops):
    truth = face_crops[2]
    scaled = 0.5 + 2.0 * (truth - 0.5)
    for s in F.band_fidelity(scaled, truth).values():
        assert s.correlation == pytest.approx(1.0) and s.log_ratio == pytest.approx(2 * math.log10(2.0))


def test_another_persons_detail_does_not_correlate(face_crops):
    scores = F.band_fidelity(face_crops[3], face_crops[0])
    assert all(abs(s.correlation) < 0.3 for s in list(scores.values())[1:])


def test_sameness_of_one_output_for_everyone_is_positive(face_crops):
    truths = face_crops
    pasted = [0.5 * t + 0.5 * face_crops[0] for t in truths]  # the same features in every face
    same = F.sameness(pasted, truths)
    assert all(s.pairs == 6 and s.difference > 0.2 for s in same.values())
    honest = F.sameness(truths, truths)
    assert all(s.difference == 0.0 and s.estimates == s.truths for s in honest.values())
    identical = F.sameness([face_crops[0]] * 4, truths)
    assert all(s.estimates == pytest.approx(1.0) and s.difference > 0.5 for s in identical.values())


def test_sameness_uses_only_the_texels_both_persons_share(face_crops):
    left = np.zeros((R, R), bool)
    left[:, : R // 2] = True
    right = ~left
    # persons 0 and 1 share nothing, persons 0 and 2 share the left half
    same = F.sameness(face_crops[:3], face_crops[:3], [left, right, left])
    assert all(s.pairs == 1 for s in same.values())
    none = F.sameness(face_crops[:2], face_crops[:2], [left, right])
    assert all(s.pairs == 0 and math.isnan(s.difference) for s in none.values())


def test_errors_and_empty_regions(face_crops):
    a = face_crops[0]
    with pytest.raises(ShapeMismatchError):
        F.band_fidelity(a, a[:128, :128])
    with pytest.raises(ShapeMismatchError):
        F.band_fidelity(a, a, np.ones((8, 8), bool))
    with pytest.raises(ValueError, match="two persons"):
        F.sameness([a], [a])
    with pytest.raises(ValueError, match="one entry per person"):
        F.sameness([a, a], [a])
    empty = F.band_fidelity(a, a, np.zeros(a.shape[:2], bool))
    assert all(s.texels == 0 and math.isnan(s.correlation) and math.isnan(s.log_ratio) for s in empty.values())
