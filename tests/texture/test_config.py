from __future__ import annotations

import json

import pytest

from facetex.texture.config import Stage, TextureConfig, parse_schedule


def test_defaults_follow_the_paper():
    config = TextureConfig()
    assert config.gram_layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert config.content_layers == ("relu4_2",)
    assert config.solver == "convex" and config.history_size == 100
    assert config.size == config.schedule[-1].size


def test_fast_analysis_defaults_and_their_clamping():
    config = TextureConfig()
    assert config.resolved_analysis_size == 640 and config.resolved_preselect_size == 128
    assert config.preselect_count == 32 and config.preselect_bf16 and config.bf16_grams
    assert config.schedule == (Stage(320, 100, True), Stage(640, 30, True))
    assert config.with_size(1280).schedule == (Stage(640, 100, True), Stage(1280, 30, True))
    assert config.with_size(512).schedule == (Stage(256, 100, True), Stage(512, 30, True))
    small = config.replace(schedule=(Stage(64, 3),))
    assert small.resolved_analysis_size == 64 and small.resolved_preselect_size == 64
    same = config.replace(preselect_size=None, analysis_size=None)
    assert same.resolved_analysis_size == same.resolved_preselect_size == config.size
    with pytest.raises(ValueError, match="preselect_size"):
        TextureConfig(preselect_size=16)
    with pytest.raises(ValueError, match="preselect_count"):
        TextureConfig(preselect_count=-1)
    with pytest.raises(ValueError, match="start_highpass_sigma"):
        TextureConfig(start_highpass_sigma=0.0)
    assert TextureConfig(schedule=((512, 30, True), (512, 10))).schedule == (Stage(512, 30, True), Stage(512, 10))


def test_paper_preset():
    config = TextureConfig.paper(256)
    assert config.schedule == (Stage(256, 1000),)
    assert config.early_stop_tolerance == 0.0 and not config.bf16_grams
    assert config.resolved_analysis_size == config.resolved_preselect_size == 256
    assert config.preselect_count == 0 and not any(stage.bf16 for stage in config.schedule)
    assert config.start == "lowfreq" and TextureConfig().start == "exemplar_detail"
    assert TextureConfig.paper(device="cpu", solver="linear").solver == "linear"


def test_validation():
    with pytest.raises(ValueError, match="relu9_9"):
        TextureConfig(gram_layers=("relu9_9",))
    with pytest.raises(ValueError, match="alpha"):
        TextureConfig(alpha=-1.0)
    with pytest.raises(ValueError, match="solver"):
        TextureConfig(solver="pca")
    with pytest.raises(ValueError, match="schedule"):
        TextureConfig(schedule=())
    with pytest.raises(ValueError, match="size"):
        Stage(16, 10)
    with pytest.raises(ValueError, match="iterations"):
        Stage(64, -1)
    with pytest.raises(ValueError, match="history_size"):
        TextureConfig(history_size=0)


def test_round_trip_through_json():
    config = TextureConfig(schedule=[(64, 5), (128, 7)], alpha=3.0, content_layers=["relu5_1"])
    assert config.schedule == (Stage(64, 5), Stage(128, 7)) and config.content_layers == ("relu5_1",)
    data = json.loads(json.dumps(config.to_dict()))
    assert TextureConfig(**data) == config
    assert config.replace(alpha=5.0).alpha == 5.0


def test_parse_schedule_reads_the_cli_form():
    assert parse_schedule("256x100bf16, 512x30") == (Stage(256, 100, True), Stage(512, 30))
    assert parse_schedule("512X1000") == (Stage(512, 1000),)
    for bad in ("256x", "x100", "256x100x2", "16x10", "256x100fp16"):
        with pytest.raises(ValueError, match="SIZExITERATIONS"):
            parse_schedule(bad)
