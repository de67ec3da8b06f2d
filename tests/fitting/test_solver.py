"""fit_face: recovery of known parameters from synthetic renders, a real photo, bad inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from facetex.errors import FittingError, ShapeMismatchError
from facetex.fitting import FitConfig, VisibilityConfig, fit_face, model_albedo, render_fit
from facetex.fitting.initialisation import initial_pose
from facetex.geometry.camera import pose_rotation
from facetex.geometry.uv import chart_mask

# Synthetic renders have a constant-colour background and the model's own smooth albedo, so
# the skin-colour model is not needed (it is tested in test_visibility).
SYNTHETIC = FitConfig(visibility=VisibilityConfig(use_skin_colour=False))


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = (np.trace(a @ b.T) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def _aligned_shape_error(fit_vertices: np.ndarray, true_vertices: np.ndarray) -> float:
    """RMS vertex distance (cm) after the best similarity between the two meshes."""
    a = fit_vertices - fit_vertices.mean(axis=0)
    b = true_vertices - true_vertices.mean(axis=0)
    u, s, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    scale = np.trace(np.diag(s) @ d) / (a * a).sum()
    return float(np.sqrt(((scale * a @ rot.T - b) ** 2).sum(axis=1).mean()))


@pytest.fixture(scope="module")
def free_fit(model, scene):
    return fit_face(scene.photo, scene.detection, model, SYNTHETIC)


@pytest.fixture(scope="module")
def lit_fit(model, scene):
    return fit_face(scene.photo, scene.detection, model, SYNTHETIC, sh_coeffs=scene.truth.sh_coeffs)


def test_recovers_pose_and_shape(free_fit, scene):
    truth = scene.truth
    assert _angle_deg(free_fit.rotation, truth.rotation) < 0.5
    # Size and distance trade against each other (a smaller face nearer the camera projects
    # alike): the generic model fixes the size (no uniform scaling), so both are recovered.
    centre, true_centre = free_fit.vertices.mean(axis=0), truth.vertices.mean(axis=0)
    # Direction to the head within 1e-3 rad: 0.4 px at this focal length (384 px). The synthetic
    # face is the same on every CPU (canonical generic basis); the fit's own arithmetic moves
    # this by ~6e-5 between LAPACK kernels, and the scene's error is 5.8e-4.
    np.testing.assert_allclose(centre / np.linalg.norm(centre), true_centre / np.linalg.norm(true_centre), atol=1e-3)
    assert abs(centre[2] / true_centre[2] - 1.0) < 0.02
    # Focal length within 2 %: 1.4 % on this scene, 1.0 % on the one the old, CPU-dependent
    # basis gave with an Intel LAPACK kernel (size and distance trade against it).
    assert abs(free_fit.focal_length / truth.focal_length - 1.0) < 0.02
    assert _aligned_shape_error(free_fit.vertices, truth.vertices) < 0.1  # cm RMS
    assert free_fit.diagnostics.landmark_rmse_px < 0.3
    # The synthetic iris landmarks sit at the eye contours' centroids: a straight gaze.
    assert abs(free_fit.diagnostics.gaze_yaw_deg) < 3 and abs(free_fit.diagnostics.gaze_pitch_deg) < 3
    assert free_fit.diagnostics.iterations == SYNTHETIC.landmark_steps + sum(SYNTHETIC.steps)


def test_recovers_lighting_and_albedo_up_to_their_common_scale(free_fit, model, scene):
    # Albedo × light intensity is all a photo shows: compare shading and albedo after the one
    # per-channel factor k that relates them (the priors pick k; it stays near 1).
    fitted = render_fit(free_fit, model)
    seen = fitted.mask & scene.rendering.mask
    assert np.sqrt(np.mean((fitted.rgb[seen] - scene.rendering.rgb[seen]) ** 2)) < 0.01
    s_fit, s_true = fitted.shading[seen], scene.rendering.shading[seen]
    k = (s_fit * s_true).sum(axis=0) / (s_fit * s_fit).sum(axis=0)
    assert np.all(np.abs(k - 1.0) < 0.15)
    assert np.all(np.abs(s_fit * k - s_true).mean(axis=0) < 0.015 * s_true.mean(axis=0))
    chart = chart_mask(model.topology, model.albedo_mean.shape[0])
    albedo_fit = model_albedo(model, free_fit.albedo_coeffs)[chart] / k
    albedo_true = model_albedo(model, scene.truth.albedo_coeffs)[chart]
    assert np.abs(albedo_fit - albedo_true).max() < 0.03


def test_recovers_albedo_under_given_lighting(lit_fit, model, scene):
    np.testing.assert_array_equal(lit_fit.sh_coeffs, scene.truth.sh_coeffs)
    chart = chart_mask(model.topology, model.albedo_mean.shape[0])
    albedo_fit = model_albedo(model, lit_fit.albedo_coeffs)[chart]
    albedo_true = model_albedo(model, scene.truth.albedo_coeffs)[chart]
    assert np.abs(albedo_fit - albedo_true).mean() < 0.005
    assert np.abs(albedo_fit - albedo_true).max() < 0.03
    assert _angle_deg(lit_fit.rotation, scene.truth.rotation) < 0.5
    assert lit_fit.diagnostics.photometric_rms < 0.01


def test_a_studio_lighting_prior_keeps_the_skin_tone_in_the_albedo(model, scene):
    """Albedo brightness trades against light intensity at no change of the render: without
    knowing the light, a fit of a darker-skinned face under the same light brightens the
    albedo and darkens the light. With the studio's lighting as the prior, the fitted light
    stays as bright as the studio's and the darker skin stays in the albedo; the light's
    colour stays free."""
    from tests.fitting.conftest import make_scene

    dark = make_scene(model, albedo_uv=scene.albedo_uv * 0.6)

    def shading_ratio(fit, truth):  # fitted shading over the true one, on the face
        fitted = render_fit(fit, model)
        seen = fitted.mask & truth.rendering.mask
        return float(np.median(fitted.shading[seen].mean(axis=1) / truth.rendering.shading[seen].mean(axis=1)))

    studio = scene.truth.sh_coeffs
    ratios = {}
    for name, prior in (("free", None), ("studio", studio)):
        for label, sc in (("bright", scene), ("dark", dark)):
            fit = fit_face(sc.photo, sc.detection, model, SYNTHETIC, light_prior=prior)
            ratios[name, label] = shading_ratio(fit, sc)
    # unknown light: the darker skin went largely into the light
    assert ratios["free", "dark"] < 0.9 * ratios["free", "bright"]
    # the studio's light: the light is the studio's for both faces
    assert abs(ratios["studio", "bright"] - 1.0) < 0.05 and abs(ratios["studio", "dark"] - 1.0) < 0.05
    # a colour cast (here a warmer face) goes into the light's colour, which the prior leaves free
    warm = make_scene(model, albedo_uv=scene.albedo_uv * np.array([1.0, 0.85, 0.7], np.float32))
    fit = fit_face(warm.photo, warm.detection, model, SYNTHETIC, light_prior=studio)
    fitted = render_fit(fit, model)
    seen = fitted.mask & warm.rendering.mask
    per_channel = np.median(fitted.shading[seen] / warm.rendering.shading[seen], axis=0)
    assert per_channel[2] < 0.9 * per_channel[0]
    with pytest.raises(ShapeMismatchError):
        fit_face(scene.photo, scene.detection, model, SYNTHETIC, light_prior=np.zeros((4, 3)))


def test_initial_pose_inverts_a_scaled_orthographic_view(topology):
    true_rotation = pose_rotation(torch.tensor([0.2, -0.4, 0.1], dtype=torch.float64)).numpy()
    scale = 9.0  # pixels per cm
    landmarks = scale * topology.vertices @ true_rotation.T + np.array([300.0, 250.0, 17.0])
    rotation, translation = initial_pose(
        topology.vertices, landmarks, topology.landmark_weights, focal=900.0, principal_point=np.array([256.0, 256.0])
    )
    np.testing.assert_allclose(rotation, true_rotation, atol=1e-10)
    assert translation[2] + (rotation @ topology.vertices.mean(axis=0))[2] == pytest.approx(900.0 / scale, rel=0.05)


def test_fits_a_real_photo(model, london_neutral):
    from facetex.detect import detect_face
    from facetex.io.images import load_photo

    photo = load_photo(london_neutral[0])
    detection = detect_face(photo)
    fit = fit_face(photo, detection, model)
    d = fit.diagnostics
    assert d.landmark_rmse_iod < 0.03  # mediapipe's landmarks, not hand-placed ones
    assert d.photometric_rms < 0.08
    assert d.visible_pixels > 3000
    assert fit.vertices.shape == (468, 3) and np.all(fit.vertices[:, 2] > 0)
    assert np.isfinite(d.E) and d.E == pytest.approx(
        d.E_c + 10 * d.E_lan + 2.5 * d.E_depth + 2.5e-5 * d.E_reg, rel=0.05
    )  # the focal and lighting priors are small
    # Depth from a frontal photo: the nose tip (vertex 1) stands 3–5.5 cm in front of the outer
    # eye corners (33, 263) — without E_depth this fit put it 6.3 cm out.
    z = fit.vertices[:, 2]
    assert 3.0 < (z[33] + z[263]) / 2 - z[1] < 5.5


def test_bad_inputs(model, scene):
    det = scene.detection
    with pytest.raises(ShapeMismatchError, match="landmarks"):
        fit_face(scene.photo, dataclasses.replace(det, landmarks=det.landmarks[:468]), model, SYNTHETIC)
    with pytest.raises(ShapeMismatchError, match="sh_coeffs"):
        fit_face(scene.photo, det, model, SYNTHETIC, sh_coeffs=np.zeros((3, 9)))
    with pytest.raises(ShapeMismatchError, match="person_mask"):
        fit_face(scene.photo, dataclasses.replace(det, person_mask=det.person_mask[:10]), model, SYNTHETIC)
    with pytest.raises(ValueError, match="steps"):
        fit_face(scene.photo, det, model, dataclasses.replace(SYNTHETIC, steps=()))
    with pytest.raises(ValueError, match="robust"):
        fit_face(scene.photo, det, model, dataclasses.replace(SYNTHETIC, robust="l1"))
    hidden = dataclasses.replace(det, person_mask=np.zeros_like(det.person_mask))
    with pytest.raises(FittingError, match="visible skin"):
        fit_face(scene.photo, hidden, model, SYNTHETIC)
