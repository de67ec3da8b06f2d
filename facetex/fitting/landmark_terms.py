"""The landmark terms of the §3 energy: E_lan's model points and the rows of E_depth.

E_lan compares the projected mesh landmarks, then the two pupils
(:mod:`facetex.fitting.eyes`), with the detected landmarks and iris centres, in inter-ocular
distances. E_depth compares the landmarks' relative depths with mediapipe's detected z.

A mesh landmark is a mesh vertex (mediapipe's own mesh: vertex i is landmark i) or, on another
mesh, a fixed barycentric combination of three vertices (``EnergyProblem.landmark_barycentrics``,
from the model's :class:`facetex.types.LandmarkMap`); either may carry a weight per landmark.
"""

from __future__ import annotations

import torch

from facetex.fitting.eyes import pupil_points
from facetex.fitting.mesh import camera_vertices
from facetex.fitting.problem import EnergyProblem, FitParams

__all__ = [
    "depth_residuals",
    "landmark_points",
    "landmark_row_scale",
    "mesh_landmark_depth_jacobian",
    "mesh_landmark_depths",
    "mesh_landmark_jacobian",
    "mesh_landmarks",
]


def mesh_landmarks(verts: torch.Tensor, problem: EnergyProblem) -> torch.Tensor:
    """(L, 3) the mesh landmarks of vertices ``verts`` (V, 3)."""
    if problem.landmark_barycentrics is None:
        return verts[problem.landmark_vertices]
    return torch.einsum("lk,lkc->lc", problem.landmark_barycentrics, verts[problem.landmark_vertices])


def mesh_landmark_jacobian(j_verts: torch.Tensor, problem: EnergyProblem) -> torch.Tensor:
    """(L, 3, n) derivatives of :func:`mesh_landmarks` from the vertices' (V, 3, n)."""
    if problem.landmark_barycentrics is None:
        return j_verts[problem.landmark_vertices]
    return torch.einsum("lk,lkcn->lcn", problem.landmark_barycentrics, j_verts[problem.landmark_vertices])


def mesh_landmark_depths(verts: torch.Tensor, problem: EnergyProblem) -> torch.Tensor:
    """(L,) camera depth Z of the mesh landmarks (contiguous, as E_depth's sums expect)."""
    if problem.landmark_barycentrics is None:
        return verts[problem.landmark_vertices, 2]
    return mesh_landmarks(verts, problem)[:, 2].contiguous()


def mesh_landmark_depth_jacobian(j_verts: torch.Tensor, problem: EnergyProblem) -> torch.Tensor:
    """(L, n) derivatives of :func:`mesh_landmark_depths` from the vertices' (V, 3, n)."""
    if problem.landmark_barycentrics is None:
        return j_verts[problem.landmark_vertices, 2]
    return mesh_landmark_jacobian(j_verts, problem)[:, 2].contiguous()


def landmark_row_scale(problem: EnergyProblem) -> torch.Tensor | None:
    """(L + 2, 1) root of each E_lan point's weight (mesh landmarks, then the pupils), or None
    when every weight is 1."""
    if problem.landmark_weights is None:
        return None
    ones = problem.landmark_weights.new_ones(problem.iris_landmarks.shape[0])
    return torch.cat([problem.landmark_weights, ones]).sqrt()[:, None]


def landmark_points(params: FitParams, problem: EnergyProblem) -> tuple[torch.Tensor, torch.Tensor]:
    """Model points (L + 2, 3), camera frame, and their detected positions (L + 2, 2): the mesh
    landmarks, then the two pupils."""
    verts = camera_vertices(params, problem)
    points = torch.cat([mesh_landmarks(verts, problem), pupil_points(params, problem, verts)])
    return points, torch.cat([problem.landmarks, problem.iris_landmarks])


def depth_residuals(params: FitParams, problem: EnergyProblem, verts: torch.Tensor) -> torch.Tensor:
    """(L,) rows of E_depth: √(w_depth / L) · (f·(Z_i − Z̄)/Z̄ − (z_i − z̄)) / landmark_unit,
    times √(depth weight) when the landmarks carry weights."""
    z_model = mesh_landmark_depths(verts, problem)
    z_mean = z_model.mean()
    detected = problem.landmark_depths - problem.landmark_depths.mean()
    scale = (problem.w_depth / z_model.shape[0]) ** 0.5 / problem.landmark_unit
    rows = scale * (torch.exp(params.log_focal) * (z_model - z_mean) / z_mean - detected)
    if problem.depth_weights is not None:
        rows = rows * problem.depth_weights.sqrt()
    return rows
