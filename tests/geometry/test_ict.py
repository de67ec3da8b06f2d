"""The ICT Face Model Light loader (facetex.geometry.ict) and the stored mediapipe → ICT
correspondence (facetex/geometry/data/ict_mediapipe_478.json, scripts/ict_correspondence.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from facetex.errors import DatabaseError
from facetex.geometry.ict import EXPRESSION_SCALE, ict_morphable_model, load_ict_face
from facetex.geometry.ict_files import (
    EXPRESSION_NAMES,
    FACE_VERTICES,
    IctModelError,
    file_sha256,
    ict_dir,
    read_ict_arrays,
)
from facetex.geometry.ict_obj import read_ict_obj
from facetex.geometry.topology import load_face_mesh, validate_topology
from facetex.paths import data_dir

REPO = Path(__file__).resolve().parents[2]
ICT_FILES = ("generic_neutral_mesh.obj", "ict_face_model_light.npz", "vertex_indices.json")


@pytest.fixture(scope="module")
def ict_folder() -> Path:
    path = data_dir() / "ict-facekit"
    if not path.is_dir():
        pytest.fail(f"shared test data missing: no ICT Face Model Light at {path} (set FACETEX_DATA)")
    return path


@pytest.fixture(scope="module")
def face(ict_folder):
    return load_ict_face(ict_folder)


@pytest.fixture(scope="module")
def correspondence() -> dict:
    text = resources.files("facetex.geometry").joinpath("data", "ict_mediapipe_478.json").read_text("utf-8")
    return json.loads(text)


def _triangle_areas(vertices, faces):
    normals = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    return 0.5 * normals


# -- the mesh ---------------------------------------------------------------------------------


def test_face_mesh_is_consistent(face):
    t = face.topology
    validate_topology(t)
    v, uv, f = t.vertices, t.uvs, t.faces
    assert v.dtype == np.float64 and uv.dtype == np.float64 and f.dtype == np.int64
    assert v.shape[0] > FACE_VERTICES  # seams split some vertices
    assert face.ict_vertex.shape == (v.shape[0],)
    assert np.array_equal(np.unique(face.ict_vertex), np.arange(FACE_VERTICES))
    assert np.array_equal(np.unique(f), np.arange(v.shape[0]))  # every vertex used
    assert face.triangle_polygon.shape == (f.shape[0],) and face.triangle_polygon.max() == 9229
    assert uv.min() >= 0.0 and uv.max() <= 1.0
    # Seam copies share their 3D position, differ in UV.
    _, counts = np.unique(face.ict_vertex, return_counts=True)
    assert counts.max() > 1
    # No degenerate triangle, in 3D or in UV; UV triangles are counter-clockwise like the 3D ones
    # seen from outside (facetex's convention, v up).
    assert (np.linalg.norm(_triangle_areas(v, f), axis=1) > 1e-8).all()
    e1, e2 = uv[f[:, 1]] - uv[f[:, 0]], uv[f[:, 2]] - uv[f[:, 0]]
    assert (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] > 0).all()


def test_normals_point_outward_and_frame_is_facetex(face):
    t = face.topology
    v, f = t.vertices, t.faces
    area = _triangle_areas(v, f)
    centre = np.zeros(3)  # the kit's origin lies inside the head
    outward = (area * (v[f].mean(axis=1) - centre)).sum(axis=1) > 0
    size = np.linalg.norm(area, axis=1)
    assert size[outward].sum() / size.sum() > 0.9  # the rest: backs of the ears, nostrils
    lm = face.landmark_vertices
    nose = lm[30]
    assert v[nose, 2] == pytest.approx(v[:, 2].max(), abs=0.05)  # the nose tip is frontmost (+z)
    near_nose = np.isin(f, np.nonzero(np.linalg.norm(v - v[nose], axis=1) < 0.5)[0]).any(axis=1)
    assert area[near_nose].sum(axis=0)[2] > 0
    assert v[lm[36], 0] < 0 < v[lm[45], 0]  # subject's right eye on image left (x < 0)
    assert v[lm[27], 1] > v[lm[8], 1]  # y up
    mp = load_face_mesh().vertices
    assert np.linalg.norm(v[lm[36]] - v[lm[45]]) == pytest.approx(np.linalg.norm(mp[33] - mp[263]), rel=0.02)


def test_face_tile_has_ears_neck_and_forehead_at_the_top(face):
    v, uv = face.topology.vertices, face.topology.uvs
    assert np.ptp(v[:, 0]) >= 14.0  # ears included (18.4 cm)
    ears = np.abs(v[:, 0]) > 8.0
    assert ears.sum() > 100
    assert v[:, 1].min() < v[face.landmark_vertices[8], 1] - 5.0  # the neck, 5 cm below the chin
    top, bottom = np.argmax(v[:, 1]), np.argmin(v[:, 1])
    assert uv[top, 1] > 0.95 and uv[bottom, 1] < 0.05  # v = 1 at the top (forehead)


def test_landmarks_and_rigid_weights(face):
    assert face.landmark_vertices.shape == (68,)
    assert face.ict_vertex[face.landmark_vertices][:3].tolist() == [1225, 1888, 1052]
    assert np.count_nonzero(face.topology.landmark_weights) == 9


# -- the morphable model ------------------------------------------------------------------------


def test_morphable_model_conventions(face):
    from facetex.fitting.model import validate_model

    model = ict_morphable_model(face)
    validate_model(model)
    assert model.name == "ict"
    assert model.shape_basis.shape == (100, face.topology.vertices.shape[0], 3)
    assert model.expression_basis.shape[0] == 53 and face.expression_names == EXPRESSION_NAMES
    assert np.all(model.shape_std == 1.0) and np.all(model.expression_std == EXPRESSION_SCALE)
    # blendshape weights in [0, 1] under a sparse prior, named as the kit names them
    assert model.expression_range == (0.0, 1.0) and model.expression_prior == "laplace"
    assert model.expression_names == EXPRESSION_NAMES
    # The placeholder albedo is flat: constant mean, constant per-channel modes.
    assert np.ptp(model.albedo_mean.reshape(-1, 3), axis=0).max() == 0
    assert model.albedo_basis.shape[0] == 3 and np.ptp(model.albedo_basis.reshape(3, -1, 3), axis=1).max() == 0
    # PCA modes scaled by their eigenvalues' roots: magnitudes fall with the index.
    rms = np.sqrt((model.shape_basis**2).sum(axis=2).mean(axis=1))
    assert rms[0] > 0.3 and rms[0] > 5 * rms[50] > 0


def test_identity_mode_zero_is_the_kits_morph_target(face, ict_folder):
    from facetex.fitting.model import model_vertices

    model = ict_morphable_model(face)
    alpha = torch.zeros(100, dtype=torch.float64)
    alpha[0] = 1.0
    moved = model_vertices(model, alpha, torch.zeros(53, dtype=torch.float64)).numpy()
    arrays = read_ict_arrays(ict_folder)
    # identity000.obj = neutral + identity[0]: the kit's definition of coefficient 1.
    target = arrays.neutral.astype(np.float64) + arrays.identity[0].astype(np.float64)
    np.testing.assert_allclose(moved, target[face.ict_vertex], atol=1e-5)
    assert np.abs(moved - face.topology.vertices).max() > 0.5  # it does move the face (cm)
    jaw = face.expression_names.index("jawOpen")
    beta = torch.zeros(53, dtype=torch.float64)
    beta[jaw] = 1.0
    opened = model_vertices(model, torch.zeros(100, dtype=torch.float64), beta).numpy()
    chin = face.landmark_vertices[8]
    assert opened[chin, 1] < face.topology.vertices[chin, 1] - 0.5  # jawOpen lowers the chin


# -- errors -------------------------------------------------------------------------------------


def _folder_with(tmp_path: Path, source: Path, npz_bytes: bytes | None) -> Path:
    folder = tmp_path / "ict-facekit"
    folder.mkdir()
    for name in ("generic_neutral_mesh.obj", "vertex_indices.json"):
        (folder / name).symlink_to(source / name)
    if npz_bytes is not None:
        (folder / "ict_face_model_light.npz").write_bytes(npz_bytes)
    return folder


def test_missing_folder_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FACETEX_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(IctModelError) as info:
        ict_dir()
    assert isinstance(info.value, DatabaseError)
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "ict-facekit") in message
    assert "FACETEX_DATA" in message and "ICT-FaceKit" in message
    with pytest.raises(IctModelError):
        load_ict_face()


def test_missing_npz_is_one_clear_error(tmp_path, ict_folder, monkeypatch):
    _folder_with(tmp_path, ict_folder, None)
    monkeypatch.setenv("FACETEX_DATA", str(tmp_path))
    with pytest.raises(IctModelError, match="ict_face_model_light.npz is missing"):
        load_ict_face()


def test_truncated_npz_is_one_clear_error(tmp_path, ict_folder):
    with open(ict_folder / "ict_face_model_light.npz", "rb") as handle:
        head = handle.read(1 << 20)
    folder = _folder_with(tmp_path, ict_folder, head)
    with pytest.raises(IctModelError, match="is damaged"):
        load_ict_face(folder)


def test_npz_with_wrong_arrays_is_one_clear_error(tmp_path, ict_folder):
    folder = _folder_with(tmp_path, ict_folder, None)
    np.savez(folder / "ict_face_model_light.npz", neutral=np.zeros((10, 3), np.float32))
    with pytest.raises(IctModelError, match="is damaged .*no array"):
        load_ict_face(folder)


def test_damaged_obj_is_one_clear_error(tmp_path, ict_folder):
    folder = tmp_path / "ict-facekit"
    folder.mkdir()
    for name in ("ict_face_model_light.npz", "vertex_indices.json"):
        (folder / name).symlink_to(ict_folder / name)
    text = (ict_folder / "generic_neutral_mesh.obj").read_text(encoding="utf-8")
    (folder / "generic_neutral_mesh.obj").write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(IctModelError, match="generic_neutral_mesh.obj is damaged"):
        load_ict_face(folder)


# -- the correspondence ---------------------------------------------------------------------------


def _surface_points(face, record, rows=slice(0, 468)):
    points = record["points"][rows]
    tri = np.asarray([p[1] for p in points])
    bary = np.asarray([p[4] for p in points])
    t = face.topology
    return tri, bary, np.einsum("nk,nkc->nc", bary, t.vertices[t.faces[tri]])


def test_correspondence_is_current_and_well_formed(face, correspondence, ict_folder):
    rec = correspondence
    assert rec["script"] == "scripts/ict_correspondence.py" and rec["date"]
    assert "MIT" in rec["licence"]
    for name in ICT_FILES:  # stale when the kit's files change: rerun the script
        assert rec["inputs"]["ict_facekit"][name] == file_sha256(ict_folder / name), name
    mesh_json = REPO / "facetex" / "geometry" / "data" / "face_mesh.json"
    assert rec["inputs"]["face_mesh"]["sha256"] == file_sha256(mesh_json)
    assert len(rec["points"]) == 478
    surfaces = [p[0] for p in rec["points"]]
    assert surfaces == ["face"] * 468 + ["eyeball_right"] * 5 + ["eyeball_left"] * 5
    tri, bary, _ = _surface_points(face, rec)
    assert (tri >= 0).all() and (tri < face.topology.faces.shape[0]).all()
    assert (bary >= -1e-7).all() and np.allclose(bary.sum(axis=1), 1.0, atol=1e-6)
    # The ICT vertex ids are the same triangle in the kit's numbering.
    ict = np.asarray([p[3] for p in rec["points"][:468]])
    assert np.array_equal(ict, face.ict_vertex[face.topology.faces[tri]])
    assert set(rec["jawline"]) <= set(rec["contour"]) <= set(range(468))
    assert len(rec["contour"]) == 36 and 152 in rec["jawline"] and 10 not in rec["jawline"]
    lic = (REPO / "facetex" / "geometry" / "data" / "ICT-FaceKit-LICENSE").read_text(encoding="utf-8")
    assert lic == (ict_folder / "LICENSE").read_text(encoding="utf-8")


def test_correspondence_reproduces_its_stored_residual(face, correspondence):
    rec = correspondence
    _, _, points = _surface_points(face, rec)
    mp_ids = np.asarray(rec["anchors"]["ibug68_to_mediapipe"])
    assert np.array_equal(face.ict_vertex[face.landmark_vertices], rec["anchors"]["ict_landmark_vertices"])
    anchors = face.topology.vertices[face.landmark_vertices]
    residual = 10.0 * np.linalg.norm(points[mp_ids] - anchors, axis=1)  # mm
    np.testing.assert_allclose(residual, rec["anchors"]["residual_mm"], atol=2e-3)
    stored = rec["residual_mm"]
    assert residual.mean() == pytest.approx(stored["anchors_68"]["mean"], abs=2e-3)
    assert residual.max() == pytest.approx(stored["anchors_68"]["max"], abs=2e-3)
    inner = residual[17:]
    assert inner.max() == pytest.approx(stored["anchors_inner_51"]["max"], abs=2e-3)
    assert inner.max() < 0.2  # the inner 51 anchors land on the kit's landmark vertices
    # Mirror symmetry of the result (both meshes are symmetric): left and right agree to 1 mm.
    right, left = points[33], points[263]
    assert np.linalg.norm(right * [-1, 1, 1] - left) < 0.1


def test_iris_points_lie_on_the_eyeballs(correspondence, ict_folder):
    v = read_ict_obj(ict_folder).vertices
    rec = correspondence
    for start, name, (lo, hi) in ((468, "right", (23021, 24590)), (473, "left", (21451, 23020))):
        eye = rec["eyeballs"][name]
        rows = rec["points"][start : start + 5]
        ids = np.asarray([p[3] for p in rows])
        assert ((ids >= lo) & (ids <= hi)).all() and all(p[1] == -1 for p in rows)
        pts = np.einsum("nk,nkc->nc", np.asarray([p[4] for p in rows]), v[ids])
        np.testing.assert_allclose(pts[0], eye["pupil_surface_point"], atol=1e-4)
        dist = np.linalg.norm(pts - np.asarray(eye["centre"]), axis=1)
        # on the eyeball's outer surface: the sclera sphere, the cornea bulging up to 3 mm out in front
        assert ((dist > eye["radius"]) & (dist < eye["radius"] + 0.3)).all()
        # contour points: +x, +y, −x, −y of the centre, at about the limbus radius
        offsets = pts[1:] - pts[0]
        assert offsets[0, 0] > 0.4 and offsets[1, 1] > 0.4 and offsets[2, 0] < -0.4 and offsets[3, 1] < -0.4
    # the subject's right eye (468) is at x < 0
    assert rec["eyeballs"]["right"]["centre"][0] < 0 < rec["eyeballs"]["left"]["centre"][0]


def test_face_tile_texel_density_against_the_mediapipe_chart(face):
    """docs/ict-model.md: the ICT tile needs R ≈ 608 to match the 512² mediapipe chart across the
    outer eye corners."""
    mp = load_face_mesh()
    lm = face.landmark_vertices
    ict_uv = np.linalg.norm(face.topology.uvs[lm[36]] - face.topology.uvs[lm[45]])
    mp_uv = np.linalg.norm(mp.uvs[33] - mp.uvs[263])
    assert 512 * mp_uv == pytest.approx(225.2, abs=0.1)
    assert 512 * mp_uv / ict_uv == pytest.approx(608, abs=1)


@pytest.mark.slow
def test_script_reproduces_the_file_bit_for_bit():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "ict_correspondence.py"), "--check"],
        capture_output=True, text=True, check=False, timeout=300, env=env,
    )
    assert run.returncode == 0, run.stderr[-2000:]


def test_docstring_examples_run():
    import doctest

    import facetex.geometry.ict_obj as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_face_region_of_the_tile_is_mediapipes_face_and_leaves_ears_and_neck_out(face):
    """The scored 'face' region of the ICT tile (issue 18's cross-layout comparison): inside the
    chart, on the cheeks and forehead, not on the ears or the neck; mediapipe's own mesh: its
    whole chart."""
    from facetex.geometry.ict import ict_morphable_model
    from facetex.geometry.topology import load_face_mesh
    from facetex.geometry.uv import chart_mask, face_region_mask

    topology = ict_morphable_model(face).topology
    r = 128
    chart, region = chart_mask(topology, r), face_region_mask(topology, r)
    assert not (region & ~chart).any()
    assert 0.3 < region.sum() / chart.sum() < 0.8

    def texel(vertex: int) -> tuple[int, int]:
        u, v = topology.uvs[vertex]
        return min(int((1.0 - v) * r), r - 1), min(int(u * r), r - 1)

    x, y = topology.vertices[:, 0], topology.vertices[:, 1]
    ear = int(np.argmax(np.abs(x)))  # the outermost vertex: an ear
    neck = int(np.argmin(y))  # the lowest: the bottom of the neck
    assert not region[texel(ear)] and not region[texel(neck)]
    nose_tip = int(np.argmax(topology.vertices[:, 2]))
    assert region[texel(nose_tip)]
    mediapipe = load_face_mesh()
    assert np.array_equal(face_region_mask(mediapipe, r), chart_mask(mediapipe, r))
