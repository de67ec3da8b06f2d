"""Subsurface scattering of skin, as a diffusion of the rendered irradiance over the surface.

Light enters skin, scatters and leaves it millimetres away, more so in red than in blue: that
softens shadow edges and pores and gives skin its glow, where a surface BRDF alone reads as a
matte mask. Here the scattering is the separable BSSRDF of Christensen & Burley, "Approximate
Reflectance Profiles for Efficient Subsurface Scattering" (Pixar, 2015), applied to an image:

* the diffuse radiance is rendered with the "pre-scatter" albedo √A (a path-traced image, so
  shadows and interreflections are in it), per pixel ``D = √A · E/π`` for irradiance E;
* it is spread over the visible skin with the normalised diffusion profile (their eq. 3)
  ``R(r) = (e^{−r/d} + e^{−r/(3d)}) / (8π d r)``, whose integral over the plane is 1;
* the result is multiplied by the "post-scatter" albedo √A, so a flat-lit surface keeps its
  albedo exactly (d'Eon & Luebke, GPU Gems 3 ch. 14, mix of pre- and post-scatter texturing).

The shape ``d = ℓ / s`` comes from the diffuse mean free path ℓ per channel and the surface
albedo A (their fit for diffuse surface transmission, ``s = 1.9 − A + 3.5 (A − 0.8)²``). The
default ℓ = (3.67, 1.37, 0.68) mm is 1/σ_tr of Jensen et al.'s "skin1" (SIGGRAPH 2001,
σ'_s = (0.74, 0.88, 1.01) mm⁻¹, σ_a = (0.032, 0.17, 0.48) mm⁻¹).

The spread is a gather in screen space with the true 3D distance between pixels: for each skin
pixel, ``samples`` offsets per channel are drawn with density ∝ R(r) in the image plane at the
pixel's own scale (mm per pixel), each weighted by R(|Δp|)/R(r) ≤ 1 so that samples across a
depth step or on a slanted surface count less, and the sum is normalised. Pixels are skin in
proportion to their coverage, so a sample never takes light from eyes, teeth or background.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SKIN1_MEAN_FREE_PATH_MM", "burley_profile", "burley_shape", "profile_radii", "scatter"]

SKIN1_MEAN_FREE_PATH_MM = (3.67, 1.37, 0.68)
"""Diffuse mean free path 1/σ_tr of Jensen et al. 2001's skin1 (R, G, B), mm."""

_CDF_TRUNCATION = 0.99  # radii beyond the profile's 99th percentile are not sampled


def burley_profile(r: np.ndarray, d: float) -> np.ndarray:
    """R(r) of the module doc (per mm², for r in mm), r > 0; ∫₀^∞ R(r) 2πr dr = 1."""
    r = np.asarray(r, dtype=np.float64)
    return (np.exp(-r / d) + np.exp(-r / (3.0 * d))) / (8.0 * np.pi * d * r)


def burley_shape(mean_free_path_mm: float, albedo: float) -> float:
    """The profile's d (mm) for a diffuse mean free path ℓ (mm) and a surface albedo A in (0, 1)."""
    s = 1.9 - albedo + 3.5 * (albedo - 0.8) ** 2
    return float(mean_free_path_mm / s)


def profile_radii(d: float, count: int) -> np.ndarray:
    """``count`` radii (mm) at the profile's quantiles (k + ½)/count · 0.99 of its radial CDF
    F(r) = 1 − ¼ e^{−r/d} − ¾ e^{−r/(3d)}, increasing."""
    quantiles = (np.arange(count) + 0.5) / count * _CDF_TRUNCATION
    grid = np.geomspace(1e-4 * d, 60.0 * d, 4096)
    cdf = 1.0 - 0.25 * np.exp(-grid / d) - 0.75 * np.exp(-grid / (3.0 * d))
    return np.interp(quantiles, cdf, grid)


def scatter(
    diffuse: np.ndarray,
    coverage: np.ndarray,
    positions_mm: np.ndarray,
    mm_per_pixel: np.ndarray,
    shape_mm: tuple[float, float, float],
    *,
    samples: int = 48,
    seed: int = 0,
) -> np.ndarray:
    """Spread pre-scatter diffuse radiance over the skin (module doc).

    Parameters
    ----------
    diffuse : (H, W, 3) linear radiance rendered with the pre-scatter albedo, skin only
        (other surfaces black), coverage-weighted at edges.
    coverage : (H, W) in [0, 1], the fraction of each pixel that is skin.
    positions_mm : (H, W, 3) the surface point seen at each pixel, any fixed frame, mm.
    mm_per_pixel : (H, W) the pixel's footprint on a surface facing the camera at that depth.
    shape_mm : the profile's d per channel (:func:`burley_shape`).
    samples : offsets per pixel and channel.
    seed : of the per-pixel rotation of the sample pattern (which turns banding into noise).

    Returns
    -------
    (H, W, 3) float32: the scattered radiance per unit of skin coverage (``diffuse`` / coverage
    where nothing scatters); 0 where a pixel holds no skin.
    """
    h, w = coverage.shape
    skin = coverage > 1e-3
    ys, xs = np.nonzero(skin)
    out = np.zeros((h, w, 3), dtype=np.float32)
    if ys.size == 0:
        return out
    flat_cov = coverage.reshape(-1).astype(np.float64)
    flat_pos = positions_mm.reshape(-1, 3).astype(np.float64)
    flat_diffuse = diffuse.reshape(-1, 3).astype(np.float64)
    own_pos = flat_pos[ys * w + xs]
    scale = 1.0 / np.maximum(mm_per_pixel[ys, xs].astype(np.float64), 1e-9)
    rotation = np.random.default_rng(seed).uniform(0.0, 2 * np.pi, ys.size)
    golden = np.pi * (3.0 - np.sqrt(5.0))
    for channel, d in enumerate(shape_mm):
        radii = profile_radii(d, samples)
        total = np.zeros(ys.size)
        weight = np.zeros(ys.size)
        for k, r in enumerate(radii):
            angle = rotation + k * golden
            ty = np.clip(np.rint(ys + r * scale * np.sin(angle)).astype(np.int64), 0, h - 1)
            tx = np.clip(np.rint(xs + r * scale * np.cos(angle)).astype(np.int64), 0, w - 1)
            target = ty * w + tx
            dist = np.linalg.norm(flat_pos[target] - own_pos, axis=1)
            ratio = burley_profile(np.maximum(dist, r), d) / burley_profile(r, d)  # ≤ 1: R falls with r
            total += ratio * flat_diffuse[target, channel]
            weight += ratio * flat_cov[target]
        # Σ w·D / Σ w·c: D is coverage-weighted, so this is the radiance per unit of skin.
        out[ys, xs, channel] = np.where(weight > 0, total / np.maximum(weight, 1e-12), 0.0)
    return out
