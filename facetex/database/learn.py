"""The morphable models learned from the fitted photos of a database build (paper §6): meshes
aligned on the template's landmarks, identity from each person's neutral face, expression from
smiling − neutral offsets, albedo PCA of the complete textures; and every subject's
coefficients in the final model.

On the ICT Face Model (``DatabaseConfig.face_model == "ict"``) the geometry is the kit's own
(100 identity modes from light-stage scans, 53 blendshapes): only the albedo PCA is learned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from facetex.database.cache import PhotoResult
from facetex.database.config import DatabaseConfig
from facetex.database.pca import albedo_pca, align_rigid, build_morphable_model, downsample_textures
from facetex.database.photos import PhotoSource
from facetex.types import MeshTopology, MorphableModel

__all__ = ["aligned_meshes", "learn_model", "with_learned_albedo", "final_coefficients"]



def aligned_meshes(results: Sequence[PhotoResult], topology: MeshTopology) -> dict[str, np.ndarray]:
    """Model-frame meshes rigidly aligned to the template on its Procrustes landmarks."""
    weights = topology.landmark_weights if np.any(topology.landmark_weights > 0) else None
    return {r.subject_id: align_rigid(r.vertices, topology.vertices, weights) for r in results}


def _small_textures(results: Sequence[PhotoResult], chart: np.ndarray, resolution: int) -> np.ndarray:
    """(N, r, r, 3) float32 area-averaged textures as the database returns them (0.5 off the
    chart), one at a time so the full-size stack never exists."""
    out = []
    for r in results:
        rgb = r.albedo.astype(np.float32) / 255.0
        rgb[~chart] = 0.5
        out.append(downsample_textures(rgb[None], resolution)[0])
    return np.stack(out)


def learn_model(
    name: str,
    results: Sequence[PhotoResult],
    sources: dict[str, PhotoSource],
    base: MorphableModel,
    chart: np.ndarray,
    cfg: DatabaseConfig,
) -> MorphableModel:
    """The model learned from the accepted photos' results (sizes in ``cfg.pca``): PCA
    identity, expression and albedo on ``base``'s mesh, or, with ``cfg.face_model == "ict"``,
    ``base``'s own geometry and a learned albedo. ``chart`` is the (R, R) UV chart of the
    textures."""
    textures = _small_textures(results, chart, cfg.pca.albedo_resolution)
    if cfg.face_model == "ict":
        return with_learned_albedo(name, base, textures, cfg.pca.albedo_components)
    template = base.topology
    meshes = aligned_meshes(results, template)
    neutral, offsets = _identity_and_expression(meshes, sources, template)
    return build_morphable_model(
        name, template,
        textures=textures,
        neutral_vertices=np.stack(list(neutral.values())),
        expression_offsets=np.stack(list(offsets.values())) if offsets else np.zeros((0,) + template.vertices.shape),
        albedo_resolution=cfg.pca.albedo_resolution,
        albedo_components=cfg.pca.albedo_components,
        shape_components=cfg.pca.shape_components,
        expression_components=cfg.pca.expression_components,
    )


def with_learned_albedo(name: str, base: MorphableModel, textures: np.ndarray, components: int) -> MorphableModel:
    """``base`` named ``name``, its geometry (mesh, landmark map, photometric triangles,
    identity and expression modes and their settings) kept and its albedo replaced by the PCA
    of ``textures`` (N, r, r, 3) in [0, 1], at most ``components`` modes."""
    mean, basis, std = albedo_pca(textures, components)
    return dataclasses.replace(base, name=name, albedo_mean=mean, albedo_basis=basis, albedo_std=std)


def _identity_and_expression(
    meshes: dict[str, np.ndarray], sources: dict[str, PhotoSource], template: MeshTopology
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per person: the neutral mesh (the first non-smiling photo, else the first one) and, for
    persons with both, the smiling − neutral offset after aligning the smile onto the neutral
    face on the template's Procrustes landmarks."""
    by_person: dict[str, list[str]] = {}
    for sid in meshes:
        by_person.setdefault(sources[sid].person_id, []).append(sid)
    weights = template.landmark_weights if np.any(template.landmark_weights > 0) else None
    neutral: dict[str, np.ndarray] = {}
    offsets: dict[str, np.ndarray] = {}
    for person, sids in by_person.items():
        plain = [s for s in sids if sources[s].expression != "smiling"]
        smiles = [s for s in sids if sources[s].expression == "smiling"]
        base = meshes[(plain or sids)[0]]
        neutral[person] = base
        if plain:
            for s in smiles:
                offsets[s] = align_rigid(meshes[s], base, weights) - base
    return neutral, offsets


def final_coefficients(
    results: Sequence[PhotoResult],
    sources: dict[str, PhotoSource],
    model: MorphableModel,
    chart: np.ndarray,
    cfg: DatabaseConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vertices and shape / expression / albedo coefficients of every subject in ``model``.

    Learned models (orthonormal PCA bases): identity from the person's neutral mesh,
    expression from the smile's offset, by projection. The ICT model (``cfg.face_model ==
    "ict"``; its modes are neither orthogonal nor unit): identity and expression of each
    photo's own mesh together, by least squares with a small ridge (1e-6 cm² per unit
    coefficient) and the expression weights clipped to the model's range.
    """
    meshes = aligned_meshes(results, model.topology)
    mean = model.topology.vertices.reshape(-1)
    # Explicit row lengths: a model may have no modes of a kind (no smiling photos: no
    # expression modes), and numpy cannot infer -1 for an empty array.
    id_basis = model.shape_basis.reshape(model.shape_basis.shape[0], mean.size)
    ex_basis = model.expression_basis.reshape(model.expression_basis.shape[0], mean.size)
    al_basis = model.albedo_basis.reshape(model.albedo_basis.shape[0], model.albedo_mean.size).astype(np.float64)
    textures = _small_textures(results, chart, cfg.pca.albedo_resolution)
    if cfg.face_model == "ict":
        shape, expression = _least_squares_coefficients(
            np.stack([meshes[r.subject_id].reshape(-1) - mean for r in results]), id_basis, ex_basis,
            model.expression_range)
    else:
        neutral, offsets = _identity_and_expression(meshes, sources, model.topology)
        shape = np.stack([id_basis @ (neutral[sources[r.subject_id].person_id].reshape(-1) - mean) for r in results])
        expression = np.stack([ex_basis @ offsets[r.subject_id].reshape(-1) if r.subject_id in offsets
                               else np.zeros(ex_basis.shape[0]) for r in results])
    albedo = np.stack([al_basis @ (tex.reshape(-1) - model.albedo_mean.reshape(-1)) for tex in textures])
    vertices = np.stack([meshes[r.subject_id] for r in results]).astype(np.float32)
    return vertices, shape, expression, albedo


def _least_squares_coefficients(
    offsets: np.ndarray, id_basis: np.ndarray, ex_basis: np.ndarray, expression_range: tuple[float, float] | None
) -> tuple[np.ndarray, np.ndarray]:
    """(N, K_id), (N, K_ex) coefficients minimising ‖[B_id; B_ex]ᵀ c − offset‖² + 1e-6 ‖c‖²
    for each row of ``offsets`` (N, 3V)."""
    basis = np.concatenate([id_basis, ex_basis]).astype(np.float64)
    normal = basis @ basis.T + 1e-6 * np.eye(basis.shape[0])
    coeffs = np.linalg.solve(normal, basis @ offsets.T).T
    shape, expression = coeffs[:, : id_basis.shape[0]], coeffs[:, id_basis.shape[0]:]
    if expression_range is not None:
        expression = np.clip(expression, *expression_range)
    return shape, expression
