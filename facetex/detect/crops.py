"""FaceMesh on square crops of the full-resolution photo, mapped back to photo pixels.

Landmark frame: x, y are continuous pixel coordinates of the full-resolution photo (origin at
the top-left corner, see :mod:`facetex.types`): mediapipe's normalised x, y times the width and
height of the image (or crop) it saw; z is mediapipe's relative depth times that image's width.
"""

from __future__ import annotations

import math

import numpy as np

from facetex.detect.config import DetectConfig
from facetex.detect.landmarks import NUM_LANDMARKS, NUM_MESH_LANDMARKS
from facetex.detect.mediapipe_backend import MediapipeBackend
from facetex.io.images import downscale_for_fitting

__all__ = ["padded_crop", "to_pixels", "faces_in_boxes"]


def padded_crop(rgb: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """The square [x0, x0+side) × [y0, y0+side) of ``rgb``, black outside the image."""
    height, width = rgb.shape[:2]
    out = np.zeros((side, side, 3), dtype=np.float32)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, width), min(y0 + side, height)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return out


def to_pixels(norm: np.ndarray, x0: float, y0: float, width: float, height: float) -> np.ndarray:
    """Normalised mediapipe landmarks of an image placed at (x0, y0) with size (width, height)
    → photo pixels; z scales with the image width like x (mediapipe's convention)."""
    if norm.shape != (NUM_LANDMARKS, 3):
        raise RuntimeError(f"mediapipe returned landmarks of shape {norm.shape}, expected (478, 3)")
    out = np.empty_like(norm, dtype=np.float64)
    out[:, 0] = x0 + norm[:, 0] * width
    out[:, 1] = y0 + norm[:, 1] * height
    out[:, 2] = norm[:, 2] * width
    return out


def faces_in_boxes(
    backend: MediapipeBackend, rgb: np.ndarray, boxes: list[np.ndarray], config: DetectConfig
) -> list[np.ndarray | None]:
    """FaceMesh on a full-resolution crop around each box: per box, the landmarks (photo
    pixels) of the face nearest the crop's centre, or None.

    Each crop is a square ``config.crop_scale`` times the box's longest side, centred on the
    box, black where it leaves the image, shrunk to ``config.max_side`` if larger.
    """
    out: list[np.ndarray | None] = []
    for box in boxes:
        box_side = max(box[2] - box[0], box[3] - box[1])
        side = max(int(math.ceil(config.crop_scale * box_side)), 1)
        x0 = int(round((box[0] + box[2] - side) / 2))
        y0 = int(round((box[1] + box[3] - side) / 2))
        crop, _ = downscale_for_fitting(padded_crop(rgb, x0, y0, side), config.max_side)
        candidates = backend.face_landmarks(crop)
        if not candidates:
            out.append(None)
            continue
        centre_dist = [
            np.hypot(*(c[:NUM_MESH_LANDMARKS, :2].mean(0) - 0.5)) for c in candidates
        ]
        out.append(to_pixels(candidates[int(np.argmin(centre_dist))], x0, y0, side, side))
    return out
