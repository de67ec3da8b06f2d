"""The canonical face mesh (468 vertices, 898 triangles, one UV chart) and index helpers.

The mesh is mediapipe's canonical face model, extracted from the npm package
``@mediapipe/face_mesh@0.4.1657299874`` (Apache-2.0, see ``data/NOTICE``) by
``scripts/extract_face_mesh.py`` into ``data/face_mesh.json``. Its vertex ``i`` is mediapipe's
landmark ``i`` (the first 468 of the 478 landmarks of :class:`facetex.types.Detection`).

The mesh is a topological disk: closed over the eyes and the mouth, with one boundary loop of 36
edges around the face. Faces are counter-clockwise seen from outside, UVs follow the facetex
convention (``v = 1`` at the top of the texture), positions are in the model frame (cm), as
described in :mod:`facetex.types`.
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import scipy.sparse

from facetex.errors import ShapeMismatchError
from facetex.types import MeshTopology

__all__ = [
    "FACE_MESH_VERTICES",
    "FACE_MESH_FACES",
    "load_face_mesh",
    "face_mesh_source",
    "validate_topology",
    "mesh_edges",
    "boundary_edges",
    "vertex_adjacency",
]

FACE_MESH_VERTICES = 468
FACE_MESH_FACES = 898
_DATA_FILE = "face_mesh.json"


def _read_record() -> dict:
    text = resources.files("facetex.geometry").joinpath("data").joinpath(_DATA_FILE).read_text("utf-8")
    return json.loads(text)


def load_face_mesh() -> MeshTopology:
    """Load the packaged canonical face mesh.

    Returns
    -------
    MeshTopology
        ``vertices`` (468, 3) float64 in cm, model frame (x image-right, y up, z towards the
        viewer); ``uvs`` (468, 2) float64 in [0, 1] with v = 1 at the top of the texture;
        ``faces`` (898, 3) int64, counter-clockwise seen from outside; ``landmark_weights``
        (468,) float64, mediapipe's Procrustes weights (non-zero on 33 vertices).
        Each call returns fresh arrays.

    Raises
    ------
    ShapeMismatchError
        If the packaged file is damaged (wrong counts or out-of-range indices).
    """
    record = _read_record()
    topology = MeshTopology(
        vertices=np.asarray(record["vertices"], dtype=np.float64),
        uvs=np.asarray(record["uvs"], dtype=np.float64),
        faces=np.asarray(record["faces"], dtype=np.int64),
        landmark_weights=np.asarray(record["landmark_weights"], dtype=np.float64),
    )
    validate_topology(topology)
    if topology.vertices.shape[0] != FACE_MESH_VERTICES or topology.faces.shape[0] != FACE_MESH_FACES:
        raise ShapeMismatchError(
            f"packaged face mesh has {topology.vertices.shape[0]} vertices and "
            f"{topology.faces.shape[0]} faces, expected {FACE_MESH_VERTICES} and {FACE_MESH_FACES}"
        )
    return topology


def face_mesh_source() -> dict[str, str]:
    """Provenance of the packaged mesh: npm package, version, licence and checksums."""
    return dict(_read_record()["source"])


def validate_topology(topology: MeshTopology) -> None:
    """Check a :class:`MeshTopology`'s shapes, dtypes and index ranges.

    Raises
    ------
    ShapeMismatchError
        If an array has the wrong shape, a face index is out of range, or UVs / positions are
        not finite.
    """
    v, uv, f, w = topology.vertices, topology.uvs, topology.faces, topology.landmark_weights
    if v.ndim != 2 or v.shape[1] != 3:
        raise ShapeMismatchError(f"vertices must have shape (V, 3), got {v.shape}")
    n = v.shape[0]
    if uv.shape != (n, 2):
        raise ShapeMismatchError(f"uvs must have shape ({n}, 2), got {uv.shape}")
    if w.shape != (n,):
        raise ShapeMismatchError(f"landmark_weights must have shape ({n},), got {w.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or f.shape[0] == 0:
        raise ShapeMismatchError(f"faces must have shape (F, 3) with F > 0, got {f.shape}")
    if not np.issubdtype(f.dtype, np.integer):
        raise ShapeMismatchError(f"faces must be integers, got {f.dtype}")
    if f.min() < 0 or f.max() >= n:
        raise ShapeMismatchError(f"face indices must lie in [0, {n}), got [{f.min()}, {f.max()}]")
    if not (np.isfinite(v).all() and np.isfinite(uv).all()):
        raise ShapeMismatchError("vertices and uvs must be finite")


def mesh_edges(faces: np.ndarray) -> np.ndarray:
    """Unique undirected edges of a triangle mesh.

    Parameters
    ----------
    faces : (F, 3) int array.

    Returns
    -------
    (E, 2) int64, each row ``(i, j)`` with ``i < j``, rows sorted lexicographically.
    """
    return np.unique(_sorted_half_edges(faces), axis=0)


def boundary_edges(faces: np.ndarray) -> np.ndarray:
    """Edges used by exactly one triangle, as ``(i, j)`` with ``i < j`` ((B, 2) int64, sorted)."""
    edges, counts = np.unique(_sorted_half_edges(faces), axis=0, return_counts=True)
    return edges[counts == 1]


def vertex_adjacency(faces: np.ndarray, num_vertices: int) -> scipy.sparse.csr_matrix:
    """Symmetric vertex adjacency of a triangle mesh.

    Parameters
    ----------
    faces : (F, 3) int array.
    num_vertices : V.

    Returns
    -------
    (V, V) scipy.sparse CSR matrix of float64 with 1 where two vertices share an edge, 0 on the
    diagonal. Row sums are vertex valences.
    """
    edges = mesh_edges(faces)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    data = np.ones(rows.shape[0], dtype=np.float64)
    return scipy.sparse.csr_matrix((data, (rows, cols)), shape=(num_vertices, num_vertices))


def _sorted_half_edges(faces: np.ndarray) -> np.ndarray:
    f = np.asarray(faces, dtype=np.int64)
    half = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]], axis=0)
    return np.sort(half, axis=1)
