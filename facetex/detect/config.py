"""Settings of face detection (:class:`facetex.detect.detector.Detector`)."""

from __future__ import annotations

from dataclasses import dataclass

from facetex.checks import SettingValueError, check_integer, check_number
from facetex.detect.faces import MIN_FACE_PX

__all__ = ["DetectConfig"]


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
        (step 4 of :mod:`facetex.detect.detector`'s docstring, :mod:`facetex.detect.tiled_search`);
        0 turns it off. Level k runs the full-range detector on square tiles of side L / 2^k (L
        the longest side) overlapping by half, so each level finds faces about half as large as
        the one before (level 0: faces down to ~4 % of L).
    crop_scale : side of a crop around a full-range box, in multiples of the box's longest side
        (≥ 1).
    full_range : run mediapipe's full-range detector on every photo (step 3 of
        :mod:`facetex.detect.detector`'s docstring), not only in the small-face search.
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
