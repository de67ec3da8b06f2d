"""mediapipe's landmarks on the ICT face mesh, and the part of it a fit compares with the photo.

:func:`ict_landmark_map` turns the stored correspondence (``data/ict_mediapipe_478.json``,
made by ``scripts/ict_correspondence.py``, ``docs/ict-model.md``) into a
:class:`facetex.types.LandmarkMap` on :func:`facetex.geometry.ict.load_ict_face`'s mesh:

mesh landmarks 0–467
    The stored surface points: triangle and barycentric weights.
contour
    mediapipe's jawline points below the mouth corners' height (stored y < ``_SLIDE_BELOW_Y``):
    on a photo they mark the face's outline, which on a full head is a silhouette that moves
    with the pose, not a fixed surface point. Each may slide to any mesh vertex within
    ``_REACH_CM`` of its stored point on the mean shape (fitting picks, per step, the
    silhouette vertex whose projection is nearest the detected point). The jawline points
    above (beside the eyes and cheekbones) stay tied to their stored point: there the outline
    of a frontal head is the ear or the hair, not the surface mediapipe marks.
rigid weights
    mediapipe's own Procrustes weights (``face_mesh.json``), for the pose a fit starts from.

:func:`ict_fit_faces` marks the triangles inside mediapipe's face oval on the mean shape (the
region mediapipe's mesh covers, where the photo shows skin): the photometric term samples
those; the ears, the neck and the sides of the head still hide what lies behind them.
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
from matplotlib.path import Path as PolygonPath

from facetex.geometry.ict_files import IctModelError
from facetex.geometry.topology import load_face_mesh
from facetex.types import LandmarkMap, MeshTopology

__all__ = ["CORRESPONDENCE_FILE", "ict_correspondence", "ict_fit_faces", "ict_landmark_map"]

#: The correspondence file beside this module (``facetex/geometry/data``).
CORRESPONDENCE_FILE = "ict_mediapipe_478.json"
# mediapipe's mesh landmarks (the iris points 468–477 lie on the eyeballs, not on the face mesh).
_MESH_LANDMARKS = 468
# Jawline points whose stored y (cm, ICT frame; mouth corners ≈ −3.4) lies below this slide.
_SLIDE_BELOW_Y = -1.5
# How far (cm, on the mean shape) a sliding point may move from its stored point.
_REACH_CM = 2.0


def ict_correspondence() -> dict:
    """The stored mediapipe → ICT correspondence record (``docs/ict-model.md``)."""
    text = resources.files("facetex.geometry").joinpath("data", CORRESPONDENCE_FILE).read_text("utf-8")
    return json.loads(text)


def ict_landmark_map(topology: MeshTopology, record: dict | None = None) -> LandmarkMap:
    """mediapipe's 468 mesh landmarks on the ICT face mesh (module doc).

    Parameters
    ----------
    topology : :func:`facetex.geometry.ict.load_ict_face`'s mesh (the triangles the record
        names).
    record : :func:`ict_correspondence` (read when None).

    Raises
    ------
    IctModelError
        If the record does not fit the mesh (another triangulation).
    """
    record = ict_correspondence() if record is None else record
    points = record["points"][:_MESH_LANDMARKS]
    triangles = np.array([p[1] for p in points], dtype=np.int64)
    if any(p[0] != "face" for p in points) or triangles.min() < 0 or triangles.max() >= topology.faces.shape[0]:
        raise IctModelError(
            f"{CORRESPONDENCE_FILE} does not fit the ICT face mesh; rerun scripts/ict_correspondence.py"
        )
    barycentrics = np.array([p[4] for p in points], dtype=np.float64)
    barycentrics /= barycentrics.sum(axis=1, keepdims=True)  # stored rounded to 7 digits
    vertices = np.asarray(topology.faces)[triangles]
    stored = (np.asarray(topology.vertices)[vertices] * barycentrics[:, :, None]).sum(axis=1)

    jawline = np.asarray(record["jawline"], dtype=np.int64)
    contour = jawline[stored[jawline, 1] < _SLIDE_BELOW_Y]
    distance = np.linalg.norm(stored[contour][:, None] - np.asarray(topology.vertices)[None], axis=2)
    reach_any = (distance <= _REACH_CM).any(axis=0)
    candidates = np.nonzero(reach_any)[0].astype(np.int64)
    return LandmarkMap(
        vertices=vertices,
        barycentrics=barycentrics,
        rigid_weights=load_face_mesh().landmark_weights,
        contour=contour,
        contour_candidates=candidates,
        contour_reach=distance[:, candidates] <= _REACH_CM,
    )


def ict_fit_faces(topology: MeshTopology, landmark_map: LandmarkMap, record: dict | None = None) -> np.ndarray:
    """(F,) bool: the triangles inside mediapipe's face oval on the mean shape, facing forward
    (normal z > 0), whose pixels the photometric term samples (module doc)."""
    record = ict_correspondence() if record is None else record
    verts = np.asarray(topology.vertices)
    faces = np.asarray(topology.faces)
    stored = (verts[landmark_map.vertices] * landmark_map.barycentrics[:, :, None]).sum(axis=1)
    oval = PolygonPath(stored[np.asarray(record["contour"], dtype=np.int64), :2])
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    centroid = (a + b + c) / 3.0
    normal_z = np.cross(b - a, c - a)[:, 2]
    return oval.contains_points(centroid[:, :2]) & (normal_z > 0.0)
