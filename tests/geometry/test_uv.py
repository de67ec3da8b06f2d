"""UV convention and UV-space rasterization of the face mesh."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facetex.errors import ShapeMismatchError
from facetex.geometry.rasterize import interpolate
from facetex.geometry.topology import load_face_mesh
from facetex.geometry.uv import chart_mask, pixel_to_uv, rasterize_uv, texel_centers, uv_to_pixel


def test_texel_centres_follow_the_convention():
    centres = texel_centers(4)
    np.testing.assert_allclose(centres[0, 0], [0.125, 0.875])  # top-left texel: v near 1
    np.testing.assert_allclose(centres[3, 1], [0.375, 0.125])
    np.testing.assert_allclose(uv_to_pixel(centres, 4)[2, 3], [3.5, 2.5])


def test_pixel_uv_round_trip_numpy_and_torch(rng):
    uv = rng.uniform(size=(5, 2))
    np.testing.assert_allclose(pixel_to_uv(uv_to_pixel(uv, 64), 64), uv, atol=1e-15)
    t = torch.tensor(uv)
    np.testing.assert_allclose(uv_to_pixel(t, 64).numpy(), uv_to_pixel(uv, 64))
    with pytest.raises(ShapeMismatchError):
        uv_to_pixel(np.zeros(3), 8)
    with pytest.raises(ShapeMismatchError):
        texel_centers(0)


def test_uv_raster_of_the_face_mesh():
    mesh = load_face_mesh()
    resolution = 128
    raster = rasterize_uv(mesh, resolution, dtype=torch.float64)
    mask = raster.mask.numpy()
    assert 0.55 < mask.mean() < 0.75
    np.testing.assert_array_equal(chart_mask(mesh, resolution), mask)
    # The forehead is near the top rows, the chin near the bottom.
    rows = np.nonzero(mask.any(axis=1))[0]
    forehead_row = uv_to_pixel(mesh.uvs[10], resolution)[1]
    chin_row = uv_to_pixel(mesh.uvs[152], resolution)[1]
    assert forehead_row < 0.2 * resolution and chin_row > 0.9 * resolution
    assert abs(rows.min() + 0.5 - forehead_row) < 1.5 and abs(rows.max() + 0.5 - chin_row) < 1.5
    # Interpolating the vertex UVs at each texel gives back the texel centre's UV exactly.
    uv_at_texels = interpolate(torch.tensor(mesh.uvs), raster, mesh.faces).numpy()
    np.testing.assert_allclose(uv_at_texels[mask], texel_centers(resolution)[mask], atol=1e-12)
