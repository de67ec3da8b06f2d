"""Quality metrics of an inferred albedo texture against the ground truth (DESIGN §6).

The paper judged its results with user studies (Fig. 12) and side-by-side figures; facetex
replaces them with numbers that do not reuse the synthesis network (VGG-19):

* :func:`radial_power_spectrum` / :func:`band_log_error` — how much *mesoscopic detail*
  (freckles, moles, fine wrinkles, pore clusters) a texture holds, compared on luminance.
* :func:`lowpass_ssim` — whether the *large-scale* appearance (the low-pass) is kept.
* :func:`region_errors` — per-texel errors split by region (texels the input observed vs
  texels it did not), on Y and on its high-pass.
* :class:`IdentityEmbedder` / :func:`identity_similarity` — likeness: dlib's ResNet face
  embeddings of renders with the inferred and with the ground-truth texture.
* :mod:`facetex.evaluation.onet` (its own module) — Gram distance of the detail under MTCNN's
  ONet, a network independent of the synthesis.
* :func:`summarize` / :func:`paired_difference` — mean and bootstrap confidence interval over
  subjects.

Units and conventions. Textures are facetex UV maps (:mod:`facetex.types`): float RGB in
[0, 1], R × R, 0.5 off the chart. Every metric works on Y of YIQ (:func:`facetex.texture.color
.luminance`). The UV chart of the face mesh spans the face from cheek to cheek (u from 0.008
to 0.992, :mod:`facetex.geometry.topology`), so **one face width is R texels** and a frequency
of f cycles per texel is f·R cycles per face width (c/fw), at every resolution.

Mesoscopic band. :data:`MESOSCOPIC_BAND` = 24–96 c/fw. A face is ~14 cm wide (bizygomatic
breadth), so the band holds periods from ~6 mm down to ~1.5 mm: freckles, moles, fine wrinkles
and pore clusters; single pores (~0.2 mm) are below what a 512² UV map resolves. The band lies
below the Nyquist limit at 256² (128 c/fw) with margin for the anti-aliasing of resizes, so the
same band is comparable at 256² and 512².

Low-pass. :data:`LOWPASS_CUTOFF` = 16 c/fw: the Gaussian low-pass of σ = R / (2π · 16) ≈ R/100
texels (2.5 texels at 256²) keeps the face's large-scale shading and colour (features ≥ ~9 mm)
and leaves the mesoscopic band (its gain at 24 c/fw is 0.32, at 96 c/fw 1e-8). The high-pass
of :func:`region_errors` is Y minus the same low-pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facetex.errors import EmptyMaskError, MissingDependencyError, NoFaceError, ShapeMismatchError
from facetex.paths import package_file
from facetex.texture.color import luminance

__all__ = [
    "MESOSCOPIC_BAND",
    "LOWPASS_CUTOFF",
    "RadialSpectrum",
    "BandComparison",
    "RegionError",
    "Summary",
    "IdentityEmbedder",
    "lowpass_sigma",
    "lowpass",
    "skin_patches",
    "radial_power_spectrum",
    "band_log_error",
    "lowpass_ssim",
    "region_errors",
    "identity_similarity",
    "embedding_distance",
    "summarize",
    "paired_difference",
]

#: Mesoscopic detail band, cycles per face width (module doc).
MESOSCOPIC_BAND: tuple[float, float] = (24.0, 96.0)
#: Cut-off of the low-pass, cycles per face width: σ = R / (2π · cutoff) texels (module doc).
LOWPASS_CUTOFF = 16.0

_INSTALL_DLIB = "pip install dlib-bin==20.0.1.post1 face-recognition-models==0.3.0"


# --------------------------------------------------------------------------------------------
# input checks


def _as_luminance(image: np.ndarray, name: str) -> np.ndarray:
    """(H, W) float64 luminance of an (H, W) grey or (H, W, 3) RGB image."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return luminance(arr).astype(np.float64)
    if arr.ndim == 2:
        return arr.astype(np.float64)
    raise ShapeMismatchError(f"{name} must be an (H, W) grey or (H, W, 3) RGB image, got shape {arr.shape}")


def _as_mask(mask: np.ndarray | None, shape: tuple[int, ...], name: str = "mask") -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = np.asarray(mask).astype(bool)
    if m.shape != shape:
        raise ShapeMismatchError(f"{name} is {m.shape} but the images are {shape}")
    return m


def _same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ShapeMismatchError(f"the estimate is {a.shape} but the ground truth is {b.shape}")


# --------------------------------------------------------------------------------------------
# low-pass


def lowpass_sigma(resolution: int, cutoff: float = LOWPASS_CUTOFF) -> float:
    """σ in texels of the Gaussian low-pass at ``cutoff`` cycles per face width.

    A Gaussian of σ texels has the frequency response exp(−2π²σ²f²) (f in cycles per texel);
    σ = R / (2π · cutoff) puts its e^(−1/2) ≈ 0.61 point at ``cutoff`` c/fw.

    Parameters
    ----------
    resolution : R, the side of the UV map (one face width, module doc).
    cutoff : cycles per face width (default :data:`LOWPASS_CUTOFF`).
    """
    if resolution < 1 or not cutoff > 0:
        raise ValueError(f"need resolution ≥ 1 and cutoff > 0, got {resolution} and {cutoff}")
    return float(resolution) / (2.0 * math.pi * float(cutoff))


def lowpass(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian low-pass (reflecting borders) of an (H, W) or (H, W, C) image, per channel.

    Returns float64 of the same shape; ``sigma`` in pixels (0 returns a copy).
    """
    from scipy.ndimage import gaussian_filter

    arr = np.asarray(image, dtype=np.float64)
    if sigma <= 0:
        return arr.copy()
    spatial = (sigma, sigma) + (0.0,) * (arr.ndim - 2)
    return gaussian_filter(arr, sigma=spatial, mode="reflect")


# --------------------------------------------------------------------------------------------
# power spectrum


@dataclass(frozen=True)
class RadialSpectrum:
    """Radially averaged power spectrum of luminance, averaged over square patches.

    Attributes
    ----------
    frequencies : (B,) float64, centre of each radial bin in cycles per face width (the bins
        are the integer radii 1 … P/2 of a P × P patch spectrum; 1 c/patch = R/P c/fw).
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
    resolution: int | None = None,
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
    resolution : texels per face width (default: the image width R, see the module doc).

    Returns
    -------
    RadialSpectrum with bins at 1 … P/2 cycles per patch.

    Raises
    ------
    EmptyMaskError
        If ``corners`` is empty.
    """
    y = _as_luminance(image, "image")
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

    a = _as_luminance(estimate, "estimate")
    b = _as_luminance(truth, "truth")
    _same_shape(a, b)
    m = _as_mask(mask, a.shape)
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
    a = _as_luminance(estimate, "estimate")
    b = _as_luminance(truth, "truth")
    _same_shape(a, b)
    s = lowpass_sigma(a.shape[1]) if sigma is None else float(sigma)
    high_a = a - lowpass(a, s)
    high_b = b - lowpass(b, s)
    out: dict[str, RegionError] = {}
    for name, region in regions.items():
        m = _as_mask(region, a.shape, f"region {name!r}")
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


# --------------------------------------------------------------------------------------------
# identity (dlib ResNet embeddings)


def _model_file(name: str) -> Path:
    # its __init__ imports pkg_resources: located, not imported
    return package_file(
        "face_recognition_models", f"models/{name}", distribution="face-recognition-models",
        purpose="identity similarity", install=_INSTALL_DLIB,
    )


class IdentityEmbedder:
    """dlib's face-recognition ResNet (128-D embeddings) with its 5-point aligner.

    The network (``dlib_face_recognition_resnet_model_v1.dat``, shipped by the
    ``face-recognition-models`` package) maps an aligned face crop to a unit-scale 128-D
    vector; dlib reports 99.38 % on LFW, two photos of one person lying within Euclidean
    distance 0.6. Loading takes ~1 s; reuse one embedder.

    Raises
    ------
    MissingDependencyError
        If ``dlib`` or ``face-recognition-models`` is not installed.
    """

    def __init__(self) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise MissingDependencyError(f"identity similarity needs dlib: {_INSTALL_DLIB}") from exc
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._aligner = dlib.shape_predictor(str(_model_file("shape_predictor_5_face_landmarks.dat")))
        self._network = dlib.face_recognition_model_v1(str(_model_file("dlib_face_recognition_resnet_model_v1.dat")))

    def embed(self, image: np.ndarray, box: np.ndarray | None = None) -> np.ndarray:
        """The 128-D embedding of the face in ``image``.

        Parameters
        ----------
        image : (H, W, 3) float RGB in [0, 1].
        box : (4,) [x0, y0, x1, y1] pixels of the face (e.g. a facetex Detection's box); when
            None, dlib's HOG detector finds the largest face.

        Returns
        -------
        (128,) float64.

        Raises
        ------
        ShapeMismatchError
            Not an (H, W, 3) image.
        NoFaceError
            ``box`` is None and dlib finds no face.
        """
        rgb = np.asarray(image)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ShapeMismatchError(f"expected an (H, W, 3) RGB image, got shape {rgb.shape}")
        pixels = np.ascontiguousarray(np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8))
        if box is None:
            found = self._detector(pixels, 1)
            if len(found) == 0:
                raise NoFaceError("dlib found no face to embed")
            rect = max(found, key=lambda r: r.area())
        else:
            x0, y0, x1, y1 = (int(round(float(v))) for v in np.asarray(box).ravel()[:4])
            rect = self._dlib.rectangle(x0, y0, x1, y1)
        shape = self._aligner(pixels, rect)
        return np.asarray(self._network.compute_face_descriptor(pixels, shape), dtype=np.float64)


def identity_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two face embeddings, in [−1, 1] (1 for the same vector)."""
    u = np.asarray(a, dtype=np.float64).ravel()
    v = np.asarray(b, dtype=np.float64).ravel()
    if u.shape != v.shape:
        raise ShapeMismatchError(f"embeddings of different sizes {u.shape} and {v.shape}")
    denom = float(np.linalg.norm(u) * np.linalg.norm(v))
    if denom == 0.0:
        raise ValueError("cannot compare a zero embedding")
    return float(u @ v / denom)


def embedding_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance of two dlib embeddings (dlib: < 0.6 usually means the same person)."""
    u = np.asarray(a, dtype=np.float64).ravel()
    v = np.asarray(b, dtype=np.float64).ravel()
    if u.shape != v.shape:
        raise ShapeMismatchError(f"embeddings of different sizes {u.shape} and {v.shape}")
    return float(np.linalg.norm(u - v))


# --------------------------------------------------------------------------------------------
# aggregation over subjects


@dataclass(frozen=True)
class Summary:
    """Mean of a metric over subjects with a bootstrap confidence interval.

    Attributes
    ----------
    mean : mean of the finite values (NaN if none).
    low, high : percentile-bootstrap interval at ``confidence`` (equal to ``mean`` for a
        single value; NaN if none).
    count : number of finite values.
    confidence : e.g. 0.95.
    """

    mean: float
    low: float
    high: float
    count: int
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean, "low": self.low, "high": self.high, "count": self.count, "confidence": self.confidence
        }


def summarize(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Summary:
    """Mean and percentile-bootstrap confidence interval (Efron & Tibshirani 1993, §13.3).

    NaN / infinite values (a metric that could not be computed for a subject) are dropped.
    The bootstrap is seeded, so the interval is reproducible.

    Parameters
    ----------
    values : one value per subject.
    confidence : in (0, 1).
    resamples : bootstrap resamples.
    seed : generator seed.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be ≥ 1, got {resamples}")
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Summary(math.nan, math.nan, math.nan, 0, confidence)
    mean = float(x.mean())
    if x.size == 1:
        return Summary(mean, mean, mean, 1, confidence)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Summary(mean, float(low), float(high), int(x.size), confidence)


def paired_difference(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Summary:
    """:func:`summarize` of the per-subject differences a − b (pairs with a NaN dropped).

    An interval that excludes 0 means the two variants differ on that metric at the given
    confidence (paired over the same subjects, which removes the between-subject spread).
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ShapeMismatchError(f"paired values of different lengths {x.shape} and {y.shape}")
    return summarize(x - y, confidence=confidence, resamples=resamples, seed=seed)
