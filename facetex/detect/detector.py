"""Face detection: boxes, 478 landmarks and a person mask, in the photo's full-resolution frame.

Pipeline for one photo (mediapipe 0.10.21, see :mod:`facetex.detect.mediapipe_backend`, and
MTCNN, see :mod:`facetex.detect.mtcnn`):

1. The photo is shrunk so that its longest side is at most ``DetectConfig.max_side``
   (mediapipe's own networks work at 128–256 px; large inputs only cost time).
2. FaceMesh runs on the whole shrunk image. Its short-range detector is made for faces that
   fill a good part of the frame: in a group photo it often finds one face, or none.
3. Two more detectors look at the whole photo (issue 22): mediapipe's full-range detector on the
   shrunk image (``DetectConfig.full_range``) and MTCNN (``DetectConfig.mtcnn``; trained on
   in-the-wild photos, it finds turned and tilted faces) on the photo shrunk to at most
   ``mtcnn_max_side``. Their boxes are merged (greedy non-maximum suppression at IoU 0.3, best
   score first; :mod:`facetex.detect.boxes`); a merged face's confidence is 1 − Π(1 − sᵢ) over
   the detectors that found it, so agreement raises it. Merged boxes that no FaceMesh face of
   step 2 explains get FaceMesh on a crop around them (as in step 4), which also confirms them:
   a box FaceMesh puts no landmarks on is kept only in :meth:`Detector.find_faces`'s listing,
   and only when both detectors found it.
4. Only if no face has been found yet (and ``DetectConfig.search_levels`` > 0), a small-face
   search (:mod:`facetex.detect.tiled_search`): mediapipe's full-range face detector (made for
   faces down to ~4 % of its input's side) runs on half-overlapping square tiles of half, then a
   quarter, of the shrunk image's longest side, coarse to fine, until a level yields a face.
   Around each box found (best score first, overlapping boxes once) a square crop
   ``DetectConfig.crop_scale`` times the box's longest side is cut from the FULL-resolution
   photo (padded with black where it leaves the image, as mediapipe's own letterboxing does),
   shrunk to ``max_side`` if larger, and FaceMesh runs on the crop
   (:mod:`facetex.detect.crops`); the face nearest the crop's centre is mapped back to the
   photo, and faces found twice (IoU > 0.3) are kept once. This recovers faces down to ~1 % of
   the photo's longest side with the default three levels, and faces cropped so tightly that the
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

import numpy as np

from facetex.detect.boxes import (
    DUPLICATE_IOU,
    add_scores,
    iou,
    landmark_box,
    merge_boxes,
    merged_confidence,
    owner_face,
)
from facetex.detect.config import DetectConfig
from facetex.detect.crops import faces_in_boxes, to_pixels
from facetex.detect.faces import MIN_FACE_PX, FaceTooSmallError, FoundFace, yaw_estimate
from facetex.detect.mediapipe_backend import MediapipeBackend
from facetex.detect.tiled_search import search_small_faces
from facetex.errors import (
    FaceSelectionError,
    InputImageError,
    MissingDependencyError,
    NoFaceError,
    ShapeMismatchError,
)
from facetex.io.images import downscale_for_fitting
from facetex.types import Detection, Photo

__all__ = [
    "Detector",
    "detect_face",
    "detect_faces",
    "select_face",
]

logger = logging.getLogger("facetex.detect")

# FaceMesh's own detector gives no score; a face it found counts as this (its threshold).
_MESH_SCORE = 0.5


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
            lm = to_pixels(lm, 0.0, 0.0, width, height)
            meshed.append((lm, landmark_box(lm, width, height), {"mesh": _MESH_SCORE}))

        unmeshed: list[tuple[np.ndarray, dict[str, float]]] = []
        groups = merge_boxes(self._candidates(rgb, small))
        pending = []
        for box, scores in sorted(groups, key=lambda g: -merged_confidence(g[1])):
            owner = owner_face(box, [m[1] for m in meshed])
            if owner is None:
                pending.append((box, scores))
            else:
                add_scores(meshed[owner][2], scores)
        pending = pending[: 2 * self.config.max_faces + 4]
        crops = faces_in_boxes(self._backend, rgb, [b for b, _ in pending], self.config)
        for (box, scores), lm in zip(pending, crops, strict=True):
            if lm is None:
                unmeshed.append((box, scores))
                continue
            found_box = landmark_box(lm, width, height)
            owner = owner_face(found_box, [m[1] for m in meshed])
            if owner is None:
                meshed.append((lm, found_box, dict(scores)))
            else:
                add_scores(meshed[owner][2], scores)
        if not meshed and self.config.search_levels > 0:
            for lm in search_small_faces(self._backend, rgb, small, self.config):
                meshed.append((lm, landmark_box(lm, width, height), {"tiles": _MESH_SCORE}))

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
        for box, scores in sorted(unmeshed, key=lambda u: -merged_confidence(u[1])):
            if len(scores) >= 2 and not any(iou(box, f.box) > DUPLICATE_IOU for f in found):
                clipped = np.clip(box, 0.0, [width, height, width, height])
                found.append(self._found(None, clipped, scores, None, None))
        return found

    def _found(self, index, box, scores, yaw, det) -> FoundFace:
        width = float(box[2] - box[0])
        return FoundFace(
            index=index,
            box=np.asarray(box, dtype=np.float64).copy(),
            confidence=merged_confidence(scores),
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


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr
