"""Leave-one-out queries that need more than a row filter: the morphable model without a person.

The database's stored morphable model (§3) was learned from every subject: its albedo PCA, and
on mediapipe's mesh its identity and expression PCA too. A photo of a database person fitted
with it gets that person's own texture back through the low-frequency albedo, so a held-out
run — the evaluation protocol, the speed benchmark, ``facetex infer --exclude-person`` — refits
the PCA without them. On the ICT Face Model (``TextureDatabase.face_model == "ict"``) the
geometry is the kit's, learned from no photo: it is kept, and only the albedo is refitted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from facetex.database.learn import with_learned_albedo
from facetex.database.pca import align_rigid, build_morphable_model, downsample_textures
from facetex.database.schema import SubjectRecord
from facetex.database.store import TextureDatabase
from facetex.errors import DatabaseError
from facetex.types import MorphableModel


def held_out_model(
    database: TextureDatabase,
    rows: np.ndarray,
    *,
    subjects: Sequence[SubjectRecord] | None = None,
    vertices: np.ndarray | None = None,
    textures_pca: np.ndarray | None = None,
) -> MorphableModel:
    """The database's morphable model rebuilt from the subjects in ``rows`` only.

    On mediapipe's mesh, rebuilds identity, expression and albedo PCA
    (``facetex.database.pca``) with the stored build settings from the stored aligned meshes
    and textures of ``rows``: per person the neutral mesh, and smiling − neutral offsets after
    rigid alignment. On the ICT Face Model, keeps the stored geometry (the kit's identity modes
    and blendshapes, landmark map, photometric triangles, expression range, prior and names)
    and refits only the albedo PCA from the textures of ``rows``
    (:func:`facetex.database.learn.with_learned_albedo`, as the build does).

    Parameters
    ----------
    database : the database whose model is rebuilt.
    rows : (M,) int indices into ``database.subjects()`` of the subjects to keep.
    subjects, vertices, textures_pca : already loaded ``database.subjects()``, (N, V, 3) float64
        aligned meshes in cm and (N, S, S, 3) float32 textures at the model's albedo resolution
        S, for callers that hold them (each is read from the database when None).
    """
    stored = database.morphable_model()
    pca = database.manifest.get("build_params", {}).get("pca", {})
    subjects = database.subjects() if subjects is None else subjects
    if textures_pca is not None:
        textures = textures_pca[rows]
    else:
        textures = downsample_textures(database.textures()[rows], stored.albedo_mean.shape[0])
    albedo_components = int(pca.get("albedo_components", stored.albedo_basis.shape[0]))
    if database.face_model == "ict":
        return with_learned_albedo(stored.name + "-held-out", stored, textures, albedo_components)
    vertices = database.vertices().astype(np.float64) if vertices is None else vertices
    topology = stored.topology
    weights = topology.landmark_weights if np.any(topology.landmark_weights > 0) else None
    by_person: dict[str, list[int]] = {}
    for row in rows:
        by_person.setdefault(subjects[row].person_id, []).append(int(row))
    neutral, offsets = [], []
    for person_rows in by_person.values():
        plain = [r for r in person_rows if subjects[r].expression != "smiling"]
        base = vertices[(plain or person_rows)[0]]
        neutral.append(base)
        if plain:
            smiles = [r for r in person_rows if subjects[r].expression == "smiling"]
            offsets += [align_rigid(vertices[r], base, weights) - base for r in smiles]
    return build_morphable_model(
        stored.name + "-held-out",
        topology,
        textures=textures,
        neutral_vertices=np.stack(neutral),
        expression_offsets=np.stack(offsets) if offsets else np.zeros((0,) + topology.vertices.shape),
        albedo_resolution=int(pca.get("albedo_resolution", stored.albedo_mean.shape[0])),
        albedo_components=albedo_components,
        shape_components=int(pca.get("shape_components", stored.shape_basis.shape[0])),
        expression_components=int(pca.get("expression_components", stored.expression_basis.shape[0])),
    )


def model_without(database: TextureDatabase, persons: Iterable[str]) -> MorphableModel:
    """The morphable model rebuilt without every photo of ``persons`` (their person ids).

    Raises
    ------
    DatabaseError
        A person id that the database does not hold (a typo would otherwise leak silently).
    """
    persons = tuple(persons)
    subjects = database.subjects()
    unknown = sorted(set(persons) - {s.person_id for s in subjects})
    if unknown:
        raise DatabaseError(f"{database.path}: no person {', '.join(unknown)} in the database")
    rows = np.array([i for i, s in enumerate(subjects) if s.person_id not in persons])
    return held_out_model(database, rows, subjects=subjects)
