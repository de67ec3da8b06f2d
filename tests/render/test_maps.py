"""Bump and normal maps: known height fields give known normals; conventions and encodings."""

from __future__ import annotations

import numpy as np
import pytest

from facetex.errors import InputImageError, ShapeMismatchError
from facetex.render.maps import (
    FLAT_NORMAL,
    DetailMapConfig,
    bump_from_height,
    detail_maps,
    height_from_albedo,
    normal_from_height,
)


def _decode(encoded: np.ndarray) -> np.ndarray:
    return encoded.astype(np.float64) * 2.0 - 1.0


def test_ramp_along_u_tilts_normals_towards_minus_u():
    slope = 0.5  # mm of height per mm to the right
    texel = 0.25
    cols = np.arange(32) * texel
    height = np.tile(slope * cols, (32, 1))
    n = _decode(normal_from_height(height, texel_mm=texel))
    expected = np.array([-slope, 0.0, 1.0]) / np.sqrt(1 + slope**2)
    np.testing.assert_allclose(n.reshape(-1, 3), np.tile(expected, (32 * 32, 1)), atol=2e-6)


def test_ramp_up_the_texture_tilts_normals_down():
    """Height growing towards the top row (larger v) gives a normal with negative green (OpenGL +Y = +v)."""
    rows = np.arange(16, dtype=np.float64)
    height = np.tile((15 - rows)[:, None], (1, 16)) * 1.0  # 1 mm per texel, highest at row 0
    n = _decode(normal_from_height(height, texel_mm=1.0))
    np.testing.assert_allclose(n[..., 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(n[..., 1], -1 / np.sqrt(2), atol=1e-6)
    np.testing.assert_allclose(n[..., 2], 1 / np.sqrt(2), atol=1e-6)


def test_spherical_cap_gives_radial_normals():
    size, radius = 129, 60.0
    centre = (size - 1) / 2
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    x = cols - centre
    y = centre - rows  # +y up (towards v = 1)
    r2 = x**2 + y**2
    height = np.sqrt(np.clip(radius**2 - r2, 0.0, None))
    n = _decode(normal_from_height(height, texel_mm=1.0))
    inside = r2 < (0.7 * radius) ** 2
    expected = np.stack([x, y, height], axis=-1) / radius  # outward normal of the sphere
    err = np.linalg.norm(n - expected, axis=-1)[inside]
    assert err.max() < 2e-3
    # Upper-right of the cap: normal points right and up.
    assert n[int(centre - 20), int(centre + 20), 0] > 0.2 and n[int(centre - 20), int(centre + 20), 1] > 0.2


def test_off_chart_normals_are_flat_and_bump_is_neutral():
    rng = np.random.default_rng(1)
    height = rng.normal(size=(16, 16))
    chart = np.zeros((16, 16), dtype=bool)
    chart[4:12, 4:12] = True
    normal = normal_from_height(height, chart, texel_mm=0.5)
    np.testing.assert_array_equal(normal[~chart], np.tile(FLAT_NORMAL, (int((~chart).sum()), 1)))
    assert np.abs(normal[chart] - FLAT_NORMAL).max() > 0.05
    bump = bump_from_height(height, chart)
    np.testing.assert_array_equal(bump[~chart], 0.5)


def test_bump_encoding_is_documented_scale():
    config = DetailMapConfig(bump_range_mm=0.5)
    height = np.array([[-1.0, -0.1, 0.0], [0.05, 0.2, 3.0]])
    bump = bump_from_height(height, None, config)
    np.testing.assert_allclose(bump, [[0.0, 0.3, 0.5], [0.6, 0.9, 1.0]], atol=1e-6)


def test_dark_pore_is_a_dent_and_flat_albedo_has_no_relief():
    albedo = np.full((64, 64, 3), 0.7, dtype=np.float32)
    chart = np.zeros((64, 64), dtype=bool)
    chart[8:56, 8:56] = True
    albedo[~chart] = 0.5  # off-chart fill: must not create a ridge at the chart border
    flat = height_from_albedo(albedo, chart)
    np.testing.assert_allclose(flat, 0.0, atol=1e-6)
    albedo[30:32, 30:32] = 0.4  # a dark 2×2 pore
    config = DetailMapConfig(lowpass_sigma=4.0 / 64.0, depth_mm_per_unit=1.0)  # σ = 4 texels
    height = height_from_albedo(albedo, chart, config)
    # 0.4 − low-pass; the pore holds ~3.8 % of the Gaussian's mass around (30, 30): ≈ −0.289 mm.
    assert -0.30 < height[30, 30] < -0.275
    assert height[30:32, 30:32].max() == height.min()
    assert np.abs(height[10, 10]) < 1e-6 and np.all(height[~chart] == 0)


def test_detail_maps_of_a_photo(photo_texture):
    albedo = photo_texture(64)
    maps = detail_maps(albedo)
    assert (
        maps.height_mm.shape == (64, 64) and maps.bump.shape == (64, 64) and maps.normal.shape == (64, 64, 3)
    )
    assert maps.normal.dtype == np.float32 and 0.0 <= maps.normal.min() and maps.normal.max() <= 1.0
    n = _decode(maps.normal)
    np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-5)
    assert n[..., 2].min() > 0  # tangent-space normals point out of the surface
    # High-pass: the relief has no mean and the bump map follows it.
    assert abs(float(maps.height_mm.mean())) < 0.01
    assert np.corrcoef(maps.height_mm.ravel(), maps.bump.ravel())[0, 1] > 0.95


def test_maps_reject_bad_input():
    with pytest.raises(InputImageError, match="square"):
        height_from_albedo(np.zeros((8, 9, 3), dtype=np.float32))
    with pytest.raises(InputImageError, match=r"\[0, 1\]"):
        height_from_albedo(np.full((8, 8, 3), 2.0, dtype=np.float32))
    with pytest.raises(ShapeMismatchError, match="chart"):
        height_from_albedo(np.zeros((8, 8, 3), dtype=np.float32), np.ones((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="texel_mm"):
        normal_from_height(np.zeros((4, 4)), texel_mm=0.0)
    with pytest.raises(ShapeMismatchError):
        normal_from_height(np.zeros(4), texel_mm=1.0)


def test_default_texel_size_is_the_ict_tiles():
    """``uv_extent_mm`` (the mm one UV unit spans on the face, which sets the normals' slopes)
    matches the default model's chart: the ICT face tile, measured as √(surface / UV area)."""
    from facetex.geometry.ict import load_ict_face

    topology = load_ict_face().topology
    v, uv, f = np.asarray(topology.vertices) * 10.0, np.asarray(topology.uvs), np.asarray(topology.faces)
    surface = np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1).sum() / 2
    e1, e2 = uv[f[:, 1]] - uv[f[:, 0]], uv[f[:, 2]] - uv[f[:, 0]]
    uv_area = np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).sum() / 2
    assert DetailMapConfig().uv_extent_mm == pytest.approx(np.sqrt(surface / uv_area), rel=0.05)
