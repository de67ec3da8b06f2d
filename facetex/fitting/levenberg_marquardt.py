"""One Levenberg–Marquardt step on the §3 energy, and the check that the face stays in front.

The step solves the damped normal equations (JᵀJ + λ·diag(JᵀJ)) δ = −Jᵀr of the residuals and
Jacobian of :func:`facetex.fitting.energy.linearize`, with λ adapted by the energy change
(Marquardt), and folds an accepted rotation increment into the base rotation. A model with
bounded expression coefficients (blendshape weights in [0, 1]) has each candidate projected
onto the bounds before it is tried, and a sparse expression prior Σ c·|α| enters as a linear
term: −c/2 on the right-hand side, + Σ c·|α| in the energy compared.
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

__all__ = ["check_in_front", "in_front", "lm_step", "project_expression"]


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
    energy = float(r @ r) + _linear_energy(params, problem)
    hessian = jac.T @ jac
    gradient = jac.T @ r
    if problem.expression_l1 is not None and "expression" in layout.slices:
        # d/dα of the sparse prior Σ c·|α| (α ≥ 0 under the bounds), halved as Jᵀr is
        gradient[layout.slices["expression"]] += 0.5 * problem.expression_l1
    diag = torch.diagonal(hessian)
    diag = diag.clamp(min=1e-12 * float(diag.max()) + 1e-30)
    for _ in range(_RETRIES):
        try:
            delta = torch.linalg.solve(hessian + torch.diag(damping * diag), -gradient)
        except RuntimeError:  # singular even with damping
            damping = min(damping * 10.0, _MAX_DAMPING)
            continue
        candidate = project_expression(layout.apply(params, delta), problem)
        with torch.no_grad():
            trial = residuals(candidate, problem, samples)
        new_energy = float(trial @ trial) + _linear_energy(candidate, problem)
        if math.isfinite(new_energy) and new_energy < energy and in_front(candidate, problem):
            base = rodrigues(candidate.rotation) @ problem.base_rotation
            folded = replace(problem, base_rotation=base)
            candidate = candidate._replace(rotation=torch.zeros_like(candidate.rotation))
            return candidate, folded, max(damping / 3.0, _MIN_DAMPING)
        damping = min(damping * 10.0, _MAX_DAMPING)
    return params, problem, damping


def project_expression(params: FitParams, problem: EnergyProblem) -> FitParams:
    """``params`` with the expression coefficients clamped to ``problem.expression_range``."""
    if problem.expression_range is None:
        return params
    low, high = problem.expression_range
    return params._replace(expression=params.expression.clamp(low, high))


def _linear_energy(params: FitParams, problem: EnergyProblem) -> float:
    """The sparse expression prior Σ c·|α_ex| (0 without one); not a square, so it is added to
    the residuals' Σ r² here."""
    if problem.expression_l1 is None:
        return 0.0
    return float((problem.expression_l1 * params.expression.abs()).sum())


def in_front(params: FitParams, problem: EnergyProblem) -> bool:
    """Whether every fitted vertex lies more than 1 cm in front of the camera."""
    with torch.no_grad():
        return bool((camera_vertices(params, problem)[:, 2] > 1.0).all())


def check_in_front(params: FitParams, problem: EnergyProblem) -> None:
    """Raise :class:`FittingError` if the face left the valid range (behind the camera, non-finite)."""
    if not in_front(params, problem) or not all(bool(torch.isfinite(t).all()) for t in params):
        raise FittingError("the fit left the valid range (the face would be behind the camera)")
