"""The photometric term E_c of paper §3 at surface samples: photo colour vs model colour.

E_c is evaluated on *surface samples*: each visible face pixel of the current render becomes a
fixed point on the mesh (a triangle and barycentric weights, chosen by the rasterizer at the
start of a Gauss-Newton step); the residual is the photo, bilinearly sampled where that point
projects, minus the model colour there, albedo × SH shading. With the samples fixed the
residuals are smooth (piecewise, through the bilinear image lookup) in every unknown;
visibility is re-evaluated at each step.

The functions are pure and work under ``torch.func`` transforms.
"""

from __future__ import annotations

import torch

from facetex.fitting.mesh import camera_vertices
from facetex.fitting.problem import ColourSamples, EnergyProblem, FitParams
from facetex.geometry.camera import project, vertex_normals
from facetex.geometry.sh import SH_CONSTANTS, sh_basis

__all__ = [
    "bilinear",
    "sample_albedo",
    "sample_colours",
    "sample_image",
    "sh_basis_gradient",
    "surface_points",
]


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
    return bilinear(image, xy)[0]


def bilinear(image: torch.Tensor, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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


def sh_basis_gradient(normals: torch.Tensor) -> torch.Tensor:
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
