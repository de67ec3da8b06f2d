"""Face detection: boxes, 478 landmarks and a person mask, in the photo's full-resolution frame.

Pipeline for one photo (mediapipe 0.10.21, see :mod:`facetex.detect.mediapipe_backend`, and
MTCNN, see :mod:`facetex.detect.mtcnn`):

1. The photo is shrunk so that its longest side is at most ``DetectConfig.max_side``
   (mediapipe's own networks work at 128–256 px; large inputs only cost time).
2. FaceMesh runs on the whole shrunk image. Its short-range detector is made for faces that
   fill a good part of the frame: in a group photo it often finds one face, or none.
3. Two more detectors look at the whole photo (issue 22): mediapipe's full-range detector on
   the shrunk image (``DetectConfig.full_range``) and MTCNN (``DetectConfig.mtcnn``; trained on
   in-the-wild photos, it finds turned and tilted faces) on the photo shrunk to at most
   ``mtcnn_max_side``. Their boxes are merged (greedy non-maximum suppression at IoU 0.3, best
   score first); a merged face's confidence is 1 − Π(1 − sᵢ) over the detectors that found it,
   so agreement raises it. Merged boxes that no FaceMesh face of step 2 explains get FaceMesh
   on a crop around them (as in step 4), which also confirms them: a box FaceMesh puts no
   landmarks on is kept only in :meth:`Detector.find_faces`'s listing, and only when both
   detectors found it.
4. Only if no face has been found yet (and ``DetectConfig.search_levels`` > 0), a small-face
   search: mediapipe's full-range face detector (made for faces down to ~4 % of its input's
   side) runs on half-overlapping square tiles of half, then a quarter, of the shrunk image's
   longest side, coarse to fine, until a level yields a face. Around each box found (best
   score first, overlapping boxes once) a square crop ``DetectConfig.crop_scale`` times the
   box's longest side is cut from the FULL-resolution photo (padded with black where it leaves
   the image, as mediapipe's own letterboxing does), shrunk to ``max_side`` if larger, and
   FaceMesh runs on the crop; the face nearest the crop's centre is mapped back to the photo,
   and faces found twice (IoU > 0.3) are kept once. This recovers faces down to ~1 % of the
   photo's longest side with the default three levels, and faces cropped so tightly that the
   short-range detector misses them.
5. Selfie segmentation of the shrunk image gives the person mask, resized (bilinear) to the
   photo.

Faces narrower than ``DetectConfig.min_face_px`` (64 px) are found and listed but flagged too
small to texture: selecting one (:func:`select_face`) raises
:class:`~facetex.detect.faces.FaceTooSmallError` with its width, not "no face found".

Landmark frame: x, y are continuous pixel coordinates of the full-resolution photo (origin at
the top-left corner, see :mod:`facetex.types`): mediapipe's normalised x, y times the width and
height of the image (or crop) it saw; z is mediapipe's relative depth times that image's width
(smaller is closer to the camera; the origin is arbitrary). The box of a face is the tight box
of its 468 mesh landmarks clipped to the image; faces are ordered by box area, largest first.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from facetex.detect.faces import MIN_FACE_PX, FaceTooSmallError, FoundFace, yaw_estimate
from facetex.detect.landmarks import NUM_LANDMARKS, NUM_MESH_LANDMARKS
from facetex.detect.mediapipe_backend import MediapipeBackend
from facetex.errors import (
    FaceSelectionError,
    InputImageError,
    MissingDependencyError,
    NoFaceError,
    ShapeMismatchError,
)
from facetex.io.images import downscale_for_fitting
from facetex.types import Detection, Photo

__all__ = ["DetectConfig", "Detector", "detect_face", "detect_faces", "select_face"]

logger = logging.getLogger("facetex.detect")

_DUPLICATE_IOU = 0.3
# FaceMesh's own detector gives no score; a face it found counts as this (its threshold).
_MESH_SCORE = 0.5
# At most this many crops are tried in the small-face search.
_MAX_SEARCH_CROPS = 20


@dataclass(frozen=True)
class DetectConfig:
    """Settings of face detection.

    Attributes
    ----------
    max_faces : most faces with landmarks reported per photo (≥ 1); also bounds the crops
        tried around detector boxes (2 × max_faces + 4, most confident first).
    min_confidence : minimum face-detection score in [0, 1] (mediapipe's default 0.5).
    max_side : longest side, in pixels, of the copy mediapipe sees (≥ 64).
    search_levels : levels of the small-face search run when the whole image yields no face
        (step 3 of the module docstring); 0 turns it off. Level k runs the full-range detector
        on square tiles of side L / 2^k (L the longest side) overlapping by half, so each level
        finds faces about half as large as the one before (level 0: faces down to ~4 % of L).
    crop_scale : side of a crop around a full-range box, in multiples of the box's longest side
        (≥ 1).
    full_range : run mediapipe's full-range detector on every photo (step 3 of the module
        docstring), not only in the small-face search.
    mtcnn : run MTCNN on every photo (step 3); needs the facenet-pytorch wheel's weights
        (without them a warning is logged and detection goes on without MTCNN).
    mtcnn_max_side : longest side, in pixels, of the copy MTCNN sees (≥ 64).
    mtcnn_min_px : smallest face MTCNN looks for, in pixels of the photo (≥ 12; at least
        12 px of the copy MTCNN sees). Its time grows as (photo side / mtcnn_min_px)².
    min_face_px : faces narrower than this (landmark box, pixels) are too small to texture:
        listed and flagged, and selecting one raises FaceTooSmallError (0 turns it off).
    """

    max_faces: int = 20
    min_confidence: float = 0.5
    max_side: int = 1280
    search_levels: int = 3
    crop_scale: float = 2.5
    full_range: bool = True
    mtcnn: bool = True
    mtcnn_max_side: int = 1024
    mtcnn_min_px: int = 32
    min_face_px: float = MIN_FACE_PX

    def __post_init__(self) -> None:
        from facetex.checks import SettingValueError, check_integer, check_number

        check_integer("max_faces", self.max_faces, 1, 100)
        check_number("min_confidence", self.min_confidence, 0.0, 1.0)
        check_integer("max_side", self.max_side, 64, 16384)
        check_integer("search_levels", self.search_levels, 0, 5)
        check_number("crop_scale", self.crop_scale, 1.0, 10.0)
        check_integer("mtcnn_max_side", self.mtcnn_max_side, 64, 16384)
        check_integer("mtcnn_min_px", self.mtcnn_min_px, 12, 4096)
        check_number("min_face_px", self.min_face_px, 0.0, 4096.0)
        for name in ("full_range", "mtcnn"):
            if not isinstance(getattr(self, name), bool):
                raise SettingValueError(name, f"must be true or false, got {getattr(self, name)!r}")


class Detector:
    """Face detector holding its mediapipe graphs; build once, reuse over a batch, then close.

    Use as a context manager::

        with Detector(DetectConfig()) as detector:
            for photo in photos:
                faces = detector.detect_faces(photo)

    Not thread-safe: use one detector per thread.
    """

    def __init__(self, config: DetectConfig | None = None) -> None:
        self.config = config if config is not None else DetectConfig()
        self._backend = MediapipeBackend(
            max_faces=self.config.max_faces, min_confidence=self.config.min_confidence
        )
        self._mtcnn = None
        self._mtcnn_failed = False

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the mediapipe graphs (idempotent)."""
        self._backend.close()
        self._mtcnn = None

    def detect_faces(self, photo: Photo) -> list[Detection]:
        """Every face in ``photo`` that has landmarks, largest box first (possibly an empty list).

        Faces narrower than ``config.min_face_px`` are included (see :meth:`find_faces` for
        their flag; :func:`select_face` refuses them).

        Parameters
        ----------
        photo : the full-resolution photo, ``rgb`` (H, W, 3) float32 in [0, 1].

        Returns
        -------
        list of Detection in the photo's pixel frame (see the module docstring); they share
        one read-only ``person_mask`` (H, W) and ``all_boxes`` (F, 4).
        """
        return [f.detection for f in self.find_faces(photo) if f.detection is not None]

    def find_faces(self, photo: Photo) -> list[FoundFace]:
        """Every face seen in ``photo``: those with landmarks first, in :meth:`detect_faces`'s
        order (``index`` = ``face_index``), then boxes that two detectors agree on but FaceMesh
        could not put landmarks on (``index`` None). See :class:`~facetex.detect.faces.FoundFace`.
        """
        rgb = _checked_rgb(photo)
        height, width = rgb.shape[:2]
        small, _ = downscale_for_fitting(rgb, self.config.max_side)
        # each face: landmarks (photo pixels) or None, its box, and {source: score}
        meshed: list[tuple[np.ndarray, np.ndarray, dict[str, float]]] = []
        for lm in self._backend.face_landmarks(small):
            lm = _to_pixels(lm, 0.0, 0.0, width, height)
            meshed.append((lm, _landmark_box(lm, width, height), {"mesh": _MESH_SCORE}))

        unmeshed: list[tuple[np.ndarray, dict[str, float]]] = []
        groups = _merge(self._candidates(rgb, small))
        pending = []
        for box, scores in sorted(groups, key=lambda g: -_confidence(g[1])):
            owner = _owner(box, [m[1] for m in meshed])
            if owner is None:
                pending.append((box, scores))
            else:
                _add_scores(meshed[owner][2], scores)
        pending = pending[: 2 * self.config.max_faces + 4]
        for (box, scores), lm in zip(pending, self._faces_in_boxes(rgb, [b for b, _ in pending]), strict=True):
            if lm is None:
                unmeshed.append((box, scores))
                continue
            found_box = _landmark_box(lm, width, height)
            owner = _owner(found_box, [m[1] for m in meshed])
            if owner is None:
                meshed.append((lm, found_box, dict(scores)))
            else:
                _add_scores(meshed[owner][2], scores)
        if not meshed and self.config.search_levels > 0:
            for lm in self._search_small_faces(rgb, small):
                meshed.append((lm, _landmark_box(lm, width, height), {"tiles": _MESH_SCORE}))

        found: list[FoundFace] = []
        if meshed:
            boxes = np.stack([m[1] for m in meshed])
            areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            order = np.argsort(-areas, kind="stable")[: self.config.max_faces]
            all_boxes = _readonly(boxes[order])
            mask = _readonly(self._person_mask(small, width, height))
            for i, k in enumerate(order):
                lm, _, scores = meshed[k]
                det = Detection(
                    box=all_boxes[i].copy(),
                    landmarks=lm,
                    person_mask=mask,
                    face_index=i,
                    all_boxes=all_boxes,
                )
                found.append(self._found(i, det.box, scores, yaw_estimate(lm), det))
        # boxes without landmarks: only where two detectors agree (one alone is too often wrong)
        for box, scores in sorted(unmeshed, key=lambda u: -_confidence(u[1])):
            if len(scores) >= 2 and not any(_iou(box, f.box) > _DUPLICATE_IOU for f in found):
                clipped = np.clip(box, 0.0, [width, height, width, height])
                found.append(self._found(None, clipped, scores, None, None))
        return found

    def _found(self, index, box, scores, yaw, det) -> FoundFace:
        width = float(box[2] - box[0])
        return FoundFace(
            index=index,
            box=np.asarray(box, dtype=np.float64).copy(),
            confidence=_confidence(scores),
            sources=tuple(sorted(scores)),
            yaw=yaw,
            too_small=width < self.config.min_face_px,
            detection=det,
        )

    def detect_face(self, photo: Photo, face_index: int = 0) -> Detection:
        """One face of ``photo``: the ``face_index``-th largest (0, the largest, by default).

        Raises
        ------
        NoFaceError
            No face in the photo.
        FaceTooSmallError
            The face asked for is narrower than ``config.min_face_px`` (a NoFaceError).
        FaceSelectionError
            ``face_index`` is not in 0 .. F-1.
        """
        return select_face(
            self.detect_faces(photo), face_index, photo.source, min_face_px=self.config.min_face_px
        )

    def _candidates(self, rgb: np.ndarray, small: np.ndarray) -> list[tuple[np.ndarray, float, str]]:
        """Step 3 of the module docstring: (box in photo pixels, score, source) of the
        full-range detector and MTCNN on the whole photo."""
        height, width = rgb.shape[:2]
        out: list[tuple[np.ndarray, float, str]] = []
        if self.config.full_range:
            boxes, scores = self._backend.face_boxes(small)
            for box, score in zip(boxes, scores, strict=True):
                out.append((box * [width, height, width, height], float(score), "full-range"))
        mtcnn = self._get_mtcnn()
        if mtcnn is not None:
            copy, _ = downscale_for_fitting(rgb, self.config.mtcnn_max_side)
            scale = width / copy.shape[1]
            mtcnn.min_size = max(12.0, self.config.mtcnn_min_px / scale)
            faces = mtcnn.detect(copy)
            for box, score in zip(faces.boxes, faces.scores, strict=True):
                out.append((box * scale, float(score), "mtcnn"))
        return out

    def _get_mtcnn(self):
        if not self.config.mtcnn or self._mtcnn_failed:
            return None
        if self._mtcnn is None:
            from facetex.detect.mtcnn import MTCNN

            try:
                self._mtcnn = MTCNN(min_size=self.config.mtcnn_min_px)
            except MissingDependencyError as exc:
                logger.warning("face detection goes on without MTCNN: %s", exc)
                self._mtcnn_failed = True
                return None
        return self._mtcnn

    def _search_small_faces(self, rgb: np.ndarray, small: np.ndarray) -> list[np.ndarray]:
        """Step 4 of the module docstring: tiled full-range detection, then FaceMesh on crops."""
        height, width = rgb.shape[:2]
        # Small-image pixels → full-resolution pixels, per axis.
        sx, sy = width / small.shape[1], height / small.shape[0]
        for level in range(self.config.search_levels):
            boxes, scores = [], []
            for tx, ty, side in _tiles(small.shape[0], small.shape[1], level):
                tile = small if level == 0 else _padded_crop(small, tx, ty, side)
                tile_w, tile_h = (small.shape[1], small.shape[0]) if level == 0 else (side, side)
                found, found_scores = self._backend.face_boxes(tile)
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
            faces = self._distinct_faces(rgb, boxes, scores)
            if faces:
                return faces
        return []

    def _distinct_faces(
        self, rgb: np.ndarray, boxes: list[np.ndarray], scores: list[float]
    ) -> list[np.ndarray]:
        """FaceMesh on a crop around each box (best score first, overlapping boxes once); the
        distinct faces found, at most ``max_faces``."""
        height, width = rgb.shape[:2]
        faces: list[np.ndarray] = []
        face_boxes: list[np.ndarray] = []
        tried: list[np.ndarray] = []
        for k in np.argsort(-np.asarray(scores), kind="stable"):
            box = boxes[k]
            if any(_iou(box, other) > _DUPLICATE_IOU for other in tried + face_boxes):
                continue
            if len(tried) >= _MAX_SEARCH_CROPS:
                break
            tried.append(box)
            lm = self._faces_in_boxes(rgb, [box])[0]
            if lm is None:
                continue
            found_box = _landmark_box(lm, width, height)
            if any(_iou(found_box, other) > _DUPLICATE_IOU for other in face_boxes):
                continue
            faces.append(lm)
            face_boxes.append(found_box)
            if len(faces) >= self.config.max_faces:
                break
        return faces

    def _faces_in_boxes(self, rgb: np.ndarray, boxes: list[np.ndarray]) -> list[np.ndarray | None]:
        """FaceMesh on a full-resolution crop around each box: per box, the landmarks (photo
        pixels) of the face nearest the crop's centre, or None."""
        out: list[np.ndarray | None] = []
        for box in boxes:
            box_side = max(box[2] - box[0], box[3] - box[1])
            side = max(int(math.ceil(self.config.crop_scale * box_side)), 1)
            x0 = int(round((box[0] + box[2] - side) / 2))
            y0 = int(round((box[1] + box[3] - side) / 2))
            crop, _ = downscale_for_fitting(_padded_crop(rgb, x0, y0, side), self.config.max_side)
            candidates = self._backend.face_landmarks(crop)
            if not candidates:
                out.append(None)
                continue
            centre_dist = [
                np.hypot(*(c[:NUM_MESH_LANDMARKS, :2].mean(0) - 0.5)) for c in candidates
            ]
            out.append(_to_pixels(candidates[int(np.argmin(centre_dist))], x0, y0, side, side))
        return out

    def _person_mask(self, small: np.ndarray, width: int, height: int) -> np.ndarray:
        import cv2

        mask = self._backend.person_mask(small)
        if mask.shape != (height, width):
            mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
        return np.clip(mask, 0.0, 1.0).astype(np.float32, copy=False)


def detect_faces(photo: Photo, config: DetectConfig | None = None) -> list[Detection]:
    """Every face in ``photo``, largest first; see :meth:`Detector.detect_faces`.

    Builds and closes a :class:`Detector`; for a batch of photos keep one detector instead.
    """
    with Detector(config) as detector:
        return detector.detect_faces(photo)


def detect_face(photo: Photo, config: DetectConfig | None = None, face_index: int = 0) -> Detection:
    """The ``face_index``-th largest face of ``photo``; see :meth:`Detector.detect_face`.

    Raises
    ------
    NoFaceError
        "no face found in PATH".
    FaceSelectionError
        "face 3 requested but PATH has 2 faces: 0..1".
    FaceTooSmallError
        "face 0 of PATH is 41 px wide, too small to texture (faces need 64 px or more): …".
    """
    with Detector(config) as detector:
        return detector.detect_face(photo, face_index)


def select_face(
    detections: list[Detection], face_index: int, source: str, *, min_face_px: float = MIN_FACE_PX
) -> Detection:
    """Pick one face from the result of :func:`detect_faces`, with the errors users see.

    Parameters
    ----------
    detections : the faces of one photo, largest first.
    face_index : 0-based index into ``detections``.
    source : the photo's name, for messages.
    min_face_px : the face's box must be at least this wide (0: any width).

    Raises
    ------
    NoFaceError, FaceSelectionError
        As :func:`detect_face`.
    FaceTooSmallError
        The face is narrower than ``min_face_px`` (a NoFaceError, with its ``width``).
    """
    if not detections:
        raise NoFaceError(f"no face found in {source}")
    count = len(detections)
    is_int = isinstance(face_index, (int, np.integer)) and not isinstance(face_index, bool)
    if not is_int or not 0 <= face_index < count:
        noun = "face" if count == 1 else "faces"
        raise FaceSelectionError(
            f"face {face_index} requested but {source} has {count} {noun}: 0..{count - 1}"
        )
    chosen = detections[int(face_index)]
    width = float(chosen.box[2] - chosen.box[0])
    if width < min_face_px:
        others = sum(1 for d in detections if d.box[2] - d.box[0] >= min_face_px)
        hint = (
            f"choose one of the {others} larger faces (see `facetex faces {source}`)"
            if others
            else "use a larger or closer photo of the face"
        )
        raise FaceTooSmallError(
            f"face {int(face_index)} of {source} is {width:.0f} px wide, too small to texture "
            f"(faces need {min_face_px:g} px or more): {hint}",
            width,
            min_face_px,
        )
    return chosen


# --------------------------------------------------------------------------------- helpers


def _checked_rgb(photo: Photo) -> np.ndarray:
    if not isinstance(photo, Photo):
        raise TypeError(f"expected a facetex.types.Photo, got {type(photo).__name__}")
    rgb = np.asarray(photo.rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ShapeMismatchError(f"{photo.source}: expected an (H, W, 3) image, got {rgb.shape}")
    if not np.issubdtype(rgb.dtype, np.floating):
        raise InputImageError(
            f"{photo.source}: expected float RGB in [0, 1], got {rgb.dtype} (use load_photo)"
        )
    return rgb


def _to_pixels(norm: np.ndarray, x0: float, y0: float, width: float, height: float) -> np.ndarray:
    """Normalised mediapipe landmarks of an image placed at (x0, y0) with size (width, height)
    → photo pixels; z scales with the image width like x (mediapipe's convention)."""
    if norm.shape != (NUM_LANDMARKS, 3):
        raise RuntimeError(f"mediapipe returned landmarks of shape {norm.shape}, expected (478, 3)")
    out = np.empty_like(norm, dtype=np.float64)
    out[:, 0] = x0 + norm[:, 0] * width
    out[:, 1] = y0 + norm[:, 1] * height
    out[:, 2] = norm[:, 2] * width
    return out


def _landmark_box(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """[x0, y0, x1, y1] of the mesh landmarks, clipped to the image."""
    xy = landmarks[:NUM_MESH_LANDMARKS, :2]
    lo = np.clip(xy.min(axis=0), 0.0, [width, height])
    hi = np.clip(xy.max(axis=0), 0.0, [width, height])
    return np.array([lo[0], lo[1], hi[0], hi[1]], dtype=np.float64)


def _merge(candidates: list[tuple[np.ndarray, float, str]]) -> list[tuple[np.ndarray, dict[str, float]]]:
    """Greedy non-maximum suppression over every detector's boxes, best score first: each
    group keeps its best box and the best score of each detector in it."""
    groups: list[tuple[np.ndarray, dict[str, float]]] = []
    for box, score, source in sorted(candidates, key=lambda c: -c[1]):
        for group_box, scores in groups:
            if _iou(box, group_box) > _DUPLICATE_IOU:
                scores[source] = max(scores.get(source, 0.0), score)
                break
        else:
            groups.append((np.asarray(box, dtype=np.float64), {source: score}))
    return groups


def _owner(box: np.ndarray, face_boxes: list[np.ndarray]) -> int | None:
    """The face whose box is ``box``'s (IoU > 0.3, or each box's centre inside the other),
    best IoU first; None if none."""
    best, best_iou = None, -1.0
    for k, other in enumerate(face_boxes):
        value = _iou(box, other)
        if value > _DUPLICATE_IOU or (_contains(box, other) and _contains(other, box)):
            if value > best_iou:
                best, best_iou = k, value
    return best


def _contains(box: np.ndarray, other: np.ndarray) -> bool:
    """Whether ``other``'s centre lies inside ``box``."""
    cx, cy = (other[0] + other[2]) / 2, (other[1] + other[3]) / 2
    return bool(box[0] <= cx <= box[2] and box[1] <= cy <= box[3])


def _add_scores(into: dict[str, float], scores: dict[str, float]) -> None:
    for source, score in scores.items():
        into[source] = max(into.get(source, 0.0), score)


def _confidence(scores: dict[str, float]) -> float:
    """1 − Π(1 − sᵢ): agreement between detectors raises it."""
    return float(1.0 - np.prod([1.0 - min(max(s, 0.0), 1.0) for s in scores.values()]))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _tiles(height: int, width: int, level: int) -> list[tuple[int, int, int]]:
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


def _padded_crop(rgb: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """The square [x0, x0+side) × [y0, y0+side) of ``rgb``, black outside the image."""
    height, width = rgb.shape[:2]
    out = np.zeros((side, side, 3), dtype=np.float32)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, width), min(y0 + side, height)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return out


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr
