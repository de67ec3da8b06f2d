"""Keep what the photo shows: band-wise fusion of the photo's own detail with synthesised detail.

The paper's §5 re-synthesises every texel's luminance from I(α_al); the photo enters only
through its Gram statistics, so the output carries the database's features, not the person's
(issue 16). facetex instead keeps, where the photo observes skin, the partial albedo's own
luminance in every frequency band the photo resolves there, and takes synthesised ("invented")
detail only above that band and in hidden texels.

Bands
    Octaves of cycles per UV width R, split by Gaussian low-passes with σ = R / (2π f)
    (:func:`facetex.texture.bands.band_split`): a low-pass below ``LOWEST`` (16 c/R), then [16, 32), [32, 64), … up
    to R/2, and the rest above the last edge. The bands sum to the image exactly.
What the photo resolves, per texel and band (:func:`photo_band_weights`)
    * sampling: the photo holds at most 0.5 × ``pixels_per_texel`` × R cycles per R at a texel
      (:attr:`facetex.types.PartialAlbedo.pixels_per_texel`); a band fades out between its
      upper and lower edge as that limit falls;
    * blur and noise: the ratio of the partial's band power to the §4-weighted exemplars' on
      the texels whose sampling resolves the band (the exemplars come from sharp studio photos
      on the same UV layout) is fitted as contrast² × the transfer² of one Gaussian blur plus
      white noise (:func:`estimate_transfer`, on the exemplars' spectrum over the observed
      texels). The blur is one σ in photo pixels, so σ / density texels at each texel: its
      transfer is averaged over the texels' densities. The contrast is the person's own
      (rougher or smoother skin than the exemplars) and is kept; the blur is what the photo
      lost. A Wiener filter restores each frequency as far as the signal outweighs the noise,
      and the synthesis, filtered by the missing-detail filter, supplies only the power the
      restored photo still lacks (:meth:`BandTransfer.filters`); a photo fitted as unblurred
      is kept as it is, with nothing invented on top;
    * the mask: each band's weight is the observed mask blurred at that band's scale and
      remapped to reach 0 at the mask's edge and 1 a band-width inside it (multi-band
      blending as Burt & Adelson 1983), so no seam shows between kept and invented detail.
Fusion (:func:`keep_observed_detail`)
    Outside the observed texels the photo's partial is continued by a normalised convolution
    of its observed texels (no step for the restoration or the bands to ring on); the mask
    weights below blend it into the synthesis, whose low-pass near the mask is shifted by the
    photo's local offset so that no seam shows. Band b of the output is
    ``w_b · (B_b(restored photo) + d · B_b(missing)) + (1 − w_b) · d · B_b(synthesis)``, with
    ``d`` the invented-detail scale (``TextureConfig.detail`` × the detail map); the low-pass
    below 16 c/R is blended the same way without ``d``.
A photo restored before the unwrap (:mod:`facetex.fitting.deblur`)
    Its partial is kept as it is (no Wiener filter in UV on top). The invented detail is the
    synthesis filtered by sqrt(1 − the share the restored photo holds) (:func:`restored_share`,
    the image model's share mapped into UV by each texel's sampling density), with, per band,
    the part that repeats the photo projected out and the amount capped so that the photo's
    power plus the invented power does not pass the synthesis's over the texels the photo fully
    supplies, nor, texel by texel, the person's (the photo's local power over its share of the
    band) (both models of the
    loss over-invented: docs/keep-the-person.md, "Restoring the photo before the unwrap" and
    "Invented detail at the person's own power").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt, gaussian_filter
from scipy.optimize import nnls

from facetex.errors import ShapeMismatchError
from facetex.types import PhotoBlur
from facetex.texture.bands import (
    LOWEST,
    band_edges,
    band_split,
    filtered,
    lowpass,
    radial_average,
    resolved_fraction,
    skin_spectrum,
)

__all__ = [
    "BandTransfer",
    "blurred_band_transfer",
    "estimate_transfer",
    "keep_observed_detail",
    "normalised_fill",
    "photo_band_weights",
    "restored_share",
]

#: The restoration never amplifies a frequency more than 1 / MIN_TRANSFER.
MIN_TRANSFER = 0.1
#: Distance from the mask's edge, as a fraction of R, over which the restoration fades in.
RESTORATION_TAPER = 1.0 / 32.0
#: Below this many resolved texels a band's transfer is not estimated (taken as not held).
_MIN_TEXELS = 64
#: Local band powers of :func:`_up_to_the_person`: Gaussian σ over the band's longest
#: wavelength (R / its lower edge). Half a wavelength follows the person's roughness from
#: feature to feature; docs/keep-the-person.md ("Invented detail at the person's own power")
#: has the measurements behind it.
LOCAL_POWER_SPREAD = 0.5
#: Least share of a band the restored photo is taken to hold (keeps p / k finite).
_MIN_SHARE = 1e-3


@dataclass(frozen=True)
class BandTransfer:
    """How strongly the photo carries each band, relative to the database's sharp exemplars.

    The measured squared ratio of each band is modelled as contrast² · blur_b² + v · noise_b:
    one factor for the whole spectrum (this person's skin is rougher or smoother than the
    exemplars', which facetex keeps), the transfer of a Gaussian blur of ``blur_pixels`` photo
    pixels (what the camera, focus or downsampling took away, which facetex restores where the
    signal outweighs the noise) and white noise of variance ``noise_variance`` (sensor, JPEG).
    One blur in the photo is σ_px / density texels at a texel the photo samples with
    ``density`` pixels per texel, so in UV it varies over the chart (a cheek seen at a slant is
    blurred over more texels than the nose tip): ``blur_b²`` is the mean over the band's
    texels of the transfer² at each texel's own blur.

    Attributes
    ----------
    edges : the band edges (cycles per R) of :func:`band_edges`.
    measured : (B,) float64 ≥ 0, amplitude ratio photo / exemplars for the bands [e_i, e_{i+1})
        (the last one above e_last); NaN where too few texels resolve a band.
    contrast : the fitted overall factor (1 = as much detail as the exemplars).
    blur_pixels : the fitted Gaussian blur σ, photo pixels (0 = sharp).
    noise_variance : the fitted white-noise variance per texel, luminance².
    blur : (B,) float64 in (0, 1], the fitted blur's amplitude transfer per band.
    noise : (B,) float64 ≥ 0, band power of unit white noise over the exemplars' band power.
    reference_spectrum : (R/2 + 1,) float64, the exemplars' radially averaged power spectrum on
        the observed texels (:func:`skin_spectrum`, rings of 1 cycle per R), for the filters.
    median_density : photo pixels per texel at the median observed texel (for reports).
    texel_blurs : (Q,) float64 ≥ 0 or None, ``blur_pixels`` / density at Q quantiles of the
        observed texels' densities, texels: the blur's spread over the chart (None: one blur of
        ``blur_pixels`` texels, as for a photo of unknown density).
    """

    edges: tuple[float, ...]
    measured: np.ndarray
    contrast: float = 1.0
    blur_pixels: float = 0.0
    noise_variance: float = 0.0
    blur: np.ndarray | None = None
    noise: np.ndarray | None = None
    reference_spectrum: np.ndarray | None = None
    median_density: float = 1.0
    texel_blurs: np.ndarray | None = None

    def as_dict(self) -> dict[str, float]:
        """Band name ("16–32 c/R"; the last "256+ c/R") → measured ratio, plus the fitted
        ``contrast``, ``blur σ (photo px)``, that blur at the median observed texel
        (``blur σ (texels)``) and ``noise σ``, for records and reports."""
        names = [f"{a:g}–{b:g} c/R" for a, b in zip(self.edges, self.edges[1:])] + [f"{self.edges[-1]:g}+ c/R"]
        out = {name: round(float(t), 3) for name, t in zip(names, self.measured)}
        out.update(
            {
                "contrast": round(self.contrast, 3),
                "blur σ (photo px)": round(self.blur_pixels, 2),
                "blur σ (texels)": round(self.blur_pixels / self.median_density, 2),
                "noise σ": round(float(np.sqrt(self.noise_variance)), 4),
            }
        )
        return out

    def power_transfer(self, frequency: np.ndarray) -> np.ndarray:
        """H², the blur's power transfer at ``frequency`` (cycles per texel, any shape): the
        mean over the observed texels of exp(−4π²σ_t²f²), σ_t = ``blur_pixels`` / the texel's
        density (:attr:`texel_blurs`); 1 everywhere for a sharp photo."""
        f = np.asarray(frequency, dtype=np.float64)
        blurs = np.atleast_1d(self.texel_blurs if self.texel_blurs is not None else self.blur_pixels)
        if self.blur_pixels == 0.0 or not blurs.any():
            return np.ones_like(f)
        grid = np.linspace(0.0, max(float(f.max(initial=0.0)), 0.75), 2049)
        curve = np.mean(np.exp(-4.0 * np.pi**2 * blurs[:, None] ** 2 * grid[None, :] ** 2), axis=0)
        return np.interp(f, grid, curve)

    def filters(
        self, frequency: np.ndarray, resolution: int, *, restoring: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """The restoration filter and the missing-detail filter at the given frequencies.

        With X the person's unblurred detail (power S = contrast² × the reference spectrum)
        the photo holds H·X + noise (power H²·S + N, H² the :meth:`power_transfer`).
        ``restore`` is the Wiener filter H·S / (H²·S + N), at most 1 / ``MIN_TRANSFER``; a
        photo fitted as unblurred is kept as it is (``restore`` = 1). ``missing`` = sqrt(1 −
        restore²·(H²·S + N) / S), clipped to [0, 1]: invented detail filtered by it brings the
        band's power up to S and never past it (for the Wiener filter, sqrt(1 − W) with W =
        H²·S / (H²·S + N) the share of the detail's power the photo still holds; nothing for a
        sharp photo, whose noise already fills its bands).

        Parameters
        ----------
        frequency : float array, spatial frequency magnitude in cycles per texel (any shape).
        resolution : R of the map the reference spectrum was measured on.
        restoring : False: the photo is kept unrestored (``restore`` = 1) and ``missing``
            fills what the blurred photo lacks.

        Returns
        -------
        restore, missing : float64 arrays shaped like ``frequency``.
        """
        f = np.asarray(frequency, dtype=np.float64)
        if self.reference_spectrum is None:
            return np.ones_like(f), np.zeros_like(f)
        h2 = self.power_transfer(f)
        bins = np.arange(self.reference_spectrum.size, dtype=np.float64) / resolution
        signal = self.contrast**2 * np.interp(f, bins, self.reference_spectrum)
        noise = max(self.noise_variance, _QUANTISATION_VARIANCE) * resolution**2
        if self.blur_pixels == 0.0 or not restoring:
            restore = np.ones_like(f)
        else:
            restore = np.minimum(np.sqrt(h2) * signal / (h2 * signal + noise), 1.0 / MIN_TRANSFER)
        kept = restore**2 * (h2 * signal + noise) / np.maximum(signal, 1e-30)
        return restore, np.sqrt(np.clip(1.0 - kept, 0.0, 1.0))


#: Slack in the blur fit's squared relative error per band within which the smaller blur wins.
_FIT_TOLERANCE = 0.003
#: Quantiles of the observed texels' density over which the blur's transfer is averaged.
_QUANTILES = 32
#: Variance of 8-bit quantisation, the least noise any photo has (luminance²).
_QUANTISATION_VARIANCE = (1.0 / 255.0) ** 2 / 12.0
#: Blurs tried when fitting :class:`BandTransfer`, as fractions of R (0 and 1/2048 … 1/24).
_BLUR_GRID = np.concatenate([[0.0], np.geomspace(1.0 / 2048.0, 1.0 / 24.0, 40)])


def blurred_band_transfer(
    power: np.ndarray, edges: Sequence[float], sigmas: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Amplitude transfer of a Gaussian blur of each σ on each band, for a skin spectrum, and
    the band power of unit white noise relative to that spectrum's.

    Computed in the Fourier domain: band b's power of G_σ * Y is Σ_f P(f) · D_b(f)² ·
    exp(−4π²σ²|f|²), with D_b the response of :func:`band_split`'s band (differences of the
    sampled Gaussian kernels it applies) and the blur a continuous Gaussian.

    Parameters
    ----------
    power : (R, R) float64, an unshifted power spectrum (:func:`skin_spectrum`).
    edges : band edges, cycles per R.
    sigmas : (S,) float ≥ 0, blurs in texels.

    Returns
    -------
    transfer : (S, B) float64 in [0, 1], B = len(edges) (the last band above e_last).
    noise : (B,) float64 ≥ 0, band power of white noise of variance 1 per texel over the
        spectrum's band power (a photo with noise variance v adds v · noise_b to the squared
        band ratio).
    """
    r = power.shape[0]
    power = np.asarray(power, dtype=np.float64)
    f = np.fft.fftfreq(r)  # cycles per texel
    f2 = (f[:, None] ** 2 + f[None, :] ** 2).ravel()
    power = power.ravel()

    def lowpass(frequency: float) -> np.ndarray:
        # the response of the sampled, truncated kernel that :func:`band_split` applies (at the
        # top bands σ is below a texel, far from a continuous Gaussian)
        sigma = r / (2.0 * np.pi * frequency)
        radius = int(4.0 * sigma + 0.5)
        taps = np.arange(-radius, radius + 1)
        kernel = np.exp(-0.5 * (taps / sigma) ** 2)
        kernel /= kernel.sum()
        axis = (kernel[None, :] * np.cos(2.0 * np.pi * f[:, None] * taps[None, :])).sum(axis=1)
        return (axis[:, None] * axis[None, :]).ravel()

    lows = [lowpass(e) for e in edges]
    responses = [b - a for a, b in zip(lows, lows[1:])] + [1.0 - lows[-1]]
    out = np.ones((len(sigmas), len(edges)))
    noise = np.zeros(len(edges))
    for b, response in enumerate(responses):
        weight = power * response**2
        total = weight.sum()
        if total <= 0:
            continue
        noise[b] = r * r * float(np.sum(response**2)) / total  # E|FFT(noise)|² = r² per frequency
        for s, sigma in enumerate(sigmas):
            out[s, b] = np.sqrt(np.sum(weight * np.exp(-4.0 * np.pi**2 * sigma**2 * f2)) / total)
    return out, noise


def estimate_transfer(
    partial_y: np.ndarray,
    mask: np.ndarray,
    cutoff: np.ndarray,
    references_y: Sequence[np.ndarray],
    weights: np.ndarray,
) -> BandTransfer:
    """The photo's per-band transfer against the references, and its contrast × blur model.

    Measured: sqrt(band power of the partial / the weighted mean band power of the references)
    on the observed texels that the photo's sampling resolves for that band (the mask eroded by
    the lowest band's width, away from the fill outside it). Model: the contrast factor, one
    Gaussian blur σ in photo pixels (on a grid) and a white-noise variance that best fit the
    squared ratios (contrast² · blur_b² + v · noise_b, in relative error, non-negative least
    squares), where blur_b² is the mean over the band's texels of the transfer² of a blur of
    σ / density texels (:func:`blurred_band_transfer`), density = 2 · ``cutoff`` / R photo
    pixels per texel. Of the blurs that fit about as well as the best, the least wins.

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
    BandTransfer over :func:`band_edges` (R).
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
    filled = normalised_fill(np.asarray(partial_y, dtype=np.float64), observed, r / (2 * np.pi * LOWEST))
    mine = band_split(filled, edges)[1:]
    theirs = [band_split(np.asarray(y, dtype=np.float64), edges)[1:] for y in references_y]
    coverage = gaussian_filter(observed.astype(np.float64), sigma=r / (2 * np.pi * LOWEST), mode="constant")
    inside = observed & (coverage > 0.95)
    density = 2.0 * np.asarray(cutoff, dtype=np.float64) / r
    measured = np.full(len(edges), np.nan)
    band_densities: list[np.ndarray] = []
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else r / 2.0
        region = inside & (resolved_fraction(cutoff, low, high) >= 1.0) if high > low else inside & (cutoff >= low)
        band_densities.append(density[region])
        if region.sum() < _MIN_TEXELS:
            continue
        power_ref = sum(wk * float(np.mean(bands[i][region] ** 2)) for wk, bands in zip(w, theirs))
        if power_ref > 0.0:
            measured[i] = np.sqrt(float(np.mean(mine[i][region] ** 2)) / power_ref)
    known = np.isfinite(measured)
    inside_density = density[inside & (density > 0.0)]
    if inside_density.size == 0:
        inside_density = np.ones(1)
    median_density = float(np.median(inside_density))
    if not known.any():
        return BandTransfer(edges=edges, measured=measured, blur=np.ones(len(edges)), median_density=median_density)
    window = gaussian_filter(inside.astype(np.float64), sigma=2.0, mode="constant")
    spectrum = skin_spectrum(references_y, w, window)
    # the band transfers of blurs in texels, then per blur in photo pixels their mean over
    # each band's texels, each blurred by σ_px / its own density
    texel_sigmas = np.concatenate([[0.0], np.geomspace(r / 4096.0, r / 8.0, 64)])
    per_texel, noise = blurred_band_transfer(spectrum, edges, texel_sigmas)
    pixel_sigmas = _BLUR_GRID * r * median_density
    model = np.ones((len(pixel_sigmas), len(edges)))
    for i, dens in enumerate(band_densities):
        if not known[i]:
            continue
        for s_index, sigma in enumerate(pixel_sigmas):
            blur2 = np.interp(sigma / np.maximum(dens, 1e-6), texel_sigmas, per_texel[:, i] ** 2)
            model[s_index, i] = np.sqrt(float(np.mean(blur2)))
    # measured_b² ≈ contrast² · blur_b(σ)² + v · noise_b: for each σ a non-negative least-squares
    # fit of (contrast², v) in relative error; the σ that fits best wins.
    # Of the blurs that fit about as well as the best (natural differences between persons'
    # skin look like a slight blur), the least is taken: a sharp photo is not "restored".
    t2 = measured[known] ** 2
    fits = []
    for s_index in range(len(pixel_sigmas)):
        a = np.stack([model[s_index, known] ** 2 / t2, noise[known] / t2], axis=1)
        (c2, v), residual = nnls(a, np.ones(int(known.sum())))
        fits.append((residual**2, c2, v))
    best = min(f[0] for f in fits)
    s_index = next(i for i, f in enumerate(fits) if f[0] <= best + _FIT_TOLERANCE * int(known.sum()))
    _, c2, v = fits[s_index]
    return BandTransfer(
        edges=edges,
        measured=measured,
        contrast=float(np.sqrt(c2)),
        blur_pixels=float(pixel_sigmas[s_index]),
        noise_variance=float(v),
        blur=model[s_index],
        noise=noise,
        reference_spectrum=radial_average(spectrum),
        median_density=median_density,
        texel_blurs=pixel_sigmas[s_index] / np.quantile(inside_density, (np.arange(_QUANTILES) + 0.5) / _QUANTILES),
    )


def restored_share(
    blur: PhotoBlur, densities: np.ndarray | None, *, quantiles: int = _QUANTILES
) -> Callable[[np.ndarray], np.ndarray]:
    """The share of the detail's power a photo restored before the unwrap holds, in UV.

    A frequency of f cycles per texel is f / d cycles per photo pixel at a texel the photo
    samples with d pixels per texel; the share there is the restored photo's
    (:meth:`facetex.types.PhotoBlur.kept_share`). Averaged over ``quantiles`` quantiles of the
    observed texels' densities.

    Parameters
    ----------
    blur : the photo's blur, undone before the unwrap.
    densities : (N,) photo pixels per texel of the observed texels (at the fusion's R); None or
        empty: one pixel per texel.

    Returns
    -------
    A function: frequency (cycles per texel, any shape) → share in [0, 1], same shape.
    """
    d = np.asarray(densities if densities is not None else [], dtype=np.float64).ravel()
    d = d[d > 0]
    levels = np.quantile(d, (np.arange(quantiles) + 0.5) / quantiles) if d.size else np.ones(1)

    def share(frequency: np.ndarray) -> np.ndarray:
        f = np.asarray(frequency, dtype=np.float64)
        return np.mean([blur.kept_share(f / level) for level in levels], axis=0)

    return share


def normalised_fill(image: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` outside ``mask`` replaced by a normalised convolution of its masked values
    (the local mean of the observed texels within ~σ), the global observed mean where none
    are near.

    Parameters
    ----------
    image : (R, R) float. mask : (R, R) bool, the valid texels. sigma : Gaussian σ, texels.

    Returns
    -------
    (R, R) float64, equal to ``image`` on ``mask``.

    >>> import numpy as np
    >>> y = np.array([[1.0, 0.0], [0.0, 0.0]]); m = np.array([[True, False], [False, False]])
    >>> normalised_fill(y, m, 1.0).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    m = mask.astype(np.float64)
    num = gaussian_filter(np.where(mask, image, 0.0), sigma=sigma, mode="constant")
    den = gaussian_filter(m, sigma=sigma, mode="constant")
    mean = float(image[mask].mean()) if mask.any() else 0.5
    fill = np.where(den > 1e-3, num / np.maximum(den, 1e-3), mean)
    return np.where(mask, image, fill)


def photo_band_weights(mask: np.ndarray, cutoff: np.ndarray, edges: Sequence[float]) -> list[np.ndarray]:
    """Per band, how much of the output comes from the photo at each texel, in [0, 1].

    Returns
    -------
    ``len(edges) + 1`` (R, R) float64 maps, aligned with :func:`band_split`: the low-pass's
    (the blended mask only) then each band's: the mask blended at the band's scale (0 at the
    mask's edge, 1 about one band-width inside it) × the fraction of the band the texel's
    sampling resolves.
    """
    r = mask.shape[0]
    m = np.asarray(mask, dtype=np.float64)

    def blended(frequency: float) -> np.ndarray:
        soft = gaussian_filter(m, sigma=r / (4.0 * np.pi * frequency), mode="constant")
        return np.clip(2.0 * soft - 1.0, 0.0, 1.0) * m

    weights = [blended(edges[0] / 2.0) if edges else m]
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else r / 2.0
        resolved = resolved_fraction(cutoff, low, high) if high > low else (cutoff >= low).astype(np.float64)
        weights.append(blended(low) * resolved)
    return weights


def _up_to_the_person(
    photo_bands: list[np.ndarray],
    missing_bands: list[np.ndarray],
    synth_bands: list[np.ndarray],
    weights: list[np.ndarray],
    edges: Sequence[float],
) -> list[np.ndarray]:
    """Each band's invented detail made new and no more than the person's skin lacks there.

    On the texels the photo fully supplies (weight ≥ 0.99, "core"), per band b:

    1. the part of the invented band that repeats the photo's is projected out (the synthesis
       starts from the photo, so it carries its features): the two add as independent detail;
    2. the photo's share of the band, k_b = 1 − P(missing_b) / P(synthesis_b) on the core (the
       restored photo's ``kept_share`` averaged over the band, weighted by the synthesis's
       spectrum), turns its local band power p into the person's: p / k_b;
    3. the invented band is scaled down so that the photo's power plus its own does not pass
       the synthesis's (the database-matched amount) over the core, and then at each texel so
       that p plus its own local power does not pass p / k_b.

    Local powers are Gaussian averages over the core with σ = :data:`LOCAL_POWER_SPREAD` × the
    band's longest wavelength (R / its lower edge). So invented detail follows the person's own
    roughness across the face (less on smooth cheeks than at the brows) instead of the
    synthesis's, whose power on the face can lie far above the person's (+0.3–0.5 decades at
    32–64 c/fw on some blurred London persons); where the photo holds a band's detail nearly
    whole (k_b → 1) nearly nothing is invented. The synthesis's power caps only the total
    (step 3's first half): capping locally as well took the invented detail off the brows and
    lids, whose photo power exceeds the synthesis's. Texels outside the core (weight < 0.99, at
    the mask's edge) take the factor of the nearest core texels' averages; where no core texel
    is near, the band is left as it is. What is measured decides how much to invent; the
    model's share (``kept_share``) only how it is spread over the band's frequencies.
    """
    out = [missing_bands[0]]
    r = photo_bands[0].shape[0]
    for low, photo, missing, synth, w in zip(edges, photo_bands[1:], missing_bands[1:], synth_bands[1:], weights[1:]):
        core = w >= 0.99
        if core.sum() < _MIN_TEXELS or not np.any(photo[core]):
            out.append(missing)
            continue
        synth_power = float(np.mean(synth[core] ** 2))
        share = float(np.clip(1.0 - np.mean(missing[core] ** 2) / max(synth_power, 1e-30), _MIN_SHARE, 1.0))
        photo_power = float(np.mean(photo[core] ** 2))
        missing = missing - float(np.mean(missing[core] * photo[core])) / photo_power * photo
        invented = float(np.mean(missing[core] ** 2))
        if invented > 0.0:
            missing = missing * min(1.0, np.sqrt(max(synth_power - photo_power, 0.0) / invented))
        sigma = LOCAL_POWER_SPREAD * r / low
        m = core.astype(np.float64)
        density = gaussian_filter(m, sigma, mode="constant")
        near = density > 1e-3

        def local(band: np.ndarray) -> np.ndarray:
            return gaussian_filter(m * band * band, sigma, mode="constant") / np.maximum(density, 1e-3)

        photo_local, invented_local = local(photo), local(missing)
        allowed = np.clip(photo_local / share - photo_local, 0.0, None)
        factor = np.sqrt(allowed / np.maximum(invented_local, 1e-30))
        out.append(missing * np.where(near, np.minimum(factor, 1.0), 1.0))
    return out


def keep_observed_detail(
    synthesis_y: np.ndarray,
    partial_y: np.ndarray,
    mask: np.ndarray,
    transfer: BandTransfer,
    cutoff: np.ndarray,
    *,
    detail: float | np.ndarray = 1.0,
    kept_share: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """The output luminance: the photo's own detail where it holds it, invented detail elsewhere.

    The photo, continued smoothly past the mask (the local mean of its observed texels, so no
    step rings), is restored by the Wiener filter of ``transfer``; the
    synthesis filtered by the missing-detail filter supplies what the photo lost
    (:meth:`BandTransfer.filters`). Per band (:func:`band_split`) and texel, with w the
    photo's weight (:func:`photo_band_weights`) and d the detail scale::

        out_b = w·(restored_b + d·missing_b) + (1 − w)·d·synthesis_b   (low-pass: no d, no missing)

    Parameters
    ----------
    synthesis_y : (R, R) float luminance of the §5 synthesis, in [0, 1].
    partial_y : (R, R) float luminance of the partial albedo (anything off ``mask``).
    mask : (R, R) bool texels whose photo detail is kept (observed skin and features).
    transfer : the photo's transfer model (:func:`estimate_transfer`).
    cutoff : (R, R) sampling limit per texel, cycles per R (:func:`sampling_cutoff`).
    detail : invented-detail scale, a scalar or an (R, R) map, in [0, 2]; the photo's own
        detail is never scaled.
    kept_share : for a photo restored before the unwrap (:mod:`facetex.fitting.deblur`): the
        share of the detail's power it holds per frequency (cycles per texel →  [0, 1],
        :func:`restored_share`). Its bands are then kept as they are (a second restoration in
        UV would over-sharpen them) and the synthesis filtered by sqrt(1 − share) supplies the
        rest; ``transfer``'s filters are not used. None: restore and fill by ``transfer``.

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
    edges = transfer.edges
    synth_bands = band_split(s, edges)
    if not observed.any():
        return np.clip(synth_bands[0] + scale * sum(synth_bands[1:]), 0.0, 1.0).astype(np.float32)
    p = np.asarray(partial_y, dtype=np.float64)
    # Past the mask the photo is continued smoothly (the local mean of the observed texels), so
    # neither the restoration nor the band split meets a step there (a step rings when restored).
    photo = normalised_fill(p, observed, r / (2 * np.pi * LOWEST))
    mean = float(photo[observed].mean())
    if kept_share is None:
        restored = mean + filtered(photo - mean, lambda f: transfer.filters(f, r)[0])
        missing = filtered(s - float(s.mean()), lambda f: transfer.filters(f, r)[1])
    else:
        restored = photo
        missing = filtered(s - float(s.mean()), lambda f: np.sqrt(np.clip(1.0 - kept_share(f), 0.0, 1.0)))
    # The restoration's kernel rings on the mask's edge (the photo's texture stops there): it
    # fades in over R/32 texels inside the mask, where the unrestored photo's missing detail
    # is invented instead.
    taper = np.clip(distance_transform_edt(observed) / (r * RESTORATION_TAPER), 0.0, 1.0)
    taper = taper * taper * (3.0 - 2.0 * taper)
    if kept_share is None and (taper < 1.0).any() and transfer.blur_pixels > 0.0:
        restored = photo + taper * (restored - photo)
        unrestored = filtered(s - float(s.mean()), lambda f: transfer.filters(f, r, restoring=False)[1])
        missing = taper * missing + (1.0 - taper) * unrestored
    weights = photo_band_weights(observed, cutoff, edges)
    photo_bands = band_split(restored, edges)
    missing_bands = band_split(missing, edges)
    if kept_share is not None:
        missing_bands = _up_to_the_person(photo_bands, missing_bands, synth_bands, weights, edges)
    # The synthesis's low-pass near the mask is shifted by the photo's local offset (decaying
    # over ~R/25 texels), so a photo brighter or darker than the model albedo leaves no seam.
    wide = r / (2 * np.pi * LOWEST / 2)
    offset = normalised_fill(np.where(observed, p - s, 0.0), observed, wide)
    reach = gaussian_filter(observed.astype(np.float64), sigma=wide, mode="constant")
    synth_low = synth_bands[0] + lowpass(offset * np.clip(2.0 * reach, 0.0, 1.0), edges[0])
    out = weights[0] * photo_bands[0] + (1.0 - weights[0]) * synth_low
    for w, pb, mb, sb in zip(weights[1:], photo_bands[1:], missing_bands[1:], synth_bands[1:]):
        out += w * (pb + scale * mb) + (1.0 - w) * scale * sb
    return np.clip(out, 0.0, 1.0).astype(np.float32)

