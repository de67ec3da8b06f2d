"""Face detection and landmarks (mediapipe 0.10.21), with an optional dlib 68-point cross-check.

``detect_faces(photo, config)`` gives every face of a photo, largest first; ``detect_face``
picks one, raising :class:`~facetex.errors.NoFaceError`,
:class:`~facetex.detect.faces.FaceTooSmallError` (a NoFaceError: the face is narrower than
64 px) or :class:`~facetex.errors.FaceSelectionError`. ``Detector.find_faces`` lists every face
with its box, yaw, confidence and detectors (:class:`~facetex.detect.faces.FoundFace`). For a
batch, build one :class:`Detector` and reuse it. Detectors: mediapipe (FaceMesh, full-range)
and MTCNN (:mod:`facetex.detect.mtcnn`); box merging in :mod:`facetex.detect.boxes`, the
small-face search in :mod:`facetex.detect.tiled_search`. Named landmark groups live in
:mod:`facetex.detect.landmarks`; the dlib cross-check in :mod:`facetex.detect.dlib_check`
(imported on demand, dlib is optional).
"""

from facetex.detect.config import DetectConfig
from facetex.detect.detector import Detector, detect_face, detect_faces, select_face
from facetex.detect.faces import MIN_FACE_PX, FaceTooSmallError, FoundFace, yaw_estimate
from facetex.detect.landmarks import eye_centers, pupils_from_tem

__all__ = [
    "MIN_FACE_PX",
    "DetectConfig",
    "Detector",
    "detect_face",
    "detect_faces",
    "eye_centers",
    "FaceTooSmallError",
    "FoundFace",
    "yaw_estimate",
    "pupils_from_tem",
    "select_face",
]
