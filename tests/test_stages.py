"""The one stage runner gives what the stages give when chained by hand, on a real photo."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facetex.detect.config import DetectConfig
from facetex.detect.detector import detect_face, Detector
from facetex.errors import NoFaceError
from facetex.fitting import FitConfig, UnwrapConfig, fit_face, generic_model, unwrap_albedo
from facetex.geometry.topology import load_face_mesh
from facetex.io.images import demo_photo
from facetex.stages import StageClock, prepare_face, unwrap_face
from facetex.types import Photo

FIT = FitConfig(steps=(3, 2, 1), landmark_steps=3, alternations=1, max_size=128)
UNWRAP = UnwrapConfig(resolution=64)


@pytest.fixture(scope="module")
def model():
    return generic_model(load_face_mesh())


@pytest.fixture(scope="module")
def photo() -> Photo:
    return demo_photo()


def test_prepare_face_is_the_stages_chained_by_hand(photo, model):
    clock = StageClock()
    prepared = prepare_face(photo, model, FIT, UNWRAP, detect_config=DetectConfig(), clock=clock)

    detection = detect_face(photo, DetectConfig())
    fit = fit_face(photo, detection, model, FIT)
    partial = unwrap_albedo(photo, detection, fit, model, UNWRAP)

    np.testing.assert_array_equal(prepared.detection.landmarks, detection.landmarks)
    np.testing.assert_array_equal(prepared.fit.vertices, fit.vertices)
    np.testing.assert_array_equal(prepared.fit.sh_coeffs, fit.sh_coeffs)
    for name in ("albedo", "mask", "lowfreq", "shading", "chart"):
        np.testing.assert_array_equal(getattr(prepared.partial, name), getattr(partial, name))
    assert list(clock.timings) == ["detect", "fit", "unwrap"]
    assert all(clock.peak_memory_mib[name] > 0.0 for name in clock.timings)


def test_a_given_detection_and_a_clean_step_are_used(photo, model):
    detection = detect_face(photo, DetectConfig())
    seen: list[np.ndarray] = []

    def darker(p: Photo, d) -> Photo:
        seen.append(d.box)
        return Photo(rgb=p.rgb * 0.5, source=p.source)

    clock = StageClock()
    fitted = prepare_face(photo, model, FIT, None, detection=detection, clean=darker, clock=clock)
    assert list(clock.timings) == ["clean", "fit"]  # no detection run, no unwrap
    assert fitted.partial is None and fitted.visibility is None
    np.testing.assert_array_equal(seen[0], detection.box)
    np.testing.assert_allclose(fitted.photo.rgb, photo.rgb * 0.5)
    # the fit saw the cleaned photo, not the original
    cleaned = fit_face(Photo(rgb=photo.rgb * 0.5, source=photo.source), detection, model, FIT)
    np.testing.assert_array_equal(fitted.fit.sh_coeffs, cleaned.sh_coeffs)
    assert not np.allclose(fitted.fit.sh_coeffs, fit_face(photo, detection, model, FIT).sh_coeffs)

    # the unwrap finishes later, on the photo the fit saw, with the masks changed on request
    def no_skin_colour_test(skin):
        return dataclasses.replace(skin, skin_colour=np.ones_like(skin.skin_colour))

    done = unwrap_face(fitted, model, UNWRAP, visibility_filter=no_skin_colour_test, clock=clock)
    assert done.visibility is not None and done.visibility[0].skin_colour.all()
    assert done.partial.mask.sum() >= unwrap_face(fitted, model, UNWRAP).partial.mask.sum()
    assert list(clock.timings) == ["clean", "fit", "unwrap"]


def test_a_shared_detector_and_no_face(model):
    blank = Photo(rgb=np.full((200, 200, 3), 0.5, dtype=np.float32), source="blank.png")
    with Detector(DetectConfig()) as detector, pytest.raises(NoFaceError, match="blank.png"):
        prepare_face(blank, model, FIT, UNWRAP, detector=detector)


def test_a_restored_photo_is_detected_and_fitted_again(small_database, shared_data):
    """A blurred photo moves mediapipe's landmarks; once the deblur step has restored it, the
    face is detected and fitted again on the restored photo, whose landmarks lie closer to the
    sharp photo's (London 001, blurred by 0.04 × the inter-ocular distance)."""
    from facetex.database.store import load_database
    from facetex.evaluation.degrade import DegradeConfig, degrade_photo
    from facetex.io.images import load_photo

    database = load_database(small_database)
    model = database.morphable_model()
    references = database.reference_luminances()
    sharp = load_photo(shared_data / "london" / "neutral" / "001_03.jpg")
    with Detector(DetectConfig()) as detector:
        landmarks = detector.detect_face(sharp).landmarks[:, :2]
        soft = degrade_photo(sharp, detector.detect_face(sharp), DegradeConfig(detail="blur"))
        as_detected = detector.detect_face(soft).landmarks[:, :2]
        unwrap = dataclasses.replace(UNWRAP, resolution=128)
        clock = StageClock()
        refitted = prepare_face(soft, model, FIT, unwrap, detector=detector, blur_references=references, clock=clock)
        once = prepare_face(soft, model, FIT, dataclasses.replace(unwrap, deblur_refit=False), detector=detector,
                            blur_references=references)
    assert refitted.blur is not None and refitted.blur.restored and refitted.restored is not None
    assert refitted.photo is soft and refitted.partial.restored_blur is refitted.blur
    assert list(clock.timings) == ["detect", "fit", "unwrap.deblur", "unwrap", "refit"]
    np.testing.assert_array_equal(once.detection.landmarks[:, :2], as_detected)
    iod = np.linalg.norm(landmarks[468] - landmarks[473])
    error_soft = np.linalg.norm(as_detected - landmarks, axis=1).mean() / iod
    error_restored = np.linalg.norm(refitted.detection.landmarks[:, :2] - landmarks, axis=1).mean() / iod
    assert error_restored < 0.7 * error_soft  # 0.8 % against 1.8 % of the inter-ocular distance
    assert not np.array_equal(refitted.fit.vertices, once.fit.vertices)
