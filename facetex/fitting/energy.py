"""The fitting energy of paper §3 as a vector of residuals, in PyTorch.

    E = w_c·E_c + w_lan·E_lan + w_reg·E_reg   (+ a landmark depth term and weak focal-length
                                              and lighting priors, see :mod:`facetex.fitting.config`)

Every term is written as a sum of squares, E = Σ r², so that Gauss-Newton can linearise the
residual vector r (``solver``). Units are given in :mod:`facetex.fitting.config`.

E_c is evaluated on *surface samples*: each visible face pixel of the current render becomes a
fixed point on the mesh (a triangle and barycentric weights, chosen by the rasterizer at the
start of a Gauss-Newton step); the residual is the photo, bilinearly sampled where that point
projects, minus the model colour there, albedo × SH shading. With the samples fixed the
residuals are smooth (piecewise, through the bilinear image lookup) in every unknown;
visibility is re-evaluated at each step.

:func:`residuals` is the definition of the energy. :func:`linearize` returns the same residuals
and their Jacobian, with the chain rule written out: vertex positions and normals against
shape, expression and pose, then per sample the projection, the bilinear image gradient, the
SH basis and the albedo. Written out it is several times faster than ``torch.func.jacfwd`` of
:func:`residuals` (``docs/design.md#fitting``); the tests check that the two agree to rounding
error.

The rotation is parameterised by an increment: R = exp([δ]×) · R₀ with R₀
(``EnergyProblem.base_rotation``) the current estimate. The solver linearises at δ = 0 and
folds each accepted δ into R₀, so the rotation never meets the singularities of a global
parameterisation.

:func:`residuals` and its helpers are pure and work under ``torch.func`` transforms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import torch

from facetex.geometry.camera import project, rodrigues, vertex_normals
from facetex.geometry.sh import SH_CONSTANTS, sh_basis

__all__ = [
    "FitParams",
    "ColourSamples",
    "EnergyProblem",
    "ParameterLayout",
    "GEOMETRY_FIELDS",
    "camera_vertices",
    "gaze_direction",
    "pupil_points",
    "sample_image",
    "surface_points",
    "sample_albedo",
    "sample_colours",
    "residuals",
    "energy_terms",
    "linearize",
]


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
        looking along its +z axis (see :func:`pupil_points`).
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
    w_color, w_landmark, w_reg, w_focal, w_light : weights of the terms.
    landmark_depths : (L,) detected depth of each landmark (mediapipe's z: full-resolution
        pixel units, smaller is closer), or None; with ``w_depth`` > 0 they enter E_depth.
    w_depth : weight of E_depth (0: no depth rows in the residual vector).
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

    @property
    def uses_depth(self) -> bool:
        return self.w_depth > 0 and self.landmark_depths is not None


# ------------------------------------------------------------------------------ geometry


def camera_vertices(params: FitParams, problem: EnergyProblem) -> torch.Tensor:
    """Fitted vertices in the camera frame (cm): (V, 3), ``R·X_model + t``."""
    model = (
        problem.mean_shape
        + torch.einsum("k,kvc->vc", params.shape, problem.shape_basis)
        + torch.einsum("k,kvc->vc", params.expression, problem.expression_basis)
    )
    return model @ (rodrigues(params.rotation) @ problem.base_rotation).T + params.translation


def gaze_direction(gaze: torch.Tensor) -> torch.Tensor:
    """Unit gaze vector (3,) in the model frame: yaw turns towards +x, pitch towards +y (up)."""
    yaw, pitch = gaze[0], gaze[1]
    return torch.stack([torch.sin(yaw) * torch.cos(pitch), torch.sin(pitch), torch.cos(yaw) * torch.cos(pitch)])


def pupil_points(params: FitParams, problem: EnergyProblem, verts: torch.Tensor) -> torch.Tensor:
    """Fitted pupil centres in the camera frame (2, 3): right eye, left eye (cm).

    Each eyeball is a sphere of radius ``eyeball_radius`` centred ``eyeball_depth`` behind the
    centroid of its eye contour; the pupil is where the gaze direction leaves the sphere. Both
    eyes share the gaze (they move together), which the iris landmarks determine.

    Parameters
    ----------
    verts : (V, 3) camera-frame vertices of ``params`` (:func:`camera_vertices`).
    """
    rotation = rodrigues(params.rotation) @ problem.base_rotation
    return verts[problem.eye_contours].mean(dim=1) + _pupil_offset(params, problem) @ rotation.T


def _pupil_offset(params: FitParams, problem: EnergyProblem) -> torch.Tensor:
    """Model-frame vector (3,) from an eye contour's centroid to its pupil."""
    back = torch.tensor([0.0, 0.0, problem.eyeball_depth], dtype=params.gaze.dtype)
    return problem.eyeball_radius * gaze_direction(params.gaze) - back


def sample_image(image: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup of an image at continuous pixel positions (clamped at the border).

    Parameters
    ----------
    image : (h, w, C); pixel (i, j) has its centre at (j + 0.5, i + 0.5).
    xy : (N, 2) positions (x right, y down).

    Returns
    -------
    (N, C), differentiable in ``xy`` (piecewise linear) and ``image``.
    """
    return _bilinear(image, xy)[0]


def _bilinear(image: torch.Tensor, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear lookup and its gradient: values (N, C) and d value / d (x, y) as (N, C, 2).

    Outside the band of pixel centres the position is clamped, so the gradient there is 0.
    """
    h, w = image.shape[0], image.shape[1]
    x_raw = xy[:, 0] - 0.5
    y_raw = xy[:, 1] - 0.5
    x = x_raw.clamp(0.0, w - 1.0)
    y = y_raw.clamp(0.0, h - 1.0)
    x0 = torch.floor(x).detach().clamp(max=max(w - 2, 0))
    y0 = torch.floor(y).detach().clamp(max=max(h - 2, 0))
    fx = (x - x0)[:, None]
    fy = (y - y0)[:, None]
    i0, j0 = y0.long(), x0.long()
    i1, j1 = (i0 + 1).clamp(max=h - 1), (j0 + 1).clamp(max=w - 1)
    flat = image.reshape(h * w, -1)
    v00, v01 = flat[i0 * w + j0], flat[i0 * w + j1]
    v10, v11 = flat[i1 * w + j0], flat[i1 * w + j1]
    value = (v00 * (1 - fx) + v01 * fx) * (1 - fy) + (v10 * (1 - fx) + v11 * fx) * fy
    inside_x = ((x_raw >= 0.0) & (x_raw <= w - 1.0)).to(image.dtype)[:, None]
    inside_y = ((y_raw >= 0.0) & (y_raw <= h - 1.0)).to(image.dtype)[:, None]
    gx = ((v01 - v00) * (1 - fy) + (v11 - v10) * fy) * inside_x
    gy = ((v10 - v00) * (1 - fx) + (v11 - v01) * fx) * inside_y
    return value, torch.stack([gx, gy], dim=-1)


def surface_points(
    params: FitParams, problem: EnergyProblem, samples: ColourSamples
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each surface sample lands in the level image, and its normal.

    Returns
    -------
    pixels : (P, 2) continuous pixel positions in the level image.
    normals : (P, 3) unit normals, camera frame (barycentric blend of vertex normals).
    """
    verts = camera_vertices(params, problem)
    normals = vertex_normals(verts, problem.faces)
    bary = samples.barycentrics[:, :, None]
    points = (verts[samples.corners] * bary).sum(dim=1)
    normal = (normals[samples.corners] * bary).sum(dim=1)
    normal = normal / normal.norm(dim=1, keepdim=True).clamp(min=1e-12)
    photo_xy = project(points, torch.exp(params.log_focal), problem.principal_point)
    return (photo_xy - problem.image_offset) * problem.image_scale, normal


def sample_albedo(params: FitParams, samples: ColourSamples) -> torch.Tensor:
    """Model albedo I(α_al) at each sample: (P, 3)."""
    return samples.albedo_basis[:, 0] + torch.einsum("k,pkc->pc", params.albedo, samples.albedo_basis[:, 1:])


def sample_colours(
    params: FitParams, problem: EnergyProblem, samples: ColourSamples
) -> tuple[torch.Tensor, torch.Tensor]:
    """Photo colour and model colour at each surface sample.

    Returns
    -------
    observed : (P, 3) the level image bilinearly sampled where each sample projects.
    predicted : (P, 3) albedo × SH shading (Lambertian, paper §3).
    """
    pixels, normal = surface_points(params, problem, samples)
    observed = sample_image(problem.image, pixels)
    shading = sh_basis(normal) @ params.sh  # (P, 9) @ (9, 3)
    return observed, sample_albedo(params, samples) * shading


def residuals(
    params: FitParams,
    problem: EnergyProblem,
    samples: ColourSamples | None,
) -> torch.Tensor:
    """The residual vector r with E = Σ r² (module doc).

    Parameters
    ----------
    params : current unknowns.
    problem : constants of this pyramid level.
    samples : surface samples of E_c, or None for the landmark-only stage (E_c dropped).

    Returns
    -------
    (N,) tensor: colour (3P), landmark (2L for the mesh landmarks, then 4 for the two iris
    centres), identity, expression, albedo and gaze prior, focal prior, lighting prior (27).
    """
    parts = []
    if samples is not None:
        observed, predicted = sample_colours(params, problem, samples)
        scale = torch.sqrt(problem.w_color * samples.weights)[:, None]
        parts.append(((observed - predicted) * scale).reshape(-1))
    points, targets = _landmark_points(params, problem)
    lan_scale = (problem.w_landmark / targets.shape[0]) ** 0.5 / problem.landmark_unit
    landmark_xy = project(points, torch.exp(params.log_focal), problem.principal_point)
    parts.append(((landmark_xy - targets) * lan_scale).reshape(-1))
    if problem.uses_depth:
        parts.append(_depth_residuals(params, problem, camera_vertices(params, problem)))
    reg = problem.w_reg**0.5
    parts.append(reg * params.shape / problem.shape_std)
    parts.append(reg * params.expression / problem.expression_std)
    parts.append(reg * params.albedo / problem.albedo_std)
    parts.append(reg * params.gaze / problem.gaze_std)
    focal = problem.w_focal**0.5 * (params.log_focal - problem.log_focal_prior) / problem.focal_prior_sigma
    parts.append(focal.reshape(1))
    light = problem.w_light**0.5 * (params.sh - problem.light_prior) / problem.light_prior_sigma
    parts.append(light.reshape(-1))
    return torch.cat(parts)


def _depth_residuals(params: FitParams, problem: EnergyProblem, verts: torch.Tensor) -> torch.Tensor:
    """(L,) rows of E_depth: √(w_depth / L) · (f·(Z_i − Z̄)/Z̄ − (z_i − z̄)) / landmark_unit."""
    z_model = verts[problem.landmark_vertices, 2]
    z_mean = z_model.mean()
    detected = problem.landmark_depths - problem.landmark_depths.mean()
    scale = (problem.w_depth / z_model.shape[0]) ** 0.5 / problem.landmark_unit
    return scale * (torch.exp(params.log_focal) * (z_model - z_mean) / z_mean - detected)


def _landmark_points(params: FitParams, problem: EnergyProblem) -> tuple[torch.Tensor, torch.Tensor]:
    """Model points (L + 2, 3), camera frame, and their detected positions (L + 2, 2): the mesh
    landmark vertices, then the two pupils."""
    verts = camera_vertices(params, problem)
    points = torch.cat([verts[problem.landmark_vertices], pupil_points(params, problem, verts)])
    return points, torch.cat([problem.landmarks, problem.iris_landmarks])


def energy_terms(
    params: FitParams, problem: EnergyProblem, samples: ColourSamples | None
) -> dict[str, float]:
    """Each term of the energy separately, unweighted (E_c, E_lan, E_reg) and the weighted total.

    Returns
    -------
    dict with keys ``E_c`` (0 when ``samples`` is None), ``E_lan``, ``E_reg``, ``E_focal``,
    ``E_depth`` (0 without depth), ``E_light`` and ``E`` = w_c·E_c + w_lan·E_lan + w_depth·E_depth
    + w_reg·E_reg + w_focal·E_focal + w_light·E_light.
    """
    with torch.no_grad():
        e_c = 0.0
        if samples is not None:
            observed, predicted = sample_colours(params, problem, samples)
            e_c = float((samples.weights[:, None] * (observed - predicted) ** 2).sum())
        points, targets = _landmark_points(params, problem)
        xy = project(points, torch.exp(params.log_focal), problem.principal_point)
        e_lan = float((((xy - targets) / problem.landmark_unit) ** 2).sum(dim=1).mean())
        e_depth = 0.0
        if problem.uses_depth:
            rows = _depth_residuals(params, problem, camera_vertices(params, problem))
            e_depth = float((rows**2).sum()) / problem.w_depth
        e_reg = float(
            ((params.shape / problem.shape_std) ** 2).sum()
            + ((params.expression / problem.expression_std) ** 2).sum()
            + ((params.albedo / problem.albedo_std) ** 2).sum()
            + ((params.gaze / problem.gaze_std) ** 2).sum()
        )
        e_focal = float(((params.log_focal - problem.log_focal_prior) / problem.focal_prior_sigma) ** 2)
        e_light = float((((params.sh - problem.light_prior) / problem.light_prior_sigma) ** 2).sum())
    total = (
        problem.w_color * e_c
        + problem.w_landmark * e_lan
        + problem.w_depth * e_depth
        + problem.w_reg * e_reg
        + problem.w_focal * e_focal
        + problem.w_light * e_light
    )
    return {"E_c": e_c, "E_lan": e_lan, "E_depth": e_depth, "E_reg": e_reg, "E_focal": e_focal, "E_light": e_light,
            "E": total}


# ------------------------------------------------------------------------------ linearisation

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


def linearize(
    params: FitParams,
    problem: EnergyProblem,
    samples: ColourSamples | None,
    layout: ParameterLayout,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Residuals and their Jacobian with respect to the free unknowns.

    Parameters
    ----------
    params : the linearisation point; ``params.rotation`` must be zero (fold it into
        ``problem.base_rotation`` first, as the solver does).
    problem, samples : as :func:`residuals`.
    layout : the free unknowns and their columns.

    Returns
    -------
    r : (N,) the residual vector of :func:`residuals` (same rows).
    jacobian : (N, layout.size) dr / d(free unknowns), columns as ``layout.slices``.

    Raises
    ------
    ValueError
        If ``params.rotation`` is not zero.
    """
    if bool((params.rotation != 0).any()):
        raise ValueError("linearize needs params.rotation == 0; fold it into problem.base_rotation")
    dtype = params.translation.dtype
    cols = layout.slices
    n_cols = layout.size
    moving = tuple(n for n in layout.names if n in GEOMETRY_FIELDS and n != "log_focal")
    verts, normals, j_verts, j_normals = _vertex_jacobians(params, problem, moving)
    moving_cols = [cols[n] for n in moving]
    focal = torch.exp(params.log_focal)

    def place(block: torch.Tensor) -> torch.Tensor:
        """Scatter per-geometry-column derivatives (rows, n_moving) into full Jacobian columns."""
        full = block.new_zeros(block.shape[0], n_cols)
        start = 0
        for sl in moving_cols:
            width = sl.stop - sl.start
            full[:, sl] = block[:, start : start + width]
            start += width
        return full

    def projection_derivative(points: torch.Tensor, j_points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """d(f·(X, Y)/Z) / d geometry (M, 2, n) and d / d log f (M, 2)."""
        z = points[:, 2:3]
        d_xy = focal * (j_points[:, :2] / z[:, :, None] - points[:, :2, None] * j_points[:, 2:3] / (z * z)[:, :, None])
        return d_xy, focal * points[:, :2] / z

    blocks_r, blocks_j = [], []
    if samples is not None:
        bary = samples.barycentrics
        p = bary.shape[0]
        points = torch.einsum("pi,pic->pc", bary, verts[samples.corners])
        j_points = torch.einsum("pi,picn->pcn", bary, j_verts[samples.corners])
        m = torch.einsum("pi,pic->pc", bary, normals[samples.corners])
        j_m = torch.einsum("pi,picn->pcn", bary, j_normals[samples.corners])
        m_len = m.norm(dim=1, keepdim=True).clamp(min=1e-12)
        n = m / m_len
        j_n = (j_m - n[:, :, None] * torch.einsum("pc,pcn->pn", n, j_m)[:, None, :]) / m_len[:, :, None]
        scale = problem.image_scale
        pixels = (focal * points[:, :2] / points[:, 2:3] + problem.principal_point - problem.image_offset) * scale
        observed, grad = _bilinear(problem.image, pixels)  # (P, 3), (P, 3, 2)
        d_xy, d_xy_logf = projection_derivative(points, j_points)
        d_uv = d_xy * scale[None, :, None]
        basis = sh_basis(n)  # (P, 9)
        shading = basis @ params.sh  # (P, 3)
        albedo = sample_albedo(params, samples)
        sqrt_w = torch.sqrt(problem.w_color * samples.weights)[:, None]  # (P, 1)
        blocks_r.append(((observed - albedo * shading) * sqrt_w).reshape(-1))

        d_shading = torch.einsum("pkd,kc,pdn->pcn", _sh_basis_gradient(n), params.sh, j_n)
        d_geo = (torch.einsum("pcx,pxn->pcn", grad, d_uv) - albedo[:, :, None] * d_shading) * sqrt_w[:, :, None]
        colour_j = place(d_geo.reshape(3 * p, -1))
        if "log_focal" in cols:
            d_f = torch.einsum("pcx,px->pc", grad, d_xy_logf * scale) * sqrt_w
            colour_j[:, cols["log_focal"]] = d_f.reshape(-1, 1)
        if "sh" in cols:
            eye = torch.eye(3, dtype=dtype)
            d_sh = -(sqrt_w * albedo)[:, :, None, None] * basis[:, None, :, None] * eye[:, None, :][None]
            colour_j[:, cols["sh"]] = d_sh.reshape(3 * p, 27)
        if "albedo" in cols:
            d_al = -(samples.albedo_basis[:, 1:] * (shading * sqrt_w)[:, None, :]).permute(0, 2, 1)
            colour_j[:, cols["albedo"]] = d_al.reshape(3 * p, -1)
        blocks_j.append(colour_j)

    idx = problem.landmark_vertices
    pupils, j_pupils = _pupil_jacobian(params, problem, verts, j_verts, moving)
    lan_points = torch.cat([verts[idx], pupils])
    targets = torch.cat([problem.landmarks, problem.iris_landmarks])
    lan_xy = focal * lan_points[:, :2] / lan_points[:, 2:3] + problem.principal_point
    lan_scale = (problem.w_landmark / targets.shape[0]) ** 0.5 / problem.landmark_unit
    blocks_r.append(((lan_xy - targets) * lan_scale).reshape(-1))
    d_xy, d_xy_logf = projection_derivative(lan_points, torch.cat([j_verts[idx], j_pupils]))
    lan_j = place((d_xy * lan_scale).reshape(2 * targets.shape[0], -1))
    if "log_focal" in cols:
        lan_j[:, cols["log_focal"]] = (d_xy_logf * lan_scale).reshape(-1, 1)
    blocks_j.append(lan_j)

    if problem.uses_depth:
        rows = _depth_residuals(params, problem, verts)
        z_model = verts[idx, 2]
        z_mean = z_model.mean()
        j_z = j_verts[idx, 2]  # (L, n_moving)
        j_mean = j_z.mean(dim=0)
        depth_scale = (problem.w_depth / idx.shape[0]) ** 0.5 / problem.landmark_unit
        offset = z_model - z_mean
        d_geo = depth_scale * focal * ((j_z - j_mean) / z_mean - offset[:, None] * j_mean[None, :] / z_mean**2)
        depth_j = place(d_geo)
        if "log_focal" in cols:
            depth_j[:, cols["log_focal"]] = (depth_scale * focal * offset / z_mean)[:, None]
        blocks_r.append(rows)
        blocks_j.append(depth_j)

    reg = problem.w_reg**0.5
    gaze_std = torch.full((2,), problem.gaze_std, dtype=dtype)
    for name, std in (
        ("shape", problem.shape_std),
        ("expression", problem.expression_std),
        ("albedo", problem.albedo_std),
        ("gaze", gaze_std),
    ):
        value = getattr(params, name)
        blocks_r.append(reg * value / std)
        block = value.new_zeros(value.shape[0], n_cols)
        if name in cols:
            block[:, cols[name]] = torch.diag(reg / std)
        blocks_j.append(block)
    focal_w = problem.w_focal**0.5 / problem.focal_prior_sigma
    blocks_r.append((focal_w * (params.log_focal - problem.log_focal_prior)).reshape(1))
    block = params.log_focal.new_zeros(1, n_cols)
    if "log_focal" in cols:
        block[0, cols["log_focal"]] = focal_w
    blocks_j.append(block)
    light_w = problem.w_light**0.5 / problem.light_prior_sigma
    blocks_r.append((light_w * (params.sh - problem.light_prior)).reshape(-1))
    block = params.sh.new_zeros(27, n_cols)
    if "sh" in cols:
        block[:, cols["sh"]] = light_w * torch.eye(27, dtype=dtype)
    blocks_j.append(block)
    return torch.cat(blocks_r), torch.cat(blocks_j)


def _vertex_jacobians(
    params: FitParams, problem: EnergyProblem, moving: tuple[str, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Camera-frame vertices and unit vertex normals, and their derivatives at δ = 0.

    Returns
    -------
    verts, normals : (V, 3).
    j_verts, j_normals : (V, 3, n) derivatives w.r.t. the fields in ``moving`` (in that order;
        the gaze columns are zero: it moves the pupils only).
        Shape / expression mode k moves vertices by D_k = R·B_k; the normals' derivative
        follows the cross products of the incident faces, then the normalisation. A rotation
        increment δ turns (vertex − t) and the normals: d/dδ_j = e_j × (·). Translation moves
        vertices only.
    """
    rotation = rodrigues(params.rotation) @ problem.base_rotation
    model = (
        problem.mean_shape
        + torch.einsum("k,kvc->vc", params.shape, problem.shape_basis)
        + torch.einsum("k,kvc->vc", params.expression, problem.expression_basis)
    )
    rotated = model @ rotation.T
    verts = rotated + params.translation
    faces = problem.faces
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    summed = torch.zeros_like(verts)
    face_normal = torch.linalg.cross(b - a, c - a)
    for k in range(3):
        summed = summed.index_add(0, faces[:, k], face_normal)
    length = summed.norm(dim=1, keepdim=True).clamp(min=1e-12)
    normals = summed / length

    axes = torch.eye(3, dtype=verts.dtype)
    j_verts, j_normals = [], []
    for name in moving:
        if name in ("shape", "expression"):
            basis = problem.shape_basis if name == "shape" else problem.expression_basis
            d = basis @ rotation.T  # (K, V, 3)
            da, db, dc = d[:, faces[:, 0]], d[:, faces[:, 1]], d[:, faces[:, 2]]
            d_face = torch.linalg.cross(db - da, (c - a)[None].expand_as(da)) + torch.linalg.cross(
                (b - a)[None].expand_as(da), dc - da
            )
            d_sum = torch.zeros_like(d)
            for k in range(3):
                d_sum = d_sum.index_add(1, faces[:, k], d_face)
            d_n = (d_sum - normals[None] * (d_sum * normals[None]).sum(-1, keepdim=True)) / length[None]
            j_verts.append(d.permute(1, 2, 0))
            j_normals.append(d_n.permute(1, 2, 0))
        elif name == "rotation":
            turn = [axes[j].expand_as(rotated) for j in range(3)]
            j_verts.append(torch.stack([torch.linalg.cross(e, rotated) for e in turn], dim=2))
            j_normals.append(torch.stack([torch.linalg.cross(e, normals) for e in turn], dim=2))
        elif name == "translation":
            j_verts.append(axes[None].expand(verts.shape[0], 3, 3))
            j_normals.append(verts.new_zeros(verts.shape[0], 3, 3))
        elif name == "gaze":  # moves the pupils only (see _pupil_jacobian)
            j_verts.append(verts.new_zeros(verts.shape[0], 3, 2))
            j_normals.append(verts.new_zeros(verts.shape[0], 3, 2))
    if not j_verts:
        empty = verts.new_zeros(verts.shape[0], 3, 0)
        return verts, normals, empty, empty
    return verts, normals, torch.cat(j_verts, dim=2), torch.cat(j_normals, dim=2)


def _pupil_jacobian(
    params: FitParams,
    problem: EnergyProblem,
    verts: torch.Tensor,
    j_verts: torch.Tensor,
    moving: tuple[str, ...],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pupils (2, 3) and their derivatives (2, 3, n) w.r.t. the ``moving`` fields at δ = 0.

    pupil = centroid(contour vertices) + R · offset(gaze): the centroid moves as the mesh does;
    a rotation increment also turns R · offset; the gaze turns the offset.
    """
    rotation = rodrigues(params.rotation) @ problem.base_rotation
    offset = _pupil_offset(params, problem) @ rotation.T  # (3,) camera frame
    pupils = verts[problem.eye_contours].mean(dim=1) + offset
    j = j_verts[problem.eye_contours].mean(dim=1).clone()  # (2, 3, n)
    start = 0
    for name in moving:
        width = getattr(params, name).numel()
        if name == "rotation":
            axes = torch.eye(3, dtype=verts.dtype)
            turn = torch.stack([torch.linalg.cross(axes[k], offset) for k in range(3)], dim=1)  # (3, 3)
            j[:, :, start : start + 3] += turn[None]
        elif name == "gaze":
            direction = _gaze_direction_jacobian(params.gaze)
            j[:, :, start : start + 2] += (problem.eyeball_radius * rotation @ direction)[None]
        start += width
    return pupils, j


def _gaze_direction_jacobian(gaze: torch.Tensor) -> torch.Tensor:
    """d gaze_direction / d (yaw, pitch): (3, 2)."""
    yaw, pitch = gaze[0], gaze[1]
    cy, sy, cp, sp = torch.cos(yaw), torch.sin(yaw), torch.cos(pitch), torch.sin(pitch)
    zero = torch.zeros_like(yaw)
    return torch.stack([torch.stack([cy * cp, -sy * sp]), torch.stack([zero, cp]), torch.stack([-sy * cp, -cy * sp])])


def _sh_basis_gradient(normals: torch.Tensor) -> torch.Tensor:
    """d Y_k / d n of :func:`facetex.geometry.sh.sh_basis` (its table): (P, 9, 3)."""
    c0, c1, _, _, c2, _, c20, _, c22 = SH_CONSTANTS
    del c0
    x, y, z = normals[:, 0], normals[:, 1], normals[:, 2]
    zero = torch.zeros_like(x)
    one = torch.ones_like(x)
    rows = [
        (zero, zero, zero),
        (zero, c1 * one, zero),
        (zero, zero, c1 * one),
        (c1 * one, zero, zero),
        (c2 * y, c2 * x, zero),
        (zero, c2 * z, c2 * y),
        (zero, zero, 6.0 * c20 * z),
        (c2 * z, zero, c2 * x),
        (2.0 * c22 * x, -2.0 * c22 * y, zero),
    ]
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=1)
