"""The composed settings: round trip through JSON/TOML, presets, and clear errors."""

from __future__ import annotations

import dataclasses
import json

import pytest

from facetex.config import ConfigError, InferConfig, config_from_dict, config_to_dict, load_config
from facetex.texture.config import Stage


def test_round_trip_through_json_keeps_every_setting():
    config = InferConfig().with_resolution(256)
    data = json.loads(json.dumps(config_to_dict(config)))
    assert config_from_dict(InferConfig, data) == config


def test_paper_preset_is_the_papers_recipe():
    paper = InferConfig.paper()
    assert paper.texture.schedule == (Stage(640, 1000),)
    assert paper.resolution == paper.unwrap.resolution == 640
    assert paper.texture.solver == "convex"
    assert paper.texture.gram_layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert not paper.texture.bf16_grams
    assert paper.texture.early_stop_tolerance == 0.0
    assert (paper.fit.w_color, paper.fit.w_landmark, paper.fit.w_reg) == (1.0, 10.0, 2.5e-5)
    assert paper.fit.steps == (30, 10, 3)


def test_with_resolution_moves_uv_maps_and_last_stage_together():
    config = InferConfig().with_resolution(1024)
    assert config.resolution == 1024 and config.unwrap.resolution == 1024


def test_with_resolution_keeps_coarse_stages_relative_to_the_last():
    base = InferConfig()
    coarse = dataclasses.replace(base, texture=base.texture.replace(
        schedule=(Stage(320, 100, True), Stage(640, 50, True))))
    assert coarse.with_resolution(1280).texture.schedule == (Stage(640, 100, True), Stage(1280, 50, True))
    assert coarse.with_resolution(64).texture.schedule == (Stage(32, 100, True), Stage(64, 50, True))
    assert coarse.with_resolution(32).texture.schedule == (Stage(32, 50, True),)  # nothing coarser fits


def test_toml_file_overrides_only_what_it_names(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('[texture]\nalpha = 5\nschedule = [[256, 40], [512, 10]]\n[fit]\nsteps = [3, 2, 1]\n')
    config = load_config(path)
    assert config.texture.alpha == 5.0
    assert config.texture.schedule == (Stage(256, 40), Stage(512, 10))
    assert config.fit.steps == (3, 2, 1)
    assert config.fit.w_landmark == InferConfig().fit.w_landmark


@pytest.mark.parametrize(
    "text, message",
    [
        ("[texture]\nalpah = 5\n", "unknown setting 'texture.alpah'"),
        ("[texture]\nsolver = 3\n", "texture.solver: expected one of .convex., .linear., .closest., got 3"),
        ("[texture]\nsolver = 'lasso'\n", "texture.solver: expected one of .convex., .linear., .closest., got 'lasso'"),
        ("[texture\n", "not valid TOML"),
    ],
)
def test_bad_settings_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(path)


def test_missing_settings_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read settings file"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("make", "field"),
    [
        ("facetex.texture.config:TextureConfig", {"alpha": float("inf")}),
        ("facetex.texture.config:TextureConfig", {"history_size": 1.5}),
        ("facetex.texture.config:Stage", {"size": 64, "iterations": 1e9}),
        ("facetex.texture.config:Stage", {"size": 100_000, "iterations": 3}),
        ("facetex.fitting.config:FitConfig", {"steps": (-1, 0, 3)}),
        ("facetex.fitting.config:FitConfig", {"w_reg": float("nan")}),
        ("facetex.fitting.config:FitConfig", {"robust": "cauchy"}),
        ("facetex.fitting.config:UnwrapConfig", {"resolution": 7}),
        ("facetex.fitting.config:VisibilityConfig", {"min_cos_view": 2.0}),
        ("facetex.detect:DetectConfig", {"max_faces": 1e9}),
        ("facetex.database.config:DatabaseConfig", {"jobs": 0}),
        ("facetex.database.config:PCAConfig", {"albedo_resolution": 0}),
        ("facetex.database.config:SpecularConfig", {"mad_factor": -1.0}),
        ("facetex.render.maps:DetailMapConfig", {"lowpass_sigma": 0.0}),
        ("facetex.render.export:ExportConfig", {"subdivisions": 9}),
        ("facetex.render.mitsuba_render:RenderConfig", {"spp": 0}),
    ],
)
def test_every_config_checks_its_ranges(make, field):
    """Library and CLI share one check per setting, in the dataclass (issue 15)."""
    import importlib

    from facetex.checks import SettingValueError

    module, name = make.split(":")
    cls = getattr(importlib.import_module(module), name)
    base = {"size": 64, "iterations": 3} if name == "Stage" else {}
    cls(**base)  # the defaults are valid
    key = [k for k in field if field[k] != base.get(k)][0]
    with pytest.raises(SettingValueError, match=key) as info:
        cls(**{**base, **field})
    assert info.value.field.endswith(key) and "\n" not in str(info.value)


def test_settings_errors_name_the_field_with_its_path():
    with pytest.raises(ConfigError, match=r"^fit\.steps must be a list"):
        config_from_dict(InferConfig, {"fit": {"steps": [-1, 0, 3]}})
    with pytest.raises(ConfigError, match=r"^texture\.schedule: stage iterations must be an integer"):
        config_from_dict(InferConfig, {"texture": {"schedule": [[64, 1e9]]}})
    with pytest.raises(ConfigError, match=r"^detect\.max_faces: expected int, got True"):
        config_from_dict(InferConfig, {"detect": {"max_faces": True}})
    with pytest.raises(ConfigError, match=r"^render\.background: expected a list of 3 values"):
        config_from_dict(InferConfig, {"render": {"background": [0.1, 0.2]}})
    config = config_from_dict(InferConfig, {"fit": {"steps": [5, 2, 1]}, "render": {"background": [0, 0.5, 1]}})
    assert config.fit.steps == (5, 2, 1) and config.render.background == (0, 0.5, 1)


def test_the_uv_resolution_is_one_value():
    """Issue 17: the unwrap's resolution is the texture's output size; a file that sets one
    moves the other, an API call that sets them apart is refused."""
    from facetex.checks import SettingValueError
    from facetex.fitting.config import UnwrapConfig
    from facetex.texture.config import TextureConfig

    with pytest.raises(SettingValueError, match=r"unwrap\.resolution .*with_resolution"):
        InferConfig(texture=TextureConfig.paper(256))
    with pytest.raises(SettingValueError, match=r"unwrap\.resolution"):
        dataclasses.replace(InferConfig(), unwrap=UnwrapConfig(resolution=256))
    assert InferConfig.paper(256).unwrap.resolution == 256
    moved = config_from_dict(InferConfig, {"texture": {"schedule": [[128, 40], [256, 10]]}})
    assert moved.unwrap.resolution == moved.resolution == 256
    moved = config_from_dict(InferConfig, {"unwrap": {"resolution": 1024}})
    assert moved.resolution == 1024 and moved.texture.schedule == InferConfig().with_resolution(1024).texture.schedule
    with pytest.raises(ConfigError, match=r"^unwrap\.resolution 128 and the texture's output size 256"):
        config_from_dict(InferConfig, {"unwrap": {"resolution": 128}, "texture": {"schedule": [[256, 10]]}})
    with pytest.raises(ConfigError, match=r"^unwrap\.resolution: the texture cannot follow"):
        config_from_dict(InferConfig, {"unwrap": {"resolution": 16}})


def test_declared_settings_carry_their_help_and_checks():
    from facetex.checks import SettingValueError
    from facetex.texture.config import TextureConfig

    help_of = {f.name: f.metadata.get("help") for f in dataclasses.fields(TextureConfig)}
    assert help_of["alpha"] and help_of["solver"] and help_of["detail"]
    for bad in ({"detail": 2.5}, {"solver": "lasso"}, {"start": "noise"}, {"alpha": -1.0}):
        with pytest.raises(SettingValueError, match=next(iter(bad))):
            TextureConfig(**bad)
