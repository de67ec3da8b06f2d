"""Midpoint and Loop subdivision."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from facetex.errors import ShapeMismatchError
from facetex.geometry.subdivide import subdivide
from facetex.geometry.topology import load_face_mesh, mesh_edges
from facetex.types import MeshTopology


def _topology(vertices: np.ndarray, faces: np.ndarray) -> MeshTopology:
    n = len(vertices)
    return MeshTopology(
        vertices=np.asarray(vertices, dtype=np.float64),
        uvs=np.asarray(vertices, dtype=np.float64)[:, :2] * 0.1 + 0.5,
        faces=np.asarray(faces, dtype=np.int64),
        landmark_weights=np.arange(n, dtype=np.float64),
    )


@pytest.fixture(scope="module")
def mesh() -> MeshTopology:
    return load_face_mesh()


def test_midpoint_keeps_vertices_and_adds_edge_midpoints(mesh):
    fine, matrix = subdivide(mesh, 1, scheme="midpoint")
    edges = mesh_edges(mesh.faces)
    assert fine.vertices.shape == (468 + len(edges), 3)
    assert fine.faces.shape == (4 * 898, 3)
    assert matrix.shape == (len(fine.vertices), 468)
    np.testing.assert_array_equal(fine.vertices[:468], mesh.vertices)
    np.testing.assert_allclose(fine.vertices[468:], mesh.vertices[edges].mean(axis=1))
    np.testing.assert_allclose(fine.uvs[468:], mesh.uvs[edges].mean(axis=1))
    np.testing.assert_array_equal(fine.landmark_weights[:468], mesh.landmark_weights)
    assert not fine.landmark_weights[468:].any()


def test_subdivision_preserves_winding_and_uv_chart(mesh):
    for scheme in ("midpoint", "loop"):
        fine, _ = subdivide(mesh, 2, scheme=scheme)
        t = fine.uvs[fine.faces]
        d1, d2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
        signed = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
        assert np.all(signed > 0)
        v, f = fine.vertices, fine.faces
        normals = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
        assert np.mean(normals[:, 2] > 0) > 0.95
        assert len(fine.faces) == 16 * 898


def test_levels_compose(mesh):
    twice, matrix2 = subdivide(mesh, 2)
    once, matrix1 = subdivide(mesh, 1)
    again, matrix_again = subdivide(once, 1)
    np.testing.assert_array_equal(twice.faces, again.faces)
    np.testing.assert_allclose(twice.vertices, again.vertices, atol=1e-12)
    np.testing.assert_allclose((matrix_again @ matrix1 - matrix2).toarray(), 0.0, atol=1e-15)
    np.testing.assert_allclose(np.asarray(matrix2.sum(axis=1)).ravel(), 1.0)
    unchanged, identity = subdivide(mesh, 0)
    np.testing.assert_array_equal(unchanged.vertices, mesh.vertices)
    assert identity.shape == (468, 468)


def test_loop_rules_on_an_icosahedron():
    ico = trimesh.creation.icosahedron()
    topology = _topology(ico.vertices, ico.faces)
    fine, _ = subdivide(topology, 1, scheme="loop")
    n = 5  # every icosahedron vertex has valence 5
    beta = (5 / 8 - (3 / 8 + np.cos(2 * np.pi / n) / 4) ** 2) / n
    neighbours = [j for a, b in mesh_edges(ico.faces) for i, j in ((a, b), (b, a)) if i == 0]
    expected = (1 - n * beta) * ico.vertices[0] + beta * ico.vertices[neighbours].sum(axis=0)
    np.testing.assert_allclose(fine.vertices[0], expected, atol=1e-14)
    # An edge point: 3/8 of its ends + 1/8 of the two opposite vertices.
    a, b = mesh_edges(ico.faces)[0]
    opposite = [int(np.setdiff1d(f, [a, b])[0]) for f in ico.faces if a in f and b in f]
    expected_edge = 3 / 8 * (ico.vertices[a] + ico.vertices[b]) + 1 / 8 * ico.vertices[opposite].sum(axis=0)
    np.testing.assert_allclose(fine.vertices[len(ico.vertices)], expected_edge, atol=1e-14)
    # Loop smooths: the subdivided polyhedron is rounder than the midpoint one.
    mid, _ = subdivide(topology, 2, scheme="midpoint")
    loop, _ = subdivide(topology, 2, scheme="loop")
    spread = lambda v: np.std(np.linalg.norm(v, axis=1)) / np.mean(np.linalg.norm(v, axis=1))  # noqa: E731
    assert spread(loop.vertices) < 0.25 * spread(mid.vertices)


def test_loop_boundary_rules_and_planarity():
    # A single triangle: everything is boundary; vertices move to 3/4 v + 1/8 (neighbours).
    vertices = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [0.0, 4.0, 0.0]])
    fine, _ = subdivide(_topology(vertices, [[0, 1, 2]]), 1, scheme="loop")
    np.testing.assert_allclose(fine.vertices[0], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(fine.vertices[3:], [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [2.0, 2.0, 0.0]])
    # Loop is affine invariant: a planar mesh stays planar.
    grid = trimesh.creation.box().vertices[:4] * [1.0, 1.0, 0.0]
    planar, _ = subdivide(_topology(grid, [[0, 1, 2], [1, 3, 2]]), 2, scheme="loop")
    np.testing.assert_allclose(planar.vertices[:, 2], 0.0)


def test_bad_arguments(mesh):
    with pytest.raises(ShapeMismatchError, match="scheme"):
        subdivide(mesh, 1, scheme="catmull-clark")
    with pytest.raises(ShapeMismatchError, match="levels"):
        subdivide(mesh, -1)
