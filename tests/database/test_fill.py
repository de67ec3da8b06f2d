"""Mirror map and completion of unseen texels, on constructed meshes with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from facetex.database.config import FillConfig
from facetex.database.fill import (
    INPAINTED,
    MIRRORED,
    OBSERVED,
    OFF_CHART,
    fill_texture,
    mirror_texel_map,
    mirror_vertex_map,
)
from facetex.errors import EmptyMaskError, ShapeMismatchError
from facetex.types import MeshTopology

R = 64


def _grid_mesh(n: int = 9, *, skew: float = 0.0) -> MeshTopology:
    """A flat n × n grid over x, y ∈ [−1, 1] (symmetric in x), UVs on [0.1, 0.9]²."""
    xs = np.linspace(-1.0, 1.0, n)
    x, y = np.meshgrid(xs, xs)
    vertices = np.stack([x.ravel() + skew * (y.ravel() + 1.0), y.ravel(), np.zeros(n * n)], axis=1)
    uvs = np.stack([(x.ravel() + 1) / 2 * 0.8 + 0.1, (y.ravel() + 1) / 2 * 0.8 + 0.1], axis=1)
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a = i * n + j
            faces += [[a, a + 1, a + n + 1], [a, a + n + 1, a + n]]
    return MeshTopology(vertices, uvs, np.array(faces, dtype=np.int64), np.ones(n * n))


@pytest.fixture(scope="module")
def grid_mirror():
    return mirror_texel_map(_grid_mesh(), R)


def test_mirror_map_of_a_symmetric_grid_flips_columns(grid_mirror):
    chart = grid_mirror.chart
    rows, cols = np.nonzero(chart)
    # UV x ∈ [0.1, 0.9] is symmetric about u = 0.5, so texel (i, j) mirrors to (i, R − 1 − j).
    np.testing.assert_allclose(grid_mirror.coords[rows, cols, 0], R - 1 - cols, atol=1e-4)
    np.testing.assert_allclose(grid_mirror.coords[rows, cols, 1], rows, atol=1e-4)
    assert np.isnan(grid_mirror.coords[~chart]).all()
    # Texel centres in [0.1, 0.9]·R: columns 6 … 57.
    assert chart[32, 6] and not chart[32, 5] and chart[32, 57] and not chart[32, 58]


def test_mirror_vertex_map_of_the_face_mesh_is_an_involution():
    from facetex.geometry.topology import load_face_mesh

    mesh = load_face_mesh()
    partner = mirror_vertex_map(mesh)
    np.testing.assert_array_equal(partner[partner], np.arange(mesh.vertices.shape[0]))
    on_midline = partner == np.arange(mesh.vertices.shape[0])
    np.testing.assert_allclose(mesh.vertices[on_midline, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(mesh.vertices[partner, 0], -mesh.vertices[:, 0], atol=1e-6)


def test_asymmetric_mesh_is_refused():
    with pytest.raises(ValueError, match="symmetric"):
        mirror_vertex_map(_grid_mesh(skew=0.3))


def _symmetric_texture() -> np.ndarray:
    """Smooth texture symmetric in the column index about the chart's centre column."""
    rows, cols = np.mgrid[:R, :R].astype(np.float64)
    d = np.abs(cols - (R - 1) / 2) / R
    return np.stack([0.3 + 0.5 * d, 0.6 - 0.2 * d**2, 0.2 + 0.3 * rows / R], axis=-1).astype(np.float32)


@pytest.mark.parametrize("blend", [False, True])
def test_mirrored_half_reproduces_a_symmetric_texture(grid_mirror, blend):
    truth = _symmetric_texture()
    observed = np.zeros((R, R), bool)
    observed[:, : R // 2] = True  # left half seen, right half hidden
    filled = fill_texture(np.where(observed[..., None], truth, 0.5), observed, grid_mirror,
                          FillConfig(blend_gradients=blend))
    chart = grid_mirror.chart
    assert np.array_equal(filled.fill_map[chart & observed], np.full((chart & observed).sum(), OBSERVED))
    assert np.array_equal(filled.fill_map[chart & ~observed], np.full((chart & ~observed).sum(), MIRRORED))
    assert (filled.fill_map[~chart] == OFF_CHART).all()
    # Exact up to the fill's weak pull towards the mean colour (regularization 1e-5).
    np.testing.assert_allclose(filled.rgb[chart], truth[chart], atol=1e-3)
    np.testing.assert_array_equal(filled.rgb[~chart], 0.5)


def test_gradient_blending_removes_the_seam_that_copying_leaves(grid_mirror):
    # The photo saw the left half and part of the right; its albedo keeps a residual shading
    # ramp of 0.1 across the face. Copying mirrored texels then leaves a step where the
    # mirrored region meets the observed one; pasting gradients (Poisson) does not.
    cols = np.mgrid[:R, :R][1].astype(np.float32)
    albedo = _symmetric_texture() + (0.1 * cols / R)[..., None]
    observed = np.zeros((R, R), bool)
    observed[:, : 3 * R // 4] = True
    copied = fill_texture(albedo, observed, grid_mirror, FillConfig(blend_gradients=False)).rgb
    blended = fill_texture(albedo, observed, grid_mirror, FillConfig(blend_gradients=True)).rgb
    row, c0, c1 = 32, 3 * R // 4 - 1, 3 * R // 4  # last observed, first mirrored column
    natural = np.abs(albedo[row, c1 - 1] - albedo[row, c0 - 1]).max()  # a normal neighbour step
    assert np.abs(copied[row, c1] - copied[row, c0]).max() > 0.04  # ≈ 0.1 · (c0 − (R − 1 − c1)) / R
    assert np.abs(blended[row, c1] - blended[row, c0]).max() < natural + 0.005


def test_band_without_mirror_is_inpainted_linearly(grid_mirror):
    rows = np.mgrid[:R, :R][0].astype(np.float32)
    truth = np.stack([rows / R, 0.5 + 0 * rows, 1 - rows / R], axis=-1).astype(np.float32)
    observed = np.ones((R, R), bool)
    observed[20:30, :] = False  # a full-width band: its mirror is hidden too
    filled = fill_texture(np.where(observed[..., None], truth, 0.5), observed, grid_mirror, FillConfig())
    chart = grid_mirror.chart
    band = chart & ~observed
    assert (filled.fill_map[band] == INPAINTED).all()
    # The harmonic fill of a function linear in the row, with side walls of zero flux, is
    # that function (up to the 1e-5 regularisation).
    np.testing.assert_allclose(filled.rgb[band], truth[band], atol=2e-3)


def test_fill_errors(grid_mirror):
    with pytest.raises(EmptyMaskError):
        fill_texture(np.full((R, R, 3), 0.5, np.float32), np.zeros((R, R), bool), grid_mirror, FillConfig())
    with pytest.raises(ShapeMismatchError):
        fill_texture(np.full((R, R, 3), 0.5, np.float32), np.ones((R + 1, R), bool), grid_mirror, FillConfig())
