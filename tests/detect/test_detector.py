"""Face detection on real photos with known pupils (London .tem files) and built composites."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from facetex.detect import (
    DetectConfig,
    Detector,
    detect_face,
    detect_faces,
    eye_centers,
    pupils_from_tem,
    select_face,
)
from facetex.detect.landmarks import NOSE_TIP
from facetex.errors import FaceSelectionError, InputImageError, NoFaceError, ShapeMismatchError
from facetex.io.images import load_photo
from facetex.types import Photo

# Iris centres must lie within this fraction of the inter-pupil distance from the .tem pupils.
PUPIL_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def detector():
    with Detector(DetectConfig()) as det:
        yield det


@pytest.fixture(scope="module")
def london(london_neutral):
    """(photo, pupils) of two London subjects."""
    out = []
    for path in (london_neutral[0], london_neutral[8]):
        out.append((load_photo(path), pupils_from_tem(path.with_suffix(".tem"))))
    return out


def _pupil_errors(landmarks: np.ndarray, pupils: np.ndarray) -> np.ndarray:
    ipd = np.linalg.norm(pupils[1] - pupils[0])
    return np.linalg.norm(eye_centers(landmarks) - pupils, axis=1) / ipd


def _resized(rgb: np.ndarray, side: int) -> np.ndarray:
    shrink = side < rgb.shape[0]
    return cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def test_london_photo_one_face_at_the_tem_pupils(detector, london):
    photo, pupils = london[0]

    faces = detector.detect_faces(photo)

    assert len(faces) == 1
    face = faces[0]
    assert face.face_index == 0 and face.num_faces == 1
    assert face.landmarks.shape == (478, 3) and face.landmarks.dtype == np.float64
    assert np.all(_pupil_errors(face.landmarks, pupils) < PUPIL_TOLERANCE)
    x0, y0, x1, y1 = face.box
    assert np.all((pupils[:, 0] > x0) & (pupils[:, 0] < x1))
    assert np.all((pupils[:, 1] > y0) & (pupils[:, 1] < y1))
    np.testing.assert_array_equal(face.all_boxes, face.box[None])


def test_person_mask_covers_the_face_not_the_backdrop(detector, london):
    photo, _ = london[0]
    face = detector.detect_face(photo)
    mask = face.person_mask

    assert mask.shape == photo.size and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    assert not mask.flags.writeable
    nose_x, nose_y = face.landmarks[NOSE_TIP, :2].astype(int)
    assert mask[nose_y, nose_x] > 0.9
    x0, y0, x1, y1 = face.box.astype(int)
    assert mask[y0:y1, x0:x1].mean() > 0.9
    assert mask[:50, :50].mean() < 0.1  # studio backdrop, top-left corner


def test_large_photo_is_detected_on_a_shrunk_copy_and_mapped_back(detector, london):
    photo, pupils = london[0]
    big = Photo(_resized(photo.rgb, 2700), "london-x2")  # above max_side = 1280

    face = detector.detect_face(big)

    assert np.all(_pupil_errors(face.landmarks, pupils * 2.0) < PUPIL_TOLERANCE)
    assert face.person_mask.shape == (2700, 2700)


@pytest.fixture(scope="module")
def two_faces(london):
    """A grey canvas with a 600² and a 400² London photo, and their pupils on it."""
    canvas = np.full((700, 1100, 3), 0.45, dtype=np.float32)
    placed = []
    for (photo, pupils), (x, y, side) in zip(london, [(30, 50, 600), (680, 200, 400)], strict=True):
        canvas[y : y + side, x : x + side] = _resized(photo.rgb, side)
        placed.append(pupils * side / photo.size[1] + [x, y])
    return Photo(canvas, "two-faces"), placed


def test_two_faces_are_ordered_largest_first(detector, two_faces):
    photo, placed = two_faces

    faces = detector.detect_faces(photo)

    assert [f.face_index for f in faces] == [0, 1]
    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in faces]
    assert areas[0] > areas[1]
    for face, pupils in zip(faces, placed, strict=True):
        assert np.all(_pupil_errors(face.landmarks, pupils) < PUPIL_TOLERANCE)
        np.testing.assert_array_equal(face.all_boxes, np.stack([f.box for f in faces]))


def test_face_index_selects_and_out_of_range_fails(detector, two_faces):
    photo, placed = two_faces

    second = detector.detect_face(photo, face_index=1)
    assert second.face_index == 1
    assert np.all(_pupil_errors(second.landmarks, placed[1]) < PUPIL_TOLERANCE)

    message = r"^face 3 requested but two-faces has 2 faces: 0\.\.1$"
    with pytest.raises(FaceSelectionError, match=message):
        detector.detect_face(photo, face_index=3)
    with pytest.raises(FaceSelectionError):
        detector.detect_face(photo, face_index=-1)


def test_small_face_in_a_large_photo_needs_the_tiled_search_or_mtcnn(london):
    photo, pupils = london[0]
    canvas = np.full((2000, 3000, 3), 0.4, dtype=np.float32)
    side, x, y = 250, 1000, 600  # the face itself is ~85 px wide, ~3 % of the photo
    canvas[y : y + side, x : x + side] = _resized(photo.rgb, side)
    small = Photo(canvas, "small-face")
    expected = pupils * side / photo.size[1] + [x, y]

    whole_image_only = DetectConfig(search_levels=0, mtcnn=False, full_range=False)
    assert detect_faces(small, whole_image_only) == []
    for config in (DetectConfig(mtcnn=False, full_range=False), DetectConfig(search_levels=0)):
        face = detect_face(small, config)  # the tiled search, or MTCNN on the whole photo
        assert np.all(_pupil_errors(face.landmarks, expected) < 0.1)


def test_no_face_photo(detector):
    coffee = Photo(skdata.coffee().astype(np.float32) / 255.0, "coffee")

    assert detector.detect_faces(coffee) == []
    with pytest.raises(NoFaceError, match=r"^no face found in coffee$"):
        detector.detect_face(coffee)


def test_module_functions_and_closed_detector(london):
    photo, pupils = london[0]
    face = detect_face(photo)
    assert np.all(_pupil_errors(face.landmarks, pupils) < PUPIL_TOLERANCE)

    det = Detector()
    det.close()
    det.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        det.detect_faces(photo)


def test_select_face_messages():
    with pytest.raises(NoFaceError, match="no face found in x.jpg"):
        select_face([], 0, "x.jpg")
    box = np.array([0.0, 0.0, 100.0, 100.0])  # wide enough to texture (issue 22)
    from facetex.types import Detection

    one = Detection(box, np.zeros((478, 3)), np.zeros((2, 2), np.float32), 0, box[None])
    assert select_face([one], 0, "x.jpg") is one
    with pytest.raises(FaceSelectionError, match=r"face 1 requested but x.jpg has 1 face: 0\.\.0"):
        select_face([one], 1, "x.jpg")


def test_bad_inputs():
    with pytest.raises(ShapeMismatchError):
        detect_faces(Photo(np.zeros((8, 8), np.float32), "flat"))
    with pytest.raises(InputImageError, match="float"):
        detect_faces(Photo(np.zeros((8, 8, 3), np.uint8), "bytes"))
    with pytest.raises(TypeError):
        detect_faces(np.zeros((8, 8, 3), np.float32))  # type: ignore[arg-type]
    for bad in (
        {"max_faces": 0},
        {"min_confidence": 1.5},
        {"max_side": 10},
        {"search_levels": -1},
        {"crop_scale": 0.5},
    ):
        with pytest.raises(ValueError):
            DetectConfig(**bad)
