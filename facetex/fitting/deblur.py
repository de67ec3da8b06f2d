"""Undo a blurred photo's blur before the unwrap, so that the partial albedo holds what the
photo still resolves at its full strength (issue 16, "keep the person").

Why in the photo: a photo's blur (focus, motion, a downsampled or soft camera) is one
Gaussian in the image. Mapped into UV it is anisotropic and changes with the surface's slant,
so no filter in UV inverts it; restored in the photo, the 16–32 cycles per face width band of
a blurred London photo came back at the truth's power with 0.90 correlation, where restoring
in UV reached 0.71 (docs/keep-the-person.md, "Restoring in the photo works").

Estimating the blur (:func:`estimate_photo_blur`)
    The blur is measured against the database, whose photos define "sharp": a few of its
    complete albedo maps are drawn onto this photo's face through the fitted mesh's UVs
    (:func:`reference_renders`), so they carry this view's foreshortening and scale. On the
    visible skin (the unwrap's image-space skin mask), the photo's luminance and each render
    are split into narrow radial bands (log-Gaussian, a third of an octave apart, 3–32 cycles
    per inter-ocular distance; :func:`band_powers`). The ratio of the photo's band power to
    the renders' mean is fitted as contrast² · exp(−4π²σ²f_b²) + v · N_b: one contrast for the
    whole spectrum (this person's skin is rougher or smoother than the database's, which is
    kept), one Gaussian σ (what the photo lost), and white noise of variance v (N_b: the band
    power of unit white noise over the renders'). Narrow bands keep the fit from trading σ
    against the skin's spectral slope, which octave bands in UV could not: there σ came out at
    about half the applied blur (docs/keep-the-person.md, "What blocks it: the blur estimate").
Restoring (:func:`restore_photo`)
    A Wiener filter H / (H² + K(f)) on the face's region of the photo, H = exp(−2π²σ²f²) and
    K(f) = v · N(f) / contrast² the fitted noise-to-signal ratio, at most ``max_gain``: each
    frequency is restored as far as the signal outweighs the noise. What stays lost is
    invented later, by the texture stage (:mod:`facetex.texture.fusion`).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import scipy.fft
import torch
from scipy.ndimage import binary_erosion
from scipy.optimize import nnls

from facetex.detect.landmarks import eye_centers
from facetex.errors import ShapeMismatchError
from facetex.fitting.crop import FaceCrop
from facetex.fitting.visibility import ImageVisibility
from facetex.geometry.camera import screen_positions
from facetex.geometry.rasterize import rasterize
from facetex.geometry.uv_frame import uv_to_pixel
from facetex.texture.color import luminance
from facetex.types import Detection, FaceFit, MorphableModel, Photo, PhotoBlur

__all__ = [
    "BAND_FREQUENCIES",
    "PhotoBlur",
    "band_powers",
    "estimate_photo_blur",
    "reference_renders",
    "restore_photo",
]

#: Centres of the analysis bands, cycles per inter-ocular distance (a third of an octave apart).
BAND_FREQUENCIES = 3.0 * 2.0 ** (np.arange(12) / 3.0)
#: Width (σ of ln f) of each band's log-Gaussian radial response: about 0.6 octave at half power.
_BAND_WIDTH = np.log(2.0) / 4.0
#: The analysis image is shrunk so that the inter-ocular distance spans at most this many pixels.
_ANALYSIS_IOD = 96.0
#: A band is measured on skin pixels at least this many of its wavelengths from the mask's edge.
_EROSION_WAVELENGTHS = 0.5
#: Fewest skin pixels a band is measured on.
_MIN_PIXELS = 200
#: Blurs tried, as fractions of the inter-ocular distance (0 and 0.002 … 0.12).
_BLUR_GRID = np.concatenate([[0.0], np.geomspace(0.002, 0.12, 64)])


def _radial_frequency(shape: tuple[int, int]) -> np.ndarray:
    """(h, w // 2 + 1) |f| in cycles per pixel on an rfft2 grid."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    return np.sqrt(fx**2 + fy**2)


def _band_responses(shape: tuple[int, int], iod: float) -> np.ndarray:
    """(B, h, w // 2 + 1) log-Gaussian radial responses of the bands on an rfft2 grid."""
    f = _radial_frequency(shape) * iod  # cycles per inter-ocular distance
    logf = np.log(np.maximum(f, 1e-9))
    centres = np.log(BAND_FREQUENCIES)[:, None, None]
    return np.exp(-0.5 * ((logf[None] - centres) / _BAND_WIDTH) ** 2)


def band_powers(image: np.ndarray, mask: np.ndarray, iod: float) -> np.ndarray:
    """Mean band power of ``image`` on ``mask`` in each band of :data:`BAND_FREQUENCIES`.

    Each band is filtered over the whole image (so its response is not cut at the mask's
    edge) and its square averaged over the mask eroded by half the band's wavelength, where
    the response is the skin's own.

    Parameters
    ----------
    image : (h, w) float luminance.
    mask : (h, w) bool, the pixels to measure on.
    iod : the inter-ocular distance in ``image``'s pixels.

    Returns
    -------
    (B,) float64, NaN where fewer than 200 pixels are left after the erosion.
    """
    y = np.asarray(image, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if y.ndim != 2 or m.shape != y.shape:
        raise ShapeMismatchError(f"image {y.shape} and mask {m.shape} must be one (h, w)")
    spectrum = scipy.fft.rfft2(y - y[m].mean() if m.any() else y)
    responses = _band_responses(y.shape, iod)
    out = np.full(len(BAND_FREQUENCIES), np.nan)
    for b, (freq, response) in enumerate(zip(BAND_FREQUENCIES, responses)):
        radius = int(round(_EROSION_WAVELENGTHS * iod / freq))
        inner = binary_erosion(m, iterations=radius) if radius > 0 else m
        if inner.sum() < _MIN_PIXELS:
            continue
        band = scipy.fft.irfft2(spectrum * response, s=y.shape)
        out[b] = float(np.mean(band[inner] ** 2))
    return out


def _white_noise_powers(shape: tuple[int, int], iod: float) -> np.ndarray:
    """(B,) band power of white noise of variance 1 (Parseval over the rfft2 grid)."""
    responses = _band_responses(shape, iod) ** 2
    weight = np.full(responses.shape[-1], 2.0)  # the half-plane's columns count twice …
    weight[0] = 1.0  # … except f_x = 0 and, for even widths, Nyquist
    if shape[1] % 2 == 0:
        weight[-1] = 1.0
    return (responses * weight).sum(axis=(1, 2)) / (shape[0] * shape[1])


def _blur_transfers(shape: tuple[int, int], iod: float, sigmas_iod: np.ndarray) -> np.ndarray:
    """(S, B) power transfer of a Gaussian blur of each σ (fractions of the inter-ocular
    distance) on each band, for a skin spectrum ∝ |f|^−3 (the bands are narrow enough that
    the slope barely matters)."""
    f = _radial_frequency(shape) * iod
    responses = _band_responses(shape, iod) ** 2
    spectrum = np.where(f > 0, np.maximum(f, 1e-6) ** -3.0, 0.0)
    weights = responses * spectrum[None]
    total = weights.sum(axis=(1, 2))
    out = np.ones((len(sigmas_iod), len(BAND_FREQUENCIES)))
    for s, sigma in enumerate(sigmas_iod):
        if sigma > 0:
            h2 = np.exp(-4.0 * np.pi**2 * sigma**2 * f**2)
            out[s] = (weights * h2[None]).sum(axis=(1, 2)) / total
    return out


def reference_renders(
    references: Sequence[np.ndarray],
    fit: FaceFit,
    model: MorphableModel,
    crop: FaceCrop,
    size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Albedo maps drawn onto the photo's face through the fitted mesh's UVs.

    Parameters
    ----------
    references : K (r, r) float luminance maps on the model's UV layout (v = 1 at the top).
    fit : the fit of the photo.
    model : the fitted model (its topology's faces and UVs).
    crop : the image-space crop of the analysis; ``size`` is its (h, w) after any shrinking
        (the crop's own mapping is scaled to it).
    size : (h, w) of the renders.

    Returns
    -------
    renders : (K, h, w) float32, each map sampled at every pixel's surface point (0 where the
        mesh does not cover the pixel); each map is first area-averaged to about one texel per
        pixel, so that the renders are not aliased.
    covered : (h, w) bool, pixels the fitted mesh covers.
    """
    h, w = size
    scale = np.array([w / crop.rgb.shape[1], h / crop.rgb.shape[0]]) * crop.scale
    faces = torch.as_tensor(np.asarray(model.topology.faces), dtype=torch.int64)
    verts = torch.tensor(fit.vertices, dtype=torch.float64)
    principal = torch.tensor(np.asarray(fit.principal_point), dtype=torch.float64)
    screen = screen_positions(verts, fit.focal_length, principal)
    xy = (screen[:, :2] - torch.tensor(crop.offset)) * torch.tensor(scale)
    raster = rasterize(torch.cat([xy, screen[:, 2:3]], dim=1), faces, (h, w))
    triangle = raster.triangle_id.numpy()
    covered = triangle >= 0
    corners = np.asarray(model.topology.faces)[np.clip(triangle, 0, None)]  # (h, w, 3)
    bary = raster.barycentrics.numpy()[..., None]
    uv = (np.asarray(model.topology.uvs, dtype=np.float64)[corners] * bary).sum(axis=2)  # (h, w, 2)
    # UV widths per pixel, from the UV step between neighbouring covered pixels
    dx = np.diff(uv, axis=1)[:-1]
    dy = np.diff(uv, axis=0)[:, :-1]
    inner = covered[:-1, :-1] & covered[1:, :-1] & covered[:-1, 1:]
    area = np.abs(dx[..., 0] * dy[..., 1] - dx[..., 1] * dy[..., 0])[inner]
    uv_per_pixel = float(np.sqrt(np.median(area))) if area.size else 0.0
    renders = []
    for ref in references:
        r = np.asarray(ref, dtype=np.float32)
        if r.ndim != 2 or r.shape[0] != r.shape[1]:
            raise ShapeMismatchError(f"a reference map must be (r, r) luminance, got {r.shape}")
        side = r.shape[0]
        if uv_per_pixel * side > 1.0:  # more than a texel per pixel: area-average first
            side = max(8, int(round(1.0 / uv_per_pixel)))
            r = cv2.resize(r, (side, side), interpolation=cv2.INTER_AREA)
        at = uv_to_pixel(uv, side).astype(np.float32) - 0.5  # OpenCV: pixel centres at integers
        renders.append(cv2.remap(r, at[..., 0], at[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    return np.where(covered[None], np.stack(renders), 0.0).astype(np.float32), covered


def estimate_photo_blur(
    photo: Photo,
    detection: Detection,
    fit: FaceFit,
    model: MorphableModel,
    visibility: tuple[ImageVisibility, FaceCrop],
    references: Sequence[np.ndarray],
) -> PhotoBlur:
    """The photo's Gaussian blur and noise against the database's maps (module doc).

    Parameters
    ----------
    photo, detection, fit : the photo, its face and the face's §3 fit.
    model : the fitted model.
    visibility : the image-space skin mask and its crop (:func:`facetex.fitting.visibility.photo_visibility`).
    references : K ≥ 1 (r, r) luminance maps of sharp faces on the model's UV layout (a
        database's, :meth:`facetex.database.store.TextureDatabase.reference_luminances`).

    Returns
    -------
    PhotoBlur; σ = 0 where too few bands can be measured (a face too small or too hidden).
    """
    skin, crop = visibility
    eyes = eye_centers(np.asarray(detection.landmarks))
    iod = float(np.linalg.norm(eyes[1] - eyes[0]))
    crop_iod = iod * float(crop.scale[0])
    shrink = min(1.0, _ANALYSIS_IOD / max(crop_iod, 1e-6))
    h0, w0 = crop.rgb.shape[:2]
    size = (max(16, round(h0 * shrink)), max(16, round(w0 * shrink)))
    image = luminance(crop.cut(photo.rgb))  # this photo's pixels (the crop may come from another copy)
    mask = skin.mask
    if size != (h0, w0):
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask.astype(np.uint8), (size[1], size[0]), interpolation=cv2.INTER_NEAREST).astype(bool)
    analysis_iod = crop_iod * size[1] / w0
    renders, covered = reference_renders(references, fit, model, crop, size)
    mask = mask & covered
    mine = band_powers(image, mask, analysis_iod)
    theirs = np.nanmean(np.stack([band_powers(r, mask, analysis_iod) for r in renders]), axis=0)
    measured = mine / np.where(theirs > 0, theirs, np.nan)
    noise = _white_noise_powers(size, analysis_iod) / np.where(theirs > 0, theirs, np.nan)
    # bands the analysis image resolves (below 0.4 cycles per pixel)
    known = np.isfinite(measured) & np.isfinite(noise) & (BAND_FREQUENCIES < 0.4 * analysis_iod)
    if known.sum() < 4:
        return PhotoBlur(0.0, iod, 1.0, 0.0, BAND_FREQUENCIES.copy(), measured, noise)
    transfers = _blur_transfers(size, analysis_iod, _BLUR_GRID)
    m = measured[known]
    residuals, params = [], []
    for s in range(len(_BLUR_GRID)):
        design = np.stack([transfers[s, known] / m, noise[known] / m], axis=1)
        (c2, v), residual = nnls(design, np.ones(int(known.sum())))
        residuals.append(residual)
        params.append((c2, v))
    residuals_arr = np.asarray(residuals)
    best = int(np.argmin(residuals_arr))
    sigma_iod = float(_BLUR_GRID[best])
    if 1 <= best < len(_BLUR_GRID) - 1 and _BLUR_GRID[best - 1] > 0:  # refine on a parabola in log σ
        x = np.log(_BLUR_GRID[best - 1 : best + 2])
        a, b, _ = np.polyfit(x, residuals_arr[best - 1 : best + 2], 2)
        if a > 0:
            sigma_iod = float(np.exp(np.clip(-b / (2 * a), x[0], x[2])))
    c2, v = params[best]
    return PhotoBlur(
        sigma=sigma_iod * iod,
        inter_ocular=iod,
        contrast=float(np.sqrt(c2)),
        noise_variance=float(v),
        frequencies=BAND_FREQUENCIES.copy(),
        measured=measured,
        noise=noise,
    )


def restore_photo(photo: Photo, blur: PhotoBlur, bounds: tuple[int, int, int, int], *, max_gain: float = 100.0) -> Photo:
    """The photo with its blur undone by a Wiener filter inside ``bounds`` (module doc).

    Parameters
    ----------
    photo : (H, W, 3) float32 RGB in [0, 1].
    blur : :func:`estimate_photo_blur`'s fit.
    bounds : (left, top, right, bottom) photo pixels of the region to restore (the face's
        crop); it is filtered with a margin of 4σ, reflected at the photo's border.
    max_gain : the largest amplification of any frequency (≥ 1).

    Returns
    -------
    A new Photo, equal to ``photo`` outside ``bounds`` and its 4σ margin, clipped to [0, 1];
    ``photo`` itself when σ is 0.
    """
    if blur.sigma <= 0.0:
        return photo
    if not max_gain >= 1.0:
        raise ValueError(f"max_gain must be ≥ 1, got {max_gain}")
    rgb = photo.rgb
    height, width = rgb.shape[:2]
    left, top, right, bottom = bounds
    margin = int(np.ceil(4.0 * blur.sigma))
    x0, y0 = max(0, left - margin), max(0, top - margin)
    x1, y1 = min(width, right + margin), min(height, bottom + margin)
    region = np.asarray(rgb[y0:y1, x0:x1], dtype=np.float32)
    pad = margin
    padded = np.pad(region, ((pad, pad), (pad, pad), (0, 0)), mode="reflect") if pad > 0 else region
    shape = padded.shape[:2]
    gain = np.minimum(blur.wiener_gain(_radial_frequency(shape)), max_gain).astype(np.float32)
    out = np.empty_like(padded)
    for c in range(3):
        out[..., c] = scipy.fft.irfft2(scipy.fft.rfft2(padded[..., c]) * gain, s=shape)
    restored = out[pad : pad + region.shape[0], pad : pad + region.shape[1]]
    result = np.array(rgb, dtype=np.float32, copy=True)
    result[y0:y1, x0:x1] = np.clip(restored, 0.0, 1.0)
    return Photo(rgb=result, source=photo.source)
