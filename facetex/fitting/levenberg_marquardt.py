"""One Levenberg–Marquardt step on the §3 energy, and the check that the face stays in front.

The step solves the damped normal equations (JᵀJ + λ·diag(JᵀJ)) δ = −Jᵀr of the residuals and
Jacobian of :func:`facetex.fitting.energy.linearize`, with λ adapted by the energy change
(Marquardt), and folds an accepted rotation increment into the base rotation.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from facetex.errors import FittingError
from facetex.fitting.energy import linearize, residuals
from facetex.fitting.mesh import camera_vertices
from facetex.fitting.problem import ColourSamples, EnergyProblem, FitParams, ParameterLayout
from facetex.geometry.camera import rodrigues

__all__ = ["check_in_front", "in_front", "lm_step"]


# LM damping bounds and the number of retries with more damping in one step.
_MIN_DAMPING, _MAX_DAMPING, _RETRIES = 1e-9, 1e6, 6


def lm_step(
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
        if math.isfinite(new_energy) and new_energy < energy and in_front(candidate, problem):
            base = rodrigues(candidate.rotation) @ problem.base_rotation
            folded = replace(problem, base_rotation=base)
            candidate = candidate._replace(rotation=torch.zeros_like(candidate.rotation))
            return candidate, folded, max(damping / 3.0, _MIN_DAMPING)
        damping = min(damping * 10.0, _MAX_DAMPING)
    return params, problem, damping


def in_front(params: FitParams, problem: EnergyProblem) -> bool:
    """Whether every fitted vertex lies more than 1 cm in front of the camera."""
    with torch.no_grad():
        return bool((camera_vertices(params, problem)[:, 2] > 1.0).all())


def check_in_front(params: FitParams, problem: EnergyProblem) -> None:
    """Raise :class:`FittingError` if the face left the valid range (behind the camera, non-finite)."""
    if not in_front(params, problem) or not all(bool(torch.isfinite(t).all()) for t in params):
        raise FittingError("the fit left the valid range (the face would be behind the camera)")
