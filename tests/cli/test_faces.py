"""``facetex faces PHOTO [-o overlay.png]`` (issue 22): one line per face, an overlay, and
one-line errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from facetex.cli import main
from facetex.io.atomic import write_image
from facetex.io.images import load_image, load_photo


def _status(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


def _one_error_line(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("facetex: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def two_faces_png(tmp_path_factory, london_neutral):
    """A 1200×800 PNG: a London face ~200 px wide and one ~50 px wide (too small)."""
    canvas = np.full((800, 1200, 3), 0.5, dtype=np.float32)
    for path, (x, y, side) in zip(london_neutral[:2], [(100, 100, 600), (900, 500, 150)], strict=True):
        canvas[y : y + side, x : x + side] = cv2.resize(load_photo(path).rgb, (side, side), interpolation=cv2.INTER_AREA)
    out = tmp_path_factory.mktemp("faces") / "two.png"
    write_image(out, canvas)
    return out


def test_faces_lists_each_face_and_writes_an_overlay(two_faces_png, tmp_path, capsys):
    overlay = tmp_path / "overlay.png"

    assert _status(["faces", str(two_faces_png), "-o", str(overlay)]) == 0

    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"{two_faces_png} (1200x800 px): 2 faces, 1 usable, 1 too small (< 64 px)"
    assert lines[1].split() == ["face", "box", "x0,y0,x1,y1", "size", "px", "yaw", "conf", "note"]
    first, second = lines[2].split(), lines[3].split()
    assert first[0] == "0" and len(first) == 5  # index, box, size, yaw, confidence; no note
    x0, y0, x1, y1 = (int(v) for v in first[1].split(","))
    assert 100 < x0 < x1 < 700 and 100 < y0 < y1 < 700
    w, h = (int(v) for v in first[2].split("x"))
    assert w == x1 - x0 or abs(w - (x1 - x0)) <= 1
    assert 150 < w < 250 and abs(int(first[3])) < 15 and 0.5 <= float(first[4]) <= 1.0
    assert second[0] == "1" and "too small to texture" in lines[3]
    assert lines[-1] == f"overlay: {overlay}"

    image = load_image(overlay)
    assert image.shape == (800, 1200, 3)
    original = load_image(two_faces_png)
    changed = np.abs(image - original).max(axis=2) > 0.1
    assert changed[y1 - 2 : y1 + 3, x0 + 10 : x1 - 10].all(axis=1).any()  # the box's lower edge
    assert not changed[:60, :60].any()  # the rest of the photo is untouched


def test_faces_errors_are_one_line(tmp_path, capsys, two_faces_png):
    assert _status(["faces", str(tmp_path / "missing.jpg")]) == 2
    _one_error_line(capsys.readouterr().err, "missing.jpg")

    coffee = tmp_path / "coffee.png"
    write_image(coffee, skdata.coffee().astype(np.float32) / 255.0)
    assert _status(["faces", str(coffee)]) == 2
    _one_error_line(capsys.readouterr().err, f"no face found in {coffee}")

    assert _status(["faces", str(two_faces_png), "-o", str(tmp_path)]) == 2  # a folder
    _one_error_line(capsys.readouterr().err, "folder")

    assert _status(["faces"]) == 2
    _one_error_line(capsys.readouterr().err, "PHOTO")


def test_settings_file_reaches_the_detector_and_unknown_keys_are_refused(two_faces_png, tmp_path, capsys):
    strict = tmp_path / "strict.toml"
    strict.write_text("min_face_px = 400\n")  # both faces are now too small to texture
    assert _status(["faces", str(two_faces_png), "--config", str(strict)]) == 0
    out = capsys.readouterr().out
    assert "0 usable" in out and "< 400 px" in out
    bad = tmp_path / "bad.toml"
    bad.write_text("min_face = 40\n")
    assert _status(["faces", str(two_faces_png), "--config", str(bad)]) == 2
    _one_error_line(capsys.readouterr().err, "unknown setting 'min_face'")
