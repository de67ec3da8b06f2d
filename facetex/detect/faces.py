"""What a face listing says about each face: :class:`FoundFace`, the yaw estimate, and the
error for faces too small to texture.

:meth:`facetex.detect.Detector.find_faces` returns one :class:`FoundFace` per face seen in a
photo: those with landmarks first (largest box first; their ``index`` is the ``--face N`` /
``face_index`` that selects them, the same order as ``detect_faces``), then faces that a
detector saw but FaceMesh could not put landmarks on (``index`` None: they cannot be fitted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facetex.errors import NoFaceError
from facetex.types import Detection

__all__ = ["MIN_FACE_PX", "FaceTooSmallError", "FoundFace", "yaw_estimate"]

#: Narrowest face (its landmark box's width, pixels) that is worth texturing: below it the
#: photo holds too few texels per face for the texture's detail.
MIN_FACE_PX = 64

# Mesh vertices: the nose tip and the face oval's outermost points at cheek height (the
# subject's right, on the image's left in a frontal photo, and left).
_NOSE_TIP, _RIGHT_CHEEK, _LEFT_CHEEK = 1, 234, 454


class FaceTooSmallError(NoFaceError):
    """The face asked for is narrower than the texturing minimum.

    A :class:`~facetex.errors.NoFaceError` (so callers that handle "no face" still do), with
    the face's width in ``width`` and the minimum in ``minimum``.
    """

    def __init__(self, message: str, width: float, minimum: float) -> None:
        super().__init__(message)
        self.width = float(width)
        self.minimum = float(minimum)


@dataclass(frozen=True)
class FoundFace:
    """One face seen in a photo.

    Attributes
    ----------
    index : its ``face_index`` among the faces with landmarks (largest first), or None when no
        landmarks could be put on it (then it cannot be fitted).
    box : (4,) float64 [x0, y0, x1, y1] pixels: the landmark box when there are landmarks,
        else the detectors' box.
    confidence : in [0, 1]: 1 − Π(1 − sᵢ) over the scores sᵢ of the detectors that found it
        (FaceMesh's own detector, which gives no score, counts as 0.5, its threshold), so
        agreement raises it.
    sources : which detectors found it: "mesh" (FaceMesh on the whole photo), "full-range"
        (mediapipe's full-range detector), "mtcnn", "tiles" (the tiled small-face search).
    yaw : estimated head turn in degrees (:func:`yaw_estimate`), None without landmarks.
    too_small : narrower than the texturing minimum (``DetectConfig.min_face_px``).
    detection : the landmarks and mask (None without landmarks).
    """

    index: int | None
    box: np.ndarray
    confidence: float
    sources: tuple[str, ...]
    yaw: float | None
    too_small: bool
    detection: Detection | None

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])


def yaw_estimate(landmarks: np.ndarray) -> float:
    """Head turn (yaw) in degrees from one face's landmarks; 0 frontal, ±90 profile.

    The nose tip's horizontal offset from the midpoint of the face outline's two cheek points,
    over half their distance, taken as the sine of the turn (a cylinder model). Positive when
    the nose points to the image's right. Accurate to about ±10° up to ~60°: a label for
    choosing a face, not a pose measurement (the fit measures the pose).

    Parameters
    ----------
    landmarks : (≥468, 2|3) mediapipe mesh landmarks, x and y in pixels (z in the same units,
        as :class:`~facetex.types.Detection` holds them).
    """
    p = np.asarray(landmarks, dtype=np.float64)
    # with z (mediapipe's depth, in x's units) the cheek distance hardly shrinks as the head
    # turns; without it, it shrinks with the turn and the estimate reads high
    half = np.linalg.norm(p[_LEFT_CHEEK, :3] - p[_RIGHT_CHEEK, :3]) / 2.0
    mid = (p[_RIGHT_CHEEK, 0] + p[_LEFT_CHEEK, 0]) / 2.0
    return float(np.degrees(np.arcsin(np.clip((p[_NOSE_TIP, 0] - mid) / max(half, 1e-9), -1.0, 1.0))))
