"""SUV specular removal (Mallick et al. 2005) on a real skin patch with synthetic highlights."""

from __future__ import annotations

import numpy as np
import pytest

from facetex.database.config import SpecularConfig
from facetex.database.specular import (
    estimate_source_color,
    linear_to_srgb,
    remove_specular,
    rgb_to_suv,
    srgb_to_linear,
    suv_basis,
    suv_to_rgb,
)
from facetex.errors import EmptyMaskError, ShapeMismatchError

# A window (about 4 px) wider than the patch would otherwise allow: the patch is all skin.
CONFIG = SpecularConfig(ratio_scale=0.5)


@pytest.fixture(scope="module")
def skin_patch(london_neutral) -> np.ndarray:
    """100 × 100 px of plain cheek skin from London photo 001 (no hair, eye or nose)."""
    from PIL import Image

    with Image.open(london_neutral[0]) as im:
        assert im.size == (1350, 1350)
        patch = im.convert("RGB").crop((505, 730, 605, 830))
    return np.asarray(patch, dtype=np.float32) / 255.0


def _with_highlight(patch: np.ndarray, peak: float) -> tuple[np.ndarray, np.ndarray]:
    """Add a white Gaussian highlight (σ = 10 px) of linear radiance ``peak`` at the centre."""
    h, w = patch.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    g = np.exp(-((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / (2 * 10.0**2))
    lit = srgb_to_linear(patch) + peak * g[..., None]
    return linear_to_srgb(np.clip(lit, 0.0, 1.0)).astype(np.float32), g


def test_suv_basis_is_a_rotation_with_s_along_the_source():
    basis = suv_basis((0.9, 1.0, 0.8))
    np.testing.assert_allclose(basis @ basis.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(basis[0], np.array([0.9, 1.0, 0.8]) / np.linalg.norm([0.9, 1.0, 0.8]))
    rgb = np.random.default_rng(1).uniform(size=(4, 5, 3))
    np.testing.assert_allclose(suv_to_rgb(rgb_to_suv(rgb, basis), basis), rgb, atol=1e-12)
    # A white specular term changes S only.
    white = suv_basis()
    delta = rgb_to_suv(rgb + 0.3, white) - rgb_to_suv(rgb, white)
    np.testing.assert_allclose(delta[..., 1:], 0.0, atol=1e-12)
    np.testing.assert_allclose(delta[..., 0], 0.3 * np.sqrt(3.0))


def test_srgb_round_trip():
    x = np.linspace(0.0, 1.0, 101)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-12)


@pytest.mark.parametrize("peak", [0.1, 0.25])
def test_highlight_is_removed_and_diffuse_colour_kept(skin_patch, peak):
    lit, g = _with_highlight(skin_patch, peak)
    out = remove_specular(lit, np.ones(g.shape, bool), CONFIG)
    core, far = g > 0.5, g < 0.01
    added = (srgb_to_linear(lit) - srgb_to_linear(skin_patch)).mean(-1)[core].mean()
    left = (srgb_to_linear(out) - srgb_to_linear(skin_patch)).mean(-1)[core].mean()
    assert added > 0.05
    # At least 85 % of the added highlight is gone (measured: ~100 %, 98 %).
    assert abs(left) <= 0.15 * added
    # The skin colour under the highlight comes back within 0.02 per channel (measured ≤ 0.011).
    assert np.all(np.abs(out - skin_patch)[core].mean(axis=0) < 0.02)
    # Far from the highlight the diffuse skin barely changes (measured: mean 1e-3, max 0.01).
    assert np.abs(out - lit)[far].mean() < 0.002
    assert np.abs(out - lit)[far].max() < 0.015


def test_saturated_highlight_is_filled_with_skin_colour(skin_patch):
    lit, g = _with_highlight(skin_patch, 0.6)
    core = g > 0.5
    assert (lit.max(-1) >= 0.98).sum() > 100  # the camera would clip this one
    out = remove_specular(lit, np.ones(g.shape, bool), CONFIG)
    added = (srgb_to_linear(lit) - srgb_to_linear(skin_patch)).mean(-1)[core].mean()
    left = (srgb_to_linear(out) - srgb_to_linear(skin_patch)).mean(-1)[core].mean()
    assert abs(left) <= 0.2 * added  # measured ~11 %
    assert np.all(np.abs(out - skin_patch)[core].mean(axis=0) < 0.1)  # measured ≤ 0.066


def test_pixels_outside_the_region_are_unchanged(skin_patch):
    lit, g = _with_highlight(skin_patch, 0.25)
    region = np.zeros(g.shape, bool)
    region[:, :60] = True
    out = remove_specular(lit, region, CONFIG)
    np.testing.assert_array_equal(out[:, 60:], lit[:, 60:])
    assert np.abs(out[:, :60] - lit[:, :60]).max() > 0.05


def test_estimate_source_color_from_background():
    image = np.zeros((10, 10, 3), np.float32)
    image[:, :5] = (0.8, 0.8, 0.6)
    image[:, 5:] = (0.5, 0.3, 0.2)
    background = np.zeros((10, 10), bool)
    background[:, :5] = True
    colour = estimate_source_color(image, background)
    np.testing.assert_allclose(colour, np.array([0.8, 0.8, 0.6]) / np.linalg.norm([0.8, 0.8, 0.6]), rtol=1e-6)
    with pytest.raises(EmptyMaskError):
        estimate_source_color(image, np.zeros((10, 10), bool))


def test_bad_inputs_raise_clear_errors(skin_patch):
    with pytest.raises(EmptyMaskError):
        remove_specular(skin_patch, np.zeros(skin_patch.shape[:2], bool), CONFIG)
    with pytest.raises(ShapeMismatchError):
        remove_specular(skin_patch, np.ones((3, 3), bool), CONFIG)
    with pytest.raises(ShapeMismatchError):
        remove_specular(skin_patch[..., 0], np.ones(skin_patch.shape[:2], bool), CONFIG)
    with pytest.raises(ValueError):
        suv_basis((1.0, -1.0, 0.0))
