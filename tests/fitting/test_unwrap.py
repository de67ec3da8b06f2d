"""unwrap_albedo: the partial albedo of a synthetic render equals the albedo that rendered it."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch

from facetex.errors import ShapeMismatchError
from facetex.fitting import UnwrapConfig, VisibilityConfig, model_albedo, unwrap_albedo
from facetex.geometry.camera import screen_positions, vertex_normals
from facetex.geometry.rasterize import interpolate, rasterize
from facetex.geometry.uv import chart_mask, rasterize_uv, texel_centers

from .conftest import make_scene

R = 256
CONFIG = UnwrapConfig(resolution=R, visibility=VisibilityConfig(use_skin_colour=False))


@pytest.fixture(scope="module")
def textured_albedo(model) -> np.ndarray:
    """The model's mean albedo with a ±0.06 sine pattern of 8 periods across the UV square."""
    uv = texel_centers(R)
    pattern = 0.06 * np.sin(2 * np.pi * 8 * uv[..., 0]) * np.sin(2 * np.pi * 8 * uv[..., 1])
    base = cv2.resize(model_albedo(model, np.zeros(model.albedo_basis.shape[0])), (R, R))
    return np.clip(base + pattern[..., None], 0.0, 1.0).astype(np.float32)


@pytest.fixture(scope="module")
def textured(model, textured_albedo):
    scene = make_scene(model, size=384, albedo_uv=textured_albedo)
    return scene, unwrap_albedo(scene.photo, scene.detection, scene.truth, model, CONFIG)


def test_partial_albedo_equals_the_rendered_albedo(textured, textured_albedo):
    _, partial = textured
    assert partial.resolution == R and partial.albedo.dtype == np.float32
    assert partial.mask.sum() > 0.4 * partial.chart.sum()
    # Away from the silhouette and the cut-outs (2 texels in), where bilinear lookups in the
    # photo mix in the background or the eye / lip polygons' surroundings.
    inner = cv2.erode(partial.mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2).astype(bool)
    error = np.abs(partial.albedo - textured_albedo)[inner]
    assert error.mean() < 0.002
    assert error.max() < 0.03


def _texel_pixels(scene, topology, chart):
    """Photo positions (x, y) of the chart texels of the scene's true mesh, (T, 2)."""
    verts = torch.tensor(scene.truth.vertices)
    faces = torch.tensor(np.asarray(topology.faces))
    points = interpolate(verts, rasterize_uv(topology, R, dtype=torch.float64), faces)[torch.tensor(chart)]
    principal = torch.tensor(scene.truth.principal_point)
    return screen_positions(points, scene.truth.focal_length, principal)[:, :2].numpy()


@pytest.mark.parametrize("pose", [(0.08, -0.25, 0.05), (0.0, -0.75, 0.0)])
def test_observed_texels_sample_only_the_face(model, topology, pose):
    """Every observed texel's bilinear footprint (the four photo pixels it mixes) lies on the
    rendered face: none straddles the silhouette, whatever the shape and CPU (on an Intel Xeon
    the old unwrap kept texels 2–4 texels inside the chart's edge that mixed in background)."""
    scene = make_scene(model, size=320, axis_angle=pose, seed=1)
    partial = unwrap_albedo(scene.photo, scene.detection, scene.truth, model, CONFIG)
    xy = _texel_pixels(scene, topology, partial.chart)[partial.mask[partial.chart]]
    base = np.floor(xy - 0.5).astype(int)
    face = scene.rendering.mask
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        assert face[base[:, 1] + dy, base[:, 0] + dx].all()
    # the footprint test drops only a thin band: most of what faces the camera stays
    assert partial.mask.sum() > 0.3 * partial.chart.sum()


def test_maps_follow_the_conventions(textured, topology):
    _, partial = textured
    np.testing.assert_array_equal(partial.chart, chart_mask(topology, R))
    assert not (partial.mask & ~partial.chart).any()
    np.testing.assert_array_equal(partial.albedo[~partial.mask], 0.5)
    np.testing.assert_array_equal(partial.shading[~partial.mask], 0.0)
    np.testing.assert_array_equal(partial.lowfreq[~partial.chart], 0.5)
    assert (partial.shading[partial.mask] > 0).all()
    assert 0.0 <= partial.albedo.min() and partial.albedo.max() <= 1.0


def test_hidden_texels_are_not_observed(model, topology):
    scene = make_scene(model, size=320, axis_angle=(0.0, -0.75, 0.0))  # head turned ~43°
    partial = unwrap_albedo(scene.photo, scene.detection, scene.truth, model, CONFIG)
    # An independent full-resolution z-buffer of the true mesh.
    verts = torch.tensor(scene.truth.vertices)
    faces = torch.tensor(np.asarray(topology.faces))
    principal = torch.tensor(scene.truth.principal_point)
    raster = rasterize(screen_positions(verts, scene.truth.focal_length, principal), faces, (320, 320))
    uv = rasterize_uv(topology, R, dtype=torch.float64)
    points = interpolate(verts, uv, faces)[partial.chart]
    normals = torch.nn.functional.normalize(interpolate(vertex_normals(verts, faces), uv, faces)[partial.chart], dim=1)
    pix = screen_positions(points, scene.truth.focal_length, principal)
    col = pix[:, 0].long().clamp(0, 319)
    row = pix[:, 1].long().clamp(0, 319)
    facing = (-(points * normals).sum(1) / points.norm(dim=1)) > 0.3
    # hidden: something else lies in front at its pixel (its own triangle seen there is no
    # occluder, however steeply its depth changes across the pixel)
    own = raster.triangle_id[row, col] == uv.triangle_id[torch.tensor(partial.chart)]
    occluded = (raster.depth[row, col] < pix[:, 2] - 0.5) & facing & ~own
    assert int(occluded.sum()) > 50  # the turned head hides part of its far cheek behind the nose
    observed = torch.tensor(partial.mask[partial.chart])
    assert int((observed & occluded).sum()) == 0
    assert int((observed & ~facing).sum()) == 0


def test_bad_inputs(textured, model):
    scene, _ = textured
    with pytest.raises(ValueError, match="resolution"):
        unwrap_albedo(scene.photo, scene.detection, scene.truth, model, dataclasses.replace(CONFIG, resolution=4096))
    with pytest.raises(ShapeMismatchError, match="photo"):
        small = dataclasses.replace(scene.photo, rgb=scene.photo.rgb[:100])
        unwrap_albedo(small, scene.detection, scene.truth, model, CONFIG)


def test_features_and_sampling_density(textured, textured_albedo):
    """The brows, lids and lips the render shows are unwrapped beside the skin (disjoint from
    it, same albedo), and the sampling density is positive exactly where either was sampled."""
    scene, partial = textured
    features, fmask = partial.features, partial.feature_mask
    assert fmask is not None and fmask.sum() > 0.02 * partial.chart.sum()
    assert not (fmask & partial.mask).any() and not (fmask & ~partial.chart).any()
    np.testing.assert_array_equal(features[~fmask], 0.5)
    inner = cv2.erode(fmask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2).astype(bool)
    assert np.abs(features - textured_albedo)[inner].mean() < 0.01
    density = partial.pixels_per_texel
    np.testing.assert_array_equal(density > 0, partial.mask | fmask)
    # a 384-px render of a face whose chart spans ~R = 256 texels: around one pixel per texel
    assert 0.3 < float(np.median(density[partial.mask])) < 3.0


def test_supersampling_averages_detail_finer_than_a_texel(model):
    """A pattern the photo resolves but the texels do not (24 periods across the chart, 32
    texels): sampled at texel centres it aliases into a false 8-period pattern at full
    contrast; averaged over 4 × 4 samples per texel it matches the albedo area-averaged to 32²."""
    fine = 256
    uv = texel_centers(fine)
    pattern = 0.08 * np.sin(2 * np.pi * 24 * uv[..., 0])
    base = cv2.resize(model_albedo(model, np.zeros(model.albedo_basis.shape[0])), (fine, fine))
    albedo = np.clip(base + pattern[..., None], 0.0, 1.0).astype(np.float32)
    scene = make_scene(model, size=384, albedo_uv=albedo)
    truth = cv2.resize(albedo, (32, 32), interpolation=cv2.INTER_AREA)
    errors = {}
    for sub in (1, 4):
        config = dataclasses.replace(CONFIG, resolution=32, supersample=sub)
        partial = unwrap_albedo(scene.photo, scene.detection, scene.truth, model, config)
        inner = cv2.erode(partial.mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert inner.sum() > 50
        errors[sub] = float(np.abs(partial.albedo - truth)[inner].mean())
    assert errors[4] < 0.005 < 0.02 < errors[1]  # 0.0002 and 0.036 here
