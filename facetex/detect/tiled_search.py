"""The small-face search: mediapipe's full-range detector on tiles, then FaceMesh on crops.

Run by :class:`facetex.detect.detector.Detector` only when no face has been found on the whole
photo (step 4 of :mod:`facetex.detect.detector`'s docstring). mediapipe's full-range face
detector (made for faces down to ~4 % of its input's side) runs on half-overlapping square
tiles of half, then a quarter, of the shrunk image's longest side, coarse to fine, until a level
yields a face. Around each box found (best score first, overlapping boxes once) FaceMesh runs on
a crop of the full-resolution photo (:func:`facetex.detect.crops.faces_in_boxes`); faces found
twice (IoU > 0.3) are kept once. Boxes are in photo pixels (:mod:`facetex.detect.boxes`).
"""

from __future__ import annotations

import math

import numpy as np

from facetex.detect.boxes import DUPLICATE_IOU, iou, landmark_box
from facetex.detect.config import DetectConfig
from facetex.detect.crops import faces_in_boxes, padded_crop
from facetex.detect.mediapipe_backend import MediapipeBackend

__all__ = ["MAX_SEARCH_CROPS", "tiles", "search_small_faces", "distinct_faces"]

# At most this many crops are tried in the small-face search.
MAX_SEARCH_CROPS = 20


def search_small_faces(
    backend: MediapipeBackend, rgb: np.ndarray, small: np.ndarray, config: DetectConfig
) -> list[np.ndarray]:
    """Tiled full-range detection on ``small`` (the photo shrunk to ``config.max_side``),
    then FaceMesh on crops of ``rgb`` (module doc): the landmarks (photo pixels) of the
    faces of the first level that yields any, or an empty list."""
    height, width = rgb.shape[:2]
    # Small-image pixels → full-resolution pixels, per axis.
    sx, sy = width / small.shape[1], height / small.shape[0]
    for level in range(config.search_levels):
        boxes, scores = [], []
        for tx, ty, side in tiles(small.shape[0], small.shape[1], level):
            tile = small if level == 0 else padded_crop(small, tx, ty, side)
            tile_w, tile_h = (small.shape[1], small.shape[0]) if level == 0 else (side, side)
            found, found_scores = backend.face_boxes(tile)
            for (nx0, ny0, nx1, ny1), score in zip(found, found_scores, strict=True):
                boxes.append(
                    np.array([
                        (tx + nx0 * tile_w) * sx,
                        (ty + ny0 * tile_h) * sy,
                        (tx + nx1 * tile_w) * sx,
                        (ty + ny1 * tile_h) * sy,
                    ])
                )
                scores.append(score)
        faces = distinct_faces(backend, rgb, boxes, scores, config)
        if faces:
            return faces
    return []


def distinct_faces(
    backend: MediapipeBackend,
    rgb: np.ndarray,
    boxes: list[np.ndarray],
    scores: list[float],
    config: DetectConfig,
) -> list[np.ndarray]:
    """FaceMesh on a crop around each box (best score first, overlapping boxes once); the
    distinct faces found, at most ``max_faces``."""
    height, width = rgb.shape[:2]
    faces: list[np.ndarray] = []
    face_boxes: list[np.ndarray] = []
    tried: list[np.ndarray] = []
    for k in np.argsort(-np.asarray(scores), kind="stable"):
        box = boxes[k]
        if any(iou(box, other) > DUPLICATE_IOU for other in tried + face_boxes):
            continue
        if len(tried) >= MAX_SEARCH_CROPS:
            break
        tried.append(box)
        lm = faces_in_boxes(backend, rgb, [box], config)[0]
        if lm is None:
            continue
        found_box = landmark_box(lm, width, height)
        if any(iou(found_box, other) > DUPLICATE_IOU for other in face_boxes):
            continue
        faces.append(lm)
        face_boxes.append(found_box)
        if len(faces) >= config.max_faces:
            break
    return faces


def tiles(height: int, width: int, level: int) -> list[tuple[int, int, int]]:
    """Square tiles (x0, y0, side) of level ``level``: side L / 2^level, stride side / 2.

    Level 0 is the whole image (its origin and longest side). Tiles that do not fit along an
    axis are centred on it (and padded when cut).
    """
    longest = max(height, width)
    if level == 0:
        return [(0, 0, longest)]
    side = max(int(math.ceil(longest / 2**level)), 1)

    def origins(dim: int) -> list[int]:
        if side >= dim:
            return [(dim - side) // 2]
        count = int(math.ceil((dim - side) / (side / 2))) + 1
        return [int(round(v)) for v in np.linspace(0, dim - side, count)]

    return [(x, y, side) for y in origins(height) for x in origins(width)]
