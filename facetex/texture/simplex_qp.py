"""The convex blend-weight fit's quadratic programme over the probability simplex (§4):
min_w wᵀQw − 2cᵀw subject to w ≥ 0, Σw = 1, solved exactly by an active-set method."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facetex.errors import ShapeMismatchError

__all__ = ["SimplexQPSolution", "solve_simplex_qp"]


@dataclass(frozen=True)
class SimplexQPSolution:
    """Solution of min wᵀQw − 2cᵀw over the probability simplex, with its KKT multipliers.

    With ∇f = 2(Qw − c), the KKT conditions are ∇f − μ·1 − λ = 0, λ ≥ 0, λ_i w_i = 0, Σw = 1,
    w ≥ 0: every exemplar in the support shares the gradient μ, every other has ∇f_i ≥ μ.

    Attributes
    ----------
    weights : (K,) float64, w ≥ 0 with exact zeros off the support, Σw = 1 to rounding.
    equality_multiplier : μ.
    bound_multipliers : (K,) float64, λ = ∇f(w) − μ, set to exactly 0 on the support.
    iterations : active-set iterations used.
    """

    weights: np.ndarray
    equality_multiplier: float
    bound_multipliers: np.ndarray
    iterations: int


def _subproblem(hessian: np.ndarray, linear: np.ndarray, free: list[int]) -> np.ndarray:
    """Minimiser of wᵀQw − 2cᵀw over {w_F : Σ w_F = 1} (KKT system, least-squares solve)."""
    n = len(free)
    kkt = np.zeros((n + 1, n + 1))
    kkt[:n, :n] = 2.0 * hessian[np.ix_(free, free)]
    kkt[:n, n] = -1.0
    kkt[n, :n] = 1.0
    rhs = np.concatenate([2.0 * linear[free], [1.0]])
    solution = np.linalg.lstsq(kkt, rhs, rcond=None)[0]
    return solution[:n]


def solve_simplex_qp(
    hessian: np.ndarray,
    linear: np.ndarray,
    *,
    tolerance: float = 1e-12,
    max_iterations: int | None = None,
) -> SimplexQPSolution:
    """Exactly minimise wᵀQw − 2cᵀw subject to Σw = 1, w ≥ 0 (primal active-set method).

    Starts at the best vertex e_k and keeps a free set F (all other w_i held at 0). Each
    iteration solves the equality-constrained problem on F in closed form, steps towards it
    as far as w ≥ 0 allows (dropping a blocking index from F), and at a subproblem optimum
    frees the index with the most negative multiplier λ_i, or stops when all λ ≥ −tolerance.
    Finite termination (Nocedal & Wright 2006, Alg. 16.3); Q may be singular provided the
    problem is bounded (true for least-squares forms Q = AᵀA, c = AᵀB).

    Parameters
    ----------
    hessian : (K, K) symmetric positive semi-definite matrix Q.
    linear : (K,) vector c.
    tolerance : optimality tolerance on λ, relative to max(|Q|, |c|, 1).
    max_iterations : default 10·K + 100.

    Returns
    -------
    SimplexQPSolution.

    Raises
    ------
    ShapeMismatchError
        If the shapes disagree or K = 0.
    RuntimeError
        If the method did not converge within ``max_iterations`` (cycling; not expected).
    """
    q = np.asarray(hessian, dtype=np.float64)
    c = np.asarray(linear, dtype=np.float64)
    k = c.shape[0] if c.ndim == 1 else 0
    if k == 0 or q.shape != (k, k):
        raise ShapeMismatchError(f"expected Q (K, K) and c (K,) with K ≥ 1, got {q.shape} and {c.shape}")
    scale = max(float(np.abs(q).max()), float(np.abs(c).max()), 1.0)
    limit = max_iterations if max_iterations is not None else 10 * k + 100
    start = int(np.argmin(np.diag(q) - 2.0 * c))
    w = np.zeros(k)
    w[start] = 1.0
    free = [start]
    for iteration in range(1, limit + 1):
        step = _subproblem(q, c, free) - w[free]
        shrinking = step < 0
        ratios = np.full(len(free), np.inf)
        ratios[shrinking] = -w[free][shrinking] / step[shrinking]
        alpha = min(1.0, float(ratios.min()))
        w[free] = w[free] + alpha * step
        if alpha < 1.0:
            blocking = {free[i] for i in np.flatnonzero(ratios <= alpha)}
            for i in blocking:
                w[i] = 0.0
            free = [i for i in free if i not in blocking]
            continue
        grad = 2.0 * (q @ w - c)
        mu = float(np.mean(grad[free]))
        lam = grad - mu
        lam[free] = 0.0
        entering = int(np.argmin(lam))
        if lam[entering] >= -tolerance * scale:
            w = np.clip(w, 0.0, None)
            w /= w.sum()
            return SimplexQPSolution(weights=w, equality_multiplier=mu, bound_multipliers=lam, iterations=iteration)
        free.append(entering)
    raise RuntimeError(f"simplex QP did not converge in {limit} active-set iterations")
