"""Camera: Rodrigues rotations, the model → camera flip, projection, vertex normals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial.transform import Rotation

from facetex.errors import ShapeMismatchError
from facetex.geometry.camera import (
    MODEL_TO_CAMERA_AXES,
    pose_axis_angle,
    pose_rotation,
    project,
    rodrigues,
    screen_positions,
    vertex_normals,
)
from facetex.geometry.topology import load_face_mesh


def test_rodrigues_matches_scipy(rng):
    vectors = np.concatenate(
        [
            rng.normal(size=(20, 3)),
            rng.normal(size=(5, 3)) * 1e-5,  # around the Taylor threshold
            rng.normal(size=(5, 3)) * 1e-9,
            [[0.0, 0.0, 0.0], [np.pi, 0.0, 0.0], [0.0, 3.0, -1.0]],
        ]
    )
    ours = rodrigues(torch.tensor(vectors)).numpy()
    np.testing.assert_allclose(ours, Rotation.from_rotvec(vectors).as_matrix(), atol=1e-14)
    batch = rodrigues(torch.tensor(vectors.reshape(3, 11, 3)))
    assert batch.shape == (3, 11, 3, 3)


def test_rodrigues_float32_small_angles_are_accurate():
    vectors = np.array([[1e-3, -2e-3, 5e-4], [3e-4, 0.0, 0.0]])
    ours = rodrigues(torch.tensor(vectors, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(ours, Rotation.from_rotvec(vectors).as_matrix(), atol=2e-7)


@pytest.mark.parametrize("scale", [0.0, 1e-6, 0.7])
def test_rodrigues_gradcheck_including_zero(scale, rng):
    omega = torch.tensor(rng.normal(size=3) * scale, requires_grad=True)
    assert torch.autograd.gradcheck(rodrigues, (omega,), eps=1e-7, atol=1e-7)
    rodrigues(omega).sum().backward()
    assert torch.isfinite(omega.grad).all()


def test_pose_rotation_flips_model_axes_and_inverts():
    identity_pose = pose_rotation(torch.zeros(3, dtype=torch.float64)).numpy()
    np.testing.assert_array_equal(identity_pose, MODEL_TO_CAMERA_AXES)
    # The frontal face: its nose (model +z) points at the camera (camera −z), its top (model +y)
    # is up in the image (camera −y).
    np.testing.assert_array_equal(identity_pose @ [0.0, 0.0, 1.0], [0.0, 0.0, -1.0])
    np.testing.assert_array_equal(identity_pose @ [0.0, 1.0, 0.0], [0.0, -1.0, 0.0])
    omega = np.array([0.1, -0.4, 0.25])
    rotation = pose_rotation(torch.tensor(omega)).numpy()
    np.testing.assert_allclose(pose_axis_angle(rotation), omega, atol=1e-12)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-14)
    assert np.linalg.det(rotation) == pytest.approx(1.0)


def test_project_numpy_and_torch_agree_on_known_points():
    points = np.array([[1.0, -2.0, 4.0], [0.0, 0.0, 10.0]])
    expected = np.array([[500 * 0.25 + 320, 500 * -0.5 + 240], [320.0, 240.0]])
    np.testing.assert_allclose(project(points, 500.0, np.array([320.0, 240.0])), expected)
    torch_xy = project(torch.tensor(points), 500.0, torch.tensor([320.0, 240.0], dtype=torch.float64))
    np.testing.assert_allclose(torch_xy.numpy(), expected)
    pos = screen_positions(torch.tensor(points), 500.0, torch.tensor([320.0, 240.0], dtype=torch.float64))
    np.testing.assert_allclose(pos.numpy(), np.c_[expected, points[:, 2]])


def test_vertex_normals_of_a_sphere_point_outwards():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=2.0)
    normals = vertex_normals(torch.tensor(sphere.vertices), sphere.faces).numpy()
    radial = sphere.vertices / np.linalg.norm(sphere.vertices, axis=1, keepdims=True)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-12)
    assert np.min(np.sum(normals * radial, axis=1)) > 0.999


def test_vertex_normals_are_area_weighted():
    # Vertex 0 is shared by a large triangle in the z = 0 plane (normal +z, area 2) and a small
    # one in the x = 0 plane (normal +x, area 0.5): the normal ∝ (0.5, 0, 2).
    vertices = torch.tensor(
        [[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        dtype=torch.float64,
    )
    faces = np.array([[0, 1, 2], [0, 3, 4]])
    normals = vertex_normals(vertices, faces).numpy()
    expected = np.array([0.5, 0.0, 2.0]) / np.hypot(0.5, 2.0)
    np.testing.assert_allclose(normals[0], expected, atol=1e-15)
    np.testing.assert_allclose(normals[1], [0.0, 0.0, 1.0])


def test_face_mesh_normals_face_forward_and_gradcheck():
    mesh = load_face_mesh()
    normals = vertex_normals(torch.tensor(mesh.vertices), mesh.faces).numpy()
    assert normals[1, 2] > 0.9  # nose tip looks along model +z
    small = torch.tensor(mesh.vertices[:30] + 0.0, requires_grad=True)
    faces = mesh.faces[(mesh.faces < 30).all(axis=1)]
    assert torch.autograd.gradcheck(lambda v: vertex_normals(v, faces), (small,), eps=1e-6, atol=1e-6)


def test_camera_input_errors():
    with pytest.raises(ShapeMismatchError):
        rodrigues(torch.zeros(2))
    with pytest.raises(ShapeMismatchError):
        project(np.zeros((4, 2)), 1.0, np.zeros(2))
    with pytest.raises(ShapeMismatchError):
        pose_axis_angle(np.eye(4))
    with pytest.raises(ShapeMismatchError):
        vertex_normals(torch.zeros(5, 2), np.zeros((1, 3), dtype=int))
