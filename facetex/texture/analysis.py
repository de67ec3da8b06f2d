"""Texture analysis (paper §4): blend weights of exemplar Grams that explain a partial texture.

Given the partial high-frequency albedo I_0 with its visibility mask and K complete exemplar
textures I_k (all luminance Y, same R × R grid), the paper computes the masked Grams
G_l(M(I_0)) and G_l(M(I_k)) under the same mask M and solves

    min_w Σ_l || Σ_k w_k G_l(M(I_k)) − G_l(M(I_0)) ||_F      s.t.  Σ_k w_k = 1, w_k ≥ 0,

then describes the complete face by Ĝ_l = Σ_k w_k G_l(I_k) of the unmasked exemplars.

Objective used here (documented choice). facetex minimises the per-layer normalised sum of
*squared* residuals

    f(w) = Σ_l || Σ_k w_k A_lk − B_l ||_F² / || B_l ||_F²,     A_lk = G_l(M(I_k)), B_l = G_l(M(I_0)).

* Normalisation: raw Gram norms differ by orders of magnitude between layers (relu4_1's
  dominated an unweighted sum, ``docs/design.md#speed-on-a-cpu``), so each layer's residual is
  measured relative to the target's own norm; every layer then counts on the same scale (f = L
  at w = 0).
* Squaring turns the problem into a quadratic program f(w) = wᵀQw − 2cᵀw + L with the K × K
  "Gram of Grams" Q = Σ_l A_lᵀA_l / ||B_l||² and c = Σ_l A_lᵀB_l / ||B_l||², built once, which
  can be solved exactly. The paper's sum of unsquared norms is a second-order cone program
  with the same minimisers whenever the target is a convex mix of the exemplars (both reach
  zero there), and with r_l the normalised residuals, Σ_l r_l ≤ sqrt(L · Σ_l r_l²), so a small
  f bounds the (normalised) paper objective.

Solvers (paper §4 and its user study): ``"convex"`` is the exact simplex-constrained QP solved
by a primal active-set method (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Alg. 16.3),
finite, exact up to float rounding, with Σw = 1 to machine precision; ``"linear"`` is the
paper's "unconstrained linear" combination — plain least squares, no sum or sign constraint
(minimum-norm solution of Qw = c); ``"closest"`` puts all weight on the exemplar with the least
f(e_k).

Candidate preselection (issue 7, :func:`shortlist_exemplars`): a cheap screening fit — the same
convex QP over masked Grams of every exemplar at a lower resolution, bf16 — keeps its support plus
the exemplars closest to entering it, and the exact fit runs over those only. The defaults of
:class:`~facetex.texture.config.TextureConfig` (screening at 128² in bf16, 32 candidates, the
exact fit at the output size with bf16 Grams) and the measurements behind them are in
``docs/design.md#candidate-preselection-and-analysis-resolution``; the solver's accuracy and cost
in ``docs/design.md#squared-normalised-objective``. The paper's exact fit over every exemplar in
fp32 is ``TextureConfig.paper()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from facetex.errors import EmptyMaskError, InputImageError, ShapeMismatchError
from facetex.texture.color import mask_out
from facetex.texture.config import SOLVERS, Solver, TextureConfig
from facetex.texture.gram import gram
from facetex.texture.simplex_qp import solve_simplex_qp
from facetex.texture.vgg import VGG19
from facetex.types import BlendResult, GramSet, GramSource

__all__ = [
    "BlendProblem",
    "analyse_texture",
    "blend_grams",
    "build_blend_problem",
    "compute_grams",
    "masked_blend_problem",
    "region_positions",
    "select_grams",
    "shortlist_exemplars",
    "solve_blend",
]

#: Columns of the stacked Grams turned into float64 at once when building Q (memory bound).
_CHUNK = 1 << 16


def compute_grams(
    luminance: np.ndarray,
    vgg: VGG19,
    *,
    layers: Sequence[str],
    mask: np.ndarray | None = None,
    regions: np.ndarray | None = None,
    batch_size: int = 4,
    bf16: bool = False,
) -> GramSet:
    """Normalised Gram matrices of luminance images, optionally after mask-out (paper §4) or
    over a region of each image only.

    Runs without gradients, ``batch_size`` images per forward pass.

    Parameters
    ----------
    luminance : (N, H, W) float array, Y in [0, 1], N ≥ 1.
    vgg : the feature network.
    layers : VGG-19 layer names.
    mask : (H, W) bool, True where visible; when given, each image is replaced by M(I)
        (0.5 on hidden pixels) before its features are taken. ``None`` = complete images.
    regions : (N, H, W) bool, one region per image; when given, image n's Gram at each layer
        is taken over the feature positions whose whole stride block lies in its region
        (:func:`region_positions`) and normalised by their number: the statistics of that
        part of the image, whatever its size. The features themselves still see the whole
        image. ``None`` = every position (G = F Fᵀ / (H_l·W_l)).
    batch_size : images per forward pass.
    bf16 : bfloat16 autocast in the network (Grams themselves accumulate in fp32).

    Returns
    -------
    GramSet with, per layer, an (N, C_l, C_l) float32 array.

    Raises
    ------
    ShapeMismatchError
        If ``luminance`` is not (N, H, W), ``mask`` is not (H, W) or ``regions`` not (N, H, W).
    EmptyMaskError
        If ``mask`` hides every pixel or a region is empty.
    """
    stack = np.asarray(luminance)
    if stack.ndim != 3 or stack.shape[0] == 0:
        raise ShapeMismatchError(f"expected a stack of luminance images (N, H, W), got shape {stack.shape}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != stack.shape[1:]:
            raise ShapeMismatchError(f"mask is {mask.shape} but the images are {stack.shape[1:]}")
        if not mask.any():
            raise EmptyMaskError("the visibility mask hides every pixel; nothing can be analysed")
    if regions is not None:
        regions = np.asarray(regions, dtype=bool)
        if regions.shape != stack.shape:
            raise ShapeMismatchError(f"regions are {regions.shape} but the images are {stack.shape}")
        empty = np.flatnonzero(~regions.reshape(len(regions), -1).any(axis=1))
        if empty.size:
            raise EmptyMaskError(f"the region of image {int(empty[0])} is empty; its Gram is undefined")
    layers = list(layers)
    chunks: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
    with torch.inference_mode():
        for start in range(0, stack.shape[0], batch_size):
            batch = stack[start : start + batch_size]
            if mask is not None:
                batch = np.stack([mask_out(image, mask) for image in batch])
            x = torch.from_numpy(np.array(batch, dtype=np.float32))[:, None]  # a copy: inputs may be read-only
            features = vgg.features(x.to(vgg.device), layers, bf16=bf16)
            for layer in layers:
                f = features[layer].float()
                if regions is None:
                    chunks[layer].append(gram(f).cpu().numpy())
                    continue
                inside = region_positions(regions[start : start + batch_size], f.shape[-2:])
                for n in range(f.shape[0]):
                    kept = f[n].reshape(f.shape[1], -1)[:, torch.from_numpy(inside[n].ravel()).to(f.device)]
                    chunks[layer].append((kept @ kept.T / kept.shape[1]).cpu().numpy()[None])
    return GramSet(grams={layer: np.concatenate(chunks[layer]) for layer in layers})


def region_positions(regions: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The feature positions of a layer that a region covers, (N, h, w) bool for (N, H, W)
    bool regions and a layer of ``size`` = (h, w): a position is in when every pixel of its
    (H/h × W/w) stride block is; where no position of an image is wholly in, those with at
    least half of their block in (a region thinner than the stride); where none is, those with
    any of it.

    >>> region = np.zeros((1, 8, 8), dtype=bool); region[0, :5, :] = True
    >>> region_positions(region, (2, 2)).astype(int).tolist()
    [[[1, 1], [0, 0]]]
    """
    n, height, width = regions.shape
    h, w = int(size[0]), int(size[1])
    cover = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(regions.astype(np.float32))[:, None], (h, w))
    cover = cover[:, 0].numpy()
    inside = cover >= 1.0 - 1e-6
    for i in range(n):
        if not inside[i].any():
            inside[i] = cover[i] >= 0.5 if (cover[i] >= 0.5).any() else cover[i] > 0.0
    return inside


@dataclass(frozen=True)
class BlendProblem:
    """The §4 weight fit as a quadratic f(w) = wᵀ Q w − 2 cᵀ w + d (module doc).

    Attributes
    ----------
    hessian : (K, K) float64, Q = Σ_l A_lᵀA_l / ||B_l||², symmetric positive semi-definite.
    linear : (K,) float64, c = Σ_l A_lᵀB_l / ||B_l||².
    constant : d = Σ_l ||B_l||² / ||B_l||² (the number of layers with a non-zero target).
    layers : the layers summed over.
    """

    hessian: np.ndarray
    linear: np.ndarray
    constant: float
    layers: tuple[str, ...]

    @property
    def size(self) -> int:
        """K, the number of exemplars."""
        return int(self.linear.shape[0])

    def objective(self, weights: np.ndarray) -> float:
        """f(w) ≥ 0, the normalised squared residual summed over layers (rounding clipped)."""
        w = np.asarray(weights, dtype=np.float64)
        value = float(w @ self.hessian @ w - 2.0 * self.linear @ w + self.constant)
        return max(value, 0.0)


def build_blend_problem(target: GramSet, exemplars: GramSet) -> BlendProblem:
    """Assemble the K × K quadratic of the §4 fit once, in float64.

    Parameters
    ----------
    target : GramSet with N = 1, the masked Grams G_l(M(I_0)) of the partial texture.
    exemplars : GramSet with N = K, the masked Grams G_l(M(I_k)) under the same mask, same
        layers and resolution.

    Returns
    -------
    BlendProblem over ``target.layers``.

    Raises
    ------
    ShapeMismatchError
        If the layers or Gram shapes do not agree, or ``target`` holds more than one image.
    """
    layers = target.layers
    if set(layers) != set(exemplars.layers):
        raise ShapeMismatchError(f"target layers {layers} differ from exemplar layers {exemplars.layers}")
    if target.count != 1:
        raise ShapeMismatchError(f"the target GramSet must hold one image, got {target.count}")
    k = exemplars.count
    hessian = np.zeros((k, k))
    linear = np.zeros(k)
    constant = 0.0
    for layer in layers:
        b = np.asarray(target.grams[layer][0], dtype=np.float64).ravel()
        a = np.asarray(exemplars.grams[layer]).reshape(k, -1)
        if a.shape[1] != b.shape[0]:
            raise ShapeMismatchError(
                f"layer {layer}: exemplar Grams {exemplars.grams[layer].shape[1:]} "
                f"vs target {target.grams[layer].shape[1:]}"
            )
        norm2 = float(b @ b)
        if norm2 == 0.0:
            continue  # a layer with an all-zero target carries no information; skip it
        for start in range(0, b.shape[0], _CHUNK):
            block = a[:, start : start + _CHUNK].astype(np.float64)
            hessian += block @ block.T / norm2
            linear += block @ b[start : start + _CHUNK] / norm2
        constant += 1.0
    hessian = 0.5 * (hessian + hessian.T)
    return BlendProblem(hessian=hessian, linear=linear, constant=constant, layers=tuple(layers))


def solve_blend(problem: BlendProblem, solver: Solver) -> np.ndarray:
    """Blend weights for one of the §4 solvers.

    Parameters
    ----------
    problem : the assembled quadratic.
    solver : ``"convex"`` (exact simplex QP), ``"linear"`` (unconstrained least squares,
        minimum-norm solution), or ``"closest"`` (one-hot on the exemplar of least f(e_k)).

    Returns
    -------
    (K,) float64 weights.
    """
    if solver == "convex":
        return solve_simplex_qp(problem.hessian, problem.linear).weights
    if solver == "linear":
        return np.linalg.lstsq(problem.hessian, problem.linear, rcond=None)[0]
    if solver == "closest":
        weights = np.zeros(problem.size)
        weights[int(np.argmin(np.diag(problem.hessian) - 2.0 * problem.linear))] = 1.0
        return weights
    raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")


def blend_grams(weights: np.ndarray, grams: GramSet) -> GramSet:
    """Ĝ_l = Σ_k w_k G_l(I_k) (paper §4), accumulated in float64.

    Parameters
    ----------
    weights : (K,) float weights.
    grams : GramSet with N = K.

    Returns
    -------
    GramSet with N = 1, float32.

    Raises
    ------
    ShapeMismatchError
        If the number of weights is not K.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (grams.count,):
        raise ShapeMismatchError(f"{w.shape[0] if w.ndim else 0} weights for {grams.count} Gram sets")
    blended = {
        layer: np.tensordot(w, g.astype(np.float64), axes=1)[None].astype(np.float32) for layer, g in grams.grams.items()
    }
    return GramSet(grams=blended)


def masked_blend_problem(
    partial_luminance: np.ndarray,
    mask: np.ndarray,
    exemplar_luminance: np.ndarray,
    vgg: VGG19,
    *,
    layers: Sequence[str],
    batch_size: int = 4,
    bf16: bool = False,
) -> BlendProblem:
    """The §4 weight-fit problem of a partial texture: masked Grams of it and of every exemplar.

    Computes G_l(M(I_0)) and G_l(M(I_k)) under the same mask (no gradients, batched) and
    assembles the K × K quadratic of :func:`build_blend_problem`.

    Parameters
    ----------
    partial_luminance : (R, R) float, Y of the partial high-frequency albedo, in [0, 1].
    mask : (R, R) bool, True on observed texels.
    exemplar_luminance : (K, R, R) float, Y of the complete exemplar textures, in [0, 1].
    vgg : the feature network.
    layers : VGG-19 layers summed over.
    batch_size : images per forward pass.
    bf16 : bfloat16 autocast in the forward passes (~0.5 % Gram error,
        ``docs/design.md#squared-normalised-objective``).

    Returns
    -------
    BlendProblem over ``layers`` with K exemplars.

    Raises
    ------
    InputImageError
        If no exemplars are given or an image holds non-finite values.
    ShapeMismatchError
        If the shapes disagree.
    EmptyMaskError
        If the mask hides everything.
    """
    partial = np.asarray(partial_luminance, dtype=np.float32)
    exemplars = np.asarray(exemplar_luminance, dtype=np.float32)
    visible = np.asarray(mask)
    if exemplars.ndim != 3 or exemplars.shape[0] == 0:
        if exemplars.size == 0:
            raise InputImageError("no exemplar textures were given")
        raise ShapeMismatchError(f"exemplars must be a stack (K, R, R), got shape {exemplars.shape}")
    if partial.ndim != 2 or partial.shape != exemplars.shape[1:] or visible.shape != partial.shape:
        raise ShapeMismatchError(
            f"partial texture {partial.shape}, mask {visible.shape} and exemplars {exemplars.shape[1:]} "
            "must share one (R, R) size"
        )
    if not (np.isfinite(partial).all() and np.isfinite(exemplars).all()):
        raise InputImageError("texture values must be finite")
    visible = visible.astype(bool)
    if not visible.any():
        raise EmptyMaskError("the visibility mask hides every pixel; nothing can be analysed")
    options = dict(layers=layers, batch_size=batch_size, bf16=bf16, mask=visible)
    return build_blend_problem(compute_grams(partial[None], vgg, **options), compute_grams(exemplars, vgg, **options))


def shortlist_exemplars(problem: BlendProblem, count: int) -> np.ndarray:
    """Candidates for the exact §4 fit, chosen by a cheap screening fit (candidate preselection).

    Solves the convex QP of ``problem`` (the screening fit, e.g. masked Grams at 128² in
    bf16) and keeps its whole support plus the exemplars closest to entering it: those of
    least KKT multiplier λ_i = ∂f/∂w_i − μ ≥ 0, the first-order gain of shifting weight onto
    exemplar i. At least ``count`` are kept (all of them if K ≤ ``count``).

    How large ``count`` must be at which screening resolution is measured in
    ``docs/design.md#candidate-preselection-and-analysis-resolution``.

    Parameters
    ----------
    problem : the screening problem over all K exemplars.
    count : minimum number of candidates (≥ 1).

    Returns
    -------
    (N,) int64, sorted indices into the K exemplars, N = min(K, max(count, support size)).
    """
    if count < 1:
        raise ValueError(f"count must be ≥ 1, got {count}")
    k = problem.size
    if k <= count:
        return np.arange(k, dtype=np.int64)
    solution = solve_simplex_qp(problem.hessian, problem.linear)
    support = solution.weights > 0.0
    score = np.where(support, -np.inf, solution.bound_multipliers)
    keep = max(count, int(support.sum()))
    return np.sort(np.argsort(score, kind="stable")[:keep]).astype(np.int64)


def analyse_texture(
    partial_luminance: np.ndarray,
    mask: np.ndarray,
    exemplar_luminance: np.ndarray,
    vgg: VGG19,
    config: TextureConfig,
    *,
    complete: GramSet | None = None,
) -> BlendResult:
    """Fit blend weights of exemplar textures to a partial texture and blend their Grams (§4).

    The exact fit over every given exemplar (no preselection; :func:`facetex.texture.inference
    .infer_texture` adds it). All images are on the same R × R grid.

    Parameters
    ----------
    partial_luminance : (R, R) float, Y of the partial high-frequency albedo, in [0, 1].
    mask : (R, R) bool, True on observed texels.
    exemplar_luminance : (K, R, R) float, Y of the complete exemplar textures, in [0, 1].
    vgg : the feature network.
    config : uses ``gram_layers``, ``solver``, ``batch_size``, ``bf16_grams``.
    complete : the exemplars' complete Grams (N = K, any resolution, e.g. cached in a
        database) to blend into the target; None = compute them at R for the exemplars with
        non-zero weight.

    Returns
    -------
    BlendResult whose ``target`` holds Ĝ_l of the complete exemplars (at R, or at the
    resolution of ``complete``).

    Raises
    ------
    InputImageError
        If no exemplars are given or an image holds non-finite values.
    ShapeMismatchError
        If the shapes disagree, or ``complete`` does not hold K Grams of every layer.
    EmptyMaskError
        If the mask hides everything.
    """
    exemplars = np.asarray(exemplar_luminance, dtype=np.float32)
    problem = masked_blend_problem(
        partial_luminance, mask, exemplars, vgg,
        layers=config.gram_layers, batch_size=config.batch_size, bf16=config.bf16_grams,
    )
    weights = solve_blend(problem, config.solver)
    used = np.flatnonzero(weights != 0.0)
    if complete is None:
        grams = compute_grams(
            exemplars[used], vgg, layers=config.gram_layers, batch_size=config.batch_size, bf16=config.bf16_grams
        )
    else:
        grams = select_grams(complete, used, config.gram_layers, expected=exemplars.shape[0])
    return BlendResult(
        weights=weights,
        solver=config.solver,
        target=blend_grams(weights[used], grams),
        objective=problem.objective(weights),
    )


def select_grams(grams: GramSource, rows: np.ndarray, layers: Sequence[str], *, expected: int) -> GramSet:
    """Rows ``rows`` of ``grams`` (a GramSet, or stored Grams read on demand) at ``layers``,
    after checking it holds ``expected`` images.

    Raises
    ------
    ShapeMismatchError
        If ``grams`` holds another number of images or lacks a layer.
    """
    missing = [layer for layer in layers if layer not in grams.layers]
    if missing:
        raise ShapeMismatchError(f"the exemplar Grams lack layers {missing}")
    if grams.count != expected:
        raise ShapeMismatchError(f"{grams.count} exemplar Gram sets for {expected} exemplars")
    return grams.take(rows, layers)
