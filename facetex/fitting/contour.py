"""Contour landmarks that slide along the fitted mesh's silhouette (a full-head mesh only).

mediapipe's jawline landmarks mark the face's outline in the photo. On mediapipe's own mesh the
outline is the mesh's edge and the landmarks are its vertices; on a mesh that goes on around
the head (the ICT face region: ears, neck) the outline is a silhouette that moves over the
surface as the head turns. So before each Levenberg–Marquardt step every contour landmark of
the model's :class:`facetex.types.LandmarkMap` is re-assigned to the silhouette vertex — a
vertex with both front- and back-facing triangles around it — whose projection lies nearest
its detected point, among the vertices it may reach (``LandmarkMap.contour_reach``), as 3D
morphable-model fitters do ("landmark marching", Zhu et al. 2015). During the step the
assignment is fixed, so the residuals stay smooth. A contour landmark with no silhouette vertex
within reach stays tied to its stored point for that step: in a frontal view the chin's underside
faces the camera, so the 6–7 points around the chin have no silhouette near them and mark the
chin's surface, as on mediapipe's own mesh. The
sliding points carry no depth term (``EnergyProblem.depth_weights``): mediapipe's depth there
belongs to its own mesh's edge, not to the silhouette.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from facetex.fitting.mesh import camera_vertices
from facetex.fitting.problem import DTYPE, EnergyProblem, FitParams
from facetex.types import LandmarkMap

__all__ = ["SlidingContour", "slide_contour"]


@dataclass(frozen=True)
class SlidingContour:
    """The contour landmarks of a :class:`~facetex.types.LandmarkMap` as tensors.

    Attributes
    ----------
    landmarks : (C,) int64 landmark ids.
    candidates : (S,) int64 mesh vertices they may slide to.
    reach : (C, S) bool, which candidates each landmark may take.
    vertices, barycentrics : (C, 3) each landmark's stored point (kept when no silhouette
        vertex is within reach).
    """

    landmarks: torch.Tensor
    candidates: torch.Tensor
    reach: torch.Tensor
    vertices: torch.Tensor
    barycentrics: torch.Tensor

    @classmethod
    def of(cls, landmark_map: LandmarkMap | None) -> SlidingContour | None:
        """None when the map is None or has no contour landmarks."""
        if landmark_map is None or landmark_map.contour.shape[0] == 0:
            return None
        return cls(
            landmarks=torch.as_tensor(landmark_map.contour, dtype=torch.int64),
            candidates=torch.as_tensor(landmark_map.contour_candidates, dtype=torch.int64),
            reach=torch.as_tensor(landmark_map.contour_reach, dtype=torch.bool),
            vertices=torch.as_tensor(landmark_map.vertices[landmark_map.contour], dtype=torch.int64),
            barycentrics=torch.as_tensor(landmark_map.barycentrics[landmark_map.contour], dtype=DTYPE),
        )


def silhouette_vertices(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(V,) bool: vertices with both a front-facing and a back-facing triangle around them
    (camera frame, camera at the origin, triangles counter-clockwise seen from outside)."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    facing = (torch.linalg.cross(b - a, c - a) * (a + b + c)).sum(dim=1) < 0.0  # normal · (−centroid) > 0
    front = torch.zeros(verts.shape[0], dtype=DTYPE)
    back = torch.zeros(verts.shape[0], dtype=DTYPE)
    for k in range(3):
        front = front.index_add(0, faces[:, k], facing.to(DTYPE))
        back = back.index_add(0, faces[:, k], (~facing).to(DTYPE))
    return (front > 0) & (back > 0)


def slide_contour(params: FitParams, problem: EnergyProblem, contour: SlidingContour) -> EnergyProblem:
    """``problem`` with each contour landmark on its nearest silhouette vertex (module doc).

    ``problem`` must use barycentric landmarks (``landmark_barycentrics``) and weights.
    """
    with torch.no_grad():
        verts = camera_vertices(params, problem)
        on_outline = silhouette_vertices(verts, problem.faces)[contour.candidates]  # (S,)
        points = verts[contour.candidates]
        xy = torch.exp(params.log_focal) * points[:, :2] / points[:, 2:3] + problem.principal_point
        detected = problem.landmarks[contour.landmarks]  # (C, 2)
        distance = ((detected[:, None, :] - xy[None]) ** 2).sum(dim=2)
        distance = torch.where(contour.reach & on_outline[None], distance, torch.full_like(distance, torch.inf))
        best = distance.argmin(dim=1)
        found = torch.isfinite(distance.gather(1, best[:, None])[:, 0])
    vertices = problem.landmark_vertices.clone()
    barycentrics = problem.landmark_barycentrics.clone()
    weights = problem.landmark_weights.clone()
    slid = torch.tensor([1.0, 0.0, 0.0], dtype=DTYPE).expand(found.shape[0], 3)
    vertices[contour.landmarks] = torch.where(
        found[:, None], contour.candidates[best][:, None].expand(-1, 3), contour.vertices
    )
    barycentrics[contour.landmarks] = torch.where(found[:, None], slid, contour.barycentrics)
    weights[contour.landmarks] = 1.0
    return replace(problem, landmark_vertices=vertices, landmark_barycentrics=barycentrics, landmark_weights=weights)
