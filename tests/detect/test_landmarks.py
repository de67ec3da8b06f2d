"""Named landmark groups: derived from mediapipe's connection sets, checked on a real face."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from mediapipe.python.solutions import face_mesh_connections as mpc

from facetex.detect import Detector, eye_centers, pupils_from_tem
from facetex.detect import landmarks as L
from facetex.errors import DatabaseError, ShapeMismatchError
from facetex.io.images import load_photo

CONTOURS = {
    "FACE_OVAL": (L.FACE_OVAL, mpc.FACEMESH_FACE_OVAL),
    "LEFT_EYE": (L.LEFT_EYE, mpc.FACEMESH_LEFT_EYE),
    "RIGHT_EYE": (L.RIGHT_EYE, mpc.FACEMESH_RIGHT_EYE),
    "LIPS_OUTER": (L.LIPS_OUTER, mpc.FACEMESH_LIPS),
    "LIPS_INNER": (L.LIPS_INNER, mpc.FACEMESH_LIPS),
}


def _undirected(edges) -> set[frozenset[int]]:
    return {frozenset(e) for e in edges}


@pytest.mark.parametrize("name", sorted(CONTOURS))
def test_closed_contours_walk_mediapipe_edges(name):
    contour, edges = CONTOURS[name]
    allowed = _undirected(edges)

    assert len(set(contour)) == len(contour)
    for a, b in zip(contour, contour[1:] + contour[:1], strict=True):
        assert frozenset((a, b)) in allowed


def test_group_sizes_and_partitions():
    assert len(L.FACE_OVAL) == 36 and len(L.LEFT_EYE) == len(L.RIGHT_EYE) == 16
    assert len(L.LIPS_OUTER) == len(L.LIPS_INNER) == 20
    lips = {i for e in mpc.FACEMESH_LIPS for i in e}
    assert set(L.LIPS_OUTER) | set(L.LIPS_INNER) == lips
    assert not set(L.LIPS_OUTER) & set(L.LIPS_INNER)
    brows = ((L.LEFT_EYEBROW, mpc.FACEMESH_LEFT_EYEBROW), (L.RIGHT_EYEBROW, mpc.FACEMESH_RIGHT_EYEBROW))
    for brow, edges in brows:
        assert len(brow) == 10 and set(brow) == {i for e in edges for i in e}
    assert L.RIGHT_IRIS == (468, 469, 470, 471, 472) and L.LEFT_IRIS == (473, 474, 475, 476, 477)
    assert L.RIGHT_IRIS_CENTER == 468 and L.LEFT_IRIS_CENTER == 473
    assert len(L.LEFT_NOSTRIL) == len(L.RIGHT_NOSTRIL)


@pytest.fixture(scope="module")
def face(london_neutral):
    path = london_neutral[0]
    photo = load_photo(path)
    with Detector() as det:
        detection = det.detect_face(photo)
    return photo, detection.landmarks, pupils_from_tem(path.with_suffix(".tem"))


def _centre(lm, group):
    return lm[list(group), :2].mean(axis=0)


def test_left_means_the_subjects_left(face):
    _, lm, pupils = face
    # In a frontal photo the subject's left is on the image's right.
    pairs = (
        (L.LEFT_EYE, L.RIGHT_EYE),
        (L.LEFT_EYEBROW, L.RIGHT_EYEBROW),
        (L.LEFT_IRIS, L.RIGHT_IRIS),
        (L.LEFT_NOSTRIL, L.RIGHT_NOSTRIL),
    )
    for left, right in pairs:
        assert _centre(lm, left)[0] > _centre(lm, right)[0]
    assert pupils[1, 0] > pupils[0, 0]


def test_geometry_of_the_groups_on_a_real_face(face):
    _, lm, _ = face
    # Upper brow line above the lower one: the polygon's second half is the upper line.
    for brow in (L.LEFT_EYEBROW, L.RIGHT_EYEBROW):
        assert lm[list(brow[5:]), 1].mean() < lm[list(brow[:5]), 1].mean()
    # The inner lip contour lies inside the outer one.
    outer = lm[list(L.LIPS_OUTER), :2].astype(np.float32)
    for p in lm[list(L.LIPS_INNER), :2]:
        assert cv2.pointPolygonTest(outer, (float(p[0]), float(p[1])), False) >= 0
    # The nose tip is the most forward point of a frontal face.
    assert L.NOSE_TIP in np.argsort(lm[:468, 2])[:3]
    # An iris centre is the middle of its four contour points.
    for iris in (L.LEFT_IRIS, L.RIGHT_IRIS):
        ring = lm[list(iris[1:]), :2]
        diameter = np.ptp(ring[:, 0])
        assert np.linalg.norm(lm[iris[0], :2] - ring.mean(axis=0)) < 0.1 * diameter


def test_nostril_polygons_are_dark(face):
    photo, lm, _ = face
    luma = photo.rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    for nostril in (L.LEFT_NOSTRIL, L.RIGHT_NOSTRIL):
        inside = np.zeros(luma.shape, np.uint8)
        cv2.fillPoly(inside, [lm[list(nostril), :2].round().astype(np.int32)], 1)
        assert inside.sum() > 50
        # the nostril openings are far darker than the skin at the nose tip
        x, y = lm[L.NOSE_TIP, :2].astype(int)
        assert luma[inside.astype(bool)].mean() < 0.75 * luma[y - 5 : y + 5, x - 5 : x + 5].mean()


def test_eye_centers_are_the_iris_centres(face):
    _, lm, pupils = face
    centres = eye_centers(lm)

    assert centres.shape == (2, 2) and centres.dtype == np.float64
    np.testing.assert_array_equal(centres, lm[[468, 473], :2])
    ipd = np.linalg.norm(pupils[1] - pupils[0])
    assert np.all(np.linalg.norm(centres - pupils, axis=1) < 0.05 * ipd)
    with pytest.raises(ShapeMismatchError, match="478"):
        eye_centers(lm[:468])


def test_pupils_from_tem(tmp_path, london_neutral):
    path = tmp_path / "a.tem"
    path.write_text("3\n10.5\t20\n30 40.25\n1 1\n0\n")
    np.testing.assert_array_equal(pupils_from_tem(path), [[10.5, 20.0], [30.0, 40.25]])

    real = pupils_from_tem(london_neutral[0].with_suffix(".tem"))
    assert real.shape == (2, 2) and 0 < real.min() and real.max() < 1350

    for bad in ("", "two\n1 2\n3 4\n", "2\n1 2\n", "2\n1 nan\n3 4\n"):
        path.write_text(bad)
        with pytest.raises(DatabaseError, match="a.tem"):
            pupils_from_tem(path)
    with pytest.raises(DatabaseError):
        pupils_from_tem(tmp_path / "missing.tem")
