"""The posed mesh of the §3 fit: camera-frame vertices and normals, and their derivatives.

Vertices are X = mean + Σ α_id·B_id + Σ α_ex·B_ex in the model frame (cm), posed by
``R·X + t`` into the camera frame, with R = rodrigues(δ) · R₀ (:mod:`facetex.fitting.problem`).
"""

from __future__ import annotations

import torch

from facetex.fitting.problem import EnergyProblem, FitParams
from facetex.geometry.camera import rodrigues

__all__ = ["camera_vertices", "vertex_jacobians"]


def camera_vertices(params: FitParams, problem: EnergyProblem) -> torch.Tensor:
    """Fitted vertices in the camera frame (cm): (V, 3), ``R·X_model + t``."""
    model = (
        problem.mean_shape
        + torch.einsum("k,kvc->vc", params.shape, problem.shape_basis)
        + torch.einsum("k,kvc->vc", params.expression, problem.expression_basis)
    )
    return model @ (rodrigues(params.rotation) @ problem.base_rotation).T + params.translation


def vertex_jacobians(
    params: FitParams, problem: EnergyProblem, moving: tuple[str, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Camera-frame vertices and unit vertex normals, and their derivatives at δ = 0.

    Returns
    -------
    verts, normals : (V, 3).
    j_verts, j_normals : (V, 3, n) derivatives w.r.t. the fields in ``moving`` (in that order;
        the gaze columns are zero: it moves the pupils only).
        Shape / expression mode k moves vertices by D_k = R·B_k; the normals' derivative
        follows the cross products of the incident faces, then the normalisation. A rotation
        increment δ turns (vertex − t) and the normals: d/dδ_j = e_j × (·). Translation moves
        vertices only.
    """
    rotation = rodrigues(params.rotation) @ problem.base_rotation
    model = (
        problem.mean_shape
        + torch.einsum("k,kvc->vc", params.shape, problem.shape_basis)
        + torch.einsum("k,kvc->vc", params.expression, problem.expression_basis)
    )
    rotated = model @ rotation.T
    verts = rotated + params.translation
    faces = problem.faces
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    summed = torch.zeros_like(verts)
    face_normal = torch.linalg.cross(b - a, c - a)
    for k in range(3):
        summed = summed.index_add(0, faces[:, k], face_normal)
    length = summed.norm(dim=1, keepdim=True).clamp(min=1e-12)
    normals = summed / length

    axes = torch.eye(3, dtype=verts.dtype)
    j_verts, j_normals = [], []
    for name in moving:
        if name in ("shape", "expression"):
            basis = problem.shape_basis if name == "shape" else problem.expression_basis
            d = basis @ rotation.T  # (K, V, 3)
            da, db, dc = d[:, faces[:, 0]], d[:, faces[:, 1]], d[:, faces[:, 2]]
            d_face = torch.linalg.cross(db - da, (c - a)[None].expand_as(da)) + torch.linalg.cross(
                (b - a)[None].expand_as(da), dc - da
            )
            d_sum = torch.zeros_like(d)
            for k in range(3):
                d_sum = d_sum.index_add(1, faces[:, k], d_face)
            d_n = (d_sum - normals[None] * (d_sum * normals[None]).sum(-1, keepdim=True)) / length[None]
            j_verts.append(d.permute(1, 2, 0))
            j_normals.append(d_n.permute(1, 2, 0))
        elif name == "rotation":
            turn = [axes[j].expand_as(rotated) for j in range(3)]
            j_verts.append(torch.stack([torch.linalg.cross(e, rotated) for e in turn], dim=2))
            j_normals.append(torch.stack([torch.linalg.cross(e, normals) for e in turn], dim=2))
        elif name == "translation":
            j_verts.append(axes[None].expand(verts.shape[0], 3, 3))
            j_normals.append(verts.new_zeros(verts.shape[0], 3, 3))
        elif name == "gaze":  # moves the pupils only (see pupil_jacobian)
            j_verts.append(verts.new_zeros(verts.shape[0], 3, 2))
            j_normals.append(verts.new_zeros(verts.shape[0], 3, 2))
    if not j_verts:
        empty = verts.new_zeros(verts.shape[0], 3, 0)
        return verts, normals, empty, empty
    return verts, normals, torch.cat(j_verts, dim=2), torch.cat(j_normals, dim=2)
