"""The fit overlay of the report: the fitted mesh's wireframe drawn over the input photo."""

from __future__ import annotations

import numpy as np

from facetex.errors import InputImageError, ShapeMismatchError
from facetex.geometry.camera import project
from facetex.geometry.topology import mesh_edges
from facetex.types import FaceFit

__all__ = ["fit_overlay"]


def fit_overlay(
    photo: np.ndarray,
    fit: FaceFit,
    faces: np.ndarray,
    *,
    color: tuple[float, float, float] = (0.35, 1.0, 0.55),
    opacity: float = 0.4,
) -> np.ndarray:
    """Draw the edges of the fitted mesh, projected with the fitted camera, over the photo.

    Parameters
    ----------
    photo : (H, W, 3) float32 RGB in [0, 1], the photo the fit refers to (its full resolution,
        ``fit.image_size``).
    fit : the :class:`~facetex.types.FaceFit`; ``vertices`` are camera-frame cm, projected as
        (f·X/Z + cx, f·Y/Z + cy) (:func:`facetex.geometry.camera.project`).
    faces : (F, 3) int triangles of the fitted mesh.
    color : RGB of the lines in [0, 1]. opacity : blend weight of the lines in [0, 1].

    Returns
    -------
    (H, W, 3) float32 in [0, 1], a new image; edges with a vertex behind the camera are skipped.

    Raises
    ------
    InputImageError
        If ``photo`` is not an RGB image in [0, 1].
    ShapeMismatchError
        If the photo's size differs from ``fit.image_size`` or ``faces`` index missing vertices.
    """
    import cv2

    img = np.asarray(photo, dtype=np.float32)
    if img.ndim != 3 or img.shape[2] != 3:
        raise InputImageError(f"photo must be (H, W, 3), got shape {img.shape}")
    if not np.all(np.isfinite(img)) or img.min() < 0.0 or img.max() > 1.0:
        raise InputImageError("photo must hold finite values in [0, 1]")
    if tuple(img.shape[:2]) != tuple(fit.image_size):
        raise ShapeMismatchError(
            f"photo is {img.shape[:2]} but the fit refers to an image of {tuple(fit.image_size)}"
        )
    vertices = np.asarray(fit.vertices, dtype=np.float64)
    f = np.asarray(faces)
    if f.ndim != 2 or f.shape[1] != 3 or f.min() < 0 or f.max() >= vertices.shape[0]:
        raise ShapeMismatchError(f"faces must be (F, 3) indices into {vertices.shape[0]} vertices")

    xy = project(vertices, float(fit.focal_length), np.asarray(fit.principal_point, dtype=np.float64))
    edges = mesh_edges(f)
    in_front = (vertices[edges[:, 0], 2] > 0) & (vertices[edges[:, 1], 2] > 0)
    edges = edges[in_front]
    shift = 4  # sub-pixel precision of cv2.line: coordinates × 16
    pts = np.round((xy - 0.5) * (1 << shift)).astype(np.int64)  # pixel centres at +0.5 (types.py)
    lines = np.zeros(img.shape[:2], dtype=np.uint8)
    thickness = max(1, round(max(img.shape[:2]) / 700))
    for a, b in edges:
        cv2.line(
            lines,
            tuple(int(c) for c in pts[a]),
            tuple(int(c) for c in pts[b]),
            255,
            thickness,
            cv2.LINE_AA,
            shift,
        )
    alpha = (lines.astype(np.float32) / 255.0 * float(np.clip(opacity, 0.0, 1.0)))[..., None]
    out = img * (1.0 - alpha) + np.asarray(color, dtype=np.float32) * alpha
    return np.clip(out, 0.0, 1.0).astype(np.float32)
