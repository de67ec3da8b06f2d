"""One global studio lighting from per-photo fits (paper §6).

The photos of a studio set share one lighting setup, so the paper solves one globally
consistent lighting. Here each photo's fitted SH lighting is scaled by its fit's mean albedo
over a reference albedo (the generic model's mean skin), which removes the
albedo/light-intensity ambiguity of single fits, and the element-wise median over the photos is
the global lighting.
"""

from __future__ import annotations

import numpy as np

__all__ = ["global_lighting"]


def global_lighting(
    sh_coeffs: np.ndarray, albedo_scale: np.ndarray, reference_albedo: np.ndarray
) -> tuple[np.ndarray, float]:
    """One lighting for photos taken under the same setup (paper §6).

    Parameters
    ----------
    sh_coeffs : (N, 9, 3) per-photo fitted SH lighting (:mod:`facetex.types` layout).
    albedo_scale : (N, 3) mean fitted albedo per colour channel of each photo's fit.
    reference_albedo : (3,) the albedo the global lighting is expressed against (the model's
        mean skin colour).

    Returns
    -------
    lighting : (9, 3) element-wise median over photos of ``sh · albedo_scale / reference``;
        the scaling makes fits comparable (one fit can trade brighter light for darker skin).
    spread : mean over channels of 1.4826·MAD / |median| of the scaled DC term.
    """
    sh = np.asarray(sh_coeffs, dtype=np.float64)
    scale = np.asarray(albedo_scale, dtype=np.float64) / np.asarray(reference_albedo, dtype=np.float64)
    if sh.ndim != 3 or sh.shape[1:] != (9, 3) or scale.shape != (sh.shape[0], 3) or sh.shape[0] == 0:
        raise ValueError(f"expected (N, 9, 3) lightings and (N, 3) albedo scales, got {sh.shape} and {scale.shape}")
    normalised = sh * scale[:, None, :]
    lighting = np.median(normalised, axis=0)
    dc = normalised[:, 0, :]
    mad = 1.4826 * np.median(np.abs(dc - lighting[0]), axis=0)
    return lighting, float(np.mean(mad / np.maximum(np.abs(lighting[0]), 1e-12)))
