"""Keep what the photo shows: band-wise fusion of the photo's own detail with synthesised detail.

The paper's §5 re-synthesises every texel's luminance from I(α_al); the photo enters only
through its Gram statistics, so the output carries the database's features, not the person's
(issue 16). facetex instead keeps, where the photo observes skin, the partial albedo's own
luminance in every frequency band the photo resolves there, and takes synthesised ("invented")
detail only above that band and in hidden texels.

Bands
    Octaves of cycles per UV width R, split by Gaussian low-passes with σ = R / (2π f)
    (:func:`band_split`): a low-pass below ``LOWEST`` (16 c/R), then [16, 32), [32, 64), … up
    to R/2, and the rest above the last edge. The bands sum to the image exactly.
What the photo resolves, per texel and band (:func:`photo_band_weights`)
    * sampling: the photo holds at most 0.5 × ``pixels_per_texel`` × R cycles per R at a texel
      (:attr:`facetex.types.PartialAlbedo.pixels_per_texel`); a band fades out between its
      upper and lower edge as that limit falls;
    * blur: one amplitude transfer per band for the whole photo (:func:`estimate_transfer`),
      the ratio of the partial's band amplitude to the §4-weighted exemplars' on the texels
      whose sampling resolves the band (the exemplars come from sharp studio photos on the
      same UV layout). A band whose transfer is below ``min_transfer`` is not held; a held
      band is restored by the gain min(1/T, 1/min_transfer) (a per-band Wiener-like
      inverse), so a blurred photo keeps its attenuated detail at its natural strength;
    * the mask: each band's weight is the observed mask blurred at that band's scale and
      remapped to reach 0 at the mask's edge and 1 a band-width inside it (multi-band
      blending as Burt & Adelson 1983), so no seam shows between kept and invented detail.
Fusion (:func:`keep_observed_detail`)
    Outside the observed texels the photo's partial is filled with the synthesis plus a
    smooth extension of the photo-minus-synthesis offset (normalised convolution), so the
    low bands join without a step. Band b of the output is
    ``w_b · g_b · B_b(photo) + (1 − w_b) · d · B_b(synthesis)``, with ``d`` the invented-detail
    scale (``TextureConfig.detail`` × the detail map); the low-pass below 16 c/R is blended
    the same way without ``d``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from facetex.errors import ShapeMismatchError

__all__ = [
    "LOWEST",
    "BandTransfer",
    "band_edges",
    "band_split",
    "estimate_transfer",
    "keep_observed_detail",
    "photo_band_weights",
    "sampling_cutoff",
]

#: Lowest band edge, cycles per UV width: below it everything is "low-pass".
LOWEST = 16.0
#: A band is held by the photo when its amplitude transfer is at least this.
MIN_TRANSFER = 0.15
#: Below this many resolved texels a band's transfer is not estimated (taken as not held).
_MIN_TEXELS = 64


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


def _lowpass(image: np.ndarray, frequency: float) -> np.ndarray:
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
    lows = [_lowpass(x, f) for f in edges]
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


def _resolved(cutoff: np.ndarray, low: float, high: float) -> np.ndarray:
    """How much of the band [low, high) a texel's sampling limit resolves: 0 at or below
    ``low``, 1 at or above ``high``, linear in log frequency between."""
    with np.errstate(divide="ignore"):
        t = (np.log2(np.maximum(cutoff, 1e-9)) - np.log2(low)) / np.log2(high / low)
    return np.clip(t, 0.0, 1.0)


@dataclass(frozen=True)
class BandTransfer:
    """How strongly the photo carries each band, relative to the database's sharp exemplars.

    Attributes
    ----------
    edges : the band edges (cycles per R) of :func:`band_edges`.
    transfer : (len(edges),) float64 ≥ 0, amplitude ratio photo / exemplars for the bands
        [e_i, e_{i+1}) (the last one above e_last); NaN where too few texels resolve a band.
    """

    edges: tuple[float, ...]
    transfer: np.ndarray

    def as_dict(self) -> dict[str, float]:
        """Band name ("16–32 c/R"; the last "256+ c/R") → transfer, for records and reports
        (NaN: not measured)."""
        names = [f"{a:g}–{b:g} c/R" for a, b in zip(self.edges, self.edges[1:])] + [f"{self.edges[-1]:g}+ c/R"]
        return {name: round(float(t), 3) for name, t in zip(names, self.transfer)}

    def gains(self, min_transfer: float = MIN_TRANSFER) -> np.ndarray:
        """(B,) gain restoring each held band: min(1/T, 1/min_transfer); 0 for bands not held."""
        t = np.nan_to_num(self.transfer, nan=0.0)
        held = t >= min_transfer
        return np.where(held, 1.0 / np.maximum(t, min_transfer), 0.0)


def estimate_transfer(
    partial_y: np.ndarray,
    mask: np.ndarray,
    cutoff: np.ndarray,
    references_y: Sequence[np.ndarray],
    weights: np.ndarray,
) -> BandTransfer:
    """Per-band amplitude transfer of the photo: sqrt(band power of the partial / the weighted
    mean band power of the references) on the observed texels that the photo's sampling
    resolves for that band.

    Parameters
    ----------
    partial_y : (R, R) float luminance of the partial albedo in [0, 1].
    mask : (R, R) bool observed texels.
    cutoff : (R, R) float sampling limit per texel (:func:`sampling_cutoff`).
    references_y : K (R, R) float luminances of sharp textures on the same layout (the
        exemplars the §4 fit weighted), in [0, 1].
    weights : (K,) float ≥ 0, their weights (normalised here).

    Returns
    -------
    BandTransfer over :func:`band_edges` (R). Band power is measured on the mask eroded by
    the band's low-pass width, away from the fill outside it.
    """
    r = partial_y.shape[0]
    w = np.asarray(weights, dtype=np.float64)
    if partial_y.shape != (r, r) or mask.shape != (r, r) or any(np.shape(y) != (r, r) for y in references_y):
        raise ShapeMismatchError(f"partial {partial_y.shape}, references and mask {mask.shape} must be one (R, R)")
    if len(references_y) != w.size or not (w >= 0).all() or not w.sum() > 0:
        raise ValueError(f"need one non-negative weight per reference, not all zero; got {w} for {len(references_y)}")
    w = w / w.sum()
    edges = band_edges(r)
    observed = np.asarray(mask, dtype=bool)
    filled = _normalised_fill(np.asarray(partial_y, dtype=np.float64), observed, r / (2 * np.pi * LOWEST))
    mine = band_split(filled, edges)[1:]
    theirs = [band_split(np.asarray(y, dtype=np.float64), edges)[1:] for y in references_y]
    coverage = gaussian_filter(observed.astype(np.float64), sigma=r / (2 * np.pi * LOWEST), mode="constant")
    inside = observed & (coverage > 0.95)
    transfer = np.full(len(edges), np.nan)
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else r / 2.0
        region = inside & (_resolved(cutoff, low, high) >= 1.0) if high > low else inside & (cutoff >= low)
        if region.sum() < _MIN_TEXELS:
            continue
        power_ref = sum(wk * float(np.mean(bands[i][region] ** 2)) for wk, bands in zip(w, theirs))
        if power_ref > 0.0:
            transfer[i] = np.sqrt(float(np.mean(mine[i][region] ** 2)) / power_ref)
    return BandTransfer(edges=edges, transfer=transfer)


def _normalised_fill(image: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` outside ``mask`` replaced by a normalised convolution of its masked values
    (the local mean of the observed texels), the global observed mean where none are near."""
    m = mask.astype(np.float64)
    num = gaussian_filter(np.where(mask, image, 0.0), sigma=sigma, mode="constant")
    den = gaussian_filter(m, sigma=sigma, mode="constant")
    mean = float(image[mask].mean()) if mask.any() else 0.5
    fill = np.where(den > 1e-3, num / np.maximum(den, 1e-3), mean)
    return np.where(mask, image, fill)


def photo_band_weights(mask: np.ndarray, cutoff: np.ndarray, transfer: BandTransfer, *, min_transfer: float = MIN_TRANSFER) -> list[np.ndarray]:
    """Per band, how much of the output comes from the photo at each texel, in [0, 1].

    Returns
    -------
    ``len(edges) + 1`` (R, R) float64 maps, aligned with :func:`band_split`: the low-pass's
    (the blended mask only) then each band's: the mask blended at the band's scale × the
    fraction of the band the texel's sampling resolves × (transfer ≥ ``min_transfer``).
    """
    r = mask.shape[0]
    edges = transfer.edges
    m = np.asarray(mask, dtype=np.float64)
    held = np.nan_to_num(transfer.transfer, nan=0.0) >= min_transfer

    def blended(frequency: float) -> np.ndarray:
        # 0 at the mask's edge, 1 about one band-width inside it, 0 outside.
        soft = gaussian_filter(m, sigma=r / (4.0 * np.pi * frequency), mode="constant")
        return np.clip(2.0 * soft - 1.0, 0.0, 1.0) * m

    weights = [blended(edges[0] / 2.0) if edges else m]
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else r / 2.0
        if not held[i]:
            weights.append(np.zeros_like(m))
            continue
        resolved = _resolved(cutoff, low, high) if high > low else (cutoff >= low).astype(np.float64)
        weights.append(blended(low) * resolved)
    return weights


def keep_observed_detail(
    synthesis_y: np.ndarray,
    partial_y: np.ndarray,
    mask: np.ndarray,
    transfer: BandTransfer,
    cutoff: np.ndarray,
    *,
    detail: float | np.ndarray = 1.0,
    min_transfer: float = MIN_TRANSFER,
) -> np.ndarray:
    """The output luminance: the photo's bands where it holds them, invented detail elsewhere.

    Parameters
    ----------
    synthesis_y : (R, R) float luminance of the §5 synthesis, in [0, 1].
    partial_y : (R, R) float luminance of the partial albedo (anything off ``mask``).
    mask : (R, R) bool observed skin texels.
    transfer : the photo's per-band transfer (:func:`estimate_transfer`).
    cutoff : (R, R) sampling limit per texel, cycles per R (:func:`sampling_cutoff`).
    detail : invented-detail scale, a scalar or an (R, R) map, in [0, 2]; the photo's own
        bands are never scaled.
    min_transfer : bands weaker than this in the photo are invented, not restored.

    Returns
    -------
    (R, R) float32 luminance in [0, 1].
    """
    s = np.asarray(synthesis_y, dtype=np.float64)
    r = s.shape[0]
    observed = np.asarray(mask, dtype=bool)
    if s.shape != (r, r) or np.shape(partial_y) != (r, r) or observed.shape != (r, r):
        raise ShapeMismatchError(
            f"synthesis {s.shape}, partial {np.shape(partial_y)} and mask {observed.shape} must be one (R, R)"
        )
    scale = np.broadcast_to(np.asarray(detail, dtype=np.float64), (r, r))
    if not observed.any():
        bands = band_split(s, transfer.edges)
        return np.clip(bands[0] + scale * sum(bands[1:]), 0.0, 1.0).astype(np.float32)
    # The photo continued past the mask by the synthesis plus a smooth offset, so low bands
    # join without a step.
    p = np.asarray(partial_y, dtype=np.float64)
    offset = _normalised_fill(np.where(observed, p - s, 0.0), observed, r / (2 * np.pi * LOWEST / 2))
    reach = gaussian_filter(observed.astype(np.float64), sigma=r / (2 * np.pi * LOWEST / 2), mode="constant")
    photo = np.where(observed, p, s + offset * np.clip(2.0 * reach, 0.0, 1.0))
    gains = transfer.gains(min_transfer)
    weights = photo_band_weights(observed, cutoff, transfer, min_transfer=min_transfer)
    photo_bands = band_split(photo, transfer.edges)
    synth_bands = band_split(s, transfer.edges)
    out = weights[0] * photo_bands[0] + (1.0 - weights[0]) * synth_bands[0]
    for w, g, pb, sb in zip(weights[1:], gains, photo_bands[1:], synth_bands[1:]):
        out += w * g * pb + (1.0 - w) * scale * sb
    return np.clip(out, 0.0, 1.0).astype(np.float32)
