"""Baselines that protocol A compares the paper's method with (paper §6, Fig. 12 and Fig. 17).

* :func:`pca_albedo` — the low-frequency albedo I(α_al) of the fitted morphable model alone,
  variant (1) of the paper's user study: what the texture would be without §4–5.
* :func:`inpaint_albedo` — a generic image-inpainting completion of the partial albedo
  (paper Fig. 17 compares with such methods on hidden regions): observed texels keep the
  unwrapped photo albedo, every other texel of the UV chart is filled by OpenCV's inpainting,
  Telea's fast-marching method (Telea 2004) or the Navier–Stokes method (Bertalmío et al.
  2001).
"""

from __future__ import annotations

import cv2
import numpy as np

from facetex.errors import EmptyMaskError
from facetex.texture.color import MASK_VALUE
from facetex.types import PartialAlbedo

__all__ = ["INPAINT_METHODS", "pca_albedo", "inpaint_albedo"]

#: OpenCV inpainting methods.
INPAINT_METHODS = ("telea", "ns")


def pca_albedo(partial: PartialAlbedo) -> np.ndarray:
    """The fitted low-frequency albedo I(α_al) as a complete texture.

    Returns
    -------
    (R, R, 3) float32 in [0, 1], 0.5 off the UV chart (a copy of ``partial.lowfreq``).
    """
    out = np.clip(np.asarray(partial.lowfreq, dtype=np.float32), 0.0, 1.0).copy()
    out[~partial.chart] = MASK_VALUE
    return out


def inpaint_albedo(partial: PartialAlbedo, *, method: str = "telea", radius: float = 3.0) -> np.ndarray:
    """Complete a partial albedo by generic inpainting of its unobserved texels.

    Every texel outside ``partial.mask`` is inpainted (including off-chart ones, so the 0.5
    padding never bleeds into the face), then texels off the chart are reset to 0.5. Runs per
    channel on 16-bit integers: OpenCV's Telea inpainting of float32 images is wrong (errors
    above 1 on a smooth ramp, measured with opencv-python-headless 4.11), its 8- and 16-bit
    paths are not; 16 bits keep the albedo's precision.

    Parameters
    ----------
    partial : the partial albedo; ``albedo`` is used on ``mask``.
    method : "telea" or "ns".
    radius : inpainting neighbourhood radius, texels.

    Returns
    -------
    (R, R, 3) float32 in [0, 1]: the observed albedo on ``mask``, inpainted elsewhere on the
    chart, 0.5 off it.

    Raises
    ------
    EmptyMaskError
        Nothing was observed.
    """
    if method not in INPAINT_METHODS:
        raise ValueError(f"method must be one of {', '.join(INPAINT_METHODS)}, got {method!r}")
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    observed = np.asarray(partial.mask, dtype=bool)
    if not observed.any():
        raise EmptyMaskError("the partial albedo has no observed texel to inpaint from")
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    holes = (~observed).astype(np.uint8)
    albedo = np.asarray(partial.albedo, dtype=np.float32)
    levels = np.round(np.clip(albedo, 0.0, 1.0) * 65535.0).astype(np.uint16)
    channels = [cv2.inpaint(np.ascontiguousarray(levels[..., c]), holes, float(radius), flag) for c in range(3)]
    out = (np.stack(channels, axis=-1).astype(np.float32) / 65535.0).astype(np.float32)
    out[observed] = albedo[observed]
    out[~partial.chart] = MASK_VALUE
    return out
