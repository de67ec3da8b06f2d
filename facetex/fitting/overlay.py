"""Pictures of a fit: mesh wireframe and landmarks over the photo, and visibility masks."""

from __future__ import annotations

import cv2
import numpy as np

from facetex.detect.landmarks import LEFT_EYE, NUM_MESH_LANDMARKS, RIGHT_EYE
from facetex.errors import ShapeMismatchError
from facetex.fitting.visibility import ImageVisibility
from facetex.types import Detection, FaceFit, MeshTopology

__all__ = ["project_fit", "fitted_eye_centres", "draw_overlay", "draw_visibility"]

_WIRE = (0.2, 0.9, 1.0)  # cyan: fitted mesh edges
_LANDMARK = (1.0, 0.85, 0.1)  # yellow: detected landmarks
_FITTED = (1.0, 0.2, 0.6)  # magenta: fitted eye centres
_OPAQUE_EDGE_PX = 12.0  # wire edges this long (median, on the picture) or longer are drawn opaque


def _facing_camera(xy: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F,) bool: the triangles whose projection winds counter-clockwise as seen by the camera.

    Faces are counter-clockwise seen from outside in the model frame (x right, y up); the photo's
    y axis points down, so a triangle facing the camera has a negative signed area in pixels.
    Drawing only those leaves out the back of the ears and the far side of a turned head.
    """
    a, b, c = xy[faces[:, 0]], xy[faces[:, 1]], xy[faces[:, 2]]
    cross = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    return cross < 0.0


def project_fit(fit: FaceFit, points: np.ndarray | None = None) -> np.ndarray:
    """Project camera-frame points (default: the fitted vertices) with the fit's camera.

    Returns
    -------
    (N, 2) float64 pixel positions (x, y) in the full-resolution photo.
    """
    pts = fit.vertices if points is None else np.asarray(points, dtype=np.float64)
    return fit.focal_length * pts[:, :2] / pts[:, 2:3] + fit.principal_point


def fitted_eye_centres(fit: FaceFit) -> np.ndarray:
    """The fitted pupils, projected into the photo.

    ``fit.pupils`` are the pupils of the eyeballs the fit turns to match mediapipe's iris
    landmarks (:func:`facetex.fitting.eyes.pupil_points`). A fit without them (made
    elsewhere) of mediapipe's mesh falls back to the centroid of each eye's contour vertices —
    the centre of the eye opening, which lies a few percent of the inter-pupil distance below
    the pupil; of another mesh (the ICT tile) it raises ShapeMismatchError rather than pick
    unrelated vertices.

    Returns
    -------
    (2, 2) float64 photo pixels (x, y); row 0 the subject's right eye, row 1 the left (the order
    of :func:`facetex.detect.landmarks.eye_centers`).
    """
    if fit.pupils is not None:
        return project_fit(fit, fit.pupils)
    if fit.vertices.shape[0] != NUM_MESH_LANDMARKS:  # the eye contours are mediapipe's vertex ids
        raise ShapeMismatchError(
            f"a fit of a {fit.vertices.shape[0]}-vertex mesh without pupils has no eye centres "
            f"(only mediapipe's {NUM_MESH_LANDMARKS}-vertex mesh has its eye contours as vertices)"
        )
    centres = np.stack([fit.vertices[list(RIGHT_EYE)].mean(axis=0), fit.vertices[list(LEFT_EYE)].mean(axis=0)])
    return project_fit(fit, centres)


def draw_overlay(
    rgb: np.ndarray,
    fit: FaceFit,
    topology: MeshTopology,
    detection: Detection | None = None,
    *,
    max_side: int = 1024,
    min_side: int = 768,
    eye_centres: np.ndarray | None = None,
) -> np.ndarray:
    """The fitted mesh's wireframe (cyan) and the detected landmarks (yellow) over the photo.

    Only the triangles facing the camera are drawn, and a dense mesh's lines are blended (down
    to 35 % opacity) so that the face stays visible under them.

    Parameters
    ----------
    rgb : (H, W, 3) float32 photo in [0, 1], the frame of ``fit``.
    fit : the fit to draw.
    topology : its mesh (edges).
    detection : if given, its 478 landmarks are drawn as dots.
    max_side : the picture is shrunk so that its long side is at most this ...
    min_side : ... or enlarged so that it is at least this (thin lines on small photos).
    eye_centres : optional (2, 2) points (x, y) drawn as magenta crosses (e.g. fitted eyes).

    Returns
    -------
    (h, w, 3) float32 in [0, 1].
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ShapeMismatchError(f"rgb must have shape (H, W, 3), got {rgb.shape}")
    h, w = rgb.shape[:2]
    scale = min(max(1.0, min_side / max(h, w)), max_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
    canvas = cv2.resize(np.ascontiguousarray(rgb, dtype=np.float32), size, interpolation=interpolation)
    canvas = np.ascontiguousarray(canvas)
    shift = 4
    to_px = lambda xy: np.round(xy * scale * (1 << shift)).astype(np.int32)  # noqa: E731

    xy = project_fit(fit)
    faces = np.asarray(topology.faces)
    faces = faces[_facing_camera(xy, faces)]
    edges = np.unique(np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1), axis=0)
    lines = to_px(xy[edges])  # (E, 2, 2)
    wire = canvas.copy()
    cv2.polylines(wire, list(lines), False, _WIRE, 1, cv2.LINE_AA, shift)
    # A dense mesh (the ICT face tile: ~4 px between vertices on a 1024-px picture) drawn opaque
    # would hide the face under a solid cyan sheet: blend its lines in proportion to their length.
    length = np.median(np.linalg.norm(xy[edges[:, 0]] - xy[edges[:, 1]], axis=1)) * scale if len(edges) else 0.0
    opacity = float(np.clip(length / _OPAQUE_EDGE_PX, 0.35, 1.0))
    canvas = cv2.addWeighted(wire, opacity, canvas, 1.0 - opacity, 0.0)
    radius = max(1, round(1.5 * max(size) / 1024))
    if detection is not None:
        for p in to_px(np.asarray(detection.landmarks)[:, :2]):
            cv2.circle(canvas, (int(p[0]), int(p[1])), radius << shift, _LANDMARK, -1, cv2.LINE_AA, shift)
    if eye_centres is not None:
        arm = (3 * radius) << shift
        for p in to_px(np.asarray(eye_centres, dtype=np.float64)):
            x, y = int(p[0]), int(p[1])
            cv2.line(canvas, (x - arm, y), (x + arm, y), _FITTED, 1, cv2.LINE_AA, shift)
            cv2.line(canvas, (x, y - arm), (x, y + arm), _FITTED, 1, cv2.LINE_AA, shift)
    return np.clip(canvas, 0.0, 1.0)


def draw_visibility(rgb: np.ndarray, visibility: ImageVisibility) -> np.ndarray:
    """Colour-code what each part of the image mask removes, over a dimmed photo.

    Kept skin shows the photo; removed by the person mask: dark; by the feature polygons: red;
    by the skin-colour model: blue.

    Parameters
    ----------
    rgb : (H, W, 3) float32 in [0, 1], the frame of ``visibility``.

    Returns
    -------
    (H, W, 3) float32 in [0, 1].
    """
    if rgb.shape[:2] != visibility.person.shape:
        raise ShapeMismatchError(f"rgb {rgb.shape[:2]} and visibility {visibility.person.shape} differ in size")
    out = np.asarray(rgb, dtype=np.float32).copy()
    background = ~visibility.person
    features = visibility.person & ~visibility.features
    colour = visibility.person & visibility.features & ~visibility.skin_colour
    out[background] *= 0.25
    out[features] = 0.4 * out[features] + np.array([0.6, 0.0, 0.0], dtype=np.float32)
    out[colour] = 0.4 * out[colour] + np.array([0.0, 0.0, 0.6], dtype=np.float32)
    return out
