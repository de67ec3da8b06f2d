from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
from PIL import Image

from facetex.cli import main


def _save(path, array):
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


@pytest.fixture()
def inputs(tmp_path):
    brick, grass, gravel = skimage.data.brick(), skimage.data.grass(), skimage.data.gravel()
    folder = tmp_path / "exemplars"
    folder.mkdir()
    _save(folder / "brick.png", brick[:64, :64])
    _save(folder / "grass.png", grass[:48, :48])
    _save(folder / "gravel.jpg", gravel[:64, :64])
    (folder / "notes.txt").write_text("not an image")
    mask = np.zeros((48, 48), np.uint8)
    mask[:, :24] = 255
    partial = np.where(mask > 0, brick[300:348, 300:348], 128)
    return {
        "init": _save(tmp_path / "init.png", np.full((48, 48, 3), 120)),
        "partial": _save(tmp_path / "partial.png", partial),
        "mask": _save(tmp_path / "mask.png", mask),
        "exemplars": folder,
        "out": tmp_path / "out" / "result.png",
    }


def _argv(inputs, *extra):
    return [
        "synthesize", "--init", str(inputs["init"]), "--partial", str(inputs["partial"]),
        "--mask", str(inputs["mask"]), "--exemplars", str(inputs["exemplars"]), "-o", str(inputs["out"]),
        "--size", "32", "--iterations", "2", *extra,
    ]


def test_synthesize_writes_texture_and_report(inputs, capsys):
    assert main(_argv(inputs, "--solver", "convex", "--alpha", "50")) == 0
    out = inputs["out"]
    with Image.open(out) as im:
        assert im.size == (32, 32) and im.mode == "RGB"
    report = json.loads(out.with_suffix(".json").read_text())
    assert set(report["weights"]) == {"brick.png", "grass.png", "gravel.jpg"}
    assert sum(report["weights"].values()) == pytest.approx(1.0, abs=1e-12)
    assert max(report["weights"], key=report["weights"].get) == "brick.png"
    assert report["solver"] == "convex" and report["config"]["alpha"] == 50.0
    assert report["config"]["schedule"] == [[32, 2, True]]  # the default's last stage (bf16); no coarser one fits
    assert 1 <= len(report["losses"]) <= 3 and report["losses"][-1] <= report["losses"][0]
    assert {"analysis", "targets", "synthesis"} <= set(report["timings_s"])
    assert str(out) in capsys.readouterr().out
    assert sorted(p.name for p in out.parent.iterdir()) == ["result.json", "result.png"]


def test_paper_preset_keeps_exact_settings(inputs):
    assert main(_argv(inputs, "--preset", "paper", "--solver", "closest")) == 0
    report = json.loads(inputs["out"].with_suffix(".json").read_text())
    assert report["config"]["early_stop_tolerance"] == 0.0 and report["config"]["bf16_grams"] is False
    assert report["config"]["schedule"] == [[32, 2]]
    assert sorted(report["weights"].values()) == [0.0, 0.0, 1.0]


def _corrupt(inputs):
    inputs["partial"].write_bytes(b"\x89PNG\r\n\x1a\n garbage")


def _missing(inputs):
    inputs["init"].unlink()


def _mask_size(inputs):
    _save(inputs["mask"], np.full((40, 40), 255))


def _hidden(inputs):
    _save(inputs["mask"], np.zeros((48, 48)))


def _empty_folder(inputs):
    for f in inputs["exemplars"].iterdir():
        f.unlink()


def _no_folder(inputs):
    inputs["exemplars"] = inputs["exemplars"].parent / "absent"


def _not_square(inputs):
    _save(inputs["exemplars"] / "wide.png", np.zeros((32, 64)))


@pytest.mark.parametrize(
    ("breaker", "message"),
    [
        (_missing, "no such file"),
        (_corrupt, "cannot read image"),
        (_mask_size, "must have one size"),
        (_hidden, "hides every pixel"),
        (_empty_folder, "holds no textures"),
        (_no_folder, "not a folder"),
        (_not_square, "must be square"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_output(inputs, capsys, breaker, message):
    breaker(inputs)
    assert main(_argv(inputs)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("facetex: error:") and message in err
    assert not inputs["out"].parent.exists() or not any(inputs["out"].parent.iterdir())


def test_bad_numbers_are_refused_by_the_parser(inputs, capsys):
    with pytest.raises(SystemExit) as exc:
        main(_argv(inputs, "--size", "8"))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--size" in err and "[32, 4096], got 8" in err
    assert not inputs["out"].parent.exists()
