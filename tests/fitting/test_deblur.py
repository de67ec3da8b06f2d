"""deblur: a rendered face blurred by a known Gaussian is measured at that σ and restored."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from facetex.detect.landmarks import eye_centers
from facetex.fitting import UnwrapConfig, VisibilityConfig, model_albedo
from facetex.fitting.deblur import band_powers, estimate_photo_blur, reference_renders, restore_photo
from facetex.fitting.visibility import photo_visibility
from facetex.stages import PreparedFace, unwrap_face
from facetex.texture.color import luminance
from facetex.types import Photo, PhotoBlur

from .conftest import make_scene

R = 512
VISIBILITY = VisibilityConfig(use_skin_colour=False)


def skin_detail(seed: int, amplitude: float = 0.05) -> np.ndarray:
    """(R, R) zero-mean detail with a power spectrum ∝ |f|^−3 above 4 cycles per R (skin-like)."""
    rng = np.random.default_rng(seed)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(R), np.fft.fftfreq(R))) * R
    amplitude_spectrum = np.where(f >= 4, np.maximum(f, 1) ** -1.5, 0.0)
    field = np.fft.ifft2(np.fft.fft2(rng.standard_normal((R, R))) * amplitude_spectrum).real
    return (amplitude * field / field.std()).astype(np.float32)


@pytest.fixture(scope="module")
def face(model):
    """A rendered face whose albedo carries skin-like detail, its skin mask and the distance
    between its eyes, plus four sharp maps of the same statistics (other "persons")."""
    base = cv2.resize(model_albedo(model, np.zeros(model.albedo_basis.shape[0])), (R, R))
    albedo = np.clip(base + skin_detail(0)[..., None], 0.0, 1.0).astype(np.float32)
    scene = make_scene(model, size=512, axis_angle=(0.05, -0.15, 0.0), albedo_uv=albedo)
    visibility = photo_visibility(scene.photo, scene.detection, model.topology, VISIBILITY)
    eyes = eye_centers(scene.detection.landmarks)
    references = np.stack([np.clip(luminance(base) + skin_detail(seed), 0, 1) for seed in (1, 2, 3, 4)])
    return scene, visibility, float(np.linalg.norm(eyes[1] - eyes[0])), references


def blurred(photo: Photo, sigma: float) -> Photo:
    """The photo blurred by σ pixels and saved as 8 bits."""
    rgb = gaussian_filter(photo.rgb, sigma=(sigma, sigma, 0)) if sigma > 0 else photo.rgb
    return Photo(rgb=(np.round(rgb * 255) / 255).astype(np.float32), source=photo.source)


def test_renders_follow_the_fitted_surface(model, face):
    """A reference map drawn through the fit is the photo's own albedo where the photo shows it."""
    scene, (skin, crop), _, _ = face
    renders, covered = reference_renders([luminance(scene.albedo_uv)], scene.truth, model, crop, crop.rgb.shape[:2])
    mask = skin.mask & covered
    assert renders.shape == (1,) + crop.rgb.shape[:2] and mask.sum() > 5000
    # the photo is albedo × shading: its detail, divided by the shading, is the render's
    photo_y = luminance(crop.rgb)
    detail = photo_y - gaussian_filter(photo_y, 4)
    render_detail = renders[0] - gaussian_filter(renders[0], 4)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8), iterations=3).astype(bool)
    assert np.corrcoef(detail[inner], render_detail[inner])[0, 1] > 0.9


@pytest.mark.parametrize("fraction", [0.02, 0.04])
def test_a_known_blur_is_measured(model, face, fraction):
    scene, visibility, iod, references = face
    blur = estimate_photo_blur(
        blurred(scene.photo, fraction * iod), scene.detection, scene.truth, model, visibility, references
    )
    assert blur.sigma_iod == pytest.approx(fraction, rel=0.15)
    assert 0.5 < blur.contrast < 2.0  # the detail's amplitude is the references'


def test_a_sharp_photo_measures_below_the_restoring_threshold(model, face):
    scene, visibility, _, references = face
    blur = estimate_photo_blur(blurred(scene.photo, 0.0), scene.detection, scene.truth, model, visibility, references)
    assert blur.sigma_iod < UnwrapConfig().deblur_min_sigma


def test_restoring_brings_back_the_attenuated_band(model, face):
    """At 8–16 cycles per inter-ocular distance a blur of 0.03 × that distance keeps ~10 % of
    the amplitude; restored, the band correlates better with the sharp photo's and has about
    its power."""
    scene, (skin, crop), iod, references = face
    soft = blurred(scene.photo, 0.03 * iod)
    blur = estimate_photo_blur(soft, scene.detection, scene.truth, model, (skin, crop), references)
    restored = restore_photo(soft, blur, crop.bounds)
    left, top, right, bottom = crop.bounds
    mask = cv2.resize(skin.mask.astype(np.uint8), (right - left, bottom - top), interpolation=cv2.INTER_NEAREST)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=int(0.1 * iod)).astype(bool)

    def band(photo: Photo) -> np.ndarray:
        y = luminance(photo.rgb[top:bottom, left:right]).astype(np.float64)
        return (gaussian_filter(y, iod / (2 * np.pi * 16)) - gaussian_filter(y, iod / (2 * np.pi * 8)))[mask]

    sharp, before, after = band(scene.photo), band(soft), band(restored)
    assert np.corrcoef(sharp, after)[0, 1] > np.corrcoef(sharp, before)[0, 1] + 0.05
    assert abs(np.log10(after.var() / sharp.var())) < abs(np.log10(before.var() / sharp.var())) / 2
    assert restored.rgb.dtype == np.float32 and 0.0 <= restored.rgb.min() and restored.rgb.max() <= 1.0
    # outside the region asked for (and its 4σ margin) the photo is untouched
    box = restore_photo(soft, blur, (200, 200, 300, 300))
    margin = int(np.ceil(4 * blur.sigma))
    changed = np.any(box.rgb != soft.rgb, axis=2)
    rows, cols = np.nonzero(changed)
    assert changed.any() and rows.min() >= 200 - margin and rows.max() < 300 + margin
    assert cols.min() >= 200 - margin and cols.max() < 300 + margin


def test_band_powers_of_white_noise_follow_the_band_widths(rng):
    """Wider bands (the same relative width at higher centres) hold more of white noise's power."""
    noise = rng.standard_normal((256, 256))
    powers = band_powers(noise, np.ones((256, 256), dtype=bool), 96.0)
    finite = powers[np.isfinite(powers)]
    assert finite.size >= 6 and np.all(np.diff(finite) > 0)


def test_unwrap_reads_the_restored_photo_only_when_asked(model, face):
    scene, _, iod, references = face
    soft = blurred(scene.photo, 0.03 * iod)
    config = UnwrapConfig(resolution=128, visibility=VISIBILITY)
    prepared = PreparedFace(photo=soft, detection=scene.detection, fit=scene.truth)
    on = unwrap_face(prepared, model, config, blur_references=references)
    assert on.blur is not None and on.blur.restored and on.partial.restored_blur is on.blur
    assert on.photo is soft  # the photo as given is kept; only the unwrap read the restored one
    off = unwrap_face(prepared, model, dataclasses.replace(config, deblur=False), blur_references=references)
    assert off.blur is None and off.partial.restored_blur is None
    unknown = unwrap_face(prepared, model, config)  # no database maps: nothing to measure against
    assert unknown.blur is None
    assert not np.array_equal(on.partial.albedo[on.partial.mask], off.partial.albedo[on.partial.mask])


def test_bad_settings(face):
    scene, (_, crop), _, _ = face
    sharp = PhotoBlur(0.0, 100.0, 1.0, 0.0, np.ones(3), np.ones(3), np.ones(3))
    assert restore_photo(scene.photo, sharp, crop.bounds) is scene.photo
    with pytest.raises(ValueError, match="max_gain"):
        restore_photo(scene.photo, dataclasses.replace(sharp, sigma=2.0), crop.bounds, max_gain=0.5)
    with pytest.raises(Exception, match="deblur_max_gain"):
        UnwrapConfig(deblur_max_gain=0.5)
