"""1-to-4 triangle subdivision (midpoint or Loop) of a :class:`MeshTopology`, as a sparse matrix.

Each level splits every triangle into four through its edge midpoints. Vertex ``i < V`` of the
result is vertex ``i`` of the input (so landmark indices stay valid), followed by one new vertex
per undirected edge, in the order of :func:`facetex.geometry.topology.mesh_edges`. The positions
of the result are ``M @ positions`` for the returned (V', V) matrix M, so the same matrix carries
any per-vertex quantity (fitted shapes, PCA bases) onto the finer mesh.

Schemes
-------
``"midpoint"``
    New vertices at edge midpoints, old vertices unchanged: the surface does not change.
``"loop"``
    Loop (1987) subdivision: smooths the surface and converges to a C² limit away from
    extraordinary vertices. Interior edge a–b with opposite vertices c, d:
    3/8 (a + b) + 1/8 (c + d); interior vertex of valence n: (1 − nβ) v + β Σ neighbours with
    β = (5/8 − (3/8 + cos(2π/n)/4)²) / n; boundary edges take the midpoint and boundary
    vertices 3/4 v + 1/8 (b₁ + b₂) of their two boundary neighbours, so the outline stays a
    curve of the boundary alone. Non-manifold edges and vertices fall back to the midpoint rule.

UVs are always interpolated linearly (midpoint rule) so the texture stays where it was; landmark
weights are kept on the original vertices and are 0 on new ones.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse

from facetex.errors import ShapeMismatchError
from facetex.geometry.topology import validate_topology
from facetex.types import MeshTopology

__all__ = ["SCHEMES", "Scheme", "subdivide"]

SCHEMES = ("loop", "midpoint")
#: A subdivision scheme, one of :data:`SCHEMES`.
Scheme = Literal["loop", "midpoint"]


def subdivide(
    topology: MeshTopology, levels: int = 1, *, scheme: Scheme = "loop"
) -> tuple[MeshTopology, scipy.sparse.csr_matrix]:
    """Subdivide a mesh ``levels`` times.

    Parameters
    ----------
    topology : the mesh; faces counter-clockwise from outside (kept by the result).
    levels : number of 1-to-4 splits (≥ 0); each multiplies the face count by 4.
    scheme : "loop" (smooth, default) or "midpoint" (same surface, more triangles).

    Returns
    -------
    topology : MeshTopology with V' vertices (the first V are the input's, in order) and 4^levels·F
        faces; ``vertices`` = M @ input vertices, ``uvs`` linearly interpolated.
    matrix : (V', V) scipy.sparse CSR float64 M, rows sum to 1.

    Raises
    ------
    ShapeMismatchError
        For an unknown scheme, a negative level count or a malformed ``topology``.
    """
    if scheme not in SCHEMES:
        raise ShapeMismatchError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if int(levels) != levels or levels < 0:
        raise ShapeMismatchError(f"levels must be a non-negative integer, got {levels!r}")
    validate_topology(topology)
    num_vertices = topology.vertices.shape[0]
    faces = np.asarray(topology.faces, dtype=np.int64)
    positions = scipy.sparse.identity(num_vertices, format="csr", dtype=np.float64)
    linear = positions
    for _ in range(int(levels)):
        midpoint, loop, faces = _split_once(faces, linear.shape[0], smooth=scheme == "loop")
        positions = (loop if scheme == "loop" else midpoint) @ positions
        linear = midpoint @ linear
    positions = positions.tocsr()
    fine = MeshTopology(
        vertices=positions @ np.asarray(topology.vertices, dtype=np.float64),
        uvs=linear.tocsr() @ np.asarray(topology.uvs, dtype=np.float64),
        faces=faces,
        landmark_weights=np.concatenate(
            [topology.landmark_weights, np.zeros(positions.shape[0] - num_vertices)]
        ),
    )
    return fine, positions


def _split_once(
    faces: np.ndarray, num_vertices: int, *, smooth: bool
) -> tuple[scipy.sparse.csr_matrix, scipy.sparse.csr_matrix | None, np.ndarray]:
    """One 1-to-4 split: (midpoint matrix, Loop matrix or None, new faces)."""
    num_faces = faces.shape[0]
    half = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])  # (3F, 2)
    edges, edge_of_half = np.unique(np.sort(half, axis=1), axis=0, return_inverse=True)
    edge_of_half = edge_of_half.reshape(-1)
    num_edges = edges.shape[0]
    mid = num_vertices + edge_of_half.reshape(3, num_faces).T  # (F, 3): ab, bc, ca
    a, b, c = faces[:, 0], faces[:, 1], faces[:, 2]
    ab, bc, ca = mid[:, 0], mid[:, 1], mid[:, 2]
    new_faces = np.concatenate(
        [
            np.stack([a, ab, ca], axis=1),
            np.stack([b, bc, ab], axis=1),
            np.stack([c, ca, bc], axis=1),
            np.stack([ab, bc, ca], axis=1),
        ]
    )
    size = (num_vertices + num_edges, num_vertices)
    edge_rows = num_vertices + np.arange(num_edges)
    midpoint = scipy.sparse.csr_matrix(
        (
            np.concatenate([np.ones(num_vertices), np.full(2 * num_edges, 0.5)]),
            (
                np.concatenate([np.arange(num_vertices), edge_rows, edge_rows]),
                np.concatenate([np.arange(num_vertices), edges[:, 0], edges[:, 1]]),
            ),
        ),
        shape=size,
    )
    if not smooth:
        return midpoint, None, new_faces

    faces_per_edge = np.bincount(edge_of_half, minlength=num_edges)
    interior = faces_per_edge == 2
    boundary = faces_per_edge == 1
    opposite = np.concatenate([faces[:, 2], faces[:, 0], faces[:, 1]])  # per half-edge
    rows, cols, vals = [], [], []
    # Odd (edge) vertices.
    rows += [edge_rows, edge_rows]
    cols += [edges[:, 0], edges[:, 1]]
    end_weight = np.where(interior, 3.0 / 8.0, 0.5)
    vals += [end_weight, end_weight]  # boundary and non-manifold edges: the midpoint
    wing = interior[edge_of_half]
    rows.append(num_vertices + edge_of_half[wing])
    cols.append(opposite[wing])
    vals.append(np.full(int(wing.sum()), 1.0 / 8.0))
    # Even (old) vertices.
    valence = np.bincount(edges.ravel(), minlength=num_vertices)
    boundary_edges = edges[boundary]
    boundary_degree = np.bincount(boundary_edges.ravel(), minlength=num_vertices)
    nonmanifold_edge = faces_per_edge > 2
    nonmanifold = np.zeros(num_vertices, dtype=bool)
    nonmanifold[edges[nonmanifold_edge].ravel()] = True
    nonmanifold |= (boundary_degree != 0) & (boundary_degree != 2)
    is_interior = (boundary_degree == 0) & ~nonmanifold & (valence > 0)
    is_boundary = (boundary_degree == 2) & ~nonmanifold
    n = np.maximum(valence, 1).astype(np.float64)
    beta = (5.0 / 8.0 - (3.0 / 8.0 + np.cos(2.0 * np.pi / n) / 4.0) ** 2) / n
    self_weight = np.where(is_interior, 1.0 - n * beta, np.where(is_boundary, 0.75, 1.0))
    rows.append(np.arange(num_vertices))
    cols.append(np.arange(num_vertices))
    vals.append(self_weight)
    for i, j in ((0, 1), (1, 0)):  # each undirected edge contributes to both its ends
        src, dst = edges[:, i], edges[:, j]
        use = is_interior[src]
        rows.append(src[use])
        cols.append(dst[use])
        vals.append(beta[src[use]])
        use_b = boundary & is_boundary[src]
        rows.append(src[use_b])
        cols.append(dst[use_b])
        vals.append(np.full(int(use_b.sum()), 1.0 / 8.0))
    loop = scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=size
    )
    return midpoint, loop, new_faces
