"""The starting point of the §3 fit: the E_lan unit, the pose, the unknowns and the constants.

The pose comes from the landmarks: a weighted 3D similarity (Umeyama) between the mean shape's
landmarks and the detected ones — on mediapipe's mesh the first V detected landmarks correspond
1:1 to the mesh vertices; on another mesh its :class:`facetex.types.LandmarkMap` places them
(the similarity absorbs the other mesh's origin); the focal length starts at ``focal_init`` ×
the photo's long side, the depth from the similarity's scale.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from facetex.detect import landmarks as groups
from facetex.fitting.config import FitConfig
from facetex.fitting.problem import DTYPE, EnergyProblem, FitParams
from facetex.fitting.pyramid import Level
from facetex.geometry.sh import sh_from_ambient
from facetex.types import LandmarkMap, MorphableModel

__all__ = ["build_problem", "initial_params", "initial_pose", "inter_ocular_distance", "map_points"]


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


def initial_params(
    model: MorphableModel,
    problem: EnergyProblem,
    landmarks: np.ndarray,
    focal0: float,
    config: FitConfig,
    sh_coeffs: np.ndarray | None,
) -> tuple[FitParams, EnergyProblem]:
    """Mean shape and albedo, neutral expression, straight gaze, pose from the landmarks, the
    lighting ``sh_coeffs`` or else the lighting prior's mean (``problem.light_prior``)."""
    principal = problem.principal_point.numpy()
    landmark_map = model.topology.landmark_map
    if landmark_map is None:
        n = model.topology.vertices.shape[0]
        rotation, translation = initial_pose(
            model.topology.vertices, landmarks[:n], model.topology.landmark_weights, focal0, principal
        )
    else:
        points = map_points(model.topology.vertices, landmark_map)
        rotation, translation = initial_pose(
            points, landmarks[: landmark_map.size], landmark_map.rigid_weights, focal0, principal
        )
    lighting = problem.light_prior.numpy() if sh_coeffs is None else np.asarray(sh_coeffs)
    params = FitParams(
        shape=torch.zeros(model.shape_basis.shape[0], dtype=DTYPE),
        expression=torch.zeros(model.expression_basis.shape[0], dtype=DTYPE),
        rotation=torch.zeros(3, dtype=DTYPE),
        translation=torch.tensor(translation, dtype=DTYPE),
        log_focal=torch.tensor(math.log(focal0), dtype=DTYPE),
        gaze=torch.zeros(2, dtype=DTYPE),
        sh=torch.tensor(lighting, dtype=DTYPE),
        albedo=torch.zeros(model.albedo_basis.shape[0], dtype=DTYPE),
    )
    return params, replace(problem, base_rotation=torch.tensor(rotation, dtype=DTYPE))


def build_problem(
    model: MorphableModel,
    level: Level,
    landmarks: np.ndarray,
    unit: float,
    principal: np.ndarray,
    focal0: float,
    config: FitConfig,
) -> EnergyProblem:
    """The constants of the energy at ``level``, from the model, the 478 landmarks and ``config``."""

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.tensor(np.asarray(a), dtype=DTYPE)

    landmark_map = model.topology.landmark_map
    n = model.topology.vertices.shape[0] if landmark_map is None else landmark_map.size
    if landmark_map is None:
        landmark_vertices, barycentrics = torch.arange(n), None
        eye_contours = torch.tensor([groups.RIGHT_EYE, groups.LEFT_EYE], dtype=torch.int64)
        weights = depth_weights = None
    else:
        landmark_vertices = torch.tensor(landmark_map.vertices, dtype=torch.int64)
        barycentrics = t(landmark_map.barycentrics)
        # the eyeballs sit behind the mesh vertex nearest each eye-contour landmark
        nearest = landmark_map.vertices[np.arange(n), np.argmax(landmark_map.barycentrics, axis=1)]
        eye_contours = torch.tensor(nearest[[groups.RIGHT_EYE, groups.LEFT_EYE]], dtype=torch.int64)
        weights = torch.ones(n, dtype=DTYPE)
        depth_weights = torch.ones(n, dtype=DTYPE)
        depth_weights[torch.as_tensor(landmark_map.contour)] = 0.0  # a sliding point has no fixed depth
    expression_std, expression_l1 = t(model.expression_std), None
    if model.expression_prior == "laplace":
        expression_l1 = config.w_reg / expression_std
        expression_std = torch.full_like(expression_std, math.inf)
    return EnergyProblem(
        mean_shape=t(model.topology.vertices),
        shape_basis=t(model.shape_basis),
        shape_std=t(model.shape_std),
        expression_basis=t(model.expression_basis),
        expression_std=expression_std,
        albedo_std=t(model.albedo_std),
        faces=torch.tensor(np.asarray(model.topology.faces), dtype=torch.int64),
        base_rotation=torch.eye(3, dtype=DTYPE),
        principal_point=t(principal),
        image=level.image,
        image_scale=level.scale,
        image_offset=level.offset,
        landmark_vertices=landmark_vertices,
        landmarks=t(landmarks[:n, :2]),
        landmark_unit=unit,
        eye_contours=eye_contours,
        iris_landmarks=t(landmarks[[groups.RIGHT_IRIS_CENTER, groups.LEFT_IRIS_CENTER], :2]),
        eyeball_radius=config.eyeball_radius,
        eyeball_depth=config.eyeball_depth,
        gaze_std=config.gaze_std,
        log_focal_prior=torch.tensor(math.log(focal0), dtype=DTYPE),
        focal_prior_sigma=config.focal_prior_sigma,
        light_prior=torch.tensor(sh_from_ambient(config.light_prior_irradiance), dtype=DTYPE),
        light_prior_sigma=config.light_prior_sigma,
        w_color=config.w_color,
        w_landmark=config.w_landmark,
        w_reg=config.w_reg,
        w_focal=config.w_focal,
        w_light=config.w_light,
        landmark_depths=t(landmarks[:n, 2]),
        w_depth=config.w_landmark_depth,
        landmark_barycentrics=barycentrics,
        landmark_weights=weights,
        depth_weights=depth_weights,
        expression_l1=expression_l1,
        expression_range=model.expression_range,
    )


def map_points(vertices: np.ndarray, landmark_map: LandmarkMap) -> np.ndarray:
    """(L, 3) the landmarks of ``landmark_map`` on mesh vertices (V, 3)."""
    return (np.asarray(vertices)[landmark_map.vertices] * landmark_map.barycentrics[:, :, None]).sum(axis=1)
