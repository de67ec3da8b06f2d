"""Image-space visibility: feature polygons, person mask, skin-colour model, view angle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facetex.detect import landmarks as groups
from facetex.errors import EmptyMaskError
from facetex.fitting import VisibilityConfig, photo_visibility
from facetex.fitting.visibility import fit_skin_colour, image_visibility, skin_sample_vertices, view_cosine

SKIN = np.array([0.80, 0.60, 0.50], dtype=np.float32)


def _skin_image(rng, size=96):
    """Skin-coloured image with mild shading and noise, a brown 'fringe' and a green patch."""
    rows = np.linspace(0.85, 1.1, size, dtype=np.float32)[:, None, None]
    rgb = np.clip(SKIN * rows + rng.normal(0, 0.01, (size, size, 3)).astype(np.float32), 0, 1)
    rgb[:15] = [0.25, 0.17, 0.10]  # dark brown hair across the top
    rgb[60:70, 60:70] = [0.2, 0.7, 0.2]  # a green occluder
    return rgb


def test_skin_colour_model_rejects_hair_and_occluders(rng):
    rgb = _skin_image(rng)
    ys, xs = np.mgrid[25:90:4, 5:55:4]
    points = np.column_stack([xs.ravel(), ys.ravel()]).astype(np.float64) + 0.5
    points[:3] = [[5, 5], [10, 5], [20, 3]]  # a few samples fall on the hair: the fit is robust
    model = fit_skin_colour(rgb, points)
    maha, luma = model.distances(rgb)
    keep = (maha <= 3.5) & (np.abs(luma) <= 4.0)
    assert keep[20:58].mean() > 0.99  # skin, across its shading
    assert not keep[:15].any()  # hair
    assert not keep[60:70, 60:70].any()  # green patch


def test_skin_colour_needs_points_inside_the_image(rng):
    with pytest.raises(EmptyMaskError):
        fit_skin_colour(_skin_image(rng), np.full((20, 2), -5.0))


def test_image_visibility_cuts_features_and_background(scene, topology):
    rgb = scene.photo.rgb
    lm = scene.detection.landmarks[:, :2]
    eyes = groups.eye_centers(scene.detection.landmarks)
    unit = float(np.linalg.norm(eyes[0] - eyes[1]))
    vis = image_visibility(
        rgb, lm, scene.detection.person_mask, lm[skin_sample_vertices(topology)], unit, VisibilityConfig()
    )
    assert vis.mask.shape == rgb.shape[:2]
    for polygon in (groups.RIGHT_EYE, groups.LEFT_EYE, groups.LIPS_OUTER):
        x, y = lm[list(polygon)].mean(axis=0)
        assert not vis.features[int(y), int(x)]
    cheek = lm[205]  # subject's right cheek
    assert vis.mask[int(cheek[1]), int(cheek[0])]
    assert not vis.person[2, 2] and not vis.mask[2, 2]  # background corner
    # Shading alone must not make the face look like non-skin.
    face = vis.person & vis.features
    assert vis.skin_colour[face].mean() > 0.95
    # Bigger dilation removes more.
    grown = image_visibility(
        rgb, lm, scene.detection.person_mask, lm[skin_sample_vertices(topology)], unit,
        VisibilityConfig(feature_dilation=0.2),
    )
    assert grown.features.sum() < vis.features.sum()
    # The mouth opening: inside the inner lips, within the cut-out lips, not on the cheek.
    assert vis.mouth is not None and vis.mouth.shape == rgb.shape[:2]
    assert not (vis.mouth & vis.features).any()
    assert not vis.mouth[int(cheek[1]), int(cheek[0])]
    x, y = lm[list(groups.LIPS_INNER)].mean(axis=0)
    assert vis.mouth.sum() == 0 or vis.mouth[int(y), int(x)]


def test_photo_visibility_maps_the_crop(scene, topology):
    vis, crop = photo_visibility(scene.photo, scene.detection, topology, VisibilityConfig(), max_side=64)
    assert max(vis.mask.shape) <= 64 and vis.mask.shape == crop.rgb.shape[:2]
    nose = scene.detection.landmarks[1, :2]
    x, y = crop.to_crop(nose)
    assert 0 <= x < crop.rgb.shape[1] and 0 <= y < crop.rgb.shape[0]
    left, top, right, bottom = crop.bounds
    np.testing.assert_allclose(crop.to_crop(np.array([left, top])), [0, 0])
    np.testing.assert_allclose(crop.to_crop(np.array([right, bottom])), crop.rgb.shape[1::-1])


def test_view_cosine():
    points = torch.tensor([[0.0, 0.0, 10.0], [0.0, 0.0, 10.0], [3.0, 0.0, 4.0]], dtype=torch.float64)
    normals = torch.tensor([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64)
    np.testing.assert_allclose(view_cosine(points, normals).numpy(), [1.0, 0.0, 0.8], atol=1e-12)
    np.testing.assert_allclose(view_cosine(points.numpy(), -normals.numpy()), [-1.0, 0.0, -0.8], atol=1e-12)


@pytest.mark.parametrize("model_name", ["mediapipe", "ict"])
def test_feature_texels_cover_the_features_of_either_layout(model_name, shared_data):
    """The eyes, brows, lips and nostrils of a UV layout, from its landmarks' surface points: the
    lip and eye landmarks are in, the cheeks and the forehead's middle out, and the two sides
    are mirror images (both layouts are left/right symmetric)."""
    from facetex.fitting import load_face_model
    from facetex.fitting.visibility import feature_texels
    from facetex.geometry.uv_frame import uv_to_pixel

    topology = load_face_model(model_name).topology
    size = 256
    features = feature_texels(topology, size)
    uv = np.asarray(topology.uvs)
    if topology.landmark_map is None:
        points = uv[:468]
    else:
        lmap = topology.landmark_map
        points = np.einsum("lk,lkc->lc", lmap.barycentrics[:468], uv[lmap.vertices[:468]])
    texel = np.floor(uv_to_pixel(points, size)).astype(int)

    def inside(ids):
        return features[texel[list(ids), 1], texel[list(ids), 0]]

    assert inside(groups.LIPS_OUTER).all() and inside(groups.LEFT_EYE).all() and inside(groups.RIGHT_EYEBROW).all()
    assert not inside([50, 280, 151]).any()  # cheeks, forehead
    assert 0.03 < features.mean() < 0.2
    assert np.mean(features != features[:, ::-1]) < 0.01
    assert not feature_texels(topology, size, dilation=0.0).all()
    assert feature_texels(topology, size, dilation=0.0).sum() < features.sum()
