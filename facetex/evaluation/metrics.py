"""Per-texel quality metrics of an inferred albedo texture against the ground truth.

* :func:`lowpass_ssim` — whether the *large-scale* appearance (the low-pass) is kept.
* :func:`region_errors` — per-texel errors split by region (texels the input observed vs
  texels it did not), on Y and on its high-pass.

The other metrics have modules of their own: :mod:`~facetex.evaluation.spectra` (mesoscopic
power spectrum), :mod:`~facetex.evaluation.identity` (dlib likeness),
:mod:`~facetex.evaluation.fidelity` (per-band fidelity and sameness),
:mod:`~facetex.evaluation.onet` (Gram distance under ONet), :mod:`~facetex.evaluation.bootstrap`
(intervals over subjects). None of them reuses the synthesis network (VGG-19).

Conventions. Textures are facetex UV maps (:mod:`facetex.types`): float RGB in [0, 1], R × R,
0.5 off the chart. Every metric works on Y of YIQ (:func:`facetex.texture.color.luminance`).

Face width. Bands and scales are in cycles per face width (c/fw). One face width is a physical
length: the width of mediapipe's UV chart (:mod:`facetex.geometry.topology`, cheek to cheek),
carried to any layout through the outer eye corners (:func:`face_width_texels`): a layout
whose eye corners lie d_uv apart in UV has W = R · d_uv / D_MP texels per face width at R, D_MP
being their distance on mediapipe's chart. So W = R on mediapipe's chart and ≈ 0.843 R on the
ICT face tile (which spans ear to ear), and f cycles per texel are f·W c/fw. The functions
below take W as ``resolution`` and default it to the image width (mediapipe's chart). The
low-pass is a Gaussian of σ = W / (2π · :data:`LOWPASS_CUTOFF`) texels (:func:`lowpass_sigma`);
the high-pass is Y minus it. The figures behind the cut-off and the band:
``docs/evaluation.md``, "Metrics".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.ndimage import gaussian_filter

from facetex.errors import EmptyMaskError, ShapeMismatchError
from facetex.geometry.uv import landmark_uvs
from facetex.texture.color import luminance
from facetex.types import MeshTopology

__all__ = [
    "EYE_CORNERS",
    "LOWPASS_CUTOFF",
    "RegionError",
    "as_luminance",
    "as_mask",
    "face_width_texels",
    "lowpass",
    "lowpass_sigma",
    "lowpass_ssim",
    "mediapipe_eye_span",
    "region_errors",
    "same_shape",
]

#: Cut-off of the low-pass, cycles per face width: σ = W / (2π · cutoff) texels (module doc).
LOWPASS_CUTOFF = 16.0
#: mediapipe landmarks of the outer eye corners (right, left): they carry the face width from
#: mediapipe's chart to another layout (:func:`face_width_texels`).
EYE_CORNERS: tuple[int, int] = (33, 263)


# --------------------------------------------------------------------------------------------
# face width


def _eye_span(topology: MeshTopology) -> float:
    right, left = landmark_uvs(topology, EYE_CORNERS)
    return float(np.linalg.norm(left - right))


@cache
def mediapipe_eye_span() -> float:
    """D_MP: the UV distance between the outer eye corners on mediapipe's chart (≈ 0.4398)."""
    from facetex.geometry.topology import load_face_mesh

    return _eye_span(load_face_mesh())


def face_width_texels(topology: MeshTopology, resolution: int) -> float:
    """Texels per face width W of ``topology``'s UV layout at ``resolution`` R (module doc).

    W = R · d_uv / D_MP, d_uv the UV distance between the outer eye corners
    (:data:`EYE_CORNERS`, :func:`facetex.geometry.uv.landmark_uvs`) on the layout, D_MP that on mediapipe's chart
    (:func:`mediapipe_eye_span`): one face width is mediapipe's chart width, whatever the layout.
    Exactly R for mediapipe's chart; ≈ 0.843 R for the ICT face tile.

    Raises
    ------
    ValueError
        If R < 1 or the eye corners coincide on the layout.
    """
    if resolution < 1:
        raise ValueError(f"need resolution ≥ 1, got {resolution}")
    span = _eye_span(topology)
    if not span > 0:
        raise ValueError("the outer eye corners coincide on this UV layout; its face width is undefined")
    return float(resolution) * (span / mediapipe_eye_span())


# --------------------------------------------------------------------------------------------
# input checks


def as_luminance(image: np.ndarray, name: str) -> np.ndarray:
    """(H, W) float64 luminance of an (H, W) grey or (H, W, 3) RGB image."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return luminance(arr).astype(np.float64)
    if arr.ndim == 2:
        return arr.astype(np.float64)
    raise ShapeMismatchError(f"{name} must be an (H, W) grey or (H, W, 3) RGB image, got shape {arr.shape}")


def as_mask(mask: np.ndarray | None, shape: tuple[int, ...], name: str = "mask") -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = np.asarray(mask).astype(bool)
    if m.shape != shape:
        raise ShapeMismatchError(f"{name} is {m.shape} but the images are {shape}")
    return m


def same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ShapeMismatchError(f"the estimate is {a.shape} but the ground truth is {b.shape}")


# --------------------------------------------------------------------------------------------
# low-pass


def lowpass_sigma(resolution: float, cutoff: float = LOWPASS_CUTOFF) -> float:
    """σ in texels of the Gaussian low-pass at ``cutoff`` cycles per face width.

    A Gaussian of σ texels has the frequency response exp(−2π²σ²f²) (f in cycles per texel);
    σ = W / (2π · cutoff) puts its e^(−1/2) ≈ 0.61 point at ``cutoff`` c/fw.

    Parameters
    ----------
    resolution : W, texels per face width (:func:`face_width_texels`; R on mediapipe's chart).
    cutoff : cycles per face width (default :data:`LOWPASS_CUTOFF`).
    """
    if resolution < 1 or not cutoff > 0:
        raise ValueError(f"need resolution ≥ 1 and cutoff > 0, got {resolution} and {cutoff}")
    return float(resolution) / (2.0 * math.pi * float(cutoff))


def lowpass(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian low-pass (reflecting borders) of an (H, W) or (H, W, C) image, per channel.

    Returns float64 of the same shape; ``sigma`` in pixels (0 returns a copy).
    """
    arr = np.asarray(image, dtype=np.float64)
    if sigma <= 0:
        return arr.copy()
    spatial = (sigma, sigma) + (0.0,) * (arr.ndim - 2)
    return gaussian_filter(arr, sigma=spatial, mode="reflect")



# --------------------------------------------------------------------------------------------
# SSIM of the low-pass


def lowpass_ssim(
    estimate: np.ndarray,
    truth: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    sigma: float | None = None,
) -> float:
    """Mean SSIM of the Gaussian low-passes of Y over a mask.

    Both luminances are low-passed with σ (default :func:`lowpass_sigma` of the width, i.e.
    16 c/fw), then ``skimage.metrics.structural_similarity`` (Gaussian window σ = 1.5, data
    range 1, population covariances; Wang et al. 2004) gives a per-texel SSIM map whose mean
    over ``mask`` is returned.

    Parameters
    ----------
    estimate, truth : (R, R, 3) RGB or (R, R) luminance, float in [0, 1], same shape.
    mask : (R, R) bool, texels averaged (default all).
    sigma : low-pass σ in texels.

    Returns
    -------
    float in [−1, 1]; 1 for identical low-passes.

    Raises
    ------
    ShapeMismatchError
        Shapes differ.
    EmptyMaskError
        The mask is empty.
    """
    from skimage.metrics import structural_similarity

    a = as_luminance(estimate, "estimate")
    b = as_luminance(truth, "truth")
    same_shape(a, b)
    m = as_mask(mask, a.shape)
    if not m.any():
        raise EmptyMaskError("the SSIM mask is empty")
    s = lowpass_sigma(a.shape[1]) if sigma is None else float(sigma)
    _, ssim_map = structural_similarity(
        lowpass(a, s),
        lowpass(b, s),
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    return float(ssim_map[m].mean())


# --------------------------------------------------------------------------------------------
# per-region errors


@dataclass(frozen=True)
class RegionError:
    """Texel errors of an estimate over one region.

    Attributes
    ----------
    texels : number of texels in the region.
    l1 : mean |Y_est − Y_true|.
    rmse : root mean square of Y_est − Y_true.
    highpass_rmse : RMSE of the high-passes (Y minus its Gaussian low-pass, σ of
        :func:`lowpass_sigma`). Not aligned detail scores worse than none: a smooth texture
        scores the ground truth's high-pass RMS here, a plausible but different detail up to
        √2 times that. Read it with ``detail_ratio`` and the power spectrum.
    detail_ratio : RMS of the estimate's high-pass over the truth's on the region (1: as much
        detail as the truth; 0: none).
    """

    texels: int
    l1: float
    rmse: float
    highpass_rmse: float
    detail_ratio: float


def region_errors(
    estimate: np.ndarray,
    truth: np.ndarray,
    regions: Mapping[str, np.ndarray],
    *,
    sigma: float | None = None,
) -> dict[str, RegionError]:
    """L1 / RMSE of Y and of its high-pass per named region (e.g. observed vs hidden texels).

    Parameters
    ----------
    estimate, truth : (R, R, 3) RGB or (R, R) luminance, float in [0, 1], same shape.
    regions : name → (R, R) bool mask. An empty region gives NaN errors and 0 texels.
    sigma : σ of the low-pass that defines the high-pass, texels (default
        :func:`lowpass_sigma`).

    Returns
    -------
    dict name → RegionError, in the order of ``regions``.
    """
    a = as_luminance(estimate, "estimate")
    b = as_luminance(truth, "truth")
    same_shape(a, b)
    s = lowpass_sigma(a.shape[1]) if sigma is None else float(sigma)
    high_a = a - lowpass(a, s)
    high_b = b - lowpass(b, s)
    out: dict[str, RegionError] = {}
    for name, region in regions.items():
        m = as_mask(region, a.shape, f"region {name!r}")
        n = int(m.sum())
        if n == 0:
            out[name] = RegionError(texels=0, l1=math.nan, rmse=math.nan, highpass_rmse=math.nan, detail_ratio=math.nan)
            continue
        diff = a[m] - b[m]
        truth_rms = float(np.sqrt(np.mean(high_b[m] ** 2)))
        estimate_rms = float(np.sqrt(np.mean(high_a[m] ** 2)))
        out[name] = RegionError(
            texels=n,
            l1=float(np.abs(diff).mean()),
            rmse=float(np.sqrt(np.mean(diff**2))),
            highpass_rmse=float(np.sqrt(np.mean((high_a[m] - high_b[m]) ** 2))),
            detail_ratio=estimate_rms / truth_rms if truth_rms > 0 else math.nan,
        )
    return out
