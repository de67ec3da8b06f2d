"""Where each synthesis stage starts (§5 starts from the low-frequency albedo I(α_al); facetex
can add the §4-weighted exemplars' detail and keep the photo's own luminance on observed
texels). Luminance images are (R, R) float arrays in [0, 1] on the facetex UV layout.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

from facetex.errors import ShapeMismatchError
from facetex.texture.resample import resize

__all__ = ["exemplar_detail", "observed_start", "stage_start"]


def exemplar_detail(exemplars_y: Sequence[np.ndarray], weights: np.ndarray, sigma: float) -> np.ndarray:
    """The §4-weighted high-pass detail of the exemplars: Σ_k w_k H(Y_k) / ‖w‖₂.

    H is a Gaussian high-pass (Y − G_σ * Y) of each exemplar's luminance, on the shared UV
    layout. The detail of different faces is not aligned, so a weighted sum has about ‖w‖₂
    times the amplitude of one; dividing by ‖w‖₂ restores it.

    Parameters
    ----------
    exemplars_y : K (R, R) float exemplar luminances in [0, 1], one resolution.
    weights : (K,) float, their §4 weights, not all zero (≥ 0 for the convex and closest
        solvers; the unconstrained linear baseline's may be negative).
    sigma : Gaussian σ of the high-pass, in pixels.

    Returns
    -------
    (R, R) float32 detail (zero low-pass), luminance units.
    """
    w = np.asarray(weights, dtype=np.float64)
    if len(exemplars_y) != w.size or w.size == 0:
        raise ShapeMismatchError(f"{len(exemplars_y)} exemplars but {w.size} weights")
    norm = float(np.sqrt(np.sum(w**2)))
    if not norm > 0.0:
        raise ValueError("the exemplar weights are all zero")
    shape = np.shape(exemplars_y[0])
    detail = np.zeros(shape, dtype=np.float64)
    for weight, y in zip(w, exemplars_y):
        y = np.asarray(y, dtype=np.float64)
        if y.shape != shape or y.ndim != 2:
            raise ShapeMismatchError(f"exemplar luminances must share one (R, R) shape, got {y.shape} and {shape}")
        detail += weight * (y - gaussian_filter(y, sigma=sigma, mode="reflect"))
    return (detail / norm).astype(np.float32)


def stage_start(
    init_luminance: np.ndarray,
    previous: np.ndarray | None,
    detail: np.ndarray | None,
) -> np.ndarray:
    """Where a synthesis stage starts, (R, R) float32 in [0, 1].

    Without ``detail`` (the paper's §5): the low-frequency albedo's luminance for the first
    stage, the previous stage's result upsampled for later ones. With ``detail`` (an
    :func:`exemplar_detail` at R): the first stage starts at the init plus that detail; a later
    stage gets only the band the previous, coarser stage could not hold, ``detail − up(down(
    detail))``, added to its upsampled result. The low-pass stays the init's, and the §5
    objective is unchanged.

    Parameters
    ----------
    init_luminance : (R, R) float, Y of the low-frequency albedo at this stage's size.
    previous : (r, r) float luminance of the previous stage (r < R), or None for the first.
    detail : (R, R) float exemplar detail, or None.
    """
    size = init_luminance.shape[0]
    if previous is None:
        start = np.asarray(init_luminance, dtype=np.float32)
        if detail is not None:
            start = start + detail
    else:
        start = resize(previous, size)
        if detail is not None:
            start = start + detail - resize(resize(detail, previous.shape[0]), size)
    return np.clip(start, 0.0, 1.0).astype(np.float32)


def observed_start(start: np.ndarray, photo_y: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """A stage's start with the photo's luminance on observed texels (issue 16): no exemplar's
    spatially aligned marks enter what the photo shows.

    Parameters
    ----------
    start : (R, R) float32 start from :func:`stage_start`.
    photo_y : (R, R) float luminance of the partial albedo (filled off the mask).
    coverage : (R, R) float in [0, 1], the observed mask resized to R.

    Returns
    -------
    (R, R) float32 in [0, 1]: the photo where fully observed, blended over ~2 texels at the
    mask's edge (the mask blurred and remapped to reach 0 at its edge).
    """
    soft = gaussian_filter(np.asarray(coverage, dtype=np.float32), sigma=1.0, mode="constant")
    w = np.clip(2.0 * soft - 1.0, 0.0, 1.0) * (coverage > 0.5)
    return np.clip(w * photo_y + (1.0 - w) * start, 0.0, 1.0).astype(np.float32)
