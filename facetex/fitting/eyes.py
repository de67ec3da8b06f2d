"""The eyeballs of the §3 fit: pupils placed behind the eye openings and turned by the gaze.

The mediapipe mesh has no eyes. Each eyeball is a sphere of radius ``eyeball_radius`` (cm)
centred ``eyeball_depth`` behind the centroid of its eye contour; the pupil is where the gaze
direction (yaw, pitch in the model frame, shared by both eyes) leaves the sphere. The pupils
enter E_lan, matched to the detected iris centres.
"""

from __future__ import annotations

import torch

from facetex.fitting.problem import EnergyProblem, FitParams
from facetex.geometry.camera import rodrigues

__all__ = ["gaze_direction", "gaze_direction_jacobian", "pupil_jacobian", "pupil_offset", "pupil_points"]


def gaze_direction(gaze: torch.Tensor) -> torch.Tensor:
    """Unit gaze vector (3,) in the model frame: yaw turns towards +x, pitch towards +y (up)."""
    yaw, pitch = gaze[0], gaze[1]
    return torch.stack([torch.sin(yaw) * torch.cos(pitch), torch.sin(pitch), torch.cos(yaw) * torch.cos(pitch)])


def pupil_points(params: FitParams, problem: EnergyProblem, verts: torch.Tensor) -> torch.Tensor:
    """Fitted pupil centres in the camera frame (2, 3): right eye, left eye (cm).

    Each eyeball is a sphere of radius ``eyeball_radius`` centred ``eyeball_depth`` behind the
    centroid of its eye contour; the pupil is where the gaze direction leaves the sphere. Both
    eyes share the gaze (they move together), which the iris landmarks determine.

    Parameters
    ----------
    verts : (V, 3) camera-frame vertices of ``params`` (:func:`facetex.fitting.mesh.camera_vertices`).
    """
    rotation = rodrigues(params.rotation) @ problem.base_rotation
    return verts[problem.eye_contours].mean(dim=1) + pupil_offset(params, problem) @ rotation.T


def pupil_offset(params: FitParams, problem: EnergyProblem) -> torch.Tensor:
    """Model-frame vector (3,) from an eye contour's centroid to its pupil."""
    back = torch.tensor([0.0, 0.0, problem.eyeball_depth], dtype=params.gaze.dtype)
    return problem.eyeball_radius * gaze_direction(params.gaze) - back


def pupil_jacobian(
    params: FitParams,
    problem: EnergyProblem,
    verts: torch.Tensor,
    j_verts: torch.Tensor,
    moving: tuple[str, ...],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pupils (2, 3) and their derivatives (2, 3, n) w.r.t. the ``moving`` fields at δ = 0.

    pupil = centroid(contour vertices) + R · offset(gaze): the centroid moves as the mesh does;
    a rotation increment also turns R · offset; the gaze turns the offset.
    """
    rotation = rodrigues(params.rotation) @ problem.base_rotation
    offset = pupil_offset(params, problem) @ rotation.T  # (3,) camera frame
    pupils = verts[problem.eye_contours].mean(dim=1) + offset
    j = j_verts[problem.eye_contours].mean(dim=1).clone()  # (2, 3, n)
    start = 0
    for name in moving:
        width = getattr(params, name).numel()
        if name == "rotation":
            axes = torch.eye(3, dtype=verts.dtype)
            turn = torch.stack([torch.linalg.cross(axes[k], offset) for k in range(3)], dim=1)  # (3, 3)
            j[:, :, start : start + 3] += turn[None]
        elif name == "gaze":
            direction = gaze_direction_jacobian(params.gaze)
            j[:, :, start : start + 2] += (problem.eyeball_radius * rotation @ direction)[None]
        start += width
    return pupils, j


def gaze_direction_jacobian(gaze: torch.Tensor) -> torch.Tensor:
    """d gaze_direction / d (yaw, pitch): (3, 2)."""
    yaw, pitch = gaze[0], gaze[1]
    cy, sy, cp, sp = torch.cos(yaw), torch.sin(yaw), torch.cos(pitch), torch.sin(pitch)
    zero = torch.zeros_like(yaw)
    return torch.stack([torch.stack([cy * cp, -sy * sp]), torch.stack([zero, cp]), torch.stack([-sy * cp, -cy * sp])])
