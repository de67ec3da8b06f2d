"""Face detection and landmarks (mediapipe 0.10.21), with an optional dlib 68-point cross-check.

``detect_faces(photo, config)`` gives every face of a photo, largest first; ``detect_face``
picks one, raising :class:`~facetex.errors.NoFaceError` or
:class:`~facetex.errors.FaceSelectionError`. For a batch, build one :class:`Detector` and reuse
it. Named landmark groups live in :mod:`facetex.detect.landmarks`; the dlib cross-check in
:mod:`facetex.detect.dlib_check` (imported on demand, dlib is optional).
"""

from facetex.detect.detector import DetectConfig, Detector, detect_face, detect_faces, select_face
from facetex.detect.landmarks import eye_centers, pupils_from_tem

__all__ = [
    "DetectConfig",
    "Detector",
    "detect_face",
    "detect_faces",
    "eye_centers",
    "pupils_from_tem",
    "select_face",
]
