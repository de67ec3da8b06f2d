"""The posed mesh of the §3 fit: camera-frame vertices and normals, and their derivatives.

Vertices are X = mean + Σ α_id·B_id + Σ α_ex·B_ex in the model frame (cm), posed by
``R·X + t`` into the camera frame, with R = rodrigues(δ) · R₀ (:mod:`facetex.fitting.problem`).

A large mesh (the ICT face region, 9,547 vertices and 153 modes) is linearised on the part a
step uses (:func:`restrict_to_used`): the vertices of the colour samples, landmarks and eye
contours and the triangles around them, so their normals are exact.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from facetex.fitting.problem import ColourSamples, EnergyProblem, FitParams
from facetex.geometry.camera import rodrigues

__all__ = ["RESTRICT_ABOVE", "camera_vertices", "model_shape", "restrict_to_used", "vertex_jacobians"]

#: Meshes with more vertices than this are linearised on the part a step uses.
RESTRICT_ABOVE = 2000


def restrict_to_used(
    problem: EnergyProblem, samples: ColourSamples | None
) -> tuple[EnergyProblem, ColourSamples | None]:
    """The problem and samples on the sub-mesh they use: the vertices of the samples' corners,
    of the landmarks and of the eye contours, and every triangle around the samples' corners
    (so those keep their exact normals; only the samples use normals), renumbered. Meshes of at
    most :data:`RESTRICT_ABOVE` vertices are returned unchanged."""
    n = problem.mean_shape.shape[0]
    if n <= RESTRICT_ABOVE:
        return problem, samples
    used = torch.zeros(n, dtype=torch.bool)
    used[problem.landmark_vertices.reshape(-1)] = True
    used[problem.eye_contours.reshape(-1)] = True
    if samples is None:
        faces = problem.faces[:0]
    else:
        shaded = torch.zeros(n, dtype=torch.bool)
        shaded[samples.corners.reshape(-1)] = True
        faces = problem.faces[shaded[problem.faces].any(dim=1)]
        used |= shaded
    used[faces.reshape(-1)] = True
    keep = torch.nonzero(used)[:, 0]
    renumber = torch.full((n,), -1, dtype=torch.int64)
    renumber[keep] = torch.arange(keep.shape[0])
    restricted = replace(
        problem,
        mean_shape=problem.mean_shape[keep],
        shape_basis=problem.shape_basis[:, keep],
        expression_basis=problem.expression_basis[:, keep],
        faces=renumber[faces],
        landmark_vertices=renumber[problem.landmark_vertices],
        eye_contours=renumber[problem.eye_contours],
    )
    if samples is not None:
        samples = replace(samples, corners=renumber[samples.corners])
    return restricted, samples


def camera_vertices(params: FitParams, problem: EnergyProblem) -> torch.Tensor:
    """Fitted vertices in the camera frame (cm): (V, 3), ``R·X_model + t``."""
    model = model_shape(params, problem)
    return model @ (rodrigues(params.rotation) @ problem.base_rotation).T + params.translation


def model_shape(params: FitParams, problem: EnergyProblem) -> torch.Tensor:
    """Model-frame vertices (V, 3): mean + Σ α_id·B_id + Σ α_ex·B_ex. On a large mesh as two
    matrix-vector products (several times faster than the einsum for 153 modes)."""
    if problem.mean_shape.shape[0] <= RESTRICT_ABOVE:
        return (
            problem.mean_shape
            + torch.einsum("k,kvc->vc", params.shape, problem.shape_basis)
            + torch.einsum("k,kvc->vc", params.expression, problem.expression_basis)
        )
    flat = params.shape @ problem.shape_basis.reshape(params.shape.shape[0], -1)
    flat = flat + params.expression @ problem.expression_basis.reshape(params.expression.shape[0], -1)
    return problem.mean_shape + flat.reshape(-1, 3)


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
    model = model_shape(params, problem)
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
