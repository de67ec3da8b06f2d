"""Mesoscopic detail of a UV texture: patch-averaged radial power spectra of luminance.

:func:`radial_power_spectrum` / :func:`band_log_error` measure how much *mesoscopic detail*
(freckles, moles, fine wrinkles, pore clusters) a texture holds, compared with the ground truth
on the same skin patches (:func:`skin_patches`). Frequencies are in cycles per face width
(c/fw): one face width is W texels of an R × R UV map, W = R on mediapipe's chart and ≈ 0.843 R
on the ICT face tile (:func:`facetex.evaluation.metrics.face_width_texels`; conventions of
:mod:`facetex.evaluation.metrics`). :data:`MESOSCOPIC_BAND` = 24–96 c/fw; why that band:
``docs/evaluation.md``, "Metrics".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facetex.errors import EmptyMaskError, ShapeMismatchError
from facetex.evaluation.metrics import as_luminance

__all__ = [
    "MESOSCOPIC_BAND",
    "BandComparison",
    "RadialSpectrum",
    "band_log_error",
    "radial_power_spectrum",
    "skin_patches",
]

#: Mesoscopic detail band, cycles per face width (module doc).
MESOSCOPIC_BAND: tuple[float, float] = (24.0, 96.0)


@dataclass(frozen=True)
class RadialSpectrum:
    """Radially averaged power spectrum of luminance, averaged over square patches.

    Attributes
    ----------
    frequencies : (B,) float64, centre of each radial bin in cycles per face width (the bins
        are the integer radii 1 … P/2 of a P × P patch spectrum; 1 c/patch = W/P c/fw).
    power : (B,) float64 > 0, mean Hann-windowed periodogram per bin, normalised so that white
        noise of variance s² has power s² in every bin.
    patches : number of patches averaged.
    """

    frequencies: np.ndarray
    power: np.ndarray
    patches: int


@dataclass(frozen=True)
class BandComparison:
    """Power spectra of an estimate and the ground truth compared over a band.

    Attributes
    ----------
    log_ratio : mean over the band's bins of log10(P_estimate / P_truth): 0 for the same
        amount of detail, < 0 too little (blurry), > 0 too much (noisy). A uniform contrast
        change by a factor a of the high frequencies gives 2·log10(a).
    log_error : root mean square over the band's bins of that log ratio (decades), ≥ 0.
    bins : number of radial bins in the band.
    """

    log_ratio: float
    log_error: float
    bins: int


def skin_patches(mask: np.ndarray, patch: int, *, stride: int | None = None) -> list[tuple[int, int]]:
    """Top-left corners of the P × P patches of a grid that lie entirely inside ``mask``.

    Parameters
    ----------
    mask : (H, W) bool, the region to sample (e.g. the observed skin texels).
    patch : P, side of the square patches, texels.
    stride : grid step (default P // 4: patches overlap by 3/4, so irregular skin regions
        still hold several).

    Returns
    -------
    list of (row, col), row-major. Empty if no patch fits.
    """
    m = np.asarray(mask).astype(bool)
    if m.ndim != 2:
        raise ShapeMismatchError(f"mask must be (H, W), got {m.shape}")
    if patch < 4:
        raise ValueError(f"patch must be ≥ 4 texels, got {patch}")
    step = stride if stride is not None else max(1, patch // 4)
    # Summed-area table: a patch is inside iff it covers P² mask texels.
    table = np.pad(m.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    corners = []
    for i in range(0, m.shape[0] - patch + 1, step):
        for j in range(0, m.shape[1] - patch + 1, step):
            inside = table[i + patch, j + patch] - table[i, j + patch] - table[i + patch, j] + table[i, j]
            if inside == patch * patch:
                corners.append((i, j))
    return corners


def radial_power_spectrum(
    image: np.ndarray,
    corners: Sequence[tuple[int, int]],
    patch: int,
    *,
    resolution: float | None = None,
) -> RadialSpectrum:
    """Radially averaged power spectrum of Y over square patches, Hann-windowed.

    Each P × P patch has its mean removed and is multiplied by a separable Hann window (so the
    patch border does not leak power into high frequencies), then its periodogram |FFT|² is
    divided by Σ window² and averaged over the patches; radii are rounded to integer cycles per
    patch and averaged per ring.

    Parameters
    ----------
    image : (R, R, 3) RGB or (R, R) luminance, float in [0, 1] (a UV map).
    corners : patch corners, e.g. from :func:`skin_patches` (use the same for the images you
        compare).
    patch : P, texels.
    resolution : W, texels per face width (default: the image width R, mediapipe's chart; see
        the module doc).

    Returns
    -------
    RadialSpectrum with bins at 1 … P/2 cycles per patch.

    Raises
    ------
    EmptyMaskError
        If ``corners`` is empty.
    """
    y = as_luminance(image, "image")
    if not corners:
        raise EmptyMaskError("no patch lies inside the evaluation region; the power spectrum is undefined")
    width = float(resolution if resolution is not None else y.shape[1])
    window_1d = np.hanning(patch + 2)[1:-1]  # strictly positive taps
    window = np.outer(window_1d, window_1d)
    norm = float(np.square(window).sum())
    power = np.zeros((patch, patch))
    for i, j in corners:
        block = y[i : i + patch, j : j + patch]
        if block.shape != (patch, patch):
            raise ShapeMismatchError(f"patch at ({i}, {j}) leaves the {y.shape} image")
        spectrum = np.fft.fft2((block - block.mean()) * window)
        power += np.abs(spectrum) ** 2 / norm
    power /= len(corners)
    k = np.fft.fftfreq(patch) * patch
    radius = np.rint(np.hypot(k[:, None], k[None, :])).astype(np.int64)
    bins = np.arange(1, patch // 2 + 1)
    sums = np.bincount(radius.ravel(), weights=power.ravel(), minlength=patch)
    counts = np.bincount(radius.ravel(), minlength=patch)
    ring = sums[bins] / counts[bins]
    return RadialSpectrum(
        frequencies=bins * width / patch,
        power=np.maximum(ring, np.finfo(np.float64).tiny),
        patches=len(corners),
    )


def band_log_error(
    estimate: RadialSpectrum,
    truth: RadialSpectrum,
    band: tuple[float, float] = MESOSCOPIC_BAND,
) -> BandComparison:
    """Compare two spectra (same patches and size) over a band in cycles per face width.

    Parameters
    ----------
    estimate, truth : from :func:`radial_power_spectrum` with the same corners and patch size.
    band : (low, high) c/fw, inclusive (default :data:`MESOSCOPIC_BAND`).

    Raises
    ------
    ShapeMismatchError
        If the spectra have different bins.
    ValueError
        If no bin falls in the band (the patches are too small or the map too coarse).
    """
    if not np.array_equal(estimate.frequencies, truth.frequencies):
        raise ShapeMismatchError("the spectra have different frequency bins; use the same patches")
    low, high = band
    inside = (truth.frequencies >= low) & (truth.frequencies <= high)
    if not inside.any():
        raise ValueError(
            f"no frequency bin in {low:g}–{high:g} c/fw (bins reach {truth.frequencies.max():g}); "
            "use a larger map or patches"
        )
    ratio = np.log10(estimate.power[inside] / truth.power[inside])
    return BandComparison(
        log_ratio=float(ratio.mean()),
        log_error=float(np.sqrt(np.mean(ratio**2))),
        bins=int(inside.sum()),
    )

