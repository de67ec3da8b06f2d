"""The fitting energy of paper §3 as a vector of residuals, in PyTorch.

    E = w_c·E_c + w_lan·E_lan + w_reg·E_reg   (+ a landmark depth term and weak focal-length
                                              and lighting priors, see :mod:`facetex.fitting.config`)

Every term is written as a sum of squares, E = Σ r², so that Gauss-Newton can linearise the
residual vector r (``solver``). Units are given in :mod:`facetex.fitting.config`. The terms'
parts live in their own modules: the unknowns and constants in :mod:`~facetex.fitting.problem`,
the posed mesh in :mod:`~facetex.fitting.mesh`, the pupils in :mod:`~facetex.fitting.eyes`, the
photometric samples of E_c in :mod:`~facetex.fitting.photometric`, E_lan's points and E_depth in
:mod:`~facetex.fitting.landmark_terms`; the priors (E_reg, focal length, lighting) are written
here.

:func:`residuals` is the definition of the energy. :func:`linearize` returns the same residuals
and their Jacobian, with the chain rule written out: vertex positions and normals against
shape, expression and pose, then per sample the projection, the bilinear image gradient, the
SH basis and the albedo. Written out it is several times faster than ``torch.func.jacfwd`` of
:func:`residuals` (``docs/design.md#fitting``); the tests check that the two agree to rounding
error. It linearises at a zero rotation increment (:mod:`~facetex.fitting.problem`).

:func:`residuals` and its helpers are pure and work under ``torch.func`` transforms.
"""

from __future__ import annotations

import torch

from facetex.fitting.eyes import pupil_jacobian
from facetex.fitting.landmark_terms import (
    depth_residuals,
    landmark_points,
    landmark_row_scale,
    mesh_landmark_depth_jacobian,
    mesh_landmark_depths,
    mesh_landmark_jacobian,
    mesh_landmarks,
)
from facetex.fitting.mesh import camera_vertices, restrict_to_used, vertex_jacobians
from facetex.fitting.photometric import bilinear, sample_albedo, sample_colours, sh_basis_gradient
from facetex.fitting.problem import GEOMETRY_FIELDS, ColourSamples, EnergyProblem, FitParams, ParameterLayout
from facetex.geometry.camera import project
from facetex.geometry.sh import sh_basis

__all__ = ["energy_terms", "linearize", "residuals"]


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
    points, targets = landmark_points(params, problem)
    lan_scale = (problem.w_landmark / targets.shape[0]) ** 0.5 / problem.landmark_unit
    landmark_xy = project(points, torch.exp(params.log_focal), problem.principal_point)
    rows = (landmark_xy - targets) * lan_scale
    row_scale = landmark_row_scale(problem)
    parts.append((rows if row_scale is None else rows * row_scale).reshape(-1))
    if problem.uses_depth:
        parts.append(depth_residuals(params, problem, camera_vertices(params, problem)))
    reg = problem.w_reg**0.5
    parts.append(reg * params.shape / problem.shape_std)
    parts.append(reg * params.expression / problem.expression_std)
    parts.append(reg * params.albedo / problem.albedo_std)
    parts.append(reg * params.gaze / problem.gaze_std)
    focal = problem.w_focal**0.5 * (params.log_focal - problem.log_focal_prior) / problem.focal_prior_sigma
    parts.append(focal.reshape(1))
    light = problem.w_light**0.5 * (params.sh - problem.light_prior) / problem.light_prior_sigma
    parts.append(light.reshape(-1))
    if problem.face_irradiance_gradient is not None:
        parts.append(problem.w_light**0.5 * _face_irradiance_deviation(params, problem).reshape(1))
    return torch.cat(parts)


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
        points, targets = landmark_points(params, problem)
        xy = project(points, torch.exp(params.log_focal), problem.principal_point)
        squared = (((xy - targets) / problem.landmark_unit) ** 2).sum(dim=1)
        row_scale = landmark_row_scale(problem)
        e_lan = float(squared.mean() if row_scale is None else (squared * row_scale[:, 0] ** 2).mean())
        e_depth = 0.0
        if problem.uses_depth:
            rows = depth_residuals(params, problem, camera_vertices(params, problem))
            e_depth = float((rows**2).sum()) / problem.w_depth
        e_reg = float(
            ((params.shape / problem.shape_std) ** 2).sum()
            + ((params.expression / problem.expression_std) ** 2).sum()
            + ((params.albedo / problem.albedo_std) ** 2).sum()
            + ((params.gaze / problem.gaze_std) ** 2).sum()
        )
        if problem.expression_l1 is not None:
            e_reg += float((problem.expression_l1 * params.expression.abs()).sum()) / problem.w_reg
        e_focal = float(((params.log_focal - problem.log_focal_prior) / problem.focal_prior_sigma) ** 2)
        e_light = float((((params.sh - problem.light_prior) / problem.light_prior_sigma) ** 2).sum())
        if problem.face_irradiance_gradient is not None:
            e_light += float(_face_irradiance_deviation(params, problem) ** 2)
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
    problem, samples = restrict_to_used(problem, samples)
    dtype = params.translation.dtype
    cols = layout.slices
    n_cols = layout.size
    moving = tuple(n for n in layout.names if n in GEOMETRY_FIELDS and n != "log_focal")
    verts, normals, j_verts, j_normals = vertex_jacobians(params, problem, moving)
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
        observed, grad = bilinear(problem.image, pixels)  # (P, 3), (P, 3, 2)
        d_xy, d_xy_logf = projection_derivative(points, j_points)
        d_uv = d_xy * scale[None, :, None]
        basis = sh_basis(n)  # (P, 9)
        shading = basis @ params.sh  # (P, 3)
        albedo = sample_albedo(params, samples)
        sqrt_w = torch.sqrt(problem.w_color * samples.weights)[:, None]  # (P, 1)
        blocks_r.append(((observed - albedo * shading) * sqrt_w).reshape(-1))

        d_shading = torch.einsum("pkd,kc,pdn->pcn", sh_basis_gradient(n), params.sh, j_n)
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

    pupils, j_pupils = pupil_jacobian(params, problem, verts, j_verts, moving)
    mesh_points = mesh_landmarks(verts, problem)
    lan_points = torch.cat([mesh_points, pupils])
    targets = torch.cat([problem.landmarks, problem.iris_landmarks])
    lan_xy = focal * lan_points[:, :2] / lan_points[:, 2:3] + problem.principal_point
    lan_scale = (problem.w_landmark / targets.shape[0]) ** 0.5 / problem.landmark_unit
    row_scale = landmark_row_scale(problem)
    if row_scale is not None:  # (L + 2, 1) per landmark, (L + 2, 1, 1) per Jacobian row pair
        lan_scale = lan_scale * row_scale
    blocks_r.append(((lan_xy - targets) * lan_scale).reshape(-1))
    d_xy, d_xy_logf = projection_derivative(lan_points, torch.cat([mesh_landmark_jacobian(j_verts, problem), j_pupils]))
    j_scale = lan_scale if row_scale is None else lan_scale[:, :, None]
    lan_j = place((d_xy * j_scale).reshape(2 * targets.shape[0], -1))
    if "log_focal" in cols:
        lan_j[:, cols["log_focal"]] = (d_xy_logf * lan_scale).reshape(-1, 1)
    blocks_j.append(lan_j)

    if problem.uses_depth:
        rows = depth_residuals(params, problem, verts)
        z_model = mesh_landmark_depths(verts, problem)
        z_mean = z_model.mean()
        j_z = mesh_landmark_depth_jacobian(j_verts, problem)  # (L, n_moving)
        j_mean = j_z.mean(dim=0)
        depth_scale = (problem.w_depth / z_model.shape[0]) ** 0.5 / problem.landmark_unit
        offset = z_model - z_mean
        d_geo = depth_scale * focal * ((j_z - j_mean) / z_mean - offset[:, None] * j_mean[None, :] / z_mean**2)
        d_logf = depth_scale * focal * offset / z_mean
        if problem.depth_weights is not None:
            d_geo = d_geo * problem.depth_weights.sqrt()[:, None]
            d_logf = d_logf * problem.depth_weights.sqrt()
        depth_j = place(d_geo)
        if "log_focal" in cols:
            depth_j[:, cols["log_focal"]] = d_logf[:, None]
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
    gradient = problem.face_irradiance_gradient
    if gradient is not None:
        blocks_r.append(problem.w_light**0.5 * _face_irradiance_deviation(params, problem).reshape(1))
        block = params.sh.new_zeros(1, n_cols)
        if "sh" in cols:
            block[0, cols["sh"]] = problem.w_light**0.5 * gradient
        blocks_j.append(block)
    return torch.cat(blocks_r), torch.cat(blocks_j)


def _face_irradiance_deviation(params: FitParams, problem: EnergyProblem) -> torch.Tensor:
    """() the face's mean irradiance (channel mean) minus the prior's, over its σ:
    b̄ · mean_c(L − L̄) / σ (:attr:`EnergyProblem.face_irradiance_gradient`)."""
    return problem.face_irradiance_gradient @ (params.sh - problem.light_prior).reshape(-1)
