"""The mediapipe wrapper: normalised outputs and routing of native log lines to logging."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

from facetex.detect.mediapipe_backend import MediapipeBackend, native_log_routing
from facetex.io.images import demo_photo


def test_native_lines_are_routed_by_severity(caplog):
    lines = [
        b"W0000 00:00:1.0 1 inference_feedback_manager.cc:114] Feedback manager requires a model "
        b"with a single signature inference.\n",
        b"E0000 00:00:1.0 1 graph.cc:1] Something real went wrong\n",
        b"some unknown native message\n",
        b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
    ]
    with caplog.at_level(logging.DEBUG, logger="facetex.detect"):
        with native_log_routing():
            for line in lines:
                os.write(2, line)

    def level_of(text: str) -> int:
        (record,) = [r for r in caplog.records if text in r.getMessage()]
        return record.levelno

    assert level_of("Feedback manager requires") == logging.DEBUG
    assert level_of("Something real went wrong") == logging.ERROR
    assert level_of("some unknown native message") == logging.WARNING
    assert level_of("XNNPACK delegate") == logging.DEBUG


def test_descriptor_2_is_restored(capfd):
    with native_log_routing():
        pass
    os.write(2, b"after\n")
    assert "after" in capfd.readouterr().err


def test_backend_outputs_and_quiet_stderr(capfd):
    rgb = demo_photo().rgb
    with MediapipeBackend(max_faces=2, min_confidence=0.5) as backend:
        faces = backend.face_landmarks(rgb)
        boxes, scores = backend.face_boxes(rgb)
        mask = backend.person_mask(rgb)

    assert len(faces) == 1 and faces[0].shape == (478, 3)
    assert 0.0 < faces[0][:, :2].min() and faces[0][:, :2].max() < 1.0
    assert boxes.shape == (1, 4) and scores.shape == (1,) and 0.5 <= scores[0] <= 1.0
    # the mesh's face lies inside the detector's box (normalised coordinates, some slack)
    centre = faces[0][:468, :2].mean(axis=0)
    assert boxes[0, 0] < centre[0] < boxes[0, 2] and boxes[0, 1] < centre[1] < boxes[0, 3]
    assert mask.shape == rgb.shape[:2] and mask.dtype == np.float32
    assert capfd.readouterr().err == ""
    with pytest.raises(RuntimeError, match="closed"):
        backend.person_mask(rgb)
