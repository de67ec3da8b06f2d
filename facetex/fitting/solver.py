"""Fit a morphable model to one photo: the Gauss-Newton / IRLS solver of paper §3.

Steps of :func:`fit_face`:

1. Crop the photo around the detected face (``FitConfig.crop_scale`` × its box), shrink the
   crop to ``max_size`` (never enlarge) and build an image pyramid of ``len(steps)`` levels
   (factor 2) (:mod:`facetex.fitting.pyramid`).
   The camera stays that of the full photo: level pixels = (photo pixels − crop origin) × scale.
2. Image-space visibility (person mask, feature polygons, skin colour) at the finest level,
   shrunk to the others (:mod:`facetex.fitting.visibility`).
3. Pose from landmarks: a weighted 3D similarity (Umeyama) between the mean shape's landmarks
   and the detected ones (mediapipe's mesh: vertex i is landmark i; another mesh, e.g. the ICT
   model's, places them by its ``MeshTopology.landmark_map``); the focal length starts at
   ``focal_init`` × the photo's long side, the depth from the similarity's scale
   (:mod:`facetex.fitting.initialisation`). On a mesh with a landmark map, the jawline
   landmarks slide along the silhouette, re-assigned before every step
   (:mod:`facetex.fitting.contour`); bounded expression weights (blendshapes in [0, 1]) are
   projected onto their bounds in every step, under the model's sparse prior if it has one
   (:mod:`facetex.fitting.levenberg_marquardt`).
4. ``landmark_steps`` Levenberg–Marquardt steps on E_lan + E_depth + E_reg only (pose, focal length,
   identity, expression, gaze). Besides the 468 mesh landmarks, E_lan holds the two iris
   centres, matched by the pupils of two eyeballs placed behind the eye openings
   (:func:`facetex.fitting.eyes.pupil_points`); the mesh itself has no eyes.
5. Lighting and albedo in closed form, alternating (``alternations`` times): with albedo fixed
   the model colour is linear in the SH coefficients, with lighting fixed linear in the albedo
   coefficients — two small weighted least-squares problems (:mod:`facetex.fitting.appearance`).
6. On each pyramid level, coarse to fine, ``steps[level]`` Levenberg–Marquardt steps on the
   full energy over all unknowns. Each step rasterizes the current mesh, keeps the pixels that
   pass the image mask and the grazing-angle cut, takes at most ``max_pixels`` of them, sets
   their IRLS weights from the current residuals (:mod:`facetex.fitting.samples`), and solves
   the damped normal equations (JᵀJ + λ·diag(JᵀJ)) δ = −Jᵀr with λ adapted by the energy
   change (Marquardt) (:mod:`facetex.fitting.levenberg_marquardt`).

:func:`fit_faces` runs the same steps on several photos of one person at once, one identity
shared (issue 20); :func:`fit_face` is its one-photo case.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from facetex.errors import ShapeMismatchError
from facetex.fitting.appearance import face_irradiance_basis, solve_lighting, solve_shared_albedo
from facetex.fitting.config import FitConfig
from facetex.fitting.contour import SlidingContour, slide_contour
from facetex.fitting.energy import energy_terms
from facetex.fitting.eyes import pupil_points
from facetex.fitting.initialisation import build_problem, initial_params, inter_ocular_distance
from facetex.fitting.landmark_terms import mesh_landmarks
from facetex.fitting.levenberg_marquardt import check_in_front, joint_lm_step
from facetex.fitting.mesh import camera_vertices
from facetex.fitting.model import validate_model
from facetex.fitting.photometric import sample_colours
from facetex.fitting.problem import DTYPE, GEOMETRY_FIELDS, ColourSamples, EnergyProblem, FitParams, ParameterLayout
from facetex.fitting.pyramid import Level, at_level, build_pyramid
from facetex.fitting.samples import albedo_stack, colour_samples, with_robust_weights
from facetex.fitting.threads import torch_threads
from facetex.types import Detection, FaceFit, FitDiagnostics, MorphableModel, Photo

__all__ = ["fit_face", "fit_faces"]


def fit_face(
    photo: Photo,
    detection: Detection,
    model: MorphableModel,
    config: FitConfig | None = None,
    *,
    sh_coeffs: np.ndarray | None = None,
    light_prior: np.ndarray | None = None,
    identity: tuple[np.ndarray, np.ndarray] | None = None,
) -> FaceFit:
    """Fit shape, expression, pose, focal length, SH lighting and albedo to one face (paper §3).

    Parameters
    ----------
    photo : the full-resolution photo, (H, W, 3) float32 in [0, 1].
    detection : the face to fit (478 landmarks in photo pixels, person mask).
    model : a morphable model on mediapipe's mesh (generic or database PCA), or on another mesh
        that carries a ``landmark_map`` (the ICT model, :mod:`facetex.geometry.ict`).
    config : solver settings; ``FitConfig()`` (paper values) if None.
    sh_coeffs : (9, 3) lighting to hold fixed (paper §6: one global lighting for a studio
        database); None to solve for it.
    light_prior : (9, 3) lighting the solved lighting starts from and is pulled towards: a
        database's studio lighting. Its mean irradiance over the face (the channel mean) is
        held within ``config.studio_light_sigma`` of the studio's, so the albedo carries how
        bright the skin is (albedo brightness trades against that irradiance at no change of
        the render); the light's direction and colour keep the weak prior
        (``config.light_prior_sigma``), so a photo's colour cast stays in the light. None: the
        white ambient light of ``config.light_prior_irradiance``.
    identity : (shape coefficients (K_id,), albedo coefficients (K_al,)) to hold fixed: the
        person's identity shared by several photos (:mod:`facetex.multiview`); the fit then
        solves pose, focal length, expression, gaze and lighting only. None: solve for both.

    Returns
    -------
    FaceFit
        Camera of the full-resolution photo (principal point at its centre), model → camera
        pose, coefficients, SH lighting, fitted camera-frame vertices, and diagnostics:
        ``E``, ``E_c``, ``E_lan``, ``E_depth``, ``E_reg`` (final energy terms, units in
        :mod:`facetex.fitting.config`), ``landmark_rmse_px`` (photo pixels, over the V mesh
        landmarks), ``landmark_rmse_iod`` (same, in inter-ocular distances),
        ``photometric_rms`` (RMS colour error per channel in [0, 1] over all visible skin
        pixels of the finest level, unweighted), ``visible_pixels``, ``gaze_yaw_deg`` and
        ``gaze_pitch_deg`` (model frame, relative to the eye openings), ``iterations`` (LM
        steps), ``seconds``. ``pupils``: the fitted eyeballs' pupil centres.

    Raises
    ------
    ShapeMismatchError
        Inconsistent inputs (image, landmarks, model, ``sh_coeffs`` shapes).
    FittingError
        Too few visible skin pixels, or the solve left the valid range (face behind the camera,
        non-finite values).
    """
    config = FitConfig() if config is None else config
    started = time.perf_counter()
    _validate(photo, detection, model, config, sh_coeffs)
    if light_prior is not None and np.shape(light_prior) != (9, 3):
        raise ShapeMismatchError(f"light_prior must have shape (9, 3), got {np.shape(light_prior)}")
    if identity is not None and (np.shape(identity[0]) != model.shape_basis.shape[:1]
                                 or np.shape(identity[1]) != model.albedo_basis.shape[:1]):
        raise ShapeMismatchError(
            f"identity must be ({model.shape_basis.shape[0]},) shape and ({model.albedo_basis.shape[0]},) albedo "
            f"coefficients, got {np.shape(identity[0])} and {np.shape(identity[1])}"
        )
    with torch_threads(1):
        return _fit([photo], [detection], model, config, sh_coeffs, light_prior, started, identity)[0]


def fit_faces(
    photos: list[Photo],
    detections: list[Detection],
    model: MorphableModel,
    config: FitConfig | None = None,
    *,
    light_prior: np.ndarray | None = None,
) -> list[FaceFit]:
    """Fit one person seen in several photos (issue 20): one identity (shape and albedo
    coefficients) for all of them, each photo's own pose, focal length, expression, gaze and SH
    lighting.

    The steps of :func:`fit_face`, each on the photos' summed energy: every Levenberg–Marquardt
    step solves all photos' unknowns at once
    (:func:`~facetex.fitting.levenberg_marquardt.joint_lm_step`, the identity's prior counted
    once), the closed-form albedo is the least-squares albedo of all photos' samples
    (:func:`~facetex.fitting.appearance.solve_shared_albedo`). With one photo this is
    :func:`fit_face`.

    Parameters
    ----------
    photos : N ≥ 1 full-resolution photos, (H_i, W_i, 3) float32 in [0, 1] (sizes may differ).
    detections : the face to fit in each photo.
    model, config, light_prior : as :func:`fit_face` (one light prior for all photos).

    Returns
    -------
    One :class:`FaceFit` per photo, in order; their ``shape_coeffs`` and ``albedo_coeffs`` are
    equal. Diagnostics are each photo's own terms; ``iterations`` and ``seconds`` are the joint
    solve's.

    Raises
    ------
    ShapeMismatchError, FittingError
        As :func:`fit_face`, for any of the photos (which one is not told apart: fit the photos
        alone to find it).
    """
    config = FitConfig() if config is None else config
    started = time.perf_counter()
    if not photos or len(photos) != len(detections):
        raise ShapeMismatchError(f"need one detection per photo, got {len(photos)} photos and {len(detections)} detections")
    for photo, detection in zip(photos, detections):
        _validate(photo, detection, model, config, None)
    if light_prior is not None and np.shape(light_prior) != (9, 3):
        raise ShapeMismatchError(f"light_prior must have shape (9, 3), got {np.shape(light_prior)}")
    with torch_threads(1):
        return _fit(list(photos), list(detections), model, config, None, light_prior, started)


@dataclass
class _PhotoFit:
    """One photo's part of a fit: its constants, pyramid and current unknowns."""

    photo: Photo
    landmarks: np.ndarray
    unit: float
    levels: list[Level]
    problem: EnergyProblem
    params: FitParams


def _start(photo: Photo, detection: Detection, model: MorphableModel, config: FitConfig,
           sh_coeffs: np.ndarray | None, light_prior: np.ndarray | None) -> _PhotoFit:
    """Steps 1–3 of :func:`fit_face` for one photo: pyramid, energy constants, initial pose."""
    height, width = photo.size
    landmarks = np.asarray(detection.landmarks, dtype=np.float64)
    unit = inter_ocular_distance(landmarks)
    principal = np.array([width / 2.0, height / 2.0])
    focal0 = config.focal_init * max(height, width)
    levels = build_pyramid(photo, detection, model, config)
    problem = build_problem(model, levels[0], landmarks, unit, principal, focal0, config)
    if light_prior is not None:
        problem = replace(problem, light_prior=torch.tensor(np.asarray(light_prior), dtype=DTYPE))
    params, problem = initial_params(model, problem, landmarks, focal0, config, sh_coeffs)
    return _PhotoFit(photo, landmarks, unit, levels, problem, params)


def _fit(
    photos: list[Photo],
    detections: list[Detection],
    model: MorphableModel,
    config: FitConfig,
    sh_coeffs: np.ndarray | None,
    light_prior: np.ndarray | None,
    started: float,
    identity: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[FaceFit]:
    """Steps 3–6 of :func:`fit_face` for one photo, or for several photos of one person with one
    identity (:func:`fit_faces`): each step then solves the photos' summed energy
    (:func:`~facetex.fitting.levenberg_marquardt.joint_lm_step`)."""
    views = [_start(photo, detection, model, config, sh_coeffs, light_prior)
             for photo, detection in zip(photos, detections)]
    if identity is not None:
        for view in views:
            view.params = view.params._replace(shape=torch.tensor(np.asarray(identity[0]), dtype=DTYPE),
                                               albedo=torch.tensor(np.asarray(identity[1]), dtype=DTYPE))
    albedo_maps = albedo_stack(model)
    uvs = torch.tensor(np.asarray(model.topology.uvs), dtype=DTYPE)
    fit_faces = model.topology.fit_faces
    fit_faces = None if fit_faces is None else torch.as_tensor(fit_faces, dtype=torch.bool)
    contour = SlidingContour.of(model.topology.landmark_map)

    def samples_at(level: Level, view: _PhotoFit, limit: int | None) -> ColourSamples:
        return colour_samples(view.params, view.problem, level, albedo_maps, uvs, config, limit, fit_faces)

    def slide(view: _PhotoFit) -> None:
        if contour is not None:
            view.problem = slide_contour(view.params, view.problem, contour)

    def step(samples: list[ColourSamples | None], layout: ParameterLayout, damping: float) -> float:
        params, problems, damping = joint_lm_step([v.params for v in views], [v.problem for v in views], samples,
                                                  [layout] * len(views), damping)
        for view, p, problem in zip(views, params, problems):
            view.params, view.problem = p, problem
        return damping

    held = ("shape", "albedo") if identity is not None else ()
    geometry = tuple(n for n in GEOMETRY_FIELDS if (config.fit_focal or n != "log_focal") and n not in held)
    appearance = tuple(n for n in (("albedo",) if sh_coeffs is not None else ("sh", "albedo")) if n not in held)
    iterations = 0

    # Landmarks only: pose, focal length, shape, expression, gaze.
    damping = config.lm_damping
    landmark_layout = ParameterLayout.of(views[0].params, geometry)
    for _ in range(config.landmark_steps):
        for view in views:
            slide(view)
        damping = step([None] * len(views), landmark_layout, damping)
        iterations += 1
    for view in views:
        check_in_front(view.params, view.problem)

    # Lighting and albedo in closed form, alternating, on the coarsest level.
    samples = [samples_at(view.levels[0], view, config.max_pixels) for view in views]
    if light_prior is not None and "sh" in appearance:
        for view, s in zip(views, samples):
            view.problem = replace(view.problem, face_irradiance_basis=face_irradiance_basis(view.params, view.problem, s),
                                   face_irradiance_sigma=config.studio_light_sigma)
    for _ in range(config.alternations):
        if "sh" in appearance:
            for view, s in zip(views, samples):
                view.params = view.params._replace(sh=solve_lighting(view.params, view.problem, s))
        if "albedo" in appearance:
            albedo = solve_shared_albedo([v.params for v in views], [v.problem for v in views], samples)
            for view in views:
                view.params = view.params._replace(albedo=albedo)

    # The full energy, coarse to fine.
    layout = ParameterLayout.of(views[0].params, geometry + appearance)
    damping = config.lm_damping
    for level_index, steps in enumerate(config.steps):
        for view in views:
            view.problem = at_level(view.problem, view.levels[level_index])
        for _ in range(steps):
            samples = []
            for view in views:
                level = view.levels[level_index]
                samples.append(with_robust_weights(view.params, view.problem,
                                                   samples_at(level, view, config.max_pixels), config))
                slide(view)
            damping = step(samples, layout, damping)
            iterations += 1
        for view in views:
            check_in_front(view.params, view.problem)

    return [_result(view, model, config, samples_at, slide, iterations, started) for view in views]


def _result(view: _PhotoFit, model: MorphableModel, config: FitConfig, samples_at, slide, iterations: int,
            started: float) -> FaceFit:
    """The :class:`FaceFit` of one photo's final unknowns, with diagnostics on its finest level
    (every visible skin pixel)."""
    slide(view)
    params, problem = view.params, view.problem
    final = with_robust_weights(params, problem, samples_at(view.levels[-1], view, None), config)
    with torch.no_grad():
        verts = camera_vertices(params, problem)
        pupils = pupil_points(params, problem, verts)
    diagnostics = _diagnostics(params, problem, final, verts, view.landmarks, view.unit, iterations, started)
    height, width = view.photo.size
    return FaceFit(
        image_size=(height, width),
        shape_coeffs=params.shape.numpy().copy(),
        expression_coeffs=params.expression.numpy().copy(),
        albedo_coeffs=params.albedo.numpy().copy(),
        rotation=problem.base_rotation.numpy().copy(),
        translation=params.translation.numpy().copy(),
        focal_length=float(torch.exp(params.log_focal)),
        principal_point=problem.principal_point.numpy().copy(),
        sh_coeffs=params.sh.numpy().copy(),
        vertices=verts.numpy().copy(),
        model_name=model.name,
        diagnostics=diagnostics,
        pupils=pupils.numpy().copy(),
    )


def _diagnostics(
    params: FitParams,
    problem: EnergyProblem,
    samples: ColourSamples,
    verts: torch.Tensor,
    landmarks: np.ndarray,
    unit: float,
    iterations: int,
    started: float,
) -> FitDiagnostics:
    """Final energy terms, landmark and photometric errors, gaze (see :func:`fit_face`)."""
    terms = energy_terms(params, problem, samples)
    with torch.no_grad():
        observed, predicted = sample_colours(params, problem, samples)
        photometric = float(torch.sqrt(((observed - predicted) ** 2).mean()))
        points = verts if problem.landmark_barycentrics is None else mesh_landmarks(verts, problem)
        n = points.shape[0]
        xy = torch.exp(params.log_focal) * points[:, :2] / points[:, 2:3] + problem.principal_point
        lm_err = float(torch.sqrt(((xy - torch.tensor(landmarks[:n, :2])) ** 2).sum(dim=1).mean()))
    return FitDiagnostics(
        E=terms["E"],
        E_c=terms["E_c"],
        E_lan=terms["E_lan"],
        E_depth=terms["E_depth"],
        E_reg=terms["E_reg"],
        landmark_rmse_px=lm_err,
        landmark_rmse_iod=lm_err / unit,
        photometric_rms=photometric,
        visible_pixels=float(samples.weights.shape[0]),
        gaze_yaw_deg=math.degrees(float(params.gaze[0])),
        gaze_pitch_deg=math.degrees(float(params.gaze[1])),
        iterations=float(iterations),
        seconds=time.perf_counter() - started,
    )


def _validate(
    photo: Photo, detection: Detection, model: MorphableModel, config: FitConfig, sh_coeffs: np.ndarray | None
) -> None:
    rgb = np.asarray(photo.rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 8:
        raise ShapeMismatchError(f"photo must be an (H, W, 3) image of at least 8×8 pixels, got {rgb.shape}")
    lm = np.asarray(detection.landmarks)
    if lm.ndim != 2 or lm.shape[0] != 478 or lm.shape[1] != 3 or not np.isfinite(lm).all():
        raise ShapeMismatchError(f"detection.landmarks must be 478 finite (x, y, z) points, got {lm.shape}")
    if np.shape(detection.person_mask) != photo.size:
        raise ShapeMismatchError(
            f"detection.person_mask must have shape {photo.size}, got {np.shape(detection.person_mask)}"
        )
    validate_model(model)
    landmark_map = model.topology.landmark_map
    if landmark_map is None and model.topology.vertices.shape[0] != 468:
        raise ShapeMismatchError(
            "the model's mesh must be mediapipe's 468-vertex face mesh (vertex i = landmark i) or carry a landmark_map"
        )
    if landmark_map is not None and landmark_map.size != 468:
        raise ShapeMismatchError(
            f"the model's landmark_map must place mediapipe's 468 mesh landmarks, got {landmark_map.size}"
        )
    if sh_coeffs is not None and np.shape(sh_coeffs) != (9, 3):
        raise ShapeMismatchError(f"sh_coeffs must have shape (9, 3), got {np.shape(sh_coeffs)}")
    if not config.steps or any(s < 0 for s in config.steps):
        raise ValueError(f"FitConfig.steps must be a non-empty tuple of counts ≥ 0, got {config.steps}")
    if config.max_size < 16 * 2 ** (len(config.steps) - 1):
        raise ValueError(f"FitConfig.max_size {config.max_size} is too small for {len(config.steps)} pyramid levels")
    if config.robust not in ("huber", "tukey", "none"):
        raise ValueError(f"FitConfig.robust must be 'huber', 'tukey' or 'none', got {config.robust!r}")
