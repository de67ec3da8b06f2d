"""Fit a morphable model to one photo: the Gauss-Newton / IRLS solver of paper §3.

Steps of :func:`fit_face`:

1. Crop the photo around the detected face (``FitConfig.crop_scale`` × its box), shrink the
   crop to ``max_size`` (never enlarge) and build an image pyramid of ``len(steps)`` levels
   (factor 2).
   The camera stays that of the full photo: level pixels = (photo pixels − crop origin) × scale.
2. Image-space visibility (person mask, feature polygons, skin colour) at the finest level,
   shrunk to the others (:mod:`facetex.fitting.visibility`).
3. Pose from landmarks: a weighted 3D similarity (Umeyama) between the mean shape and the first
   V detected landmarks, which correspond 1:1 to the mesh vertices; the focal length starts at
   ``focal_init`` × the photo's long side, the depth from the similarity's scale.
4. ``landmark_steps`` Levenberg–Marquardt steps on E_lan + E_depth + E_reg only (pose, focal length,
   identity, expression, gaze). Besides the 468 mesh landmarks, E_lan holds the two iris
   centres, matched by the pupils of two eyeballs placed behind the eye openings
   (:func:`facetex.fitting.energy.pupil_points`); the mesh itself has no eyes.
5. Lighting and albedo in closed form, alternating (``alternations`` times): with albedo fixed
   the model colour is linear in the SH coefficients, with lighting fixed linear in the albedo
   coefficients — two small weighted least-squares problems.
6. On each pyramid level, coarse to fine, ``steps[level]`` Levenberg–Marquardt steps on the
   full energy over all unknowns. Each step rasterizes the current mesh, keeps the pixels that
   pass the image mask and the grazing-angle cut, takes at most ``max_pixels`` of them, sets
   their IRLS weights from the current residuals, and solves the damped normal equations
   (JᵀJ + λ·diag(JᵀJ)) δ = −Jᵀr with λ adapted by the energy change (Marquardt).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Literal

import cv2
import numpy as np
import torch

from facetex.detect import landmarks as groups
from facetex.errors import FittingError, ShapeMismatchError
from facetex.fitting.config import FitConfig
from facetex.fitting.energy import (
    GEOMETRY_FIELDS,
    ColourSamples,
    EnergyProblem,
    FitParams,
    ParameterLayout,
    camera_vertices,
    energy_terms,
    linearize,
    pupil_points,
    residuals,
    sample_albedo,
    sample_colours,
    sample_image,
    surface_points,
)
from facetex.fitting.model import validate_model
from facetex.fitting.threads import torch_threads
from facetex.fitting.visibility import photo_visibility, view_cosine
from facetex.geometry.camera import rodrigues, vertex_normals
from facetex.geometry.rasterize import rasterize, texture
from facetex.geometry.sh import sh_basis, sh_from_ambient
from facetex.types import Detection, FaceFit, MorphableModel, Photo

__all__ = ["RobustKind", "fit_face", "initial_pose", "inter_ocular_distance", "robust_weights"]

#: The robust functions of :func:`robust_weights` (``FitConfig.robust``).
RobustKind = Literal["huber", "tukey", "none"]

_DTYPE = torch.float64
# Fewer visible skin samples than this at a level and the fit is refused.
_MIN_SAMPLES = 30
# LM damping bounds and the number of retries with more damping in one step.
_MIN_DAMPING, _MAX_DAMPING, _RETRIES = 1e-9, 1e6, 6


@dataclass(frozen=True)
class _Level:
    """One pyramid level: image, visibility mask, and its mapping from photo pixels."""

    image: torch.Tensor  # (h, w, 3)
    mask: torch.Tensor  # (h, w) bool, image-space visibility
    scale: torch.Tensor  # (2,) level pixels per photo pixel (x, y)
    offset: torch.Tensor  # (2,) photo pixel of the level's origin (the crop's corner)
    order: torch.Tensor  # (h·w,) fixed random ranking of the pixels, for subsampling

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])


def fit_face(
    photo: Photo,
    detection: Detection,
    model: MorphableModel,
    config: FitConfig | None = None,
    *,
    sh_coeffs: np.ndarray | None = None,
) -> FaceFit:
    """Fit shape, expression, pose, focal length, SH lighting and albedo to one face (paper §3).

    Parameters
    ----------
    photo : the full-resolution photo, (H, W, 3) float32 in [0, 1].
    detection : the face to fit (478 landmarks in photo pixels, person mask).
    model : any morphable model on the mediapipe mesh (generic or database PCA).
    config : solver settings; ``FitConfig()`` (paper values) if None.
    sh_coeffs : (9, 3) lighting to hold fixed (paper §6: one global lighting for a studio
        database); None to solve for it.

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
    with torch_threads(1):
        return _fit(photo, detection, model, config, sh_coeffs, started)


def _fit(
    photo: Photo,
    detection: Detection,
    model: MorphableModel,
    config: FitConfig,
    sh_coeffs: np.ndarray | None,
    started: float,
) -> FaceFit:
    height, width = photo.size
    landmarks = np.asarray(detection.landmarks, dtype=np.float64)
    unit = inter_ocular_distance(landmarks)
    principal = np.array([width / 2.0, height / 2.0])
    focal0 = config.focal_init * max(height, width)
    levels = _pyramid(photo, detection, model, config)
    problem = _problem(model, levels[0], landmarks, unit, principal, focal0, config)
    params, problem = _initial_params(model, problem, landmarks, focal0, config, sh_coeffs)
    albedo_stack = _albedo_stack(model)
    uvs = torch.tensor(np.asarray(model.topology.uvs), dtype=_DTYPE)

    def samples_at(level: _Level, params: FitParams, problem: EnergyProblem, limit: int | None) -> ColourSamples:
        return _colour_samples(params, problem, level, albedo_stack, uvs, config, limit)

    geometry = tuple(n for n in GEOMETRY_FIELDS if config.fit_focal or n != "log_focal")
    appearance = ("albedo",) if sh_coeffs is not None else ("sh", "albedo")
    iterations = 0

    # Landmarks only: pose, focal length, shape, expression, gaze.
    damping = config.lm_damping
    landmark_layout = ParameterLayout.of(params, geometry)
    for _ in range(config.landmark_steps):
        params, problem, damping = _lm_step(params, problem, None, landmark_layout, damping)
        iterations += 1
    _check_in_front(params, problem)

    # Lighting and albedo in closed form, alternating, on the coarsest level.
    samples = samples_at(levels[0], params, problem, config.max_pixels)
    for _ in range(config.alternations):
        if "sh" in appearance:
            params = params._replace(sh=_solve_lighting(params, problem, samples))
        params = params._replace(albedo=_solve_albedo(params, problem, samples))

    # The full energy, coarse to fine.
    layout = ParameterLayout.of(params, geometry + appearance)
    damping = config.lm_damping
    for level, steps in zip(levels, config.steps):
        problem = _at_level(problem, level)
        for _ in range(steps):
            samples = samples_at(level, params, problem, config.max_pixels)
            samples = _with_robust_weights(params, problem, samples, config)
            params, problem, damping = _lm_step(params, problem, samples, layout, damping)
            iterations += 1
        _check_in_front(params, problem)

    # Diagnostics on the finest level: every visible skin pixel.
    final = _with_robust_weights(params, problem, samples_at(levels[-1], params, problem, None), config)
    with torch.no_grad():
        verts = camera_vertices(params, problem)
        pupils = pupil_points(params, problem, verts)
    diagnostics = _diagnostics(params, problem, final, verts, landmarks, unit)
    diagnostics["iterations"] = float(iterations)
    diagnostics["seconds"] = time.perf_counter() - started
    return FaceFit(
        image_size=(height, width),
        shape_coeffs=params.shape.numpy().copy(),
        expression_coeffs=params.expression.numpy().copy(),
        albedo_coeffs=params.albedo.numpy().copy(),
        rotation=problem.base_rotation.numpy().copy(),
        translation=params.translation.numpy().copy(),
        focal_length=float(torch.exp(params.log_focal)),
        principal_point=principal,
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
) -> dict[str, float]:
    """Final energy terms, landmark and photometric errors, gaze (see :func:`fit_face`)."""
    terms = energy_terms(params, problem, samples)
    with torch.no_grad():
        observed, predicted = sample_colours(params, problem, samples)
        photometric = float(torch.sqrt(((observed - predicted) ** 2).mean()))
        n = verts.shape[0]
        xy = torch.exp(params.log_focal) * verts[:, :2] / verts[:, 2:3] + problem.principal_point
        lm_err = float(torch.sqrt(((xy - torch.tensor(landmarks[:n, :2])) ** 2).sum(dim=1).mean()))
    return {
        "E": terms["E"],
        "E_c": terms["E_c"],
        "E_lan": terms["E_lan"],
        "E_depth": terms["E_depth"],
        "E_reg": terms["E_reg"],
        "landmark_rmse_px": lm_err,
        "landmark_rmse_iod": lm_err / unit,
        "photometric_rms": photometric,
        "visible_pixels": float(samples.weights.shape[0]),
        "gaze_yaw_deg": math.degrees(float(params.gaze[0])),
        "gaze_pitch_deg": math.degrees(float(params.gaze[1])),
    }


def _initial_params(
    model: MorphableModel,
    problem: EnergyProblem,
    landmarks: np.ndarray,
    focal0: float,
    config: FitConfig,
    sh_coeffs: np.ndarray | None,
) -> tuple[FitParams, EnergyProblem]:
    """Mean shape and albedo, neutral expression, straight gaze, pose from the landmarks."""
    n = model.topology.vertices.shape[0]
    principal = problem.principal_point.numpy()
    rotation, translation = initial_pose(
        model.topology.vertices, landmarks[:n], model.topology.landmark_weights, focal0, principal
    )
    lighting = sh_from_ambient(config.light_prior_irradiance) if sh_coeffs is None else np.asarray(sh_coeffs)
    params = FitParams(
        shape=torch.zeros(model.shape_basis.shape[0], dtype=_DTYPE),
        expression=torch.zeros(model.expression_basis.shape[0], dtype=_DTYPE),
        rotation=torch.zeros(3, dtype=_DTYPE),
        translation=torch.tensor(translation, dtype=_DTYPE),
        log_focal=torch.tensor(math.log(focal0), dtype=_DTYPE),
        gaze=torch.zeros(2, dtype=_DTYPE),
        sh=torch.tensor(lighting, dtype=_DTYPE),
        albedo=torch.zeros(model.albedo_basis.shape[0], dtype=_DTYPE),
    )
    return params, replace(problem, base_rotation=torch.tensor(rotation, dtype=_DTYPE))


# ------------------------------------------------------------------------------ initialisation


def inter_ocular_distance(landmarks: np.ndarray) -> float:
    """Distance in pixels between the two iris centres of 478 mediapipe landmarks (E_lan unit)."""
    centres = groups.eye_centers(landmarks)
    return float(np.linalg.norm(centres[0] - centres[1]))


def initial_pose(
    model_points: np.ndarray,
    landmarks: np.ndarray,
    weights: np.ndarray,
    focal: float,
    principal_point: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Pose from 3D landmarks by a weighted similarity fit (Umeyama 1991).

    Parameters
    ----------
    model_points : (V, 3) model-frame points (cm).
    landmarks : (V, 3) the corresponding landmarks: x, y in pixels, z mediapipe's relative
        depth in the same pixel units (larger is farther) — a scaled orthographic view whose
        axes are those of the camera frame.
    weights : (V,) ≥ 0 weights (all zero → uniform).
    focal : focal length in pixels; principal_point : (2,) pixels.

    Returns
    -------
    rotation : (3, 3) model → camera rotation (proper, det = +1).
    translation : (3,) cm, so that the weighted centroid of the model projects onto the
        landmarks' centroid at the depth where its scale matches (Z = f / s).
    """
    w = np.asarray(weights, dtype=np.float64)
    if not np.any(w > 0):
        w = np.ones(model_points.shape[0])
    w = w / w.sum()
    src = np.asarray(model_points, dtype=np.float64)
    dst = np.asarray(landmarks, dtype=np.float64)
    mu_s, mu_d = w @ src, w @ dst
    a, b = src - mu_s, dst - mu_d
    cov = (b * w[:, None]).T @ a
    u, sing, vt = np.linalg.svd(cov)
    fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ fix @ vt
    scale = float(np.trace(np.diag(sing) @ fix) / (w @ (a * a).sum(axis=1)))
    depth = focal / scale
    centre = np.append((mu_d[:2] - principal_point) * depth / focal, depth)
    return rotation, centre - rotation @ mu_s


# ------------------------------------------------------------------------------ problem set-up


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
    if model.topology.vertices.shape[0] != 468:
        raise ShapeMismatchError("the model's mesh must be mediapipe's 468-vertex face mesh (vertex i = landmark i)")
    if sh_coeffs is not None and np.shape(sh_coeffs) != (9, 3):
        raise ShapeMismatchError(f"sh_coeffs must have shape (9, 3), got {np.shape(sh_coeffs)}")
    if not config.steps or any(s < 0 for s in config.steps):
        raise ValueError(f"FitConfig.steps must be a non-empty tuple of counts ≥ 0, got {config.steps}")
    if config.max_size < 16 * 2 ** (len(config.steps) - 1):
        raise ValueError(f"FitConfig.max_size {config.max_size} is too small for {len(config.steps)} pyramid levels")
    if config.robust not in ("huber", "tukey", "none"):
        raise ValueError(f"FitConfig.robust must be 'huber', 'tukey' or 'none', got {config.robust!r}")


def _pyramid(photo: Photo, detection: Detection, model: MorphableModel, config: FitConfig) -> list[_Level]:
    """Crop around the face, shrink, and build the levels coarse → fine, with their masks."""
    vis, crop = photo_visibility(
        photo, detection, model.topology, config.visibility, crop_scale=config.crop_scale, max_side=config.max_size
    )
    fine_mask = vis.mask.astype(np.float32)
    rng = np.random.default_rng(config.seed)
    n_levels = len(config.steps)
    levels = []
    for k in range(n_levels):
        factor = 2 ** (n_levels - 1 - k)
        h, w = crop.rgb.shape[:2]
        size = (max(1, round(w / factor)), max(1, round(h / factor)))
        img = crop.rgb if factor == 1 else cv2.resize(crop.rgb, size, interpolation=cv2.INTER_AREA)
        mask = fine_mask if factor == 1 else cv2.resize(fine_mask, size, interpolation=cv2.INTER_AREA)
        lh, lw = img.shape[:2]
        levels.append(
            _Level(
                image=torch.tensor(img, dtype=_DTYPE),
                mask=torch.tensor(mask > 0.5),
                scale=torch.tensor(crop.scale * [lw / w, lh / h], dtype=_DTYPE),
                offset=torch.tensor(crop.offset, dtype=_DTYPE),
                order=torch.tensor(rng.permutation(lh * lw)),
            )
        )
    return levels


def _problem(
    model: MorphableModel,
    level: _Level,
    landmarks: np.ndarray,
    unit: float,
    principal: np.ndarray,
    focal0: float,
    config: FitConfig,
) -> EnergyProblem:
    def t(a: np.ndarray) -> torch.Tensor:
        return torch.tensor(np.asarray(a), dtype=_DTYPE)

    n = model.topology.vertices.shape[0]
    return EnergyProblem(
        mean_shape=t(model.topology.vertices),
        shape_basis=t(model.shape_basis),
        shape_std=t(model.shape_std),
        expression_basis=t(model.expression_basis),
        expression_std=t(model.expression_std),
        albedo_std=t(model.albedo_std),
        faces=torch.tensor(np.asarray(model.topology.faces), dtype=torch.int64),
        base_rotation=torch.eye(3, dtype=_DTYPE),
        principal_point=t(principal),
        image=level.image,
        image_scale=level.scale,
        image_offset=level.offset,
        landmark_vertices=torch.arange(n),
        landmarks=t(landmarks[:n, :2]),
        landmark_unit=unit,
        eye_contours=torch.tensor([groups.RIGHT_EYE, groups.LEFT_EYE], dtype=torch.int64),
        iris_landmarks=t(landmarks[[groups.RIGHT_IRIS_CENTER, groups.LEFT_IRIS_CENTER], :2]),
        eyeball_radius=config.eyeball_radius,
        eyeball_depth=config.eyeball_depth,
        gaze_std=config.gaze_std,
        log_focal_prior=torch.tensor(math.log(focal0), dtype=_DTYPE),
        focal_prior_sigma=config.focal_prior_sigma,
        light_prior=torch.tensor(sh_from_ambient(config.light_prior_irradiance), dtype=_DTYPE),
        light_prior_sigma=config.light_prior_sigma,
        w_color=config.w_color,
        w_landmark=config.w_landmark,
        w_reg=config.w_reg,
        w_focal=config.w_focal,
        w_light=config.w_light,
        landmark_depths=t(landmarks[:n, 2]),
        w_depth=config.w_landmark_depth,
    )


def _at_level(problem: EnergyProblem, level: _Level) -> EnergyProblem:
    return replace(problem, image=level.image, image_scale=level.scale, image_offset=level.offset)


def _albedo_stack(model: MorphableModel) -> torch.Tensor:
    """(r, r, (1 + K_al)·3): the albedo mean and modes as one multi-channel UV map."""
    stack = np.concatenate([model.albedo_mean[None], model.albedo_basis], axis=0)  # (1+K, r, r, 3)
    return torch.tensor(np.moveaxis(stack, 0, 2).reshape(*stack.shape[1:3], -1), dtype=_DTYPE)


# ------------------------------------------------------------------------------ samples & weights


def _colour_samples(
    params: FitParams,
    problem: EnergyProblem,
    level: _Level,
    albedo_stack: torch.Tensor,
    uvs: torch.Tensor,
    config: FitConfig,
    limit: int | None,
) -> ColourSamples:
    """Visible skin pixels of the current render at ``level`` as fixed surface samples."""
    with torch.no_grad():
        verts = camera_vertices(params, problem)
        focal = torch.exp(params.log_focal)
        xy = (focal * verts[:, :2] / verts[:, 2:3] + problem.principal_point - level.offset) * level.scale
        raster = rasterize(torch.cat([xy, verts[:, 2:3]], dim=1), problem.faces, level.size)
        tri = raster.triangle_id.reshape(-1)
        keep = (tri >= 0) & level.mask.reshape(-1)
        ranked = level.order[keep[level.order]]  # visible pixels in the level's fixed random order
        corners = problem.faces[tri[ranked]]
        bary = raster.barycentrics.reshape(-1, 3)[ranked]
        normals = vertex_normals(verts, problem.faces)
        n = (normals[corners] * bary[:, :, None]).sum(dim=1)
        n = n / n.norm(dim=1, keepdim=True).clamp(min=1e-12)
        points = (verts[corners] * bary[:, :, None]).sum(dim=1)
        facing = view_cosine(points, n) >= config.visibility.min_cos_view
        corners, bary = corners[facing], bary[facing]
        if limit is not None:
            corners, bary = corners[:limit], bary[:limit]
        if corners.shape[0] < _MIN_SAMPLES:
            raise FittingError(
                f"only {corners.shape[0]} visible skin pixels at {level.size[1]}×{level.size[0]}; "
                "the face is too small, hidden or turned away to fit"
            )
        uv = (uvs[corners] * bary[:, :, None]).sum(dim=1)
        basis = texture(albedo_stack, uv).reshape(corners.shape[0], -1, 3)
    p = corners.shape[0]
    return ColourSamples(
        corners=corners,
        barycentrics=bary,
        albedo_basis=basis,
        weights=torch.full((p,), 1.0 / p, dtype=_DTYPE),
    )


def robust_weights(errors: torch.Tensor, kind: RobustKind, scale: float) -> torch.Tensor:
    """IRLS weights of residual norms (the solver's robust loss).

    Parameters
    ----------
    errors : (P,) ≥ 0 RGB error norms.
    kind : ``"huber"`` (1 below ``scale``, scale / e above), ``"tukey"`` (biweight,
        (1 − (e/c)²)² below c = scale · 4.685 / 1.345, 0 above), or ``"none"`` (all 1).
    scale : threshold, RGB units in [0, 1].

    Returns
    -------
    (P,) weights in [0, 1], not normalised.
    """
    if kind == "none":
        return torch.ones_like(errors)
    if kind == "huber":
        return torch.where(errors <= scale, torch.ones_like(errors), scale / errors.clamp(min=1e-12))
    if kind == "tukey":
        c = scale * 4.685 / 1.345
        return torch.where(errors < c, (1.0 - (errors / c) ** 2) ** 2, torch.zeros_like(errors))
    raise ValueError(f"unknown robust function {kind!r}")


def _with_robust_weights(
    params: FitParams, problem: EnergyProblem, samples: ColourSamples, config: FitConfig
) -> ColourSamples:
    with torch.no_grad():
        observed, predicted = sample_colours(params, problem, samples)
        w = robust_weights((observed - predicted).norm(dim=1), config.robust, config.robust_scale)
    total = float(w.sum())
    if total <= 0.0:
        w = torch.ones_like(w)
        total = float(w.sum())
    return replace(samples, weights=w / total)


# ------------------------------------------------------------------------------ solves


def _lm_step(
    params: FitParams,
    problem: EnergyProblem,
    samples: ColourSamples | None,
    layout: ParameterLayout,
    damping: float,
) -> tuple[FitParams, EnergyProblem, float]:
    """One Levenberg–Marquardt step (Marquardt's diagonal scaling).

    Returns the new unknowns, the problem with the accepted rotation increment folded into
    its base rotation, and the new damping.
    """
    r, jac = linearize(params, problem, samples, layout)
    energy = float(r @ r)
    hessian = jac.T @ jac
    gradient = jac.T @ r
    diag = torch.diagonal(hessian)
    diag = diag.clamp(min=1e-12 * float(diag.max()) + 1e-30)
    for _ in range(_RETRIES):
        try:
            delta = torch.linalg.solve(hessian + torch.diag(damping * diag), -gradient)
        except RuntimeError:  # singular even with damping
            damping = min(damping * 10.0, _MAX_DAMPING)
            continue
        candidate = layout.apply(params, delta)
        with torch.no_grad():
            trial = residuals(candidate, problem, samples)
        new_energy = float(trial @ trial)
        if math.isfinite(new_energy) and new_energy < energy and _in_front(candidate, problem):
            base = rodrigues(candidate.rotation) @ problem.base_rotation
            folded = replace(problem, base_rotation=base)
            candidate = candidate._replace(rotation=torch.zeros_like(candidate.rotation))
            return candidate, folded, max(damping / 3.0, _MIN_DAMPING)
        damping = min(damping * 10.0, _MAX_DAMPING)
    return params, problem, damping


def _solve_lighting(params: FitParams, problem: EnergyProblem, samples: ColourSamples) -> torch.Tensor:
    """SH lighting (9, 3) minimising w_c·E_c + w_light·E_light given albedo and geometry.

    The model colour is linear in the lighting, so this is a weighted least-squares problem per
    colour channel.
    """
    with torch.no_grad():
        observed, albedo, normals = _appearance_inputs(params, problem, samples)
        basis = sh_basis(normals)  # (P, 9)
        w = problem.w_color * samples.weights[:, None]
        prior = problem.w_light / problem.light_prior_sigma**2
        out = torch.empty(9, 3, dtype=_DTYPE)
        for c in range(3):
            a = basis * albedo[:, c : c + 1]
            lhs = a.T @ (a * w) + (prior + 1e-12) * torch.eye(9, dtype=_DTYPE)
            rhs = a.T @ (observed[:, c : c + 1] * w) + prior * problem.light_prior[:, c : c + 1]
            out[:, c] = torch.linalg.solve(lhs, rhs)[:, 0]
    return out


def _solve_albedo(params: FitParams, problem: EnergyProblem, samples: ColourSamples) -> torch.Tensor:
    """Albedo coefficients (K_al,) minimising w_c·E_c + w_reg·Σ(α/σ)² given lighting and geometry."""
    with torch.no_grad():
        observed, _, normals = _appearance_inputs(params, problem, samples)
        shading = sh_basis(normals) @ params.sh  # (P, 3)
        modes = samples.albedo_basis[:, 1:] * shading[:, None, :]  # (P, K, 3)
        target = observed - samples.albedo_basis[:, 0] * shading  # (P, 3)
        w = problem.w_color * samples.weights[:, None, None]
        lhs = torch.einsum("pkc,plc->kl", modes * w, modes)
        rhs = torch.einsum("pkc,pc->k", modes * w, target)
        lhs = lhs + torch.diag(problem.w_reg / problem.albedo_std**2)
        return torch.linalg.solve(lhs, rhs)


def _appearance_inputs(
    params: FitParams, problem: EnergyProblem, samples: ColourSamples
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Observed colours (P, 3), current albedo (P, 3) and unit normals (P, 3) at the samples."""
    pixels, normals = surface_points(params, problem, samples)
    return sample_image(problem.image, pixels), sample_albedo(params, samples), normals


def _in_front(params: FitParams, problem: EnergyProblem) -> bool:
    with torch.no_grad():
        return bool((camera_vertices(params, problem)[:, 2] > 1.0).all())


def _check_in_front(params: FitParams, problem: EnergyProblem) -> None:
    if not _in_front(params, problem) or not all(bool(torch.isfinite(t).all()) for t in params):
        raise FittingError("the fit left the valid range (the face would be behind the camera)")
