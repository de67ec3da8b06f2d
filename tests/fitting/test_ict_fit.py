"""Fitting the ICT Face Model (issue 18, step 3) to a real London photo, and the mediapipe mesh's
landmark map staying the identity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facetex.detect import Detector, pupils_from_tem
from facetex.fitting import FitConfig, fit_face, fitted_eye_centres
from facetex.fitting.contour import silhouette_vertices
from facetex.fitting.initialisation import build_problem
from facetex.fitting.pyramid import build_pyramid
from facetex.io.images import load_photo
from facetex.paths import data_dir


@pytest.fixture(scope="module")
def ict_model():
    from facetex.geometry.ict import ict_morphable_model

    if not (data_dir() / "ict-facekit").is_dir():
        pytest.fail(f"shared test data missing: no ICT Face Model Light at {data_dir() / 'ict-facekit'}")
    return ict_morphable_model()


@pytest.fixture(scope="module")
def london_photo(london_neutral):
    path = london_neutral[2]
    photo = load_photo(path)
    with Detector() as detector:
        detection = detector.detect_face(photo)
    return path, photo, detection


@pytest.fixture(scope="module")
def ict_fit(ict_model, london_photo):
    _, photo, detection = london_photo
    return fit_face(photo, detection, ict_model, FitConfig())


def test_mediapipe_mesh_landmarks_are_its_vertices(model, london_photo):
    """The generic model's mesh carries no landmark map: landmark i is vertex i, as before."""
    _, photo, detection = london_photo
    assert model.topology.landmark_map is None and model.topology.fit_faces is None
    config = FitConfig()
    levels = build_pyramid(photo, detection, model, config)
    problem = build_problem(model, levels[0], detection.landmarks, 60.0, np.zeros(2), 1000.0, config)
    assert torch.equal(problem.landmark_vertices, torch.arange(468))
    assert problem.landmark_barycentrics is None and problem.landmark_weights is None
    assert problem.expression_l1 is None and problem.expression_range is None


def test_ict_landmark_map(ict_model):
    landmark_map = ict_model.topology.landmark_map
    assert landmark_map.size == 468
    assert landmark_map.vertices.max() < ict_model.topology.vertices.shape[0]
    np.testing.assert_allclose(landmark_map.barycentrics.sum(axis=1), 1.0, atol=1e-12)
    # the jawline below the mouth slides; every sliding point can reach some candidates
    assert 10 <= landmark_map.contour.shape[0] <= 23 and landmark_map.contour_reach.any(axis=1).all()
    # the photometric term samples the region mediapipe's mesh covers, not the ears or the neck
    fit_faces = ict_model.topology.fit_faces
    assert 0.2 < fit_faces.mean() < 0.7


def test_ict_fit_of_a_london_photo(ict_model, london_photo, ict_fit):
    path, _, detection = london_photo
    pupils = pupils_from_tem(path.with_suffix(".tem"))
    ipd = float(np.linalg.norm(pupils[0] - pupils[1]))
    error = float(np.linalg.norm(fitted_eye_centres(ict_fit) - pupils, axis=1).mean()) / ipd
    assert error < 0.05, f"pupil error {100 * error:.2f}% of the inter-pupil distance"
    assert ict_fit.diagnostics.landmark_rmse_iod < 0.04
    assert ict_fit.vertices.shape == ict_model.topology.vertices.shape
    assert ict_fit.shape_coeffs.shape == (100,) and ict_fit.expression_coeffs.shape == (53,)
    # blendshape weights stay in [0, 1], and the sparse prior leaves most of them at exactly 0
    weights = ict_fit.expression_coeffs
    assert weights.min() >= 0.0 and weights.max() <= 1.0
    assert (weights == 0.0).sum() >= 30
    # a neutral face: no blendshape near full strength
    assert weights.max() < 0.6, dict(zip(ict_model.expression_names, weights.round(2)))


def test_ict_contour_landmarks_sit_on_the_silhouette(ict_model, ict_fit):
    verts = torch.tensor(ict_fit.vertices)
    outline = silhouette_vertices(verts, torch.tensor(ict_model.topology.faces))
    candidates = ict_model.topology.landmark_map.contour_candidates
    assert outline[candidates].sum() >= 10  # the fitted jaw has a silhouette among the candidates
