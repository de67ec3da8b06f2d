"""``facetex fit``: writes every file at once, and bad input writes nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from facetex.cli import main
from facetex.fitting import FIT_FILES
from facetex.io.atomic import RESULT_MARKER


def test_fit_writes_every_file(tmp_path, london_neutral, capsys):
    out = tmp_path / "fit"
    assert main(["fit", str(london_neutral[1]), "-o", str(out), "--uv-size", "128", "--model", "mediapipe"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([*FIT_FILES, RESULT_MARKER])
    record = json.loads((out / "fit.json").read_text())
    assert record["diagnostics"]["landmark_rmse_iod"] < 0.03
    # a frontal, evenly lit studio photo is no outlier of the model's priors
    sigmas = record["model"]["largest_abs_sigmas"]
    assert set(sigmas) == {"identity", "expression", "albedo"}
    assert all(0.0 < v < 6.0 for v in sigmas.values()), sigmas
    assert set(record["sh_lighting"]) >= {"Y00", "Y22"} and set(record["sh_lighting"]["Y00"]) == {"r", "g", "b"}
    assert set(record["pose"]["translation_cm"]) == {"x", "y", "z"}
    assert len(record["detection"]["landmarks_px"]) == 478
    assert record["faces"][0]["index"] == 0 and record["outputs"]["uv_resolution"] == 128
    assert record["settings"]["fit"]["w_landmark"] == 10.0 and record["settings"]["unwrap"]["resolution"] == 128
    for name in ("albedo_partial.png", "albedo_lowfreq.png", "shading.png"):
        with Image.open(out / name) as image:
            assert image.size == (128, 128)
    with Image.open(out / "overlay.png") as image:
        assert max(image.size) == 1024  # the 1350² photo, shrunk
    import trimesh

    # the mesh files have the names `facetex infer` gives them (issue 15)
    assert {"face.obj", "face.mtl", "face.glb", "albedo.png"} <= set(FIT_FILES)
    assert "map_Kd albedo.png" in (out / "face.mtl").read_text()
    mesh = trimesh.load(out / "face.obj", process=False)
    assert mesh.vertices.shape == (468, 3) and mesh.faces.shape == (898, 3)
    assert mesh.visual.uv.shape == (468, 2)
    assert str(out) in capsys.readouterr().out


def test_fit_with_the_ict_model_writes_named_blendshape_weights(tmp_path, london_neutral):
    """`facetex fit --model ict` (issue 18): the ICT face region's mesh, 53 named expression
    weights in [0, 1] and 100 identity coefficients in fit.json."""
    from facetex.geometry.ict import EXPRESSION_NAMES

    out = tmp_path / "ict"
    assert main(["fit", str(london_neutral[1]), "-o", str(out), "--model", "ict", "--uv-size", "128"]) == 0
    assert {*FIT_FILES} <= {p.name for p in out.iterdir()}
    record = json.loads((out / "fit.json").read_text())
    assert record["model"]["name"] == "ict" and record["settings"]["model"] == "ict"
    weights = record["expression_coefficients"]
    assert list(weights) == list(EXPRESSION_NAMES) and "jawOpen" in weights
    assert all(0.0 <= w <= 1.0 for w in weights.values())
    assert len(record["identity_coefficients"]) == 100
    # bounded weights under a sparse prior: the largest one by name, not in Laplace scales
    assert set(record["model"]["largest_abs_sigmas"]) == {"identity", "albedo"}
    top = record["model"]["largest_expression_weight"]
    assert top["weight"] == max(weights.values()) and weights[top["name"]] == top["weight"]
    assert record["diagnostics"]["landmark_rmse_iod"] < 0.04
    import trimesh

    mesh = trimesh.load(out / "face.obj", process=False)
    assert mesh.vertices.shape == (9547, 3) and mesh.faces.shape == (18460, 3)
    assert mesh.visual.uv.shape == (9547, 2)
    glb = trimesh.load(out / "face.glb", force="mesh", process=False)
    assert glb.faces.shape == (18460, 3)


def _assert_fails_cleanly(argv, out, capsys, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("facetex: error:") and message in err[-1]
    assert not out.exists()
    assert not any(p.name.startswith(f".{out.name}") for p in out.parent.iterdir())  # no temp folder


def test_missing_photo(tmp_path, capsys):
    out = tmp_path / "out"
    _assert_fails_cleanly(["fit", str(tmp_path / "nope.jpg"), "-o", str(out)], out, capsys, "nope.jpg")


def test_corrupt_photo(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"
    _assert_fails_cleanly(["fit", str(bad), "-o", str(out)], out, capsys, "bad.jpg")


def test_photo_without_a_face(tmp_path, capsys):
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 300, 3), 128, np.uint8)).save(blank)
    out = tmp_path / "out"
    _assert_fails_cleanly(["fit", str(blank), "-o", str(out)], out, capsys, "face")


def test_unwritable_output(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    out = blocker / "out"
    assert main(["fit", "-o", str(out)]) == 2
    assert capsys.readouterr().err.strip().startswith("facetex: error:")
    assert blocker.read_text() == "a file, not a folder"


@pytest.mark.parametrize("flag", [["--uv-size", "8"], ["--face", "-1"]])
def test_bad_flags(tmp_path, flag):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "-o", str(tmp_path / "out"), *flag])
    assert exc.value.code == 2
    assert not (tmp_path / "out").exists()
