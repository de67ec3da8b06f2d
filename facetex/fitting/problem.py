"""What the §3 energy is a function of: the unknowns and the constants of one solve.

:class:`FitParams` holds the unknowns, :class:`EnergyProblem` the constants of one pyramid
level, :class:`ColourSamples` the surface samples of E_c (held fixed during one Gauss-Newton
step). :class:`ParameterLayout` is the only place the unknowns become one vector, the one the
normal equations solve for. Units are given in :mod:`facetex.fitting.config`; the fit computes
in ``DTYPE`` (float64).

The rotation is parameterised by an increment: R = exp([δ]×) · R₀ with R₀
(``EnergyProblem.base_rotation``) the current estimate. The solver linearises at δ = 0 and
folds each accepted δ into R₀, so the rotation never meets the singularities of a global
parameterisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import torch

__all__ = ["DTYPE", "GEOMETRY_FIELDS", "ColourSamples", "EnergyProblem", "FitParams", "ParameterLayout"]

#: The float type of the fit.
DTYPE = torch.float64


class FitParams(NamedTuple):
    """The unknowns of the §3 energy (a pytree of tensors for ``torch.func``).

    Attributes
    ----------
    shape : (K_id,) identity coefficients.
    expression : (K_ex,) expression coefficients.
    rotation : (3,) axis-angle δ (radians, camera frame) of a rotation applied on the left of
        ``EnergyProblem.base_rotation``: R = rodrigues(δ) · R₀ maps model → camera.
    translation : (3,) cm, camera frame.
    log_focal : () natural log of the focal length in pixels of the full-resolution photo.
    gaze : (2,) yaw and pitch (radians) of both eyeballs, in the model frame, relative to
        looking along its +z axis (see :func:`facetex.fitting.eyes.pupil_points`).
    sh : (9, 3) SH lighting coefficients (layout of :mod:`facetex.types`).
    albedo : (K_al,) albedo coefficients.
    """

    shape: torch.Tensor
    expression: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor
    log_focal: torch.Tensor
    gaze: torch.Tensor
    sh: torch.Tensor
    albedo: torch.Tensor


@dataclass(frozen=True)
class ColourSamples:
    """Surface points that enter E_c in one Gauss-Newton step (held fixed during the step).

    Attributes
    ----------
    corners : (P, 3) int64 vertex indices of each sample's triangle.
    barycentrics : (P, 3) float, weights of those vertices (sum 1).
    albedo_basis : (P, 1 + K_al, 3) float, the albedo mean and modes at each sample's UV.
    weights : (P,) float ≥ 0, IRLS robust weight of each sample, normalised to sum to 1.
    """

    corners: torch.Tensor
    barycentrics: torch.Tensor
    albedo_basis: torch.Tensor
    weights: torch.Tensor


@dataclass(frozen=True)
class EnergyProblem:
    """Everything the residuals depend on besides the unknowns (one pyramid level).

    Attributes
    ----------
    mean_shape : (V, 3) model-frame mean vertices (cm).
    shape_basis, expression_basis : (K, V, 3).
    shape_std, expression_std, albedo_std : (K,).
    faces : (F, 3) int64.
    base_rotation : (3, 3) R₀, the model → camera rotation that ``FitParams.rotation`` moves.
    principal_point : (2,) pixels of the full-resolution photo.
    image : (h, w, 3) photo (or a crop of it) at this pyramid level, [0, 1].
    image_scale : (2,) (sx, sy): level pixels per full-resolution pixel along x and y.
    image_offset : (2,) full-resolution pixel position of the level image's origin (the
        crop's top-left corner): level pixel = (photo pixel − offset) · scale.
    landmark_vertices : (L,) int64 mesh vertex of each landmark.
    landmarks : (L, 2) detected landmark positions, full-resolution pixels.
    landmark_unit : float, the inter-ocular distance in full-resolution pixels (E_lan unit).
    eye_contours : (2, C) int64, the vertices around the subject's right and left eye openings.
    iris_landmarks : (2, 2) detected iris centres (right, left), full-resolution pixels; they
        enter E_lan as two more landmarks, matched by the fitted pupils.
    eyeball_radius : float, cm. eyeball_depth : float, cm, how far the eyeball's centre lies
        behind the centroid of its eye contour (along the model's −z).
    gaze_std : float, prior standard deviation of each gaze angle (radians), in E_reg.
    log_focal_prior : () log of the prior focal length.
    focal_prior_sigma : float.
    light_prior : (9, 3) prior mean of the SH lighting.
    light_prior_sigma : float, its standard deviation (per coefficient).
    face_irradiance_basis : (9,) or None, the mean SH basis over the face's visible normals b̄:
        b̄ · L is the light's mean irradiance over the face, the one quantity that trades
        against the albedo's brightness at no change of the render. With it the prior holds
        b̄ · mean_c(L − L̄) within ``face_irradiance_sigma`` (weight ``w_light``), on top of the
        per-coefficient prior.
    face_irradiance_sigma : float, that term's standard deviation (irradiance units).
    w_color, w_landmark, w_reg, w_focal, w_light : weights of the terms.
    landmark_depths : (L,) detected depth of each landmark (mediapipe's z: full-resolution
        pixel units, smaller is closer), or None; with ``w_depth`` > 0 they enter E_depth.
    w_depth : weight of E_depth (0: no depth rows in the residual vector).
    landmark_barycentrics : None (the default): landmark i is the vertex
        ``landmark_vertices[i]``. Otherwise (L, 3): ``landmark_vertices`` is (L, 3) too and
        landmark i is the surface point Σ_k barycentrics[i, k] · vertex[landmark_vertices[i, k]]
        (a mesh that is not mediapipe's, :class:`facetex.types.LandmarkMap`).
    landmark_weights : (L,) weight of each mesh landmark in E_lan (its rows are multiplied by
        the weight's root), or None: all 1. The pupils always weigh 1.
    depth_weights : (L,) the same for E_depth, or None: all 1.
    expression_l1 : (K_ex,) or None. When given, the expression prior is sparse: E_reg holds
        Σ_k expression_l1[k] / w_reg · |α_ex,k| instead of a square (``expression_std`` is then
        ∞, so the expression rows of :func:`~facetex.fitting.energy.residuals` are 0), and
        the Levenberg–Marquardt step adds this linear term to the residuals' squares.
    expression_range : (low, high) bounds each Levenberg–Marquardt step projects the
        expression coefficients onto, or None.
    """

    mean_shape: torch.Tensor
    shape_basis: torch.Tensor
    shape_std: torch.Tensor
    expression_basis: torch.Tensor
    expression_std: torch.Tensor
    albedo_std: torch.Tensor
    faces: torch.Tensor
    base_rotation: torch.Tensor
    principal_point: torch.Tensor
    image: torch.Tensor
    image_scale: torch.Tensor
    image_offset: torch.Tensor
    landmark_vertices: torch.Tensor
    landmarks: torch.Tensor
    landmark_unit: float
    eye_contours: torch.Tensor
    iris_landmarks: torch.Tensor
    eyeball_radius: float
    eyeball_depth: float
    gaze_std: float
    log_focal_prior: torch.Tensor
    focal_prior_sigma: float
    light_prior: torch.Tensor
    light_prior_sigma: float
    w_color: float
    w_landmark: float
    w_reg: float
    w_focal: float
    w_light: float
    landmark_depths: torch.Tensor | None = None
    w_depth: float = 0.0
    landmark_barycentrics: torch.Tensor | None = None
    landmark_weights: torch.Tensor | None = None
    depth_weights: torch.Tensor | None = None
    expression_l1: torch.Tensor | None = None
    expression_range: tuple[float, float] | None = None
    face_irradiance_basis: torch.Tensor | None = None
    face_irradiance_sigma: float = 1.0

    @property
    def uses_depth(self) -> bool:
        return self.w_depth > 0 and self.landmark_depths is not None

    @property
    def face_irradiance_gradient(self) -> torch.Tensor | None:
        """(27,) g with g · (L − L̄).reshape(-1) = b̄ · mean_c(L − L̄) / ``face_irradiance_sigma``,
        the face-irradiance prior's residual (before √w_light); None without that prior."""
        if self.face_irradiance_basis is None:
            return None
        return (self.face_irradiance_basis[:, None] / 3.0).expand(9, 3).reshape(27) / self.face_irradiance_sigma


#: Unknowns of the geometry: they move the mesh or the pupils, or change the projection.
GEOMETRY_FIELDS = ("shape", "expression", "rotation", "translation", "log_focal", "gaze")


@dataclass(frozen=True)
class ParameterLayout:
    """Which unknowns are free in a solve, and which columns of the Jacobian each one owns.

    This is the only place the unknowns become one vector: the Gauss-Newton normal equations
    need it. ``names`` follow the field order of :class:`FitParams`.

    Attributes
    ----------
    names : the free fields.
    shapes : the shape of each free field.
    """

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, params: FitParams, free: tuple[str, ...]) -> ParameterLayout:
        unknown = set(free) - set(FitParams._fields)
        if unknown:
            raise ValueError(f"unknown parameter names {sorted(unknown)}")
        names = tuple(n for n in FitParams._fields if n in free)
        return cls(names=names, shapes=tuple(tuple(getattr(params, n).shape) for n in names))

    @cached_property
    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for name, shape in zip(self.names, self.shapes):
            size = math.prod(shape)
            out[name] = slice(start, start + size)
            start += size
        return out

    @property
    def size(self) -> int:
        return max((s.stop for s in self.slices.values()), default=0)

    def apply(self, params: FitParams, delta: torch.Tensor) -> FitParams:
        """``params`` with each free field moved by its part of ``delta`` (size,)."""
        updates = {
            name: getattr(params, name) + delta[self.slices[name]].reshape(shape)
            for name, shape in zip(self.names, self.shapes)
        }
        return params._replace(**updates)
