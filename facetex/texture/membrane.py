"""Membrane (harmonic) interpolation on a UV map, and the photo's colour continued past its texels.

:func:`solve_membrane` solves Laplace's equation over the unknown texels of a chart with the
known ones as boundary values (optionally Poisson-guided, Pérez, Gangnet & Blake, SIGGRAPH
2003): the smoothest fill that meets every known texel without a step. The database's fill uses
it for the texels no photo shows (:mod:`facetex.database.fill`); inference uses it to carry the
photo's low-frequency colour into hidden texels (:func:`continue_photo_colour`).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from facetex.errors import ShapeMismatchError
from facetex.texture.resample import resize

__all__ = ["continue_photo_colour", "solve_membrane"]


def solve_membrane(
    values: np.ndarray,
    unknown: np.ndarray,
    chart: np.ndarray,
    guidance: np.ndarray | None,
    mean: np.ndarray,
    regularization: float,
) -> np.ndarray:
    """Solve Σ_q (f_p − f_q) = Σ_q g_pq + λ(mean − f_p) for unknown p, 4-neighbours q in the
    chart; f_q fixed for known q; g_pq = guide_p − guide_q where both guides exist, else 0.

    Parameters
    ----------
    values : (H, W, C) float, the known values (read where ``unknown`` is False).
    unknown, chart : (H, W) bool; texels off the chart are neither solved nor neighbours.
    guidance : (H, W, C) float guide image (NaN where none), or None for a plain membrane.
    mean : (C,) the value the weak pull λ = ``regularization`` draws towards (it keeps
        regions with no known neighbour defined).

    Returns (n_unknown, C) float64 in the order of ``values[unknown]`` (sparse LU).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import splu

    height, width = unknown.shape
    index = np.full(unknown.shape, -1, dtype=np.int64)
    index[unknown] = np.arange(int(unknown.sum()))
    n = int(unknown.sum())
    rows_p, cols_p = np.nonzero(unknown)
    diag = np.full(n, regularization, dtype=np.float64)
    rhs = np.repeat(regularization * mean[None, :], n, axis=0).astype(np.float64)
    entries_r: list[np.ndarray] = []
    entries_c: list[np.ndarray] = []
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        rq, cq = rows_p + dr, cols_p + dc
        inside = (rq >= 0) & (rq < height) & (cq >= 0) & (cq < width)
        p = np.nonzero(inside)[0]
        rq, cq = rq[inside], cq[inside]
        in_chart = chart[rq, cq]
        p, rq, cq = p[in_chart], rq[in_chart], cq[in_chart]
        diag[p] += 1.0
        if guidance is not None:
            gp = guidance[rows_p[p], cols_p[p]]
            gq = guidance[rq, cq]
            g = np.nan_to_num(gp - gq, nan=0.0)
            np.add.at(rhs, p, g)
        q_unknown = unknown[rq, cq]
        entries_r.append(p[q_unknown])
        entries_c.append(index[rq[q_unknown], cq[q_unknown]])
        q_known = ~q_unknown
        np.add.at(rhs, p[q_known], values[rq[q_known], cq[q_known]])
    r = np.concatenate(entries_r)
    c = np.concatenate(entries_c)
    matrix = coo_matrix(
        (np.concatenate([diag, -np.ones(r.size)]), (np.concatenate([np.arange(n), r]),
                                                    np.concatenate([np.arange(n), c]))),
        shape=(n, n),
    ).tocsc()
    return splu(matrix, permc_spec="MMD_AT_PLUS_A").solve(rhs)


def continue_photo_colour(lowfreq: np.ndarray, partial: np.ndarray, mask: np.ndarray, *,
                          scale: float = 1.0 / 64.0, reach: float = 1.0 / 16.0,
                          solve_size: int = 160, carry_tone: bool = True) -> np.ndarray:
    """The low-frequency albedo with the photo's colour carried smoothly into hidden texels.

    The fitted model albedo I(α_al) differs from the photo's unwrapped colour where the fit's
    photometric term did not look (on the ICT tile, the neck and the ears lie outside the face
    oval it fits) and by shading the SH model misses; hidden texels next to such a region took
    the model's colour and met the photo's with a visible edge (the observed neck band under
    the jaw). Here the residual photo − I(α_al) on observed texels, low-passed within the mask
    (normalised Gaussian, σ = ``scale`` × R), is carried into the hidden texels by a screened
    membrane (:func:`solve_membrane` with a pull towards 0 whose decay length is ``reach`` × R,
    at ``solve_size``², the residual being smooth) and added back: a hidden strip between two
    observed regions goes from one's colour to the other's. Skin far from anything observed
    takes the model's colour shifted by the median residual over the observed texels
    (``carry_tone``): the person's overall tone, which a PCA albedo of the database may not
    reach (a darker skin than the database's met a lighter model neck at the jaw). The median,
    not the local residual, is carried that far: a residual of the face's rim, darkened by
    shading the SH model misses, would grey the whole side of the head.

    Parameters
    ----------
    lowfreq : (R, R, 3) float RGB in [0, 1], I(α_al) in UV.
    partial : (R, R, 3) float RGB in [0, 1], the partial albedo (read on ``mask`` only).
    mask : (R, R) bool, observed skin texels.
    scale : σ of the residual's low-pass as a fraction of R.
    reach : decay length of the carried residual as a fraction of R (inf: no decay).
    solve_size : side of the grid the membrane is solved on (at most R).
    carry_tone : carry the median residual to hidden skin far from the observed texels (False:
        the model's colour there, as before 2026-12-07).

    Returns
    -------
    (R, R, 3) float32 in [0, 1]; ``lowfreq`` itself when nothing is observed.
    """
    base = np.asarray(lowfreq, dtype=np.float64)
    photo = np.asarray(partial, dtype=np.float64)
    seen = np.asarray(mask, dtype=bool)
    r = base.shape[0]
    if base.shape != (r, r, 3) or photo.shape != base.shape or seen.shape != (r, r):
        raise ShapeMismatchError(f"lowfreq {base.shape}, partial {photo.shape} and mask {seen.shape} must be one (R, R)")
    if not seen.any():
        return base.astype(np.float32)
    sigma = scale * r
    weight = gaussian_filter(seen.astype(np.float64), sigma, mode="constant")
    residual = np.stack([gaussian_filter(np.where(seen, photo[..., c] - base[..., c], 0.0), sigma, mode="constant")
                         for c in range(3)], axis=-1) / np.maximum(weight, 1e-6)[..., None]
    size = min(int(solve_size), r)
    coverage = resize(seen.astype(np.float32), size)
    small = resize(np.where(seen[..., None], residual, 0.0).astype(np.float32), size) / np.maximum(coverage, 1e-6)[..., None]
    known = coverage >= 0.5
    if not known.any():
        known = coverage > 0.0
    tone = np.median(residual[seen], axis=0) if carry_tone else np.zeros(3)
    values = np.where(known[..., None], small - tone, 0.0).astype(np.float64)
    unknown = ~known
    if unknown.any():
        everywhere = np.ones_like(known)
        pull = 1e-9 if not np.isfinite(reach) else 1.0 / max(reach * size, 1.0) ** 2
        values[unknown] = solve_membrane(values, unknown, everywhere, None, np.zeros(3), pull)
    filled = resize((values + tone).astype(np.float32), r).astype(np.float64)
    return np.clip(base + filled, 0.0, 1.0).astype(np.float32)
