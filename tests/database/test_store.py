"""Database file: round trip of constructed contents, leave-one-out queries, damaged files."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from facetex.database.packing import pack_gram, unpack_gram
from facetex.database.schema import LONDON_ATTRIBUTION, SCHEMA_VERSION, SourceFile, SubjectRecord
from facetex.database.store import load_database
from facetex.database.write import DatabaseContents, write_database
from facetex.errors import DatabaseError
from facetex.types import MeshTopology, MorphableModel

N, R, V = 4, 16, 5


def _grams(rng, n, c, positions=50):
    f = rng.uniform(0, 300, size=(n, c, positions))
    return np.einsum("ncm,ndm->ncd", f, f) / positions


@pytest.fixture(scope="module")
def contents() -> DatabaseContents:
    rng = np.random.default_rng(3)
    topology = MeshTopology(rng.normal(size=(V, 3)), rng.uniform(size=(V, 2)), np.array([[0, 1, 2], [2, 3, 4]]), np.ones(V))
    model = MorphableModel(
        "tiny", topology, rng.normal(size=(2, V, 3)), np.array([1.0, 0.5]), rng.normal(size=(1, V, 3)),
        np.array([0.3]), np.full((8, 8, 3), 0.5, np.float32), rng.normal(size=(3, 8, 8, 3)).astype(np.float32),
        np.array([0.2, 0.1, 0.05]),
    )
    subjects = tuple(
        SubjectRecord(f"{p}_{code}", p, expr, f"{p}_{code}.jpg", 30 + i, "female", "white", {"landmark_rmse": 1.5 + i})
        for i, (p, code, expr) in enumerate([("001", "03", "neutral"), ("001", "08", "smiling"),
                                             ("002", "03", "neutral"), ("002", "08", "smiling")])
    )
    return DatabaseContents(
        name="tiny", subjects=subjects,
        albedo=rng.integers(0, 256, size=(N, R, R, 3), dtype=np.uint8),
        fill_map=rng.integers(0, 4, size=(N, R, R), dtype=np.uint8),
        chart=rng.uniform(size=(R, R)) > 0.3,
        vertices=rng.normal(size=(N, V, 3)), shape_coeffs=rng.normal(size=(N, 2)),
        expression_coeffs=rng.normal(size=(N, 1)), albedo_coeffs=rng.normal(size=(N, 3)),
        sh_coeffs=rng.normal(size=(N, 9, 3)), lighting=rng.normal(size=(9, 3)),
        grams={r: {"relu1_1": pack_gram(_grams(rng, N, 8), "float16"),
                   "relu2_1": pack_gram(_grams(rng, N, 12), "float16")} for r in (32, 16)},
        model=model, build_params={"resolution": R}, sources=(SourceFile("/x/001_03.jpg", "ab" * 32, 10),),
        attribution=LONDON_ATTRIBUTION, build_report={"rounds": []},
    )


@pytest.fixture()
def db_path(tmp_path, contents):
    return write_database(tmp_path / "tiny.h5", contents)


def test_round_trip(db_path, contents):
    db = load_database(db_path)
    assert db.name == "tiny" and db.resolution == R
    assert db.gram_resolutions == (16, 32) and db.gram_layers == ("relu1_1", "relu2_1")
    assert db.subjects() == contents.subjects
    assert db.persons == ("001", "002")
    assert db.attribution == LONDON_ATTRIBUTION
    assert db.manifest["schema_version"] == SCHEMA_VERSION
    assert db.manifest["sources"][0]["sha256"] == "ab" * 32
    textures = db.textures()
    chart = contents.chart
    np.testing.assert_array_equal(np.round(textures[:, chart] * 255).astype(np.uint8), contents.albedo[:, chart])
    np.testing.assert_array_equal(textures[:, ~chart], 0.5)
    np.testing.assert_array_equal(db.fill_maps(), contents.fill_map)
    np.testing.assert_array_equal(db.chart, contents.chart)
    np.testing.assert_allclose(db.vertices(), contents.vertices, rtol=1e-6)
    np.testing.assert_array_equal(db.coefficients("albedo"), contents.albedo_coeffs)
    np.testing.assert_array_equal(db.lighting, contents.lighting)
    g = db.grams("relu2_1", 32)
    ref = unpack_gram(contents.grams[32]["relu2_1"])
    assert g.dtype == np.float32 and g.shape == ref.shape
    np.testing.assert_array_equal(g, ref)
    model = db.morphable_model()
    for name in ("shape_basis", "shape_std", "expression_basis", "albedo_mean", "albedo_basis", "albedo_std"):
        np.testing.assert_array_equal(getattr(model, name), getattr(contents.model, name))
    np.testing.assert_array_equal(model.topology.faces, contents.model.topology.faces)


def test_leave_one_out_excludes_both_photos_of_a_person(db_path, contents):
    db = load_database(db_path)
    kept = db.subjects(exclude_persons=["001"])
    assert [s.subject_id for s in kept] == ["002_03", "002_08"]
    assert db.subjects(exclude_persons="002") == db.subjects(exclude_persons=["002"])
    kept_textures = db.textures(exclude_persons=["001"])
    np.testing.assert_array_equal(np.round(kept_textures[:, contents.chart] * 255), contents.albedo[2:, contents.chart])
    grams = db.gram_set(16, exclude_persons=["002"])
    assert grams.count == 2 and grams.layers == ("relu1_1", "relu2_1")
    np.testing.assert_array_equal(grams.grams["relu1_1"], unpack_gram(contents.grams[16]["relu1_1"])[:2])
    assert db.textures(exclude_persons=["001", "002"]).shape == (0, R, R, 3)
    with pytest.raises(DatabaseError, match="unknown person"):
        db.subjects(exclude_persons=["999"])
    with pytest.raises(DatabaseError, match="not 64"):
        db.grams("relu1_1", 64)


def test_gram_packing_precision(rng):
    grams = _grams(rng, 3, 20)
    grams[1] *= 1e-4  # matrices of very different magnitude get their own scale
    for dtype, tol in (("float32", 1e-6), ("float16", 1e-3)):
        packed = pack_gram(grams, dtype)
        assert packed.values.shape == (3, 20 * 21 // 2) and packed.channels == 20
        back = unpack_gram(packed)
        for b, g in zip(back, grams):
            assert np.abs(b - g).max() <= tol * np.abs(g).max()
        np.testing.assert_array_equal(back, np.swapaxes(back, 1, 2))


def test_non_hdf5_file_is_refused(tmp_path):
    path = tmp_path / "photo.h5"
    path.write_bytes(b"\xff\xd8\xff\xe0 not a database")
    with pytest.raises(DatabaseError, match="not an HDF5"):
        load_database(path)
    with pytest.raises(DatabaseError, match="no texture database"):
        load_database(tmp_path / "missing.h5")


def test_foreign_hdf5_is_refused(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.arange(3))
    with pytest.raises(DatabaseError, match="not a facetex texture database"):
        load_database(path)


def test_schema_mismatch_is_refused(db_path):
    with h5py.File(db_path, "r+") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(DatabaseError, match=f"schema version {SCHEMA_VERSION + 1}.*rebuild"):
        load_database(db_path)


def test_truncated_file_is_refused(db_path):
    data = db_path.read_bytes()
    db_path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DatabaseError, match="damaged or truncated"):
        load_database(db_path)


def test_changed_data_fails_the_checksum(db_path):
    with h5py.File(db_path, "r+") as f:
        f["subjects/shape_coeffs"][0, 0] += 1.0
    with pytest.raises(DatabaseError, match="checksum"):
        load_database(db_path)
    assert load_database(db_path, verify=False).name == "tiny"


def test_missing_dataset_is_reported(db_path):
    with h5py.File(db_path, "r+") as f:
        del f["model/albedo_basis"]
    with pytest.raises(DatabaseError, match="missing model/albedo_basis"):
        load_database(db_path)


def test_handle_refuses_a_file_changed_after_loading(db_path, contents, tmp_path):
    db = load_database(db_path)
    write_database(db_path, contents)  # replaced atomically: new inode, new mtime
    with pytest.raises(DatabaseError, match="changed on disk"):
        db.textures()


def test_manifest_is_json_with_provenance(db_path):
    with h5py.File(db_path, "r") as f:
        manifest = json.loads(f["manifest"].asstr()[()])
    assert manifest["facetex_version"]
    assert manifest["build_params"] == {"resolution": R}
    assert manifest["attribution"].startswith("Face Research Lab London Set")


def test_failed_write_leaves_no_file(tmp_path, contents):
    bad = DatabaseContents(**{**contents.__dict__, "fill_map": contents.fill_map[:2]})
    with pytest.raises(Exception):
        write_database(tmp_path / "bad.h5", bad)
    assert list(tmp_path.iterdir()) == []


def test_textures_can_be_read_downsampled(db_path, contents):
    db = load_database(db_path)
    full = db.textures()
    small = db.textures(resolution=R // 2, exclude_persons=["002"])
    assert small.shape == (2, R // 2, R // 2, 3)
    # area averaging: each small texel is the mean of its 2 × 2 block of the full map
    expected = full[:2].reshape(2, R // 2, 2, R // 2, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(small, expected, atol=1e-6)


def test_luminances_and_subject_textures_read_what_textures_reads(db_path, contents):
    from facetex.texture.color import luminance

    db = load_database(db_path)
    full = db.textures()
    np.testing.assert_allclose(db.luminances(), luminance(full), atol=1e-6)
    small = db.luminances(resolution=R // 2, exclude_persons=["002"])
    np.testing.assert_allclose(small, luminance(db.textures(resolution=R // 2, exclude_persons=["002"])), atol=1e-6)
    assert small.shape == (2, R // 2, R // 2)
    ids = [s.subject_id for s in db.subjects()]
    picked = db.subject_textures([ids[2], ids[0], ids[2]])
    np.testing.assert_array_equal(picked, full[[2, 0, 2]])  # the order given, repeats allowed
    assert db.subject_textures([]).shape == (0, R, R, 3)
    with pytest.raises(DatabaseError, match="unknown subject"):
        db.subject_textures(["nobody"])
