"""The surface samples of E_c at each Gauss-Newton step, and their IRLS weights.

Each step rasterizes the current mesh at the level's size, keeps the pixels that pass the image
mask and the grazing-angle cut, takes at most ``max_pixels`` of them in the level's fixed
random order, and weights them by the robust loss of their current residuals (IRLS).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np
import torch

from facetex.errors import FittingError
from facetex.fitting.config import FitConfig
from facetex.fitting.mesh import camera_vertices
from facetex.fitting.photometric import sample_colours
from facetex.fitting.problem import DTYPE, ColourSamples, EnergyProblem, FitParams
from facetex.fitting.pyramid import Level
from facetex.fitting.visibility import view_cosine
from facetex.geometry.camera import vertex_normals
from facetex.geometry.rasterize import rasterize, texture
from facetex.types import MorphableModel

__all__ = ["RobustKind", "albedo_stack", "colour_samples", "robust_weights", "with_robust_weights"]


# Fewer visible skin samples than this at a level and the fit is refused.
_MIN_SAMPLES = 30


def albedo_stack(model: MorphableModel) -> torch.Tensor:
    """(r, r, (1 + K_al)·3): the albedo mean and modes as one multi-channel UV map."""
    stack = np.concatenate([model.albedo_mean[None], model.albedo_basis], axis=0)  # (1+K, r, r, 3)
    return torch.tensor(np.moveaxis(stack, 0, 2).reshape(*stack.shape[1:3], -1), dtype=DTYPE)


def colour_samples(
    params: FitParams,
    problem: EnergyProblem,
    level: Level,
    albedo_maps: torch.Tensor,
    uvs: torch.Tensor,
    config: FitConfig,
    limit: int | None,
    fit_faces: torch.Tensor | None = None,
) -> ColourSamples:
    """Visible skin pixels of the current render at ``level`` as fixed surface samples.

    ``albedo_maps`` is :func:`albedo_stack` of the model, ``uvs`` (V, 2) its vertex UVs; at most
    ``limit`` samples (None: all), with uniform weights summing to 1. ``fit_faces`` (F,) bool
    (the model's ``MeshTopology.fit_faces``): only pixels of those triangles are sampled (the
    others are still drawn, so they hide what lies behind them); None: every triangle.
    """
    with torch.no_grad():
        verts = camera_vertices(params, problem)
        focal = torch.exp(params.log_focal)
        xy = (focal * verts[:, :2] / verts[:, 2:3] + problem.principal_point - level.offset) * level.scale
        raster = rasterize(torch.cat([xy, verts[:, 2:3]], dim=1), problem.faces, level.size)
        tri = raster.triangle_id.reshape(-1)
        keep = (tri >= 0) & level.mask.reshape(-1)
        if fit_faces is not None:
            keep &= fit_faces[tri.clamp(min=0)]
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
        basis = texture(albedo_maps, uv).reshape(corners.shape[0], -1, 3)
    p = corners.shape[0]
    return ColourSamples(
        corners=corners,
        barycentrics=bary,
        albedo_basis=basis,
        weights=torch.full((p,), 1.0 / p, dtype=DTYPE),
    )


#: The robust functions of :func:`robust_weights` (``FitConfig.robust``).
RobustKind = Literal["huber", "tukey", "none"]


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


def with_robust_weights(
    params: FitParams, problem: EnergyProblem, samples: ColourSamples, config: FitConfig
) -> ColourSamples:
    """``samples`` with IRLS weights of their current residuals (``config.robust``), summing to 1."""
    with torch.no_grad():
        observed, predicted = sample_colours(params, problem, samples)
        w = robust_weights((observed - predicted).norm(dim=1), config.robust, config.robust_scale)
    total = float(w.sum())
    if total <= 0.0:
        w = torch.ones_like(w)
        total = float(w.sum())
    return replace(samples, weights=w / total)
