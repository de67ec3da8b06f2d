"""Fidelity: is the detail of a texture *this person's* detail? (``docs/design.md``, "Fidelity").

The metrics of :mod:`facetex.evaluation.metrics` and :mod:`facetex.evaluation.spectra` measure
plausibility (how much detail, how skin-like); a texture that pastes the database's features into every face scores well there.
These measure fidelity, per octave band of spatial frequency and per region of texels:

* :func:`band_fidelity` — the Pearson correlation of an estimate's band-pass luminance with the
  truth's (1: the same detail at the same place; 0: unrelated detail, or none) and the band's
  power log-ratio log10(P_estimate / P_truth) (0: as much detail; < 0 too little; > 0 too much).
* :func:`sameness` — over several persons, the mean pairwise correlation of band-pass luminance
  between *different* persons' estimates minus the same between their truths, on the texels
  both persons' regions share: 0 when outputs are as alike as the people are, > 0 when the
  pipeline makes everyone alike (the same brows, lid shadows, marks).

Frequencies. A band (lo, hi) is in cycles per face width (c/fw). One face width is W texels,
the width of mediapipe's UV chart carried to the layout through the outer eye corners
(:func:`facetex.evaluation.metrics.face_width_texels`: W = R on mediapipe's chart, ≈ 0.843 R on
the ICT face tile), so f c/fw is f / W cycles per texel at every resolution. The functions take
W as ``resolution`` and default it to the image width R (mediapipe's chart).
:data:`FIDELITY_BANDS` are the octaves 16–32, 32–64, 64–128 and 128–256 c/fw; a band whose
upper edge lies above the Nyquist limit W / 2 is not defined there and is skipped (on
mediapipe's chart at 256², 128–256 c/fw; on the ICT tile at 256², W ≈ 216, 64–128 c/fw too).

Band-pass. A difference of Gaussians, G_σhi ∗ Y − G_σlo ∗ Y with σ = W / (2π f) texels for
f = hi and f = lo: a Gaussian of σ texels has the frequency response exp(−2π²σ²ν²), so each
σ puts its e^(−1/2) point at its edge frequency f. Y is luminance (YIQ's Y,
:func:`facetex.texture.color.luminance`), borders are reflected.

Region. Scores are taken on a region mask eroded by a margin (default :func:`default_margin`,
max(2, ⌊W⌋ // 50) texels: 5 at W = 256, twice the σ of the 16 c/fw edge), so that what lies outside
the region (the 0.5 grey off a partial albedo's observed texels, the off-chart grey) does not
leak into the band-pass of the texels scored. All functions are pure functions of arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_erosion, gaussian_filter

from facetex.errors import ShapeMismatchError
from facetex.evaluation.metrics import as_luminance, as_mask, same_shape

__all__ = [
    "FIDELITY_BANDS",
    "BandFidelity",
    "Sameness",
    "band_label",
    "bands_at",
    "band_sigmas",
    "bandpass",
    "default_margin",
    "erode_region",
    "band_fidelity",
    "sameness",
]

#: Octave bands of the fidelity metrics, cycles per face width (module doc).
FIDELITY_BANDS: tuple[tuple[float, float], ...] = ((16.0, 32.0), (32.0, 64.0), (64.0, 128.0), (128.0, 256.0))


def band_label(band: tuple[float, float]) -> str:
    """"16-32" for the band (16, 32) c/fw: the key of a band in results and tables."""
    lo, hi = band
    return f"{lo:g}-{hi:g}"


def bands_at(resolution: float, bands: Sequence[tuple[float, float]] = FIDELITY_BANDS) -> tuple[tuple[float, float], ...]:
    """The bands defined at ``resolution`` W texels per face width: those with
    0 < lo < hi ≤ W / 2 (Nyquist).

    Raises
    ------
    ValueError
        If a band is not 0 < lo < hi.
    """
    for lo, hi in bands:
        if not 0 < lo < hi:
            raise ValueError(f"a band must satisfy 0 < low < high, got ({lo}, {hi})")
    return tuple((float(lo), float(hi)) for lo, hi in bands if hi <= resolution / 2)


def band_sigmas(resolution: float, band: tuple[float, float]) -> tuple[float, float]:
    """(σ_hi, σ_lo) in texels of the difference of Gaussians of ``band`` at W texels per face
    width: σ = W / (2π f) (module doc); σ_hi < σ_lo."""
    lo, hi = band
    if resolution < 1 or not 0 < lo < hi:
        raise ValueError(f"need resolution ≥ 1 and 0 < low < high, got {resolution} and ({lo}, {hi})")
    return resolution / (2.0 * math.pi * hi), resolution / (2.0 * math.pi * lo)


def bandpass(image: np.ndarray, band: tuple[float, float], *, resolution: float | None = None) -> np.ndarray:
    """Band-pass luminance of a UV map: difference of Gaussians (module doc).

    Parameters
    ----------
    image : (R, R, 3) RGB or (R, R) luminance, float in [0, 1].
    band : (low, high) cycles per face width.
    resolution : texels per face width (default: the image width).

    Returns
    -------
    (R, R) float64, zero-mean up to border effects.
    """
    y = as_luminance(image, "image")
    width = float(resolution if resolution is not None else y.shape[1])
    s_hi, s_lo = band_sigmas(width, band)
    return gaussian_filter(y, s_hi, mode="reflect") - gaussian_filter(y, s_lo, mode="reflect")


def default_margin(resolution: float) -> int:
    """Erosion of the scored region, texels: max(2, ⌊W⌋ // 50), W texels per face width
    (module doc)."""
    return max(2, int(resolution) // 50)


def erode_region(mask: np.ndarray, margin: int) -> np.ndarray:
    """(H, W) bool ``mask`` eroded by ``margin`` texels (3 × 3 structuring element; the image
    border counts as outside)."""
    m = np.asarray(mask).astype(bool)
    if m.ndim != 2:
        raise ShapeMismatchError(f"mask must be (H, W), got {m.shape}")
    if margin < 0:
        raise ValueError(f"margin must be ≥ 0, got {margin}")
    if margin == 0 or not m.any():
        return m.copy()
    return binary_erosion(m, iterations=int(margin), border_value=0)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two 1-D samples; NaN if either has no variance."""
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denom if denom > 0 else math.nan


@dataclass(frozen=True)
class BandFidelity:
    """An estimate's band-pass luminance against the truth's over one region.

    Attributes
    ----------
    correlation : Pearson correlation in [−1, 1] over the region's texels (NaN if the region is
        empty or either band-pass is constant there).
    log_ratio : log10 of the mean squared band-pass of the estimate over the truth's, decades
        (0: as much detail; a contrast change by a gives 2·log10(a); NaN when undefined).
    texels : texels scored (after erosion).
    """

    correlation: float
    log_ratio: float
    texels: int


def band_fidelity(
    estimate: np.ndarray,
    truth: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    bands: Sequence[tuple[float, float]] = FIDELITY_BANDS,
    resolution: float | None = None,
    margin: int | None = None,
) -> dict[str, BandFidelity]:
    """Correlation and power log-ratio of an estimate's band-pass luminance with the truth's.

    Parameters
    ----------
    estimate, truth : (R, R, 3) RGB or (R, R) luminance, float in [0, 1], same shape (UV maps
        on the same chart: texel (i, j) is the same point of the face in both).
    mask : (R, R) bool, the region scored (default all); eroded by ``margin`` first.
    bands : (low, high) c/fw; bands above W / 2 are left out (:func:`bands_at`).
    resolution : W, texels per face width (default: the image width R, mediapipe's chart;
        :func:`facetex.evaluation.metrics.face_width_texels` for another layout).
    margin : erosion of ``mask``, texels (default :func:`default_margin` of W).

    Returns
    -------
    dict band label ("16-32", …) → BandFidelity, in the order of ``bands``. An empty (eroded)
    region gives NaN values and 0 texels.

    Raises
    ------
    ShapeMismatchError
        If the images or the mask differ in shape.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).uniform(0.4, 0.6, (128, 128))
    >>> same = band_fidelity(y, y)["16-32"]
    >>> round(same.correlation, 6), round(same.log_ratio, 6)
    (1.0, 0.0)
    """
    a = as_luminance(estimate, "estimate")
    b = as_luminance(truth, "truth")
    same_shape(a, b)
    width = float(resolution if resolution is not None else a.shape[1])
    m = as_mask(mask, a.shape)
    m = erode_region(m, default_margin(width) if margin is None else margin)
    n = int(m.sum())
    out: dict[str, BandFidelity] = {}
    for band in bands_at(width, bands):
        if n == 0:
            out[band_label(band)] = BandFidelity(math.nan, math.nan, 0)
            continue
        ba = bandpass(a, band, resolution=width)[m]
        bb = bandpass(b, band, resolution=width)[m]
        pa, pb = float(np.mean(ba**2)), float(np.mean(bb**2))
        ratio = math.log10(pa / pb) if pa > 0 and pb > 0 else math.nan
        out[band_label(band)] = BandFidelity(_correlation(ba, bb), ratio, n)
    return out


@dataclass(frozen=True)
class Sameness:
    """How alike different persons' estimates are, against how alike their truths are.

    Attributes
    ----------
    estimates : mean over pairs of different persons of the correlation of their estimates'
        band-pass luminance on their shared texels.
    truths : the same for their truths, on the same texels.
    difference : ``estimates − truths``: ≈ 0 when the estimates are as alike as the persons,
        > 0 when the method makes persons alike (its own features in every face).
    pairs : pairs of persons averaged (pairs sharing no texel, or with a constant band-pass,
        are left out).
    """

    estimates: float
    truths: float
    difference: float
    pairs: int


def sameness(
    estimates: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    masks: Sequence[np.ndarray] | None = None,
    *,
    bands: Sequence[tuple[float, float]] = FIDELITY_BANDS,
    resolution: float | None = None,
    margin: int | None = None,
    min_texels: int = 64,
) -> dict[str, Sameness]:
    """Cross-person sameness per band (see :class:`Sameness`).

    Parameters
    ----------
    estimates : one UV map per person, (R, R, 3) RGB or (R, R) luminance in [0, 1], N ≥ 2.
    truths : the persons' true UV maps, same shapes, same order.
    masks : one (R, R) bool region per person (e.g. the texels the person's photo observed),
        each eroded by ``margin``; a pair is scored on the intersection of its two eroded
        regions. Default: every texel.
    bands, resolution, margin : as in :func:`band_fidelity`.
    min_texels : a pair sharing fewer texels is left out.

    Returns
    -------
    dict band label → Sameness (NaN values and 0 pairs where no pair could be scored).

    Raises
    ------
    ValueError
        Fewer than two persons, or lists of different lengths.
    ShapeMismatchError
        Shapes differ.
    """
    n = len(estimates)
    if n < 2:
        raise ValueError(f"sameness needs at least two persons, got {n}")
    if len(truths) != n or (masks is not None and len(masks) != n):
        raise ValueError("estimates, truths and masks must have one entry per person")
    ys = [as_luminance(e, "estimate") for e in estimates]
    ts = [as_luminance(t, "truth") for t in truths]
    shape = ys[0].shape
    for y, t in zip(ys, ts):
        same_shape(y, ys[0])
        same_shape(t, ys[0])
    width = float(resolution if resolution is not None else shape[1])
    keep = default_margin(width) if margin is None else margin
    regions = [erode_region(as_mask(None if masks is None else masks[i], shape), keep) for i in range(n)]
    out: dict[str, Sameness] = {}
    for band in bands_at(width, bands):
        by = [bandpass(y, band, resolution=width) for y in ys]
        bt = [bandpass(t, band, resolution=width) for t in ts]
        est, tru = [], []
        for i in range(n):
            for j in range(i + 1, n):
                shared = regions[i] & regions[j]
                if shared.sum() < min_texels:
                    continue
                ce = _correlation(by[i][shared], by[j][shared])
                ct = _correlation(bt[i][shared], bt[j][shared])
                if math.isfinite(ce) and math.isfinite(ct):
                    est.append(ce)
                    tru.append(ct)
        if est:
            e, t = float(np.mean(est)), float(np.mean(tru))
            out[band_label(band)] = Sameness(e, t, e - t, len(est))
        else:
            out[band_label(band)] = Sameness(math.nan, math.nan, math.nan, 0)
    return out

