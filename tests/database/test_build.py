"""End to end: a 4-photo database (2 London persons × neutral + smiling) built once per session."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from facetex.database.build import build_database
from facetex.database.default import default_database_path, ensure_default_database
from facetex.database.fill import INPAINTED, MIRRORED, OBSERVED, OFF_CHART
from facetex.database.lighting import global_lighting
from facetex.database.photos import PhotoSource, collect_photos
from facetex.database.schema import LANDMARK_MAP_FIELDS, LONDON_ATTRIBUTION, SCHEMA_VERSION
from facetex.database.store import load_database
from facetex.errors import DatabaseError
from facetex.geometry.ict_files import ICT_ATTRIBUTION

PERSONS = ("001", "002")


@pytest.mark.slow
def test_build_accepts_all_photos_and_reports_rounds(built):
    summary, path, _, _ = built
    assert summary.photos == 4 and summary.accepted == 4 and summary.rejected == {}
    assert summary.success_rate == 1.0
    assert [r.index for r in summary.rounds] == [0, 1, 2]
    # The ICT Face Model (its placeholder albedo) fits rounds 0 and 1, then the learned model.
    assert [r.model for r in summary.rounds] == ["ict", "ict", "london-round1"]
    assert summary.rounds[0].vertex_change_cm is None
    for r in summary.rounds:
        assert r.accepted == 4 and 0.0 < r.landmark_rmse_iod < 0.1
    for r in summary.rounds[1:]:
        assert np.isfinite(r.vertex_change_cm) and r.vertex_change_cm < 2.0
    assert summary.lighting.shape == (9, 3) and np.all(np.isfinite(summary.lighting))
    assert summary.lighting[0].min() > 0  # the DC term of a studio light is positive
    assert path.is_file()


@pytest.mark.slow
def test_database_round_trip(built, shared_data):
    summary, path, _, sources = built
    db = load_database(path)
    subjects = db.subjects()
    assert [s.subject_id for s in subjects] == ["001_03", "001_08", "002_03", "002_08"]
    assert [s.expression for s in subjects] == ["neutral", "smiling"] * 2
    assert db.persons == PERSONS
    first = subjects[0]  # info.csv: 001, 24, female, white
    assert (first.age, first.gender, first.ethnicity) == (24, "female", "white")
    assert first.diagnostics["observed_fraction"] > 0.3
    assert db.manifest["schema_version"] == SCHEMA_VERSION
    assert db.attribution == f"{LONDON_ATTRIBUTION}; face model: {ICT_ATTRIBUTION}"
    files = {Path(s["path"]).name: s["sha256"] for s in db.manifest["sources"]}
    for src in sources:
        assert files[src.path.name] == hashlib.sha256(src.path.read_bytes()).hexdigest()

    textures, fill = db.textures(), db.fill_maps()
    assert textures.shape == (4, 128, 128, 3) and fill.shape == (4, 128, 128)
    chart = db.chart
    assert 0.9 < chart.mean() < 0.99  # the ICT face tile fills 96 % of the square
    np.testing.assert_array_equal(textures[:, ~chart], 0.5)
    assert (fill[:, ~chart] == OFF_CHART).all()
    assert set(np.unique(fill[:, chart])) <= {INPAINTED, MIRRORED, OBSERVED}
    assert ((fill == OBSERVED).sum(axis=(1, 2)) > 0.3 * chart.sum()).all()
    # A complete, skin-coloured texture: red > green > blue on average over the chart.
    mean = textures[:, chart].mean(axis=1)
    assert np.all(mean[:, 0] > mean[:, 1]) and np.all(mean[:, 1] > mean[:, 2])

    model = db.morphable_model()
    from facetex.fitting.model import validate_model
    from facetex.geometry.ict import ict_morphable_model

    validate_model(model)
    assert model.name == "london" and db.face_model == "ict"
    # The kit's geometry, stored whole: 100 identity modes, 53 named blendshapes, the landmark
    # map and the photometric triangles; nothing of it is learned from 4 photos.
    kit = ict_morphable_model()
    assert model.shape_basis.shape == (100, 9547, 3) and model.expression_basis.shape == (53, 9547, 3)
    for name in ("shape_basis", "shape_std", "expression_basis", "expression_std"):
        np.testing.assert_array_equal(getattr(model, name), getattr(kit, name), err_msg=name)
    for name in ("vertices", "uvs", "faces", "landmark_weights", "fit_faces"):
        np.testing.assert_array_equal(getattr(model.topology, name), getattr(kit.topology, name), err_msg=name)
    for name in LANDMARK_MAP_FIELDS:
        np.testing.assert_array_equal(getattr(model.topology.landmark_map, name),
                                      getattr(kit.topology.landmark_map, name), err_msg=name)
    assert model.expression_names == kit.expression_names and len(model.expression_names) == 53
    assert model.expression_range == (0.0, 1.0) and model.expression_prior == "laplace"
    # Only the albedo is learned: 4 textures, at most 3 centred modes.
    assert model.albedo_basis.shape == (3, 64, 64, 3)
    assert not np.allclose(model.albedo_mean, kit.albedo_mean)
    assert db.coefficients("shape").shape == (4, 100)
    expression = db.coefficients("expression")
    assert expression.shape == (4, 53) and expression.min() >= 0.0 and expression.max() <= 1.0
    smile = expression[:, [model.expression_names.index("mouthSmile_L"), model.expression_names.index("mouthSmile_R")]]
    assert np.all(smile[[1, 3]].sum(axis=1) > smile[[0, 2]].sum(axis=1))  # each person smiles in the _08 photo


@pytest.mark.slow
def test_held_out_model_keeps_the_ict_geometry(built):
    """`facetex infer --exclude-person` and the evaluation protocol on an ICT database: the kit's
    geometry stays (a fit needs its landmark map); only the albedo PCA is re-learned."""
    from facetex.database.holdout import model_without
    from facetex.database.pca import downsample_textures

    db = load_database(built[1])
    stored = db.morphable_model()
    model = model_without(db, ["002"])
    assert model.name == "london-held-out"
    assert model.topology.landmark_map is not None and model.topology.fit_faces is not None
    np.testing.assert_array_equal(model.shape_basis, stored.shape_basis)
    np.testing.assert_array_equal(model.expression_basis, stored.expression_basis)
    np.testing.assert_array_equal(model.topology.vertices, stored.topology.vertices)
    np.testing.assert_array_equal(model.topology.landmark_map.vertices, stored.topology.landmark_map.vertices)
    assert (model.expression_range, model.expression_prior, model.expression_names) == (
        stored.expression_range, stored.expression_prior, stored.expression_names)
    kept = downsample_textures(db.textures(exclude_persons=["002"]), stored.albedo_mean.shape[0])
    np.testing.assert_allclose(model.albedo_mean, kept.mean(axis=0), atol=1e-5)
    assert model.albedo_basis.shape == (1, 64, 64, 3)  # two textures: one direction


@pytest.mark.slow
def test_stored_grams_match_a_fresh_computation(built):
    from facetex.database.fill import gram_region_mask
    from facetex.database.pca import downsample_textures
    from facetex.fitting.visibility import feature_texels
    from facetex.texture.analysis import compute_grams
    from facetex.texture.color import luminance
    from facetex.texture.vgg import load_vgg19

    db = load_database(built[1])
    assert db.gram_region == "skin"  # the default: Grams of the skin the photo showed
    texture = downsample_textures(db.textures()[:1], 64)[0]
    features = feature_texels(db.morphable_model().topology, db.resolution)
    regions = gram_region_mask(db.fill_maps()[:1], db.gram_region, 64, features)
    vgg = load_vgg19()
    fresh = compute_grams(luminance(texture)[None], vgg, layers=db.gram_layers, regions=regions)
    whole = compute_grams(luminance(texture)[None], vgg, layers=db.gram_layers)
    for layer in db.gram_layers:
        stored = db.grams(layer, 64)
        assert stored.shape[0] == 4 and stored.shape[1:] == fresh.grams[layer].shape[1:]
        ref = fresh.grams[layer][0]
        # float16 storage (rel. 5e-4) and 8-bit texture storage
        assert np.abs(stored[0] - ref).max() <= 2e-3 * np.abs(ref).max()
        # ... and not the whole texture's Gram (its smooth fill lowers the energy)
        assert np.abs(stored[0] - whole.grams[layer][0]).max() > 2e-2 * np.abs(ref).max()
    assert db.gram_set(128).grams["relu5_1"].shape == (4, 512, 512)


@pytest.mark.slow
def test_leave_one_person_out(built):
    db = load_database(built[1])
    kept = db.subjects(exclude_persons=["001"])
    assert [s.subject_id for s in kept] == ["002_03", "002_08"]
    assert db.textures(exclude_persons=["001"]).shape[0] == 2
    assert db.gram_set(64, exclude_persons=["001"]).count == 2
    np.testing.assert_array_equal(db.textures(exclude_persons=["001"]), db.textures()[2:])


@pytest.mark.slow
def test_build_log_is_json_lines(built):
    summary = built[0]
    events = [json.loads(line) for line in summary.log_path.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("photo") == 12 and kinds.count("round") == 3 and kinds.count("lighting") == 1


@pytest.mark.slow
def test_rerun_reuses_finished_photos_and_rejects_a_faceless_photo(built, small_config, tmp_path):
    from PIL import Image

    summary, path, work, sources = built
    blank = tmp_path / "blank.png"
    Image.new("RGB", (256, 256), (128, 128, 128)).save(blank)
    extra = PhotoSource(path=blank, subject_id="blank", person_id="blank")
    again = build_database((*sources, extra), tmp_path / "again.h5", small_config, work_dir=work, progress=False)
    assert again.accepted == 4
    assert set(again.rejected) == {"blank"} and "NoFaceError" in again.rejected["blank"]
    events = [json.loads(line) for line in again.log_path.read_text().splitlines()]
    photo_events = [e for e in events if e["event"] == "photo" and e["subject"] != "blank"]
    assert len(photo_events) == 12 and all(e["cached"] for e in photo_events)
    np.testing.assert_array_equal(load_database(again.path).textures(), load_database(path).textures())


def test_collect_photos_reads_london_names_and_demographics(shared_data, tmp_path):
    sources = collect_photos([shared_data / "london" / "smiling", shared_data / "london" / "neutral"], limit=5)
    assert [s.subject_id for s in sources] == ["001_03", "001_08", "002_03", "002_08", "003_03"]
    assert sources[1].person_id == "001" and sources[1].expression == "smiling"
    assert sources[2].age == 24 and sources[2].gender == "female"
    with pytest.raises(DatabaseError, match="no such photo"):
        collect_photos([tmp_path / "missing.jpg"])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        (tmp_path / folder / "x.png").write_bytes(b"")
    with pytest.raises(DatabaseError, match="distinct file names"):
        collect_photos([tmp_path])


def test_global_lighting_undoes_the_albedo_light_ambiguity(rng):
    truth = rng.normal(size=(9, 3))
    truth[0] = (3.0, 3.2, 3.4)
    reference = np.array([0.7, 0.55, 0.45])
    scale = reference * rng.uniform(0.6, 1.4, size=(7, 3))  # each fit's albedo brightness
    sh = truth[None] * (reference / scale)[:, None, :]  # …traded against its light intensity
    lighting, spread = global_lighting(sh, scale, reference)
    np.testing.assert_allclose(lighting, truth, rtol=1e-12)
    assert spread < 1e-12
    with pytest.raises(ValueError):
        global_lighting(sh[:, :4], scale, reference)


def test_default_database_path_lives_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACETEX_CACHE", str(tmp_path))
    path = default_database_path()
    assert path.parent.parent == tmp_path and f"v{SCHEMA_VERSION}" in path.name


@pytest.mark.slow
def test_ensure_default_database_reuses_a_valid_file(built, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("FACETEX_CACHE", str(tmp_path))
    target = default_database_path()
    target.parent.mkdir(parents=True)
    shutil.copyfile(built[1], target)
    stamp = target.stat().st_mtime_ns
    assert ensure_default_database(progress=False) == target
    assert target.stat().st_mtime_ns == stamp  # loaded and kept, not rebuilt


@pytest.mark.slow
def test_a_database_of_neutral_photos_only_builds_and_fits(shared_data, small_config, tmp_path):
    """Issue 15: four neutral photos, no smiling pair → no expression modes, which the build's
    last step could not reshape after every round had run. It must build, load and fit.
    On mediapipe's mesh, the build that learns identity and expression too (the ICT model
    keeps its 53 blendshapes whatever the photos)."""
    import dataclasses

    from facetex.detect import detect_face
    from facetex.fitting import UnwrapConfig, fit_face, unwrap_albedo
    from facetex.io.images import load_photo

    neutral = shared_data / "london" / "neutral"
    sources = collect_photos([neutral / f"{person}_03.jpg" for person in ("001", "004", "005", "008")])
    config = dataclasses.replace(small_config, face_model="mediapipe")
    summary = build_database(sources, tmp_path / "neutral.h5", config, work_dir=tmp_path / "work", progress=False)
    assert summary.accepted == 4
    assert [r.model for r in summary.rounds] == ["generic", "generic", "london-round1"]
    db = load_database(summary.path)
    assert db.face_model == "mediapipe" and db.attribution == LONDON_ATTRIBUTION
    model = db.morphable_model()
    assert model.topology.landmark_map is None and model.expression_names is None
    assert model.shape_basis.shape == (3, 468, 3)  # four persons' neutral meshes: three directions
    assert model.expression_basis.shape == (0, 468, 3) and model.expression_std.shape == (0,)
    assert db.coefficients("shape").shape == (4, 3)
    assert db.coefficients("expression").shape == (4, 0)

    photo = load_photo(neutral / "002_03.jpg")
    detection = detect_face(photo)
    fit = fit_face(photo, detection, model, small_config.fit)
    assert fit.expression_coeffs.shape == (0,)
    assert fit.diagnostics.landmark_rmse_iod < 0.1
    partial = unwrap_albedo(photo, detection, fit, model, UnwrapConfig(resolution=64))
    assert partial.mask.sum() > 0.2 * partial.chart.sum()
