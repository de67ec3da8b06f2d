"""Issue 22: faces a person would see in a group photo, and faces too small to texture.

Scenes are composed at run time from the shared London and Helen photos (nothing is written):
a noise canvas, a large frontal London face, a turned Helen face 180 px wide beside it (which
mediapipe's FaceMesh alone misses), and a London face ~50 px wide (too small to texture).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facetex.detect import DetectConfig, Detector, FaceTooSmallError, FoundFace, select_face
from facetex.detect.faces import MIN_FACE_PX, yaw_estimate
from facetex.detect.landmarks import eye_centers, pupils_from_tem
from facetex.detect.mtcnn import MTCNN
from facetex.errors import NoFaceError
from facetex.io.images import load_photo
from facetex.types import Detection, Photo

# The Helen crop's face is ~160 px wide (its landmark box), turned ~40° to the image's left.
TURNED = "10406776_1.jpg"
TURNED_SCALE = 180 / 160


def _paste(canvas: np.ndarray, img: np.ndarray, x: int, y: int, scale: float) -> np.ndarray:
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=interp)
    h, w = small.shape[:2]
    canvas[y : y + h, x : x + w] = small
    return np.array([x, y, x + w, y + h], dtype=np.float64)


def _inside(box: np.ndarray, region: np.ndarray) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return bool(region[0] <= cx <= region[2] and region[1] <= cy <= region[3])


@pytest.fixture(scope="module")
def detector():
    with Detector(DetectConfig()) as det:
        yield det


@pytest.fixture(scope="module")
def group(london_neutral, shared_data):
    """(photo, regions): the big London face, the 180-px turned Helen face, the small one."""
    rng = np.random.default_rng(0)
    canvas = np.clip(rng.normal(0.45, 0.05, (1100, 1600, 3)), 0, 1).astype(np.float32)
    big = _paste(canvas, load_photo(london_neutral[0]).rgb, 20, 100, 900 / 1350)
    turned = _paste(canvas, load_photo(shared_data / "helen" / TURNED).rgb, 1050, 350, TURNED_SCALE)
    small = _paste(canvas, load_photo(london_neutral[1]).rgb, 1300, 850, 150 / 1350)
    return Photo(canvas, "group"), (big, turned, small)


@pytest.fixture(scope="module")
def group_faces(detector, group):
    return detector.find_faces(group[0])


def test_turned_180px_face_beside_a_large_one_is_found(group, group_faces):
    photo, (big, turned, small) = group

    alone = Detector(DetectConfig(mtcnn=False, full_range=False))  # FaceMesh on the photo only
    try:
        assert not any(_inside(d.box, turned) for d in alone.detect_faces(photo))
    finally:
        alone.close()

    assert [f.index for f in group_faces] == [0, 1, 2]
    first, second, third = group_faces
    assert _inside(first.box, big) and _inside(second.box, turned) and _inside(third.box, small)
    assert 150 < second.width < 215
    assert "mtcnn" in second.sources and "mesh" not in second.sources
    assert second.yaw is not None and 20 < abs(second.yaw) < 60
    assert abs(first.yaw) < 15
    assert {"mesh", "mtcnn", "full-range"} <= set(first.sources)
    # agreement raises confidence; everything is in [0, 1]
    assert all(0.0 <= f.confidence <= 1.0 for f in group_faces)
    assert first.confidence >= max(second.confidence, 0.99)
    # detect_faces is the same faces, same order, with landmarks
    for f in group_faces:
        assert isinstance(f.detection, Detection) and f.detection.face_index == f.index
        np.testing.assert_array_equal(f.box, f.detection.box)
        assert f.detection.num_faces == 3


def test_too_small_face_is_listed_with_its_size_and_refused(detector, group, group_faces):
    photo, _ = group
    small = group_faces[2]
    assert small.too_small and 30 < small.width < MIN_FACE_PX
    assert not any(f.too_small for f in group_faces[:2])

    with pytest.raises(FaceTooSmallError, match=r"^face 2 of group is \d+ px wide, too small to texture \(faces need 64 px or more\): choose one of the 2 larger faces") as info:
        detector.detect_face(photo, face_index=2)
    assert info.value.width == pytest.approx(small.width)
    assert isinstance(info.value, NoFaceError)  # callers handling "no face" still do
    assert detector.detect_face(photo, face_index=1).face_index == 1


def test_a_photo_with_only_a_too_small_face_says_so(detector, london_neutral):
    canvas = np.full((900, 1200, 3), 0.5, dtype=np.float32)
    _paste(canvas, load_photo(london_neutral[2]).rgb, 500, 300, 150 / 1350)
    photo = Photo(canvas, "far.jpg")

    faces = detector.find_faces(photo)
    assert len(faces) == 1 and faces[0].too_small and faces[0].index == 0
    with pytest.raises(FaceTooSmallError, match=r"^face 0 of far\.jpg is \d+ px wide.*use a larger or closer photo"):
        detector.detect_face(photo)
    # min_face_px = 0: any width is selectable
    with Detector(DetectConfig(min_face_px=0)) as any_width:
        assert any_width.detect_face(photo).face_index == 0


def test_select_face_too_small_threshold():
    box = np.array([0.0, 0.0, 40.0, 50.0])
    face = Detection(box, np.zeros((478, 3)), np.zeros((2, 2), np.float32), 0, box[None])
    with pytest.raises(FaceTooSmallError, match="40 px wide"):
        select_face([face], 0, "x.jpg")
    assert select_face([face], 0, "x.jpg", min_face_px=40) is face
    assert select_face([face], 0, "x.jpg", min_face_px=0) is face


def test_mtcnn_finds_a_london_face_with_its_eyes(london_neutral):
    path = london_neutral[0]
    rgb = load_photo(path).rgb
    small = cv2.resize(rgb, (540, 540), interpolation=cv2.INTER_AREA)

    faces = MTCNN(min_size=40).detect(small)

    assert len(faces.scores) == 1 and faces.scores[0] > 0.99
    pupils = pupils_from_tem(path.with_suffix(".tem")) * 540 / 1350
    ipd = np.linalg.norm(pupils[1] - pupils[0])
    # points 0 and 1 are the subject's right and left eye, as the .tem's pupils
    assert np.all(np.linalg.norm(faces.points[0, :2] - pupils, axis=1) < 0.15 * ipd)
    x0, y0, x1, y1 = faces.boxes[0]
    assert x0 < pupils[:, 0].min() and pupils[:, 0].max() < x1 and y0 < pupils[:, 1].min() < y1


def test_yaw_estimate_sign_and_mirror(detector, london_neutral, shared_data):
    helen = load_photo(shared_data / "helen" / TURNED).rgb
    yaw = yaw_estimate(detector.detect_face(Photo(helen, "h")).landmarks)
    mirrored = yaw_estimate(detector.detect_face(Photo(np.ascontiguousarray(helen[:, ::-1]), "m")).landmarks)
    assert 25 < abs(yaw) < 60 and np.sign(yaw) == -np.sign(mirrored)
    assert abs(abs(yaw) - abs(mirrored)) < 8
    eyes = eye_centers(detector.detect_face(load_photo(london_neutral[0])).landmarks)
    assert eyes.shape == (2, 2)


def test_found_face_record():
    f = FoundFace(None, np.array([10.0, 20.0, 70.0, 100.0]), 0.9, ("mtcnn",), None, True, None)
    assert f.width == 60 and f.height == 80


@pytest.mark.parametrize("bad", [{"mtcnn": 1}, {"full_range": "yes"}, {"mtcnn_min_px": 4},
                                 {"mtcnn_max_side": 10}, {"min_face_px": -1}])
def test_bad_settings(bad):
    with pytest.raises(ValueError):
        DetectConfig(**bad)
