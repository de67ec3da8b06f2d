"""The landmark terms of the §3 energy: E_lan's model points and the rows of E_depth.

E_lan compares the projected mesh landmark vertices, then the two pupils
(:mod:`facetex.fitting.eyes`), with the detected landmarks and iris centres, in inter-ocular
distances. E_depth compares the landmarks' relative depths with mediapipe's detected z.
"""

from __future__ import annotations

import torch

from facetex.fitting.eyes import pupil_points
from facetex.fitting.mesh import camera_vertices
from facetex.fitting.problem import EnergyProblem, FitParams

__all__ = ["depth_residuals", "landmark_points"]


def landmark_points(params: FitParams, problem: EnergyProblem) -> tuple[torch.Tensor, torch.Tensor]:
    """Model points (L + 2, 3), camera frame, and their detected positions (L + 2, 2): the mesh
    landmark vertices, then the two pupils."""
    verts = camera_vertices(params, problem)
    points = torch.cat([verts[problem.landmark_vertices], pupil_points(params, problem, verts)])
    return points, torch.cat([problem.landmarks, problem.iris_landmarks])


def depth_residuals(params: FitParams, problem: EnergyProblem, verts: torch.Tensor) -> torch.Tensor:
    """(L,) rows of E_depth: √(w_depth / L) · (f·(Z_i − Z̄)/Z̄ − (z_i − z̄)) / landmark_unit."""
    z_model = verts[problem.landmark_vertices, 2]
    z_mean = z_model.mean()
    detected = problem.landmark_depths - problem.landmark_depths.mean()
    scale = (problem.w_depth / z_model.shape[0]) ** 0.5 / problem.landmark_unit
    return scale * (torch.exp(params.log_focal) * (z_model - z_mean) / z_mean - detected)
