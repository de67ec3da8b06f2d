"""The ICT Face Model Light: its face region as a facetex mesh and morphable model.

The ICT Face Model Light (ICT-FaceKit, USC Institute for Creative Technologies, MIT licence;
Li et al., "Learning Formation of Physically-Based Face Attributes", CVPR 2020) is a full-head
shape model built from light-stage scans. facetex reads it from the shared data folder
(``$FACETEX_DATA/ict-facekit/``, see :mod:`facetex.paths`): it is never downloaded and never
copied into the package. The three files read, and the :class:`IctModelError` that a missing,
truncated or inconsistent one raises: :mod:`facetex.geometry.ict_files`; the OBJ's parsing and
seam split: :mod:`facetex.geometry.ict_obj`. This module assembles and checks the face region
(:func:`load_ict_face`) and the morphable model (:func:`ict_morphable_model`); the names of
those two modules stay importable from here.

Frame and units
    The kit's frame is facetex's model frame (:mod:`facetex.types`): centimetres, x towards the
    subject's left (image right in a frontal photo; the subject's right outer eye corner,
    landmark 36, is at x = −4.46), y up, z out of the face towards the viewer. Nothing is
    converted. Only the origin differs from mediapipe's canonical face: the kit's lies near the
    true centre of the head (the nose tip is at z = 13.07 cm, the back of the head at
    z = −9.23 cm), about 5.5 cm further back than mediapipe's (nose tip z = 7.59 cm). A fit's
    pose absorbs it; the similarity between the two frames is stored with the mediapipe
    correspondence (``data/ict_mediapipe_478.json``, ``scripts/ict_correspondence.py``).
Face mesh (:func:`load_ict_face`)
    The ``M_Face`` polygons triangulated, one mesh vertex per distinct (vertex, texture
    coordinate) pair of the OBJ (:mod:`facetex.geometry.ict_obj`, "Face mesh"), and
    :attr:`IctFace.ict_vertex` maps each back to its ICT vertex. UVs are the OBJ's (``u`` ∈
    [0, 1] for the face tile, ``v`` = 1 at the top), facetex's convention unchanged.

Identity prior
    The kit ships each identity mode as a morph target, "coefficient 1 = identityNNN.obj", and
    its own sampler (``Scripts/ict_face_model.py``, ``randomize_identity``) draws the
    coefficients from a standard normal; the modes' magnitudes fall with their index (RMS
    displacement over the face 3.9 mm for mode 0, 1.7 mm for mode 2, 0.6 mm for mode 10,
    ≈ 0.1 mm for modes 80–99), as PCA modes scaled by the square roots of their eigenvalues
    do. So the basis is the kit's modes unchanged (cm per unit coefficient) and ``shape_std``
    is 1 for every mode: a coefficient is in units of its prior standard deviation and equals
    the kit's identity weight, so a fitted identity can be loaded in ICT-FaceKit as it is.
Expression
    The 53 ARKit-named blendshapes, in the kit's order (:data:`EXPRESSION_NAMES`), as offsets
    (cm per unit weight). Their weights live in [0, 1] (0 neutral, 1 the full shape).
    The model bounds them to [0, 1] (``expression_range``) under a sparse prior
    (``expression_prior = "laplace"``: E_reg holds Σ w / σ with σ = :data:`EXPRESSION_SCALE`,
    as blendshape trackers use λ Σ w, w ≥ 0), not the quadratic prior of paper §3, under which
    a full blendshape would cost as much as a 1σ identity change. No blendshape moves the eyeballs (the kit's rig turns
    them): the eye-look shapes (``eyeLook*``) move the lids and the skin around the eyes with
    the gaze (up to 7.7 mm for ``eyeLookDown``), so a gaze fit must drive both.
Albedo
    The Light model has no albedo model. :class:`facetex.types.MorphableModel` requires one,
    so :func:`ict_morphable_model` puts a PLACEHOLDER there: a flat mean skin tone over the
    whole UV square and three flat per-channel modes (σ = 0.12), i.e. a constant colour per
    channel and no spatial variation. The database learns the real albedo model in this UV
    tile in the next step of issue 18.

Licence: the ICT-FaceKit files are MIT (Copyright (c) 2020 USC Institute for Creative
Technologies). facetex does not redistribute them; the one file derived from them that ships
with facetex, ``data/ict_mediapipe_478.json``, carries the notice in
``data/ICT-FaceKit-LICENSE``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from facetex.geometry.ict_files import (
    EXPRESSION_NAMES,
    FACE_POLYGONS,
    FACE_VERTICES,
    ICT_DIRNAME,
    ICT_SOURCE,
    INDICES_NAME,
    NPZ_NAME,
    NUM_EXPRESSION,
    NUM_IDENTITY,
    NUM_POLYGONS,
    NUM_VERTICES,
    OBJ_NAME,
    IctArrays,
    IctModelError,
    damaged_file_error,
    file_sha256,
    ict_dir,
    read_ict_arrays,
    read_ict_indices,
)
from facetex.geometry.ict_landmarks import ict_fit_faces, ict_landmark_map
from facetex.geometry.ict_obj import IctObj, read_ict_obj, split_seams, triangulate
from facetex.geometry.topology import validate_topology
from facetex.types import MeshTopology, MorphableModel

__all__ = [
    "ICT_SOURCE",
    "ICT_DIRNAME",
    "NUM_VERTICES",
    "NUM_POLYGONS",
    "FACE_VERTICES",
    "FACE_POLYGONS",
    "NUM_IDENTITY",
    "NUM_EXPRESSION",
    "EXPRESSION_NAMES",
    "EXPRESSION_SCALE",
    "IctModelError",
    "IctArrays",
    "IctObj",
    "IctFace",
    "ict_dir",
    "read_ict_arrays",
    "read_ict_obj",
    "read_ict_indices",
    "triangulate",
    "load_ict_face",
    "ict_morphable_model",
    "file_sha256",
    # from ict_files, for scripts/ict_correspondence.py
    "OBJ_NAME",
    "NPZ_NAME",
    "INDICES_NAME",
]

# The placeholder albedo (see the module doc): a mean skin tone (sRGB, as the generic model's)
# and flat per-channel modes.
_PLACEHOLDER_SKIN = (0.72, 0.55, 0.46)
_PLACEHOLDER_STD = 0.12
#: Scale σ of the sparse (Laplace) prior on the blendshape weights: E_reg holds Σ w / σ, so
#: w_reg / σ = 8.3e-4 per unit weight (docs/ict-model.md#fitting: σ = 1 left neutral photos at
#: eyeWide 1.0, σ = 0.01 kept smiles at ≤ 0.07).
EXPRESSION_SCALE = 0.03


@dataclass(frozen=True)
class IctFace:
    """The ICT face region as a facetex mesh, with its bases and the maps back to the kit.

    Attributes
    ----------
    topology : the face mesh (9,547 seam-split vertices, 18,460 triangles), neutral
        shape, model frame, cm; UVs of the face tile; ``landmark_weights`` 1 on the kit's 9
        rigid landmark vertices (``idx_to_rigid_landmark_idx``: jaw ends, eye corners, nose),
        0 elsewhere.
    ict_vertex : (V,) int64, the ICT vertex id of each mesh vertex (several mesh vertices share
        one ICT vertex along UV seams; every ICT vertex 0–9408 appears).
    triangle_polygon : (F,) int64, the ICT polygon (0–9229) each triangle comes from.
    landmark_vertices : (68,) int64, mesh vertices of the kit's 68 Multi-PIE landmarks (the
        first copy of the ICT landmark vertex).
    identity : (100, V, 3) float64, identity modes (cm per unit coefficient, prior σ = 1).
    expression : (53, V, 3) float64, blendshapes (cm per unit weight, weights in [0, 1]).
    identity_names, expression_names : the kit's names, in order.
    source : provenance: the data folder and the SHA-256 of the three files read.
    """

    topology: MeshTopology
    ict_vertex: np.ndarray
    triangle_polygon: np.ndarray
    landmark_vertices: np.ndarray
    identity: np.ndarray
    expression: np.ndarray
    identity_names: tuple[str, ...]
    expression_names: tuple[str, ...]
    source: dict[str, str]

    def mesh_vertices_of(self, ict_ids: np.ndarray) -> np.ndarray:
        """The first mesh vertex (lowest id) of each ICT vertex id in ``ict_ids`` (0–9408)."""
        return _first_copy(self.ict_vertex, ict_ids)


def _first_copy(ict_vertex: np.ndarray, ict_ids: np.ndarray) -> np.ndarray:
    ids, first_index = np.unique(ict_vertex, return_index=True)  # first occurrence of each id
    first = np.full(FACE_VERTICES, -1, dtype=np.int64)
    first[ids] = first_index
    return first[np.asarray(ict_ids, dtype=np.int64)]


def load_ict_face(directory: str | Path | None = None) -> IctFace:
    """Load the face region of the ICT Face Model Light (see the module doc).

    Parameters
    ----------
    directory : the ``ict-facekit`` folder; default :func:`ict_dir` (``$FACETEX_DATA``).

    Returns
    -------
    IctFace : fresh float64 arrays (≈ 35 MB of bases); reads the OBJ and the npz (≈ 1 s).

    Raises
    ------
    IctModelError
        The folder or a file is missing, or a file is truncated or inconsistent (including the
        npz's ``neutral`` differing from the OBJ's vertices).
    """
    folder = ict_dir() if directory is None else Path(directory)
    obj = read_ict_obj(folder)
    arrays = read_ict_arrays(folder)
    indices = read_ict_indices(folder)
    if np.abs(arrays.neutral.astype(np.float64) - obj.vertices).max() > 1e-4:
        raise damaged_file_error(folder / NPZ_NAME, f"its neutral shape is not the vertices of {OBJ_NAME}")

    ict_vertex, texcoord, faces, triangle_polygon = split_seams(
        obj.polygon_vertices[:FACE_POLYGONS], obj.polygon_texcoords[:FACE_POLYGONS]
    )
    if np.unique(ict_vertex).shape[0] != FACE_VERTICES:
        raise damaged_file_error(folder / OBJ_NAME, "the face polygons do not use every face vertex")

    uvs = obj.texcoords[texcoord]
    if uvs.min() < 0.0 or uvs.max() > 1.0:
        raise damaged_file_error(folder / OBJ_NAME, "the face tile's texture coordinates leave [0, 1]")
    landmark_vertices = _first_copy(ict_vertex, np.asarray(indices["idx_to_landmark_verts"], dtype=np.int64))
    weights = np.zeros(ict_vertex.shape[0], dtype=np.float64)
    weights[landmark_vertices[np.asarray(indices["idx_to_rigid_landmark_idx"], dtype=np.int64)]] = 1.0
    face = IctFace(
        topology=MeshTopology(
            vertices=obj.vertices[ict_vertex].copy(),
            uvs=uvs.copy(),
            faces=faces,
            landmark_weights=weights,
        ),
        ict_vertex=ict_vertex,
        triangle_polygon=triangle_polygon,
        landmark_vertices=landmark_vertices,
        identity=np.ascontiguousarray(arrays.identity[:, ict_vertex], dtype=np.float64),
        expression=np.ascontiguousarray(arrays.expression[:, ict_vertex], dtype=np.float64),
        identity_names=arrays.identity_names,
        expression_names=arrays.expression_names,
        source={
            "model": ICT_SOURCE,
            "folder": str(folder),
            **{name: file_sha256(folder / name) for name in (OBJ_NAME, NPZ_NAME, INDICES_NAME)},
        },
    )
    validate_topology(face.topology)
    return face


def ict_morphable_model(face: IctFace | None = None, *, albedo_resolution: int = 64) -> MorphableModel:
    """The ICT face region as a :class:`facetex.types.MorphableModel` named ``"ict"``.

    Parameters
    ----------
    face : from :func:`load_ict_face` (loaded from ``$FACETEX_DATA`` when None).
    albedo_resolution : side r of the PLACEHOLDER albedo maps.

    Returns
    -------
    MorphableModel: the face mesh, carrying mediapipe's landmarks (``landmark_map``,
    :func:`facetex.geometry.ict_landmarks.ict_landmark_map`) and the triangles the photometric
    term samples (``fit_faces``: inside mediapipe's face oval); 100 identity modes (the kit's,
    σ = 1); 53 expression blendshapes named as the kit names them, weights bounded to [0, 1]
    under a sparse (Laplace) prior of scale σ = :data:`EXPRESSION_SCALE`; a placeholder
    albedo — flat mean skin tone, 3 flat per-channel modes, σ = 0.12 — because the kit has no
    albedo model (see the module doc; the database replaces it).
    """
    if albedo_resolution < 1:
        raise ValueError(f"albedo_resolution must be positive, got {albedo_resolution}")
    face = load_ict_face() if face is None else face
    r = albedo_resolution
    mean = np.broadcast_to(np.asarray(_PLACEHOLDER_SKIN, dtype=np.float32), (r, r, 3)).copy()
    basis = np.zeros((3, r, r, 3), dtype=np.float32)
    for c in range(3):
        basis[c, ..., c] = 1.0
    landmark_map = ict_landmark_map(face.topology)
    topology = replace(face.topology, landmark_map=landmark_map, fit_faces=ict_fit_faces(face.topology, landmark_map))
    return MorphableModel(
        name="ict",
        topology=topology,
        shape_basis=face.identity,
        shape_std=np.ones(face.identity.shape[0], dtype=np.float64),
        expression_basis=face.expression,
        expression_std=np.full(face.expression.shape[0], EXPRESSION_SCALE, dtype=np.float64),
        albedo_mean=mean,
        albedo_basis=basis,
        albedo_std=np.full(3, _PLACEHOLDER_STD, dtype=np.float64),
        expression_range=(0.0, 1.0),
        expression_prior="laplace",
        expression_names=tuple(face.expression_names),
    )
