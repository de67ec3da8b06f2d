"""Per-vertex normals and tangent frames of a triangle mesh, for the exported files."""

from __future__ import annotations

import numpy as np

__all__ = ["vertex_normals", "vertex_tangents", "weld_groups", "welded_vertex_normals"]


def _normal_sums(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) sum of the (twice-area-weighted) normals of the triangles at each vertex."""
    tri = vertices[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    sums = np.zeros(vertices.shape, dtype=face_n.dtype)
    for k in range(3):
        np.add.at(sums, faces[:, k], face_n)
    return sums


def _unit(vectors: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, length, out=np.zeros_like(vectors), where=length > 0)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3) of a CCW mesh."""
    return _unit(_normal_sums(vertices, faces))


def weld_groups(positions: list[np.ndarray]) -> np.ndarray:
    """(ΣV_i,) int64: one group id per vertex of the concatenated ``positions``, shared by the
    vertices at exactly the same position."""
    _, group = np.unique(np.concatenate([np.asarray(p, dtype=np.float64) for p in positions]), axis=0,
                         return_inverse=True)
    return group.reshape(-1)


def welded_vertex_normals(meshes: list[tuple[np.ndarray, np.ndarray]], group: np.ndarray | None = None) -> list[np.ndarray]:
    """Area-weighted unit vertex normals of several CCW meshes, summed over every vertex that
    sits at exactly the same position in any of them: a UV seam's split copies, and the border
    a head part shares with the face, get one normal, so shading shows no crease there.

    Parameters
    ----------
    meshes : [(vertices (V_i, 3), faces (F_i, 3))], any frame and unit.
    group : :func:`weld_groups` of the vertices to weld by (e.g. the neutral shape's, reused for
        every morph target's); None: of ``meshes``' own vertices.

    Returns
    -------
    [(V_i, 3) float64 unit normals], in the order given.
    """
    sums = [_normal_sums(np.asarray(vertices, dtype=np.float64), faces) for vertices, faces in meshes]
    if group is None:
        group = weld_groups([v for v, _ in meshes])
    total = np.zeros((group.max() + 1, 3))
    np.add.at(total, group, np.concatenate(sums))
    welded = _unit(total[group])
    bounds = np.cumsum([0] + [len(v) for v, _ in meshes])
    return [welded[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def vertex_tangents(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Per-vertex tangent frames from UVs, as glTF's TANGENT attribute (MikkTSpace-style).

    Each triangle's dP/du and dP/dv (facetex UVs, v up) are summed at its corners, weighted by
    the corner's angle (as MikkTSpace weights them); the tangent is the sum of dP/du made
    orthogonal to the vertex normal (Gram–Schmidt) and normalised, and w = +1 when
    cross(N, T) points along the summed dP/dv, else −1. A vertex whose UV triangles are all
    degenerate gets any unit vector orthogonal to N, w = +1.

    Parameters
    ----------
    vertices : (V, 3) float, any frame and unit (the tangents are in the same frame).
    faces : (F, 3) int, counter-clockwise seen from outside.
    uvs : (V, 2) float, facetex UVs (v = 1 at the top row). With glTF's TEXCOORD_0 (t = 1 − v)
        the bitangent cross(N, T)·w points along −t: up in the image, where the normal map's
        green channel points (OpenGL / glTF convention).
    normals : (V, 3) unit vertex normals.

    Returns
    -------
    (V, 4) float64: xyz unit tangent ⟂ normal, w ∈ {−1, +1}.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    uv = np.asarray(uvs, dtype=np.float64)
    n = np.asarray(normals, dtype=np.float64)
    tangent_sum = np.zeros_like(v)
    bitangent_sum = np.zeros_like(v)
    p = v[f]  # (F, 3, 3)
    t = uv[f]  # (F, 3, 2)
    for corner in range(3):
        a, b, c = corner, (corner + 1) % 3, (corner + 2) % 3
        e1, e2 = p[:, b] - p[:, a], p[:, c] - p[:, a]
        d1, d2 = t[:, b] - t[:, a], t[:, c] - t[:, a]
        det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
        ok = np.abs(det) > 1e-20
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)[:, None]
        dp_du = (e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) * inv
        dp_dv = (e2 * d1[:, 0:1] - e1 * d2[:, 0:1]) * inv
        l1, l2 = np.linalg.norm(e1, axis=1), np.linalg.norm(e2, axis=1)
        cos = np.einsum("ij,ij->i", e1, e2) / np.maximum(l1 * l2, 1e-300)
        angle = np.arccos(np.clip(cos, -1.0, 1.0))[:, None]

        def unit(x: np.ndarray) -> np.ndarray:
            length = np.linalg.norm(x, axis=1, keepdims=True)
            return np.divide(x, length, out=np.zeros_like(x), where=length > 0)

        np.add.at(tangent_sum, f[:, a], unit(dp_du) * angle)
        np.add.at(bitangent_sum, f[:, a], unit(dp_dv) * angle)
    tangent = tangent_sum - n * np.einsum("ij,ij->i", tangent_sum, n)[:, None]
    length = np.linalg.norm(tangent, axis=1)
    bad = length < 1e-12
    if bad.any():  # any direction orthogonal to the normal
        helper = np.where(np.abs(n[bad, 0:1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
        tangent[bad] = np.cross(n[bad], helper)
        length = np.linalg.norm(tangent, axis=1)
    tangent /= np.maximum(length, 1e-300)[:, None]
    handed = np.einsum("ij,ij->i", np.cross(n, tangent), bitangent_sum)
    w = np.where(handed < 0.0, -1.0, 1.0)
    return np.concatenate([tangent, w[:, None]], axis=1)
