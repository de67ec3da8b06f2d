"""Rigid pose, perspective camera and vertex normals (torch, differentiable).

Frames as in :mod:`facetex.types`: the model frame has y up and z towards the viewer; the camera
frame is OpenCV's (x right, y down, z forward). The two differ by the axis flip
``diag(1, −1, −1)`` (a rotation by π about x), applied by :func:`pose_rotation` and nowhere else:
the pose rotation is ``R = rodrigues(ω) · diag(1, −1, −1)``, so ``ω = 0`` is a face looking
straight into the camera, and ω is the head's rotation away from that pose, expressed in the
camera frame. ``X_cam = R · X_model + t``.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from facetex.errors import ShapeMismatchError

__all__ = [
    "MODEL_TO_CAMERA_AXES",
    "rodrigues",
    "pose_rotation",
    "pose_axis_angle",
    "project",
    "screen_positions",
    "vertex_normals",
]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

MODEL_TO_CAMERA_AXES = np.diag([1.0, -1.0, -1.0])
"""(3, 3) float64: the model-frame axes (y up, z to viewer) in the camera frame (y down, z
forward). Read-only; use :func:`pose_rotation` rather than this constant."""
MODEL_TO_CAMERA_AXES.setflags(write=False)

# Below this squared angle (rad²) the Taylor series replaces sin θ / θ and friends.
_SMALL_ANGLE_SQ = 1e-8


def rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices from axis-angle vectors (Rodrigues' formula).

    Parameters
    ----------
    axis_angle : (..., 3) float tensor ω; the rotation is by |ω| radians about ω / |ω|,
        counter-clockwise when looking against the axis (right-hand rule).

    Returns
    -------
    (..., 3, 3) tensor R = I + (sin θ / θ)·K + ((1 − cos θ) / θ²)·K², K the cross-product
    matrix of ω. Differentiable everywhere, including ω = 0 (Taylor series near 0).
    """
    if axis_angle.shape[-1:] != (3,):
        raise ShapeMismatchError(f"axis_angle must have shape (..., 3), got {tuple(axis_angle.shape)}")
    wx, wy, wz = axis_angle.unbind(-1)
    theta_sq = (axis_angle * axis_angle).sum(-1)
    small = theta_sq < _SMALL_ANGLE_SQ
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta_sq), theta_sq))
    half = 0.5 * theta
    sinc = torch.where(small, 1.0 - theta_sq / 6.0, torch.sin(theta) / theta)
    # (1 − cos θ) / θ² written as ½ (sin(θ/2) / (θ/2))²: no cancellation for small θ.
    cosc = torch.where(small, 0.5 - theta_sq / 24.0, 0.5 * (torch.sin(half) / half) ** 2)
    zero = torch.zeros_like(wx)
    k = torch.stack([zero, -wz, wy, wz, zero, -wx, -wy, wx, zero], dim=-1)
    k = k.reshape(*axis_angle.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + sinc[..., None, None] * k + cosc[..., None, None] * (k @ k)


def pose_rotation(axis_angle: torch.Tensor) -> torch.Tensor:
    """Model → camera rotation ``R = rodrigues(ω) · diag(1, −1, −1)`` (the one axis flip).

    Parameters
    ----------
    axis_angle : (..., 3) float tensor ω, the head's rotation away from frontal (camera frame).

    Returns
    -------
    (..., 3, 3) tensor, differentiable; ``X_cam = R · X_model + t``.
    """
    flip = torch.tensor(MODEL_TO_CAMERA_AXES, dtype=axis_angle.dtype, device=axis_angle.device)
    return rodrigues(axis_angle) @ flip


def pose_axis_angle(rotation: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pose_rotation`: the ω (3,) float64 with ``pose_rotation(ω) == rotation``.

    Parameters
    ----------
    rotation : (3, 3) proper rotation matrix, model → camera (e.g. from a Procrustes fit).
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape != (3, 3):
        raise ShapeMismatchError(f"rotation must have shape (3, 3), got {rotation.shape}")
    return Rotation.from_matrix(rotation @ MODEL_TO_CAMERA_AXES.T).as_rotvec()


def project(points: ArrayT, focal: float | ArrayT, principal_point: ArrayT) -> ArrayT:
    """Perspective projection of camera-frame points to continuous pixel coordinates.

    Parameters
    ----------
    points : (..., 3) camera-frame points (X, Y, Z), Z > 0 in front of the camera.
    focal : focal length f in pixels (scalar, or 0-d tensor).
    principal_point : (2,) (cx, cy) in pixels.

    Returns
    -------
    (..., 2) (x, y) = (f·X/Z + cx, f·Y/Z + cy), same type as ``points``; differentiable for
    tensors.
    """
    if points.shape[-1:] != (3,):
        raise ShapeMismatchError(f"points must have shape (..., 3), got {tuple(points.shape)}")
    depth = points[..., 2]
    x = focal * points[..., 0] / depth + principal_point[0]
    y = focal * points[..., 1] / depth + principal_point[1]
    if isinstance(points, torch.Tensor):
        return torch.stack([x, y], dim=-1)
    return np.stack([x, y], axis=-1)


def screen_positions(
    points: torch.Tensor, focal: float | torch.Tensor, principal_point: torch.Tensor
) -> torch.Tensor:
    """Camera-frame points → the ``pos`` input of :func:`facetex.geometry.rasterize.rasterize`.

    Returns
    -------
    (..., 3) tensor (x pixels, y pixels, Z camera depth), differentiable.
    """
    xy = project(points, focal, principal_point)
    return torch.cat([xy, points[..., 2:3]], dim=-1)


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Area-weighted unit vertex normals.

    Parameters
    ----------
    vertices : (..., V, 3) float tensor, any frame (the normals are in the same frame).
    faces : (F, 3) int, counter-clockwise seen from outside (normals then point outwards).

    Returns
    -------
    (..., V, 3) unit normals: the normalised sum of the cross products
    (v1 − v0) × (v2 − v0) of the incident triangles (each |·| = 2·area). Vertices used by no
    triangle get 0. Differentiable.
    """
    if vertices.ndim < 2 or vertices.shape[-1] != 3:
        raise ShapeMismatchError(f"vertices must have shape (..., V, 3), got {tuple(vertices.shape)}")
    faces = torch.tensor(faces, dtype=torch.int64) if isinstance(faces, np.ndarray) else faces
    faces = faces.to(dtype=torch.int64, device=vertices.device)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ShapeMismatchError(f"faces must have shape (F, 3), got {tuple(faces.shape)}")
    v0, v1, v2 = (vertices[..., faces[:, k], :] for k in range(3))
    face_normal = torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)  # (..., F, 3)
    summed = torch.zeros_like(vertices)
    for k in range(3):
        summed = summed.index_add(-2, faces[:, k], face_normal)
    length = torch.linalg.vector_norm(summed, dim=-1, keepdim=True)
    return summed / length.clamp(min=torch.finfo(vertices.dtype).tiny ** 0.5)
