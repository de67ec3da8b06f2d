"""Face boxes: overlap, merging the detectors' boxes (greedy non-maximum suppression) and the
merged confidence.

A box is [x0, y0, x1, y1] in continuous pixel coordinates of the full-resolution photo (origin
at the top-left corner, see :mod:`facetex.types`). Boxes overlapping by IoU > 0.3 are the same
face; a merged face's confidence is 1 − Π(1 − sᵢ) over the detectors that found it, so
agreement raises it.
"""

from __future__ import annotations

import numpy as np

from facetex.detect.landmarks import NUM_MESH_LANDMARKS

__all__ = [
    "DUPLICATE_IOU",
    "landmark_box",
    "merge_boxes",
    "owner_face",
    "contains_centre",
    "add_scores",
    "merged_confidence",
    "iou",
]

DUPLICATE_IOU = 0.3


def landmark_box(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """[x0, y0, x1, y1] of the mesh landmarks, clipped to the image."""
    xy = landmarks[:NUM_MESH_LANDMARKS, :2]
    lo = np.clip(xy.min(axis=0), 0.0, [width, height])
    hi = np.clip(xy.max(axis=0), 0.0, [width, height])
    return np.array([lo[0], lo[1], hi[0], hi[1]], dtype=np.float64)


def merge_boxes(candidates: list[tuple[np.ndarray, float, str]]) -> list[tuple[np.ndarray, dict[str, float]]]:
    """Greedy non-maximum suppression over every detector's boxes, best score first: each
    group keeps its best box and the best score of each detector in it."""
    groups: list[tuple[np.ndarray, dict[str, float]]] = []
    for box, score, source in sorted(candidates, key=lambda c: -c[1]):
        for group_box, scores in groups:
            if iou(box, group_box) > DUPLICATE_IOU:
                scores[source] = max(scores.get(source, 0.0), score)
                break
        else:
            groups.append((np.asarray(box, dtype=np.float64), {source: score}))
    return groups


def owner_face(box: np.ndarray, face_boxes: list[np.ndarray]) -> int | None:
    """The face whose box is ``box``'s (IoU > 0.3, or each box's centre inside the other),
    best IoU first; None if none."""
    best, best_iou = None, -1.0
    for k, other in enumerate(face_boxes):
        value = iou(box, other)
        if value > DUPLICATE_IOU or (contains_centre(box, other) and contains_centre(other, box)):
            if value > best_iou:
                best, best_iou = k, value
    return best


def contains_centre(box: np.ndarray, other: np.ndarray) -> bool:
    """Whether ``other``'s centre lies inside ``box``."""
    cx, cy = (other[0] + other[2]) / 2, (other[1] + other[3]) / 2
    return bool(box[0] <= cx <= box[2] and box[1] <= cy <= box[3])


def add_scores(into: dict[str, float], scores: dict[str, float]) -> None:
    for source, score in scores.items():
        into[source] = max(into.get(source, 0.0), score)


def merged_confidence(scores: dict[str, float]) -> float:
    """1 − Π(1 − sᵢ): agreement between detectors raises it."""
    return float(1.0 - np.prod([1.0 - min(max(s, 0.0), 1.0) for s in scores.values()]))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
