"""Scoring of protocol A: every metric of one completed texture against the subject's ground
truth, at the same resolution.

:data:`METRICS` lists the metrics (name → table label and goal) in the tables' order: identity
(:mod:`~facetex.evaluation.identity`), mesoscopic spectrum (:mod:`~facetex.evaluation.spectra`),
low-pass SSIM and per-region errors (:mod:`~facetex.evaluation.metrics`), ONet Gram distance
(:mod:`~facetex.evaluation.onet`) and fidelity per octave band and region
(:mod:`~facetex.evaluation.fidelity`). Regions: :mod:`facetex.evaluation.prepare`.

Every band and scale in cycles per face width is taken at the subject's texels per face width
(``PreparedSubject.face_width``, :func:`facetex.evaluation.metrics.face_width_texels`), not at
R: on the ICT face tile a face width is ≈ 0.843 R texels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from facetex.errors import NoFaceError
from facetex.evaluation import fidelity as F
from facetex.evaluation.config import ProtocolConfig
from facetex.evaluation.identity import FaceEmbedder, embedding_distance, identity_similarity
from facetex.evaluation.metrics import lowpass_sigma, lowpass_ssim, region_errors
from facetex.evaluation.onet import ONetGrams, RegionGrams, gram_distance
from facetex.evaluation.prepare import PreparedSubject, Region
from facetex.evaluation.spectra import (
    MESOSCOPIC_BAND,
    RadialSpectrum,
    band_log_error,
    radial_power_spectrum,
    skin_patches,
)
from facetex.fitting import render_face

__all__ = [
    "FIDELITY_REGIONS",
    "METRICS",
    "FidelityRegion",
    "GroundTruthReference",
    "fidelity_metric",
    "fidelity_scores",
    "ground_truth_reference",
    "score_texture",
]

#: A region the fidelity metrics and the ONet Gram distance are reported for.
FidelityRegion = Literal["observed", "hidden", "registered"]

#: metric name → (table label, goal). The goal is "max", "min", or the ideal value of a metric
#: whose error is its distance to that value. The order is the tables'.
METRICS: dict[str, tuple[str, str | float]] = {
    "identity": ("identity cos (render vs GT render) ↑", "max"),
    "identity_distance": ("dlib distance ↓", "min"),
    "spectrum_error": ("meso. spectrum log-err (dec) ↓", "min"),
    "spectrum_ratio": ("meso. power log-ratio (dec, 0 best)", 0.0),
    "spectrum_error_hidden": ("meso. spectrum log-err hidden ↓", "min"),
    "ssim_lowpass": ("SSIM low-pass ↑", "max"),
    "rmse_observed": ("RMSE Y observed ↓", "min"),
    "rmse_hidden": ("RMSE Y hidden ↓", "min"),
    "hp_rmse_observed": ("RMSE high-pass observed ↓", "min"),
    "hp_rmse_hidden": ("RMSE high-pass hidden ↓", "min"),
    "detail_observed": ("detail ratio observed (1 best)", 1.0),
    "detail_hidden": ("detail ratio hidden (1 best)", 1.0),
    "onet_gram_observed": ("ONet Gram dist. observed ↓", "min"),
    "onet_gram_hidden": ("ONet Gram dist. hidden ↓", "min"),
}
#: Regions of the fidelity metrics (:mod:`facetex.evaluation.prepare`): "observed" and
#: "hidden" against the database texture; "registered" the observed texels against the
#: registered truth (the sharp photo unwrapped with the input's fit, where it observes).
FIDELITY_REGIONS: tuple[FidelityRegion, ...] = ("observed", "hidden", "registered")


def fidelity_metric(kind: Literal["corr", "logratio"], region: FidelityRegion, band: tuple[float, float]) -> str:
    """Name of a fidelity metric: ``kind`` "corr" (band-pass correlation with the truth) or
    "logratio" (band power log10 ratio), e.g. "corr_observed_16-32"."""
    return f"{kind}_{region}_{F.band_label(band)}"


for _region in FIDELITY_REGIONS:  # per band and region (facetex.evaluation.fidelity)
    for _band in F.FIDELITY_BANDS:
        METRICS[fidelity_metric("corr", _region, _band)] = (
            f"corr {F.band_label(_band)} c/fw {_region} ↑", "max")
        METRICS[fidelity_metric("logratio", _region, _band)] = (
            f"power log-ratio {F.band_label(_band)} c/fw {_region} (dec, 0 best)", 0.0)
del _region, _band


@dataclass(frozen=True)
class GroundTruthReference:
    """Ground-truth quantities shared by every variant of a subject.

    Attributes
    ----------
    corners : region ("truth", "hidden") → power-spectrum patch corners inside it.
    patches : region → the side of its patches, texels (:func:`spectrum_patches`).
    spectra : region → the ground truth's spectrum over those patches (regions with no patch
        are absent).
    embedding : (128,) dlib embedding of the render with the ground-truth texture, or None.
    onet_grams : region ("observed", "hidden") → the ground truth's ONet Grams of its detail
        (:mod:`facetex.evaluation.onet`); empty without the network, empty regions absent.
    """

    corners: dict[Region, list[tuple[int, int]]]
    patches: dict[Region, int]
    spectra: dict[Region, RadialSpectrum]
    embedding: np.ndarray | None
    onet_grams: dict[FidelityRegion, RegionGrams] = field(default_factory=dict)


def _composite_render(prepared: PreparedSubject, texture: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Render the fitted face with ``texture`` under the fit's lighting, composited on the sharp
    photo, at ``scale`` × the photo's size. Returns the image and the face box at that scale."""
    h, w = prepared.sharp.size
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    fit = prepared.fit
    render = render_face(
        fit.vertices,
        prepared.model.topology,
        fit.focal_length * scale,
        np.asarray(fit.principal_point) * scale,
        size,
        texture,
        fit.sh_coeffs,
    )
    background = cv2.resize(prepared.sharp.rgb, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    out = np.where(render.mask[..., None], np.clip(render.rgb, 0.0, 1.0), background)
    return out.astype(np.float32), np.asarray(prepared.detection.box, dtype=np.float64) * scale


def _identity_scale(prepared: PreparedSubject) -> float:
    """Scale that makes the face box ~250 px wide (dlib's network sees 150² aligned chips)."""
    box = prepared.detection.box
    return min(1.0, 250.0 / max(float(box[2] - box[0]), 1.0))


def _embed(embedder: FaceEmbedder, image: np.ndarray, box: np.ndarray) -> np.ndarray:
    try:
        return embedder.embed(image)
    except NoFaceError:
        return embedder.embed(image, box)


#: Regions the ONet Gram distance is reported for.
_ONET_REGIONS: tuple[FidelityRegion, ...] = ("observed", "hidden")


#: Least number of patches a region's spectrum is measured on before smaller patches are tried.
MIN_REGION_PATCHES = 8
#: Smallest patch side a region's spectrum falls back to, texels.
MIN_PATCH = 16


def spectrum_patches(mask: np.ndarray, patch: int, face_width: float | None) -> tuple[int, list[tuple[int, int]]]:
    """The patch side and corners a region's power spectrum is measured on.

    ``patch`` (the protocol's, R / 8 by default) where at least :data:`MIN_REGION_PATCHES` of
    its patches lie inside the region; otherwise the largest of patch / 2, patch / 4, … (at
    least :data:`MIN_PATCH` texels, with at least two frequency bins, spaced W / P c/fw, in
    the mesoscopic band) that gives that many. A region shaped as a strip (the hidden side of
    a simulated head turn at 256²: about 33 texels across, where no 32² grid patch fits) is
    then measured on smaller patches, with coarser frequency bins, instead of not at all.

    Parameters
    ----------
    mask : (R, R) bool, the region. patch : the protocol's patch side, texels.
    face_width : W, texels per face width (None: one per texel, W = R).

    Returns
    -------
    (side, corners); corners empty if no side gives any patch.
    """
    width = float(face_width) if face_width is not None else float(mask.shape[0])
    low, high = MESOSCOPIC_BAND
    best = (patch, skin_patches(mask, patch))
    side = patch
    while len(best[1]) < MIN_REGION_PATCHES and side // 2 >= MIN_PATCH:
        side //= 2
        bins = np.arange(1, side // 2 + 1) * width / side
        if np.count_nonzero((bins >= low) & (bins <= high)) < 2:
            break
        corners = skin_patches(mask, side)
        if len(corners) > len(best[1]):
            best = (side, corners)
    return best


def ground_truth_reference(
    prepared: PreparedSubject,
    config: ProtocolConfig,
    embedder: FaceEmbedder | None = None,
    onet: ONetGrams | None = None,
) -> GroundTruthReference:
    """Patches, spectra, identity embedding and ONet Grams of a subject's ground truth (shared
    by variants); no embedding without ``embedder``, no Grams without ``onet``."""
    width = prepared.face_width
    # the headline metric keeps the protocol's patch, comparable across runs
    patches: dict[Region, int] = {"truth": config.patch_size}
    corners = {"truth": skin_patches(prepared.regions.mask("truth"), config.patch_size)}
    patches["hidden"], corners["hidden"] = spectrum_patches(prepared.regions.mask("hidden"), config.patch_size, width)
    spectra = {
        name: radial_power_spectrum(prepared.truth, c, patches[name], resolution=width)
        for name, c in corners.items() if c
    }
    embedding = None
    if embedder is not None:
        image, box = _composite_render(prepared, prepared.truth, _identity_scale(prepared))
        embedding = _embed(embedder, image, box)
    onet_grams = {}
    if onet is not None:
        onet_grams = {
            name: onet.region_grams(prepared.truth, prepared.regions.mask(name), resolution=width)
            for name in _ONET_REGIONS
            if prepared.regions.mask(name).any()
        }
    return GroundTruthReference(
        corners=corners, patches=patches, spectra=spectra, embedding=embedding, onet_grams=onet_grams
    )


def fidelity_scores(
    texture: np.ndarray, prepared: PreparedSubject, regions: Sequence[FidelityRegion] = FIDELITY_REGIONS
) -> dict[str, float]:
    """The fidelity metrics of :data:`METRICS` (per band and region) of one texture.

    Parameters
    ----------
    texture : (R, R, 3) float32 in [0, 1], on the truth's chart (an output, or the input's
        partial albedo, whose unobserved texels are eroded away with the region's border).
    prepared : the subject (truth, regions, texels per face width).
    regions : which of :data:`FIDELITY_REGIONS` to score; the others' metrics are absent, as
        are "registered"'s for a subject without a registered truth.

    Returns
    -------
    metric name → value; NaN for bands above the Nyquist limit (W / 2 c/fw, W the texels per
    face width) and empty regions.
    """
    out: dict[str, float] = {}
    for region in regions:
        if region == "registered":
            if prepared.registered is None:
                continue
            truth = prepared.registered
            mask = prepared.regions.observed & prepared.registered_mask
        else:
            truth, mask = prepared.truth, prepared.regions.mask(region)
        scores = F.band_fidelity(texture, truth, mask, resolution=prepared.face_width)
        for band in F.FIDELITY_BANDS:
            score = scores.get(F.band_label(band))
            out[fidelity_metric("corr", region, band)] = score.correlation if score else math.nan
            out[fidelity_metric("logratio", region, band)] = score.log_ratio if score else math.nan
    return out


def score_texture(
    texture: np.ndarray,
    prepared: PreparedSubject,
    config: ProtocolConfig,
    reference: GroundTruthReference,
    embedder: FaceEmbedder | None = None,
    onet: ONetGrams | None = None,
) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one completed texture (NaN where undefined),
    fidelity included (:func:`fidelity_scores`).

    Parameters
    ----------
    texture : (R, R, 3) float32 in [0, 1].
    prepared : the subject (ground truth, regions, texels per face width, fit for the identity
        renders).
    config : patch size and the mesoscopic band.
    reference : from :func:`ground_truth_reference`.
    embedder : an :class:`~facetex.evaluation.metrics.IdentityEmbedder`, or None to skip
        identity.
    onet : the :class:`~facetex.evaluation.onet.ONetGrams` the reference was made with, or
        None to skip the ONet Gram distance.
    """
    out = {name: float("nan") for name in METRICS}
    width = prepared.face_width
    sigma = None if width is None else lowpass_sigma(width)
    for region, key in (("truth", "spectrum"), ("hidden", "spectrum_error_hidden")):
        if region not in reference.spectra:
            continue
        band = band_log_error(
            radial_power_spectrum(texture, reference.corners[region], reference.patches[region], resolution=width),
            reference.spectra[region],
        )
        if region == "truth":
            out["spectrum_error"] = band.log_error
            out["spectrum_ratio"] = band.log_ratio
        else:
            out[key] = band.log_error
    if prepared.regions.truth.any():
        out["ssim_lowpass"] = lowpass_ssim(texture, prepared.truth, prepared.regions.truth, sigma=sigma)
    errors = region_errors(
        texture, prepared.truth, {"observed": prepared.regions.observed, "hidden": prepared.regions.hidden},
        sigma=sigma,
    )
    for region, err in errors.items():
        out[f"rmse_{region}"] = err.rmse
        out[f"hp_rmse_{region}"] = err.highpass_rmse
        out[f"detail_{region}"] = err.detail_ratio
    if embedder is not None and reference.embedding is not None:
        image, box = _composite_render(prepared, texture, _identity_scale(prepared))
        embedding = _embed(embedder, image, box)
        out["identity"] = identity_similarity(embedding, reference.embedding)
        out["identity_distance"] = embedding_distance(embedding, reference.embedding)
    if onet is not None:
        for region, truth_grams in reference.onet_grams.items():
            grams = onet.region_grams(texture, prepared.regions.mask(region), resolution=width)
            out[f"onet_gram_{region}"] = gram_distance(grams, truth_grams)
    out.update(fidelity_scores(texture, prepared))
    return out

