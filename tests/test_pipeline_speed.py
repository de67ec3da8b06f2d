"""The pipeline's use of a database's cached Grams, and one small end-to-end ``infer`` run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import skimage.data

from facetex.config import InferConfig
from facetex.errors import DatabaseError
from facetex.database.packing import pack_gram
from facetex.database.schema import LONDON_ATTRIBUTION, SourceFile, SubjectRecord
from facetex.database.store import load_database
from facetex.database.write import DatabaseContents, write_database
from facetex.fitting import FitConfig, generic_model
from facetex.geometry.topology import load_face_mesh
from facetex.geometry.uv import chart_mask
from facetex.pipeline import cached_grams, infer
from facetex.texture.analysis import blend_grams, compute_grams
from facetex.texture.color import luminance
from facetex.texture.config import Stage, TextureConfig
from facetex.texture.vgg import load_vgg19

R = 64
LAYERS = TextureConfig().gram_layers
PERSONS = ("001", "002", "003")


@pytest.fixture(scope="module")
def vgg():
    return load_vgg19("cpu")


@pytest.fixture(scope="module")
def database(tmp_path_factory, vgg):
    """3 persons × 2 photos; textures are crops of scikit-image's natural textures on the real
    UV chart; complete fp32 Grams stored at 64² (and a layer-complete set at 32²)."""
    topology = load_face_mesh()
    model = generic_model(topology)
    chart = chart_mask(topology, R)
    sources = [skimage.data.brick(), skimage.data.grass(), skimage.data.gravel()]
    albedo = []
    for i in range(2 * len(PERSONS)):
        grey = sources[i % 3][64 * i : 64 * i + R, 32 * i : 32 * i + R]
        rgb = np.stack([grey, (grey * 0.8).astype(np.uint8), (grey * 0.7).astype(np.uint8)], axis=-1)
        rgb[~chart] = 128
        albedo.append(rgb)
    albedo = np.stack(albedo).astype(np.uint8)
    stored = albedo.astype(np.float32) / 255.0
    stored[:, ~chart] = 0.5
    grams = {}
    for size in (R, R // 2):
        y = luminance(stored) if size == R else luminance(stored[:, ::2, ::2])
        computed = compute_grams(y, vgg, layers=LAYERS)
        grams[size] = {layer: pack_gram(g, "float32") for layer, g in computed.grams.items()}
    n = albedo.shape[0]
    subjects = tuple(
        SubjectRecord(f"{p}_{code}", p, expr, f"{p}_{code}.jpg")
        for p in PERSONS for code, expr in (("03", "neutral"), ("08", "smiling"))
    )
    contents = DatabaseContents(
        name="tiny", subjects=subjects, albedo=albedo, fill_map=np.where(chart, 3, 0).astype(np.uint8)[None].repeat(n, 0),
        chart=chart, vertices=np.repeat(topology.vertices[None], n, 0),
        shape_coeffs=np.zeros((n, model.shape_basis.shape[0])),
        expression_coeffs=np.zeros((n, model.expression_basis.shape[0])),
        albedo_coeffs=np.zeros((n, model.albedo_basis.shape[0])), sh_coeffs=np.zeros((n, 9, 3)),
        lighting=np.zeros((9, 3)), grams=grams, model=model, build_params={"resolution": R},
        sources=(SourceFile("/nowhere/001_03.jpg", "ab" * 32, 10),), attribution=LONDON_ATTRIBUTION,
    )
    return load_database(write_database(tmp_path_factory.mktemp("db") / "tiny.h5", contents))


def test_cached_grams_follow_the_schedule_and_the_exclusion(database):
    config = TextureConfig(schedule=(Stage(32, 3), Stage(64, 2)))
    cached = cached_grams(database, config, ("002",))
    assert sorted(cached) == [32, 64]
    assert all(g.count == 4 and g.layers == LAYERS for g in cached.values())
    full = database.gram_set(64)
    everyone = cached[64].take(np.arange(4), ["relu3_1"]).grams["relu3_1"]
    np.testing.assert_array_equal(everyone, full.grams["relu3_1"][[0, 1, 4, 5]])
    # Read on demand: any rows, in the order asked, without the others.
    picked = cached[64].take(np.array([3, 0]), ["relu1_1", "relu5_1"])
    assert picked.layers == ("relu1_1", "relu5_1") and picked.count == 2
    np.testing.assert_array_equal(picked.grams["relu5_1"], full.grams["relu5_1"][[5, 0]])
    np.testing.assert_array_equal(picked.grams["relu1_1"], database.gram_set(64, layers=["relu1_1"]).grams["relu1_1"][[5, 0]])
    assert sorted(cached_grams(database, config.replace(schedule=(Stage(128, 2),)))) == []
    with pytest.raises(DatabaseError, match="not 128"):
        database.stored_grams(128)
    with pytest.raises(DatabaseError, match="relu1_2"):
        database.stored_grams(64, layers=["relu1_2"])
    with pytest.raises(DatabaseError, match="relu1_2"):
        cached[64].take(np.array([0]), ["relu1_2"])
    # A layer the database does not store: nothing is cached, the texture stage computes it all.
    assert cached_grams(database, config.replace(gram_layers=("relu1_1", "relu1_2"))) == {}


@pytest.mark.slow
def test_infer_blends_the_cached_grams_end_to_end(database, vgg, monkeypatch):
    import facetex.texture.inference as inference
    from facetex.io.images import demo_photo

    def refuse(*args, **kwargs):
        raise AssertionError("complete exemplar Grams were recomputed although the database stores them")

    monkeypatch.setattr(inference, "compute_grams", refuse)
    base = InferConfig().with_resolution(R)
    config = dataclasses.replace(
        base,
        fit=FitConfig(steps=(3, 2, 1), landmark_steps=3, alternations=1, max_size=128),
        texture=base.texture.replace(schedule=(Stage(R, 2),), analysis_size=None,
                                     preselect_count=2, preselect_size=None),
        report=False,
    )
    result = infer(demo_photo(), database, config, vgg=vgg, exclude_persons=("001",), progress=False)
    assert result.albedo.shape == (R, R, 3) and result.albedo.dtype == np.float32
    assert result.subject_ids == ("002_03", "002_08", "003_03", "003_08")
    weights = result.blend.weights
    assert weights.shape == (4,) and weights.min() >= 0.0 and abs(weights.sum() - 1.0) <= 1e-12
    expected = blend_grams(weights, database.gram_set(R, exclude_persons=("001",)))
    for layer in LAYERS:
        np.testing.assert_allclose(result.blend.target.grams[layer], expected.grams[layer], rtol=1e-5)
    for stage in ("detect", "fit", "unwrap", "load_database", "texture", "maps"):
        assert result.timings[stage] >= 0.0 and result.peak_memory_mib[stage] > 0.0
    assert {"texture.preselection", "texture.analysis", "texture.targets", "texture.synthesis"} <= set(result.timings)
    assert result.timings["texture.preselection"] > 0.0  # 4 exemplars > a shortlist of 2
    assert len(result.synthesis.losses) == 3 and result.synthesis.losses[-1] < result.synthesis.losses[0]
