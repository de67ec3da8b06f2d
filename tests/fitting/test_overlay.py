"""The fit overlay (overlay.png): only the mesh's camera-facing side, and a dense mesh (the ICT
face tile) never hides the face under a solid sheet of wire."""

from __future__ import annotations

import numpy as np
import pytest

from facetex.fitting.overlay import draw_overlay
from facetex.geometry.camera import pose_rotation
from facetex.geometry.ict import load_ict_face
from facetex.geometry.topology import load_face_mesh
from facetex.types import FaceFit

SIZE = 512
GREY = 0.3


def _posed(topology, yaw_deg: float, *, depth: float = 60.0) -> FaceFit:
    """The mean mesh turned ``yaw_deg`` about the vertical, centred in a SIZE² grey photo."""
    import torch

    rotation = pose_rotation(torch.tensor([0.0, np.radians(yaw_deg), 0.0], dtype=torch.float64)).numpy()
    vertices = np.asarray(topology.vertices, dtype=np.float64)
    vertices = (vertices - vertices.mean(axis=0)) @ rotation.T + np.array([0.0, 0.0, depth])
    return FaceFit(
        image_size=(SIZE, SIZE),
        shape_coeffs=np.zeros(1),
        expression_coeffs=np.zeros(1),
        albedo_coeffs=np.zeros(1),
        rotation=rotation,
        translation=np.array([0.0, 0.0, depth]),
        focal_length=2.0 * SIZE,
        principal_point=np.array([SIZE / 2, SIZE / 2]),
        sh_coeffs=np.zeros((9, 3)),
        vertices=vertices,
        model_name="test",
    )


def _wire(topology, yaw_deg: float = 0.0) -> np.ndarray:
    """(H, W) how far each overlay pixel moved from the grey photo towards the wire's cyan."""
    photo = np.full((SIZE, SIZE, 3), GREY, dtype=np.float32)
    overlay = draw_overlay(photo, _posed(topology, yaw_deg), topology, max_side=SIZE, min_side=SIZE)
    return np.abs(overlay - GREY).max(axis=2)


@pytest.fixture(scope="module")
def ict_topology():
    return load_ict_face().topology


def test_a_mask_seen_from_behind_draws_almost_no_wire():
    topology = load_face_mesh()  # mediapipe's mask: all but a few fold triangles (lips, nostrils) face forwards
    front, back = (_wire(topology, yaw) > 0.02 for yaw in (0.0, 180.0))
    assert front.mean() > 0.02
    assert back.sum() < 0.05 * front.sum()


def test_the_dense_ict_tile_leaves_the_face_visible(ict_topology):
    wire = _wire(ict_topology)
    covered = wire > 0.02
    assert covered.mean() > 0.1  # the tile is drawn ...
    # ... but blended: no pixel reaches the wire's full colour, the face stays readable under it
    assert wire.max() < 0.5
    # the sparse mediapipe mask at the same size is still drawn opaque
    assert _wire(load_face_mesh()).max() > 0.6



def test_eye_centres_of_a_fit_without_pupils(ict_topology):
    from facetex.errors import ShapeMismatchError
    from facetex.fitting.overlay import fitted_eye_centres

    centres = fitted_eye_centres(_posed(load_face_mesh(), 0.0))  # mediapipe: its eye contours
    assert centres.shape == (2, 2) and centres[0, 0] < SIZE / 2 < centres[1, 0]
    with pytest.raises(ShapeMismatchError, match="without pupils"):
        fitted_eye_centres(_posed(ict_topology, 0.0))  # ICT: no mediapipe vertex ids to borrow
