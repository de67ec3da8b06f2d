"""Thin wrapper over the mediapipe 0.10.21 graphs facetex uses (legacy "solutions" API).

Three graphs, all bundled in the mediapipe wheel and run offline on the CPU:

* ``FaceMesh(static_image_mode=True, refine_landmarks=True)``: 478 landmarks per face (468
  mesh vertices + 10 iris points) with its own short-range face detector;
* ``FaceDetection(model_selection=1)``: the full-range (BlazeFace sparse) detector, which finds
  small faces the short-range one misses; built on first use only;
* ``SelfieSegmentation(model_selection=0)``: the general 256×256 person segmentation.

Everything here speaks mediapipe's normalised coordinates: x, y in [0, 1] across the width and
height of the image given, z in the same scale as x (relative to the image width), smaller z
closer to the camera. Mapping to the photo's pixel frame is the caller's job
(:mod:`facetex.detect.detector`).

Log noise: mediapipe's C++ code (absl logging, TFLite) writes warnings such as "Feedback
manager requires a model with a single signature" straight to file descriptor 2, and its log
level cannot be set from Python in this release (``GLOG_minloglevel`` has no effect). While a
graph is built or run, descriptor 2 is pointed at a temporary file; afterwards each captured
line is passed to the ``facetex.detect`` logger: known harmless messages and INFO lines at
DEBUG level, absl warnings at WARNING, errors at ERROR, anything unrecognised at WARNING. So
nothing is lost, only routed through logging. Other threads that write to descriptor 2 during
that window are routed the same way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

import numpy as np

__all__ = ["MediapipeBackend", "native_log_routing"]

logger = logging.getLogger("facetex.detect")

# Messages mediapipe 0.10.21 prints on every run that say nothing about the result.
_HARMLESS = re.compile(
    "|".join(
        [
            r"Created TensorFlow Lite XNNPACK delegate",
            r"All log messages before absl::InitializeLog\(\) is called",
            r"Feedback manager requires a model with a single signature",
            r"Using NORM_RECT without IMAGE_DIMENSIONS",
        ]
    )
)
# absl / glog line prefix: severity letter, MMDD, time, thread, file:line].
_ABSL_PREFIX = re.compile(r"^([IWEF])\d{4} ")
_ABSL_LEVELS = {"I": logging.DEBUG, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}

# Descriptor 2 is process-wide: one redirection at a time.
_STDERR_LOCK = threading.RLock()


def _route(line: str) -> None:
    line = line.rstrip()
    if not line:
        return
    match = _ABSL_PREFIX.match(line)
    if _HARMLESS.search(line):
        level = logging.DEBUG
    elif match:
        level = _ABSL_LEVELS[match.group(1)]
    elif line.startswith("INFO:"):
        level = logging.DEBUG
    else:
        level = logging.WARNING
    logger.log(level, "mediapipe: %s", line)


@contextlib.contextmanager
def native_log_routing() -> Iterator[None]:
    """Capture what native code writes to descriptor 2 and pass it to the ``facetex.detect``
    logger line by line (see the module docstring for the levels)."""
    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no usable descriptor 2: nothing to route
            yield
            return
        with tempfile.TemporaryFile() as capture:
            os.dup2(capture.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                text = capture.read().decode("utf-8", errors="replace")
                for line in text.splitlines():
                    _route(line)


def _as_uint8(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] → contiguous uint8, as mediapipe wants."""
    arr = np.nan_to_num(np.asarray(rgb, dtype=np.float32), nan=0.0)
    return np.ascontiguousarray(np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8))


class MediapipeBackend:
    """Holds the mediapipe graphs for a batch of photos; close it (or use ``with``) when done.

    Not thread-safe: use one backend per thread.

    Parameters
    ----------
    max_faces : most faces FaceMesh returns per image (≥ 1).
    min_confidence : minimum face-detection score in [0, 1] for both detectors.
    """

    def __init__(self, *, max_faces: int, min_confidence: float) -> None:
        import mediapipe as mp

        self._solutions = mp.solutions
        self._min_confidence = float(min_confidence)
        with native_log_routing():
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True,
                refine_landmarks=True,
                max_num_faces=int(max_faces),
                min_detection_confidence=self._min_confidence,
            )
            self._segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
            # The graphs open their calculators (and log) on background threads after the
            # constructors return; one tiny run waits for that inside the routing window.
            blank = np.zeros((64, 64, 3), dtype=np.uint8)
            self._mesh.process(blank)
            self._segmenter.process(blank)
        self._detector = None
        self._closed = False

    def __enter__(self) -> MediapipeBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the graphs (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with native_log_routing():
            for graph in (self._mesh, self._segmenter, self._detector):
                if graph is not None:
                    graph.close()
        self._mesh = self._segmenter = self._detector = None

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this face detector has been closed")

    def face_landmarks(self, rgb: np.ndarray) -> list[np.ndarray]:
        """FaceMesh on one image.

        Parameters
        ----------
        rgb : (H, W, 3) float in [0, 1] (ideally ≤ ~2 MP).

        Returns
        -------
        list of (478, 3) float64, normalised (x, y, z) per face found, in mediapipe's order.
        """
        self._check_open()
        with native_log_routing():
            result = self._mesh.process(_as_uint8(rgb))
        faces = result.multi_face_landmarks or []
        return [
            np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float64) for face in faces
        ]

    def face_boxes(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The full-range face detector on one image.

        Returns
        -------
        boxes : (K, 4) float64 normalised [x0, y0, x1, y1], highest score first.
        scores : (K,) float64 in [0, 1].
        """
        self._check_open()
        with native_log_routing():
            if self._detector is None:
                self._detector = self._solutions.face_detection.FaceDetection(
                    model_selection=1, min_detection_confidence=self._min_confidence
                )
            result = self._detector.process(_as_uint8(rgb))
        found = []
        for det in result.detections or []:
            box = det.location_data.relative_bounding_box
            score = float(det.score[0]) if det.score else 0.0
            found.append((score, box.xmin, box.ymin, box.xmin + box.width, box.ymin + box.height))
        found.sort(key=lambda item: -item[0])
        boxes = np.array([f[1:] for f in found], dtype=np.float64).reshape(-1, 4)
        scores = np.array([f[0] for f in found], dtype=np.float64)
        return boxes, scores

    def person_mask(self, rgb: np.ndarray) -> np.ndarray:
        """Selfie segmentation of one image.

        Returns
        -------
        (H, W) float32 in [0, 1], the probability that each pixel belongs to a person, at the
        size of ``rgb``.
        """
        self._check_open()
        with native_log_routing():
            result = self._segmenter.process(_as_uint8(rgb))
        mask = np.asarray(result.segmentation_mask, dtype=np.float32)
        return np.clip(mask, 0.0, 1.0)
