"""One Levenberg–Marquardt step on the §3 energy, and the check that the face stays in front.

The step solves the damped normal equations (JᵀJ + λ·diag(JᵀJ)) δ = −Jᵀr of the residuals and
Jacobian of :func:`facetex.fitting.energy.linearize`, with λ adapted by the energy change
(Marquardt), and folds an accepted rotation increment into the base rotation. A model with
bounded expression coefficients (blendshape weights in [0, 1]) has each candidate projected
onto the bounds before it is tried, and a sparse expression prior Σ c·|α| enters as a linear
term: −c/2 on the right-hand side, + Σ c·|α| in the energy compared.

:func:`joint_lm_step` takes the step for one photo or several photos of one person (issue 20): the energy
is the sum of the photos' energies with the identity (shape and albedo coefficients) one set
of unknowns shared by all and its prior counted once, every other unknown (pose, camera,
expression, gaze, lighting) each photo's own. The normal equations are assembled from each
photo's Jacobian, its columns of the shared unknowns added into one block.
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

__all__ = ["SHARED_FIELDS", "check_in_front", "in_front", "joint_lm_step", "project_expression"]


# LM damping bounds and the number of retries with more damping in one step.
_MIN_DAMPING, _MAX_DAMPING, _RETRIES = 1e-9, 1e6, 6

#: The unknowns one person's photos share in :func:`joint_lm_step`: the identity.
SHARED_FIELDS = ("shape", "albedo")


def joint_lm_step(
    params: list[FitParams],
    problems: list[EnergyProblem],
    samples: list[ColourSamples | None],
    layouts: list[ParameterLayout],
    damping: float,
) -> tuple[list[FitParams], list[EnergyProblem], float]:
    """One Levenberg–Marquardt step on the summed energy of N photos of one person (module doc).

    Parameters
    ----------
    params : per photo, its unknowns; the fields of :data:`SHARED_FIELDS` hold the same values
        in every photo's.
    problems, samples, layouts : per photo, its energy problem, colour samples (None: no
        photometric term) and parameter layout; the layouts free the same shared fields.
    damping : λ of the step.

    Returns
    -------
    The photos' new unknowns (shared fields equal), their problems with the accepted rotation
    increments folded in, and the new damping.
    """
    # one photo shares nothing: its columns keep the layout's order (and the step its rounding)
    shared = tuple(n for n in layouts[0].names if n in SHARED_FIELDS) if len(params) > 1 else ()
    columns, size = _joint_columns(layouts, shared)
    hessian = torch.zeros(size, size, dtype=params[0].shape.dtype)
    gradient = torch.zeros(size, dtype=params[0].shape.dtype)
    energy = -_surplus_prior(params[0], problems[0], shared, len(params))
    for p, problem, s, layout, cols in zip(params, problems, samples, layouts, columns):
        r, jac = linearize(p, problem, s, layout)
        energy += float(r @ r) + _linear_energy(p, problem)
        hessian[cols[:, None], cols[None, :]] += jac.T @ jac
        g = jac.T @ r
        if problem.expression_l1 is not None and "expression" in layout.slices:
            # d/dα of the sparse prior Σ c·|α| (α ≥ 0 under the bounds), halved as Jᵀr is
            g[layout.slices["expression"]] += 0.5 * problem.expression_l1
        gradient[cols] += g
    # the shared identity's prior entered once per photo: take the surplus out
    surplus = len(params) - 1
    for name in shared:
        cols = columns[0][layouts[0].slices[name]]
        precision = problems[0].w_reg / _prior_std(problems[0], name) ** 2
        hessian[cols, cols] -= surplus * precision
        gradient[cols] -= surplus * precision * getattr(params[0], name).reshape(-1)
    diag = torch.diagonal(hessian)
    diag = diag.clamp(min=1e-12 * float(diag.max()) + 1e-30)
    for _ in range(_RETRIES):
        try:
            delta = torch.linalg.solve(hessian + torch.diag(damping * diag), -gradient)
        except RuntimeError:  # singular even with damping
            damping = min(damping * 10.0, _MAX_DAMPING)
            continue
        candidates = [project_expression(layout.apply(p, delta[cols]), problem)
                      for p, layout, cols, problem in zip(params, layouts, columns, problems)]
        with torch.no_grad():
            new_energy = -_surplus_prior(candidates[0], problems[0], shared, len(params))
            for candidate, problem, s in zip(candidates, problems, samples):
                trial = residuals(candidate, problem, s)
                new_energy += float(trial @ trial) + _linear_energy(candidate, problem)
        if (math.isfinite(new_energy) and new_energy < energy
                and all(in_front(c, problem) for c, problem in zip(candidates, problems))):
            folded = [replace(problem, base_rotation=rodrigues(c.rotation) @ problem.base_rotation)
                      for c, problem in zip(candidates, problems)]
            candidates = [c._replace(rotation=torch.zeros_like(c.rotation)) for c in candidates]
            return candidates, folded, max(damping / 3.0, _MIN_DAMPING)
        damping = min(damping * 10.0, _MAX_DAMPING)
    return params, problems, damping


def _joint_columns(layouts: list[ParameterLayout], shared: tuple[str, ...]) -> tuple[list[torch.Tensor], int]:
    """Per photo, the column of the joint system each column of its Jacobian adds into: the
    shared fields first (one block for all photos), then each photo's own fields in turn."""
    start = 0
    shared_columns = {}
    for name in shared:
        width = layouts[0].slices[name].stop - layouts[0].slices[name].start
        shared_columns[name] = torch.arange(start, start + width)
        start += width
    columns = []
    for layout in layouts:
        cols = torch.empty(layout.size, dtype=torch.int64)
        for name, sl in layout.slices.items():
            if name in shared_columns:
                cols[sl] = shared_columns[name]
            else:
                cols[sl] = torch.arange(start, start + sl.stop - sl.start)
                start += sl.stop - sl.start
        columns.append(cols)
    return columns, start


def _prior_std(problem: EnergyProblem, name: str) -> torch.Tensor:
    return {"shape": problem.shape_std, "albedo": problem.albedo_std}[name]


def _surplus_prior(params: FitParams, problem: EnergyProblem, shared: tuple[str, ...], photos: int) -> float:
    """(photos − 1) × the shared fields' prior energy w_reg·Σ(α/σ)²: what N photos' residuals
    count too often."""
    return (photos - 1) * sum(problem.w_reg * float(((getattr(params, n) / _prior_std(problem, n)) ** 2).sum())
                              for n in shared)


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
