"""The packaged canonical face mesh: counts, winding, UV orientation, provenance, helpers."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from facetex.errors import ShapeMismatchError
from facetex.geometry.topology import (
    boundary_edges,
    face_mesh_source,
    load_face_mesh,
    mesh_edges,
    validate_topology,
    vertex_adjacency,
)
from facetex.types import MeshTopology

FOREHEAD, CHIN, NOSE_TIP, RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 10, 152, 1, 33, 263


@pytest.fixture(scope="module")
def mesh() -> MeshTopology:
    return load_face_mesh()


def test_counts_dtypes_and_ranges(mesh):
    assert mesh.vertices.shape == (468, 3) and mesh.vertices.dtype == np.float64
    assert mesh.uvs.shape == (468, 2) and mesh.faces.shape == (898, 3)
    assert mesh.faces.dtype == np.int64
    assert np.count_nonzero(mesh.landmark_weights) == 33 and mesh.landmark_weights.min() >= 0
    assert mesh.uvs.min() >= 0 and mesh.uvs.max() <= 1
    assert len(np.unique(mesh.faces)) == 468  # every vertex is used


def test_model_frame_orientation(mesh):
    v = mesh.vertices
    assert v[FOREHEAD, 1] > v[CHIN, 1]  # y up
    assert v[NOSE_TIP, 2] > v[:, 2].mean() + 2  # z towards the viewer, nose in front
    assert v[LEFT_EYE_OUTER, 0] > 0 > v[RIGHT_EYE_OUTER, 0]  # subject's left at +x


def test_faces_are_counter_clockwise_from_outside(mesh):
    v, f = mesh.vertices, mesh.faces
    normals = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    assert np.mean(normals[:, 2] > 0) > 0.95
    # Consistently oriented: no directed edge occurs twice.
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    assert len(np.unique(directed, axis=0)) == len(directed)


def test_uv_orientation_puts_the_forehead_at_the_top(mesh):
    uv, f = mesh.uvs, mesh.faces
    assert uv[FOREHEAD, 1] > 0.85 and uv[CHIN, 1] < 0.1  # v = 1 at the top of the texture
    assert uv[LEFT_EYE_OUTER, 0] > 0.5 > uv[RIGHT_EYE_OUTER, 0]
    t = uv[f]
    d1, d2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    signed = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    assert np.all(signed > 0)  # the chart is not folded, and CCW like the surface


def test_mesh_is_a_disk_with_one_boundary_loop(mesh):
    edges = mesh_edges(mesh.faces)
    assert 468 - len(edges) + 898 == 1  # Euler characteristic of a disk
    boundary = boundary_edges(mesh.faces)
    assert len(boundary) == 36
    assert np.all(np.bincount(boundary.ravel(), minlength=468)[np.unique(boundary)] == 2)


def test_vertex_adjacency(mesh):
    adjacency = vertex_adjacency(mesh.faces, 468)
    assert (adjacency != adjacency.T).nnz == 0
    assert adjacency.diagonal().sum() == 0
    assert adjacency.sum() == 2 * len(mesh_edges(mesh.faces))
    assert adjacency[FOREHEAD].nnz >= 3


def test_provenance_and_notice_are_packaged():
    source = face_mesh_source()
    assert source["package"] == "@mediapipe/face_mesh"
    assert source["version"] == "0.4.1657299874"
    assert source["licence"] == "Apache-2.0"
    notice = resources.files("facetex.geometry").joinpath("data").joinpath("NOTICE").read_text("utf-8")
    assert "Apache License" in notice and "@mediapipe/face_mesh@0.4.1657299874" in notice


def test_validate_topology_rejects_bad_meshes(mesh):
    bad_index = MeshTopology(mesh.vertices, mesh.uvs, mesh.faces.copy(), mesh.landmark_weights)
    bad_index.faces[0, 0] = 468
    with pytest.raises(ShapeMismatchError, match="indices"):
        validate_topology(bad_index)
    with pytest.raises(ShapeMismatchError, match="uvs"):
        validate_topology(MeshTopology(mesh.vertices, mesh.uvs[:-1], mesh.faces, mesh.landmark_weights))
    with pytest.raises(ShapeMismatchError, match="vertices"):
        validate_topology(MeshTopology(mesh.vertices[:, :2], mesh.uvs, mesh.faces, mesh.landmark_weights))
    nan = mesh.vertices.copy()
    nan[3, 1] = np.nan
    with pytest.raises(ShapeMismatchError, match="finite"):
        validate_topology(MeshTopology(nan, mesh.uvs, mesh.faces, mesh.landmark_weights))
