"""Lighting and albedo of the §3 fit in closed form, with the geometry held fixed.

With albedo fixed the model colour is linear in the SH coefficients, with lighting fixed linear
in the albedo coefficients: two small weighted least-squares problems, alternated by the solver
before the full Levenberg–Marquardt steps.
"""

from __future__ import annotations

import torch

from facetex.fitting.photometric import sample_albedo, sample_image, surface_points
from facetex.fitting.problem import DTYPE, ColourSamples, EnergyProblem, FitParams
from facetex.geometry.sh import sh_basis

__all__ = ["face_irradiance_basis", "solve_albedo", "solve_lighting", "solve_shared_albedo"]


def solve_lighting(params: FitParams, problem: EnergyProblem, samples: ColourSamples) -> torch.Tensor:
    """SH lighting (9, 3) minimising w_c·E_c + w_light·E_light given albedo and geometry.

    The model colour is linear in the lighting, so this is one weighted least-squares problem
    in the 27 coefficients (ordered as ``sh.reshape(-1)``): the data term separates by colour
    channel, the prior on the face's mean irradiance (when the problem has one) couples them.
    """
    with torch.no_grad():
        observed, albedo, normals = _appearance_inputs(params, problem, samples)
        basis = sh_basis(normals)  # (P, 9)
        w = problem.w_color * samples.weights[:, None]
        lhs = torch.zeros(9, 3, 9, 3, dtype=DTYPE)
        rhs = torch.zeros(9, 3, dtype=DTYPE)
        for c in range(3):
            a = basis * albedo[:, c : c + 1]
            lhs[:, c, :, c] = a.T @ (a * w)
            rhs[:, c] = (a.T @ (observed[:, c : c + 1] * w))[:, 0]
        penalty = (problem.w_light / problem.light_prior_sigma**2 + 1e-12) * torch.eye(27, dtype=DTYPE)
        gradient = problem.face_irradiance_gradient
        if gradient is not None:
            penalty = penalty + problem.w_light * torch.outer(gradient, gradient)
        lhs = lhs.reshape(27, 27) + penalty
        rhs = rhs.reshape(27) + penalty @ problem.light_prior.reshape(27)
        return torch.linalg.solve(lhs, rhs).reshape(9, 3)


def solve_albedo(params: FitParams, problem: EnergyProblem, samples: ColourSamples) -> torch.Tensor:
    """Albedo coefficients (K_al,) minimising w_c·E_c + w_reg·Σ(α/σ)² given lighting and geometry."""
    return solve_shared_albedo([params], [problem], [samples])


def solve_shared_albedo(params: list[FitParams], problems: list[EnergyProblem],
                        samples: list[ColourSamples]) -> torch.Tensor:
    """Albedo coefficients (K_al,) of one person seen in N photos: minimise Σ_photos w_c·E_c +
    w_reg·Σ(α/σ)² (the prior once) given each photo's lighting and geometry."""
    with torch.no_grad():
        lhs = rhs = None
        for p, problem, s in zip(params, problems, samples):
            observed, _, normals = _appearance_inputs(p, problem, s)
            shading = sh_basis(normals) @ p.sh  # (P, 3)
            modes = s.albedo_basis[:, 1:] * shading[:, None, :]  # (P, K, 3)
            target = observed - s.albedo_basis[:, 0] * shading  # (P, 3)
            w = problem.w_color * s.weights[:, None, None]
            photo_lhs = torch.einsum("pkc,plc->kl", modes * w, modes)
            photo_rhs = torch.einsum("pkc,pc->k", modes * w, target)
            lhs = photo_lhs if lhs is None else lhs + photo_lhs
            rhs = photo_rhs if rhs is None else rhs + photo_rhs
        lhs = lhs + torch.diag(problems[0].w_reg / problems[0].albedo_std**2)
        return torch.linalg.solve(lhs, rhs)


def _appearance_inputs(
    params: FitParams, problem: EnergyProblem, samples: ColourSamples
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Observed colours (P, 3), current albedo (P, 3) and unit normals (P, 3) at the samples."""
    pixels, normals = surface_points(params, problem, samples)
    return sample_image(problem.image, pixels), sample_albedo(params, samples), normals


def face_irradiance_basis(params: FitParams, problem: EnergyProblem, samples: ColourSamples) -> torch.Tensor:
    """(9,) b̄, the samples' weighted mean SH basis at their normals (camera frame): b̄ · L is
    lighting L's mean irradiance over the face."""
    with torch.no_grad():
        _, normals = surface_points(params, problem, samples)
        w = samples.weights / samples.weights.sum()
        return (sh_basis(normals) * w[:, None]).sum(dim=0)
