"""`facetex infer` end to end on a real held-out London photo with a 4-photo database."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import trimesh
from PIL import Image

from facetex.cli import main

# Quick settings: 64² albedo, 3 L-BFGS iterations (the pipeline is exercised, not the quality).
FAST = ["--size", "64", "--iterations", "3"]
EXPECTED = (
    "albedo.png", "albedo_lowfreq.png", "albedo_partial.png", "visibility.png", "normal.png",
    "bump.png", "face.obj", "face.mtl", "face.glb", "overlay.png", "fit.json", "weights.json",
    "config.json", "timing.json", "report.html",
)


@pytest.fixture(scope="module")
def held_out_photo(shared_data):
    """A London person who is not in the small database (it holds persons 001 and 002)."""
    return shared_data / "london" / "neutral" / "003_03.jpg"


@pytest.fixture(scope="module")
def inferred(small_database, held_out_photo, tmp_path_factory):
    out = tmp_path_factory.mktemp("infer") / "result"
    code = main(["infer", str(held_out_photo), "--db", str(small_database), "-o", str(out), *FAST])
    return code, out


def test_infer_writes_every_output(inferred):
    code, out = inferred
    assert code == 0
    missing = [name for name in EXPECTED if not (out / name).is_file()]
    assert not missing
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")], "temporary folders left behind"


def test_albedo_is_a_face_texture_at_the_requested_size(inferred):
    _, out = inferred
    albedo = np.asarray(Image.open(out / "albedo.png").convert("RGB"), dtype=np.float32) / 255
    assert albedo.shape == (64, 64, 3)
    corner, centre = albedo[0, 0], albedo[24:40, 24:40].reshape(-1, 3)
    assert np.allclose(corner, 0.5, atol=1 / 255)  # off the UV chart
    # skin: red above blue, and not the grey fill
    assert (centre[:, 0] > centre[:, 2]).mean() > 0.9
    assert np.abs(centre - 0.5).mean() > 0.03


def test_weights_are_a_convex_blend_of_the_database(inferred):
    _, out = inferred
    weights = json.loads((out / "weights.json").read_text())
    assert weights["solver"] == "convex"
    values = [w["weight"] for w in weights["weights"]]
    assert abs(sum(values) - 1.0) < 1e-9 and min(values) > 0
    assert {w["subject"][:3] for w in weights["weights"]} <= {"001", "002"}
    assert "CC BY 4.0" in weights["attribution"]


def test_meshes_load_with_their_texture(inferred):
    _, out = inferred
    glb = trimesh.load(out / "face.glb", force="mesh")
    obj = trimesh.load(out / "face.obj", force="mesh")
    # the ICT head as fitted (no subdivision): the face tile's 18,460 triangles and the rest of the head
    assert len(glb.faces) == len(obj.faces) > 18_460 + 20_000
    assert "Kd 1" in (out / "face.mtl").read_text()


def test_config_and_timing_are_recorded(inferred):
    _, out = inferred
    config = json.loads((out / "config.json").read_text())
    coarse, last = config["texture"]["schedule"]  # the default coarse-to-fine schedule, scaled to 64²
    assert (coarse["size"], coarse["bf16"]) == (32, True)
    assert (last["size"], last["iterations"], last["bf16"]) == (64, 3, True)
    timing = json.loads((out / "timing.json").read_text())
    assert {"detect", "fit", "unwrap", "texture"} <= set(timing["seconds"])
    assert all(v > 0 for v in timing["peak_memory_mib"].values())


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("facetex: error: ")
    return err[-1]


def test_no_face_is_a_clear_error_and_writes_nothing(small_database, tmp_path, capsys):
    grey = tmp_path / "grey.png"
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(grey)
    out = tmp_path / "out"
    assert main(["infer", str(grey), "--db", str(small_database), "-o", str(out), *FAST]) == 2
    assert "no face" in _one_line_error(capsys)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["grey.png"]


def test_corrupt_photo_is_a_clear_error(small_database, tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    assert main(["infer", str(bad), "--db", str(small_database), "-o", str(tmp_path / "out"), *FAST]) == 2
    assert "bad.jpg" in _one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_missing_database_is_a_clear_error(held_out_photo, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["infer", str(held_out_photo), "--db", str(tmp_path / "none.h5"), "-o", str(out), *FAST]) == 2
    assert "none.h5" in _one_line_error(capsys)
    assert not out.exists()


def test_unwritable_output_is_a_clear_error(small_database, held_out_photo, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["infer", str(held_out_photo), "--db", str(small_database), "-o", str(blocker / "out"), *FAST])
    assert code == 2
    _one_line_error(capsys)
    assert blocker.read_text() == "not a folder"


def test_a_failing_photo_does_not_stop_the_batch(small_database, held_out_photo, tmp_path, capsys):
    """...and photos of the same name get distinct folders, said in the summary; errors on stderr."""
    bad = tmp_path / "other" / f"{held_out_photo.stem}.png"  # same name as the good photo
    bad.parent.mkdir()
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out"
    code = main(["infer", str(bad), str(held_out_photo), "--db", str(small_database), "-o", str(out), *FAST])
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["003_03-2", "summary.json"]
    assert (out / "003_03-2" / "albedo.png").is_file()
    captured = capsys.readouterr()
    assert "1 of 2 photos done" in captured.out and "failed: 003_03:" in captured.out + captured.err
    assert f"{held_out_photo} → {out / '003_03-2'}" in captured.out
    assert "facetex: error" not in captured.out
    assert "facetex: error: 003_03: " in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["engine"] == "sequential" and (summary["done"], summary["failed"]) == (1, 1)
    first, second = summary["jobs"]
    assert (first["name"], first["status"], first["target"]) == ("003_03", "failed", str(out / "003_03"))
    assert "photo" in first["error"] and first["worker"]
    assert (second["name"], second["status"], second["photo"]) == ("003_03-2", "done", str(held_out_photo))
    assert second["seconds"] > 0 and second["attempts"] == 1

    # --resume: the complete result is kept as it is, the failed photo is tried again
    written = (out / "003_03-2" / "albedo.png").stat().st_mtime_ns
    code = main(["infer", str(bad), str(held_out_photo), "--db", str(small_database), "-o", str(out), *FAST,
                 "--resume"])
    assert code == 1
    assert (out / "003_03-2" / "albedo.png").stat().st_mtime_ns == written
    statuses = [j["status"] for j in json.loads((out / "summary.json").read_text())["jobs"]]
    assert statuses == ["failed", "skipped"]
    assert "(1 already done before, skipped)" in capsys.readouterr().out
    # ...but a result made with other settings is not this batch's: it is replaced only with --overwrite
    code = main(["infer", str(bad), str(held_out_photo), "--db", str(small_database), "-o", str(out),
                 "--size", "64", "--iterations", "4", "--resume"])
    assert code == 2 and "--overwrite" in capsys.readouterr().err
    assert (out / "003_03-2" / "albedo.png").stat().st_mtime_ns == written


def test_a_users_summary_json_is_never_replaced(small_database, held_out_photo, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("my notes")
    code = main(["infer", str(held_out_photo), str(held_out_photo), "--db", str(small_database), "-o", str(out),
                 *FAST])
    assert code == 2
    assert "summary.json" in _one_line_error(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    assert (out / "summary.json").read_text() == "my notes"


def test_ray_and_same_person_together_is_a_clear_error(held_out_photo, tmp_path, capsys):
    code = main(["infer", str(held_out_photo), str(held_out_photo), "--same-person", "--ray", "auto",
                 "-o", str(tmp_path / "out")])
    assert code == 2
    assert "--ray" in _one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_exclude_person_runs_a_database_photo_as_if_new(small_database, shared_data, tmp_path):
    """A photo of person 002 with 002 left out: only 001's textures may get weight, and the fit
    uses the morphable model rebuilt without 002."""
    out = tmp_path / "out"
    photo = shared_data / "london" / "neutral" / "002_03.jpg"
    code = main(["infer", str(photo), "--db", str(small_database), "--exclude-person", "002", "-o", str(out),
                 "--no-report", *FAST])
    assert code == 0
    weights = json.loads((out / "weights.json").read_text())
    assert {w["subject"][:3] for w in weights["weights"]} == {"001"}
    assert json.loads((out / "fit.json").read_text())["model"]["name"].endswith("-held-out")


def test_excluding_an_unknown_person_is_a_clear_error(small_database, held_out_photo, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["infer", str(held_out_photo), "--db", str(small_database), "--exclude-person", "999",
                 "-o", str(out), *FAST])
    assert code == 2
    assert "no person 999" in _one_line_error(capsys)
    assert not out.exists()


def test_schedule_flag_names_sizes_iterations_and_precision():
    from facetex.cli import build_parser
    from facetex.cli.infer import resolve_config
    from facetex.texture.config import Stage

    assert resolve_config(build_parser().parse_args(["infer"])).texture.start == "exemplar_detail"
    args = build_parser().parse_args(["infer", "--preset", "paper"])
    assert resolve_config(args).texture.start == "lowfreq"
    args = build_parser().parse_args(["infer", "--start", "lowfreq"])
    assert resolve_config(args).texture.start == "lowfreq"
    args = build_parser().parse_args(["infer", "--schedule", "128x50bf16,256x20", "--iterations", "7"])
    assert resolve_config(args).texture.schedule == (Stage(128, 50, True), Stage(256, 7, False))
    args = build_parser().parse_args(["infer", "--iterations", "7"])
    assert resolve_config(args).texture.schedule[-1] == Stage(640, 7, True)  # --iterations keeps bf16
    with pytest.raises(SystemExit):
        build_parser().parse_args(["infer", "--schedule", "256x"])


def test_render_time_variant_database_recorded_and_no_progress_frames(small_database, held_out_photo, tmp_path,
                                                                      capsys):
    """Issue 15: timing.json and the report carry the --render time and Mitsuba variant,
    weights.json names the database used (not the default one), and stderr that is not a
    terminal gets no \\r progress frames."""
    pytest.importorskip("mitsuba", reason="--render needs Mitsuba (pip install 'facetex[render]')")
    tiny = tmp_path / "tiny.toml"
    tiny.write_text("[render]\nresolution = 24\nspp = 1\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["infer", str(held_out_photo), "--db", str(small_database), "-o", str(out), "--render",
                 "--config", str(tiny), *FAST])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "\r" not in err
    timing = json.loads((out / "timing.json").read_text())
    assert timing["seconds"]["render"] > 0
    assert timing["render_variant"] in ("llvm_ad_rgb", "scalar_rgb")
    renders = timing["renders"]
    assert renders["subsurface"] is True and renders["variant"] == timing["render_variant"]
    assert sorted((r["view"], r["lighting"]) for r in renders["images"]) == sorted(
        (view, lighting) for view in ("front", "three_quarter", "profile") for lighting in ("environment", "studio"))
    assert all(r["seconds"] > 0 for r in renders["images"])
    report = (out / "report.html").read_text(encoding="utf-8")
    assert f"Mitsuba {timing['render_variant']}" in report and "subsurface scattering" in report
    assert len(list(out.glob("render_*.png"))) == 6
    env = cv2.imread(str(out / "environment.hdr"), cv2.IMREAD_UNCHANGED)  # the map the renders were lit by
    assert env is not None and env.dtype == np.float32 and env.shape[1] == 2 * env.shape[0]
    weights = json.loads((out / "weights.json").read_text())
    assert weights["database"] == str(small_database)


def test_api_write_result_opens_the_database_of_the_result(small_database, tmp_path, monkeypatch):
    """Without database=, facetex.write_result uses the database the result was made with."""
    import types

    import facetex.api
    import facetex.outputs

    seen = {}

    def fake_write(result, out_dir, config, model, *, database, **kwargs):
        seen["database"] = database
        return out_dir

    monkeypatch.setattr(facetex.outputs, "write_result", fake_write)
    result = types.SimpleNamespace(database=str(small_database))
    facetex.api.write_result(result, tmp_path / "out")
    assert seen["database"].path == small_database


def test_detail_flags_reach_the_config_and_a_bad_map_fails_first(small_database, held_out_photo, tmp_path, capsys):
    """Issue 16: --detail, --detail-map and --no-keep-observed set the texture config (and so
    config.json); a detail map that is not a square image fails before any work."""
    from facetex.cli import build_parser
    from facetex.cli.infer import resolve_config

    texture = resolve_config(build_parser().parse_args(["infer"])).texture
    assert (texture.keep_observed, texture.detail, texture.detail_map) == (True, 1.0, None)
    paper = resolve_config(build_parser().parse_args(["infer", "--preset", "paper"]))
    assert paper.texture.keep_observed is False and paper.unwrap.deblur is False  # the paper reads the photo as is
    args = build_parser().parse_args(["infer", "--detail", "0.5", "--detail-map", "m.png", "--no-keep-observed"])
    texture = resolve_config(args).texture
    assert (texture.keep_observed, texture.detail, texture.detail_map) == (False, 0.5, "m.png")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:  # out of its declared range: refused by the parser
        main(["infer", str(held_out_photo), "--db", str(small_database), "-o", str(out), "--detail", "3"])
    assert exc.value.code == 2
    assert "--detail" in _one_line_error(capsys)
    wide = tmp_path / "wide.png"
    Image.fromarray(np.full((8, 16), 128, np.uint8)).save(wide)
    assert main(["infer", str(held_out_photo), "--db", str(small_database), "-o", str(out),
                 "--detail-map", str(wide)]) == 2
    assert "square" in _one_line_error(capsys)
    assert not out.exists()
