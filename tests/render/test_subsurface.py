"""Subsurface scattering: Burley's profile, the screen-space spread, and the Mitsuba passes."""

from __future__ import annotations

import numpy as np
import pytest

from facetex.render.mitsuba_render import RenderConfig, View, render_views
from facetex.render.subsurface import (
    SKIN1_MEAN_FREE_PATH_MM,
    burley_profile,
    burley_shape,
    profile_radii,
    scatter,
)
from facetex.render.textured_mesh import make_textured_mesh

from .conftest import dome_patch


def test_burley_profile_is_normalised_and_its_radii_follow_its_cdf():
    d = 1.7
    r = np.geomspace(1e-6, 200 * d, 200_000)
    assert np.trapz(burley_profile(r, d) * 2 * np.pi * r, r) == pytest.approx(1.0, abs=2e-3)
    radii = profile_radii(d, 8)
    assert np.all(np.diff(radii) > 0)
    cdf = 1 - 0.25 * np.exp(-radii / d) - 0.75 * np.exp(-radii / (3 * d))
    np.testing.assert_allclose(cdf, (np.arange(8) + 0.5) / 8 * 0.99, atol=1e-4)
    # Skin: red light travels furthest, blue least.
    shapes = [burley_shape(ell, 0.5) for ell in SKIN1_MEAN_FREE_PATH_MM]
    assert shapes[0] > 2 * shapes[1] and shapes[1] > 1.5 * shapes[2]


def _plane(h: int, w: int, mm: float, depth_step_mm: float = 0.0):
    """Positions (mm) of a plane facing the camera, ``mm`` per pixel; the left half pushed back by
    ``depth_step_mm``."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    z = np.where(xs < w // 2, -depth_step_mm, 0.0)
    return np.stack([xs * mm, -ys * mm, z], axis=-1), np.full((h, w), mm)


def _edge_width(profile: np.ndarray) -> int:
    """Pixels between 10 % and 90 % of a falling edge from ~1 to ~0."""
    return int(np.sum((profile > 0.1) & (profile < 0.9)))


def test_a_shadow_edge_spreads_red_further_than_blue_and_keeps_its_energy():
    h, w, mm = 24, 120, 0.5
    positions, mm_per_pixel = _plane(h, w, mm)
    lit = np.zeros((h, w, 3), dtype=np.float32)
    lit[:, : w // 2] = 1.0
    coverage = np.ones((h, w), dtype=np.float32)
    shapes = tuple(burley_shape(ell, 0.5) for ell in SKIN1_MEAN_FREE_PATH_MM)
    out = scatter(lit, coverage, positions, mm_per_pixel, shapes, samples=96)
    row = out[4:-4].mean(axis=0)
    red, blue = _edge_width(row[:, 0]), _edge_width(row[:, 2])
    assert red >= 8 and red > 3 * max(blue, 1)
    # Red light leaks into the shadow, far more than blue, and the lit side gives it up.
    assert row[w // 2 + 4, 0] > 0.1 and row[w // 2 + 4, 2] < 0.25 * row[w // 2 + 4, 0]
    # Away from the image's ends, the total is conserved (energy leaves one side for the other).
    middle = slice(20, w - 20)
    np.testing.assert_allclose(out[4:-4, middle].mean(axis=(0, 1)), lit[4:-4, middle].mean(axis=(0, 1)), atol=0.03)


def test_light_does_not_cross_a_depth_step_and_skin_beside_an_eye_is_not_darkened():
    h, w, mm = 24, 80, 0.5
    lit = np.zeros((h, w, 3), dtype=np.float32)
    lit[:, : w // 2] = 1.0
    shapes = tuple(burley_shape(ell, 0.5) for ell in SKIN1_MEAN_FREE_PATH_MM)
    coverage = np.ones((h, w), dtype=np.float32)
    flat = scatter(lit, coverage, *_plane(h, w, mm), shapes)
    stepped = scatter(lit, coverage, *_plane(h, w, mm, depth_step_mm=30.0), shapes)
    assert flat[:, w // 2 + 1, 0].mean() > 0.2
    assert stepped[:, w // 2 + 1, 0].mean() < 0.02  # the lit plane lies 3 cm behind: no light crosses
    # The left half is not skin (an eyeball, rendered black in the skin's pass): the evenly lit
    # skin beside it keeps its light, and nothing is written where there is no skin.
    coverage[:, : w // 2] = 0.0
    skin_lit = 1.0 - lit
    beside_eye = scatter(skin_lit, coverage, *_plane(h, w, mm), shapes)
    assert np.all(beside_eye[:, : w // 2] == 0.0)
    np.testing.assert_allclose(beside_eye[:, w // 2 :], 1.0, atol=1e-5)


def _checker_normals(n: int, period: int) -> np.ndarray:
    """A tangent-space normal map tilted ±0.6 along u in stripes ``period`` texels wide."""
    j = np.arange(n)
    tilt = np.where((j // (period // 2)) % 2 == 0, 0.6, -0.6)
    normal = np.stack([np.broadcast_to(tilt, (n, n)), np.zeros((n, n)), np.ones((n, n))], axis=-1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    return ((normal + 1) / 2).astype(np.float32)


def test_rendered_skin_blurs_fine_relief_in_red_more_than_in_blue_and_keeps_its_brightness():
    vertices, faces, uvs = dome_patch(12)
    mesh = make_textured_mesh(vertices, faces, uvs, np.full((64, 64, 3), 0.8, dtype=np.float32),
                              _checker_normals(64, 4))
    images = {}
    for subsurface in (False, True):
        config = RenderConfig(resolution=96, spp=16, views=(View("front", 0.0),), lightings=("studio",),
                              background=(0.0, 0.0, 0.0), subsurface=subsurface)
        (render,) = render_views(mesh, config)
        images[subsurface] = render.image
    inner = slice(30, 66)
    ripple = {}
    for subsurface, image in images.items():
        patch = image[inner, inner]
        ripple[subsurface] = np.abs(np.diff(patch, axis=1)).mean(axis=(0, 1))  # (3,) per channel
        assert patch.min() > 0.05  # the patch is all face
    assert ripple[False][0] == pytest.approx(ripple[False][2], rel=0.25)  # white skin, no scattering: alike
    assert ripple[True][0] < 0.6 * ripple[True][2]  # with scattering the red relief is softened
    np.testing.assert_allclose(images[True][inner, inner].mean(axis=(0, 1)),
                               images[False][inner, inner].mean(axis=(0, 1)), rtol=0.08)
