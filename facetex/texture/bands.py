"""Octave frequency bands of UV maps, the photo's sampling limit per texel, and radial spectra.

Bands are octaves of cycles per UV width R, split by Gaussian low-passes with σ = R / (2π f)
(:func:`band_split`): a low-pass below ``LOWEST`` (16 c/R), then [16, 32), [32, 64), … up to
R/2, and the rest above the last edge. The bands sum to the image exactly. Used by the fusion
of the photo's detail with synthesised detail (:mod:`facetex.texture.fusion`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

from facetex.errors import ShapeMismatchError

__all__ = [
    "LOWEST",
    "band_edges",
    "band_split",
    "filtered",
    "lowpass",
    "radial_average",
    "resolved_fraction",
    "sampling_cutoff",
    "skin_spectrum",
]

#: Lowest band edge, cycles per UV width: below it everything is "low-pass".
LOWEST = 16.0


def band_edges(resolution: int) -> tuple[float, ...]:
    """Octave edges LOWEST, 2·LOWEST, … (cycles per R), each ≤ R/2.

    >>> band_edges(512)
    (16.0, 32.0, 64.0, 128.0, 256.0)
    >>> band_edges(64)
    (16.0, 32.0)
    """
    edges = []
    f = LOWEST
    while f <= resolution / 2:
        edges.append(f)
        f *= 2.0
    return tuple(edges)


def lowpass(image: np.ndarray, frequency: float) -> np.ndarray:
    return gaussian_filter(image, sigma=image.shape[0] / (2.0 * np.pi * frequency), mode="reflect")


def band_split(image: np.ndarray, edges: Sequence[float]) -> list[np.ndarray]:
    """Split an (R, R) image into ``len(edges) + 1`` bands that sum to it.

    Returns
    -------
    [G_{e0} X, G_{e1} X − G_{e0} X, …, X − G_{e_last} X], float64, with G_f a Gaussian
    low-pass of σ = R / (2π f) (the same bands as the evaluation's band-pass correlation).
    With no edges, [X].
    """
    x = np.asarray(image, dtype=np.float64)
    lows = [lowpass(x, f) for f in edges]
    bands = [lows[0]] if lows else []
    bands += [b - a for a, b in zip(lows, lows[1:])]
    bands.append(x - lows[-1] if lows else x)
    return bands


def sampling_cutoff(pixels_per_texel: np.ndarray | None, resolution: int) -> np.ndarray:
    """Highest frequency the photo samples at each texel, cycles per R: 0.5 × density × R.

    ``None`` (density unknown) gives R/2 everywhere.
    """
    if pixels_per_texel is None:
        return np.full((resolution, resolution), resolution / 2.0)
    density = np.asarray(pixels_per_texel, dtype=np.float64)
    if density.shape != (resolution, resolution):
        raise ShapeMismatchError(f"pixels_per_texel is {density.shape}, expected {(resolution, resolution)}")
    return 0.5 * density * resolution


def resolved_fraction(cutoff: np.ndarray, low: float, high: float) -> np.ndarray:
    """How much of the band [low, high) a texel's sampling limit resolves: 0 at or below
    ``low``, 1 at or above ``high``, linear in log frequency between."""
    with np.errstate(divide="ignore"):
        t = (np.log2(np.maximum(cutoff, 1e-9)) - np.log2(low)) / np.log2(high / low)
    return np.clip(t, 0.0, 1.0)


def skin_spectrum(images: Sequence[np.ndarray], weights: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Weighted mean power spectrum of the images on a window (the texels a photo observed), so
    chart edges and the off-chart fill do not enter.

    Parameters
    ----------
    images : K (R, R) float luminances in [0, 1].
    weights : (K,) float ≥ 0, not all zero.
    window : (R, R) float in [0, 1], smooth.

    Returns
    -------
    (R, R) float64 |FFT((Y − mean) · window)|² · R² / Σ window² (unshifted): white noise of
    variance v has the flat spectrum v · R² on this scale.
    """
    r = window.shape[0]
    win = np.asarray(window, dtype=np.float64)
    norm = float(np.sum(win**2))
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    power = np.zeros((r, r))
    for wk, y in zip(w, images):
        y = np.asarray(y, dtype=np.float64)
        mean = float(np.sum(y * win) / np.sum(win))
        power += wk * np.abs(np.fft.fft2((y - mean) * win)) ** 2
    return power * r * r / max(norm, 1e-12)


def radial_average(power: np.ndarray) -> np.ndarray:
    """(R/2 + 1,) mean of an unshifted (R, R) spectrum in rings of 1 cycle per R."""
    r = power.shape[0]
    f = np.fft.fftfreq(r) * r
    ring = np.rint(np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)).astype(np.int64).ravel()
    keep = ring <= r // 2
    total = np.bincount(ring[keep], weights=power.ravel()[keep], minlength=r // 2 + 1)
    return total / np.maximum(np.bincount(ring[keep], minlength=r // 2 + 1), 1)


def filtered(image: np.ndarray, response) -> np.ndarray:
    """``image`` (R, R) filtered in the Fourier domain by ``response(|f|)`` (|f| in cycles per
    texel), with R/8 texels of reflected padding against wrap-around."""
    r = image.shape[0]
    pad = max(4, r // 8)
    padded = np.pad(image, pad, mode="reflect")
    f = np.fft.fftfreq(padded.shape[0])
    magnitude = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    out = np.real(np.fft.ifft2(np.fft.fft2(padded) * response(magnitude)))
    return out[pad : pad + r, pad : pad + r]
