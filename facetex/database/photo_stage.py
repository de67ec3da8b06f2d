"""What one photo gives in one round of the database build (paper §6).

Per photo: load; detect → SUV specular removal on the facial skin → fit (§3) with
:func:`facetex.stages.prepare_face`; reject a fit whose landmark RMSE is too large; and in the
unwrap rounds unwrap (:func:`facetex.stages.unwrap_face`, facial features kept), reject a photo
that shows too little of the UV chart, fill the rest (:mod:`facetex.database.fill`) and, in the
last round, compute the luminance Grams of the complete texture. Stages are timed with one
:class:`~facetex.stages.StageClock`: ``load``, ``detect``, ``clean``, ``fit``, ``unwrap``,
``fill``, ``grams``.

:func:`process_photo` runs in the build's worker processes; it reuses a cached result
(:mod:`facetex.database.cache`) when there is one.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facetex.database.cache import PhotoResult, load_result, save_result
from facetex.database.config import DatabaseConfig, SpecularConfig
from facetex.database.fill import MirrorMap, fill_texture, gram_region_mask
from facetex.database.packing import PackedGrams, pack_gram
from facetex.database.pca import downsample_textures
from facetex.database.photos import PhotoSource
from facetex.database.specular import estimate_source_color, remove_specular
from facetex.detect import eye_centers
from facetex.detect.landmarks import FACE_OVAL
from facetex.errors import FacetexError
from facetex.fitting.config import FitConfig, UnwrapConfig, VisibilityConfig
from facetex.fitting.model import model_albedo
from facetex.fitting.visibility import ImageVisibility, feature_texels, image_visibility
from facetex.geometry.uv import chart_mask
from facetex.io.images import load_photo
from facetex.stages import StageClock, prepare_face, unwrap_face
from facetex.texture.analysis import compute_grams
from facetex.texture.color import luminance
from facetex.texture.vgg import VGG19, load_vgg19
from facetex.types import Detection, MorphableModel, Photo

__all__ = ["PhotoTask", "process_photo", "remove_highlights", "skin_region", "unwrap_config", "with_features"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhotoTask:
    """One photo in one round (sent to a worker process).

    Attributes
    ----------
    source : the photo.
    model : the morphable model to fit.
    lighting : (9, 3) SH lighting held fixed in the fit, or None to fit it (round 0).
    unwrap : unwrap and fill a texture (rounds ≥ 1).
    grams : compute the texture's Grams (last round).
    config : the build's settings.
    mirror : the texel mirror map of the UV chart at ``config.resolution`` (unwrap rounds).
    cache_file : where the result is cached.
    """

    source: PhotoSource
    model: MorphableModel
    lighting: np.ndarray | None
    unwrap: bool
    grams: bool
    config: DatabaseConfig
    mirror: MirrorMap | None
    cache_file: Path


def process_photo(task: PhotoTask) -> PhotoResult:
    """Run one photo through one round, or reuse its cached result.

    A photo that raises a :class:`~facetex.errors.FacetexError` (no face, failed fit, ...) is
    rejected and the rejection cached; any other error rejects it without caching (a bug must
    not end a long build, nor be remembered).
    """
    if task.cache_file.is_file():
        try:
            return dataclasses.replace(load_result(task.cache_file), cached=True)
        except (OSError, ValueError, KeyError, EOFError, TypeError) as exc:  # damaged or stale entry: redo
            log.debug("ignoring damaged cache %s: %s", task.cache_file, exc)
    started = time.perf_counter()
    try:
        result = _compute(task)
    except FacetexError as exc:
        result = PhotoResult(task.source.subject_id, False, f"{type(exc).__name__}: {exc}",
                             time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001
        log.warning("unexpected error on %s", task.source.path, exc_info=True)
        return PhotoResult(task.source.subject_id, False, f"unexpected {type(exc).__name__}: {exc}",
                           time.perf_counter() - started)
    save_result(task.cache_file, result)
    return result


def _compute(task: PhotoTask) -> PhotoResult:
    started = time.perf_counter()
    cfg = task.config
    clock = StageClock()
    with clock.stage("load"):
        photo = load_photo(task.source.path)
    prepared = prepare_face(
        photo, task.model, cfg.fit if cfg.fit is not None else FitConfig(), None,
        detect_config=cfg.detect,
        clean=functools.partial(remove_highlights, config=cfg.specular),
        sh_coeffs=task.lighting,
        clock=clock,
    )
    fit = prepared.fit
    diagnostics = fit.diagnostics.as_dict()
    subject = task.source.subject_id
    rmse = fit.diagnostics.landmark_rmse_iod
    if not rmse <= cfg.max_landmark_rmse_iod:
        return PhotoResult(subject, False, f"landmark RMSE {rmse:.3f} inter-ocular distances exceeds "
                           f"{cfg.max_landmark_rmse_iod}", time.perf_counter() - started, diagnostics=diagnostics)
    vertices = (np.asarray(fit.vertices) - fit.translation) @ np.asarray(fit.rotation)  # Rᵀ(v − t)
    lowfreq = model_albedo(task.model, fit.albedo_coeffs)
    small_chart = chart_mask(task.model.topology, lowfreq.shape[0])
    result = PhotoResult(
        subject, True, "", 0.0,
        sh_coeffs=np.asarray(fit.sh_coeffs, dtype=np.float64),
        albedo_scale=lowfreq[small_chart].mean(axis=0).astype(np.float64),
        vertices=vertices,
        diagnostics=diagnostics,
    )
    if task.unwrap:
        prepared = unwrap_face(prepared, task.model, unwrap_config(cfg),
                               visibility_filter=with_features if cfg.keep_features else None, clock=clock)
        partial = prepared.partial
        observed = float((partial.mask & task.mirror.chart).sum() / max(task.mirror.chart.sum(), 1))
        result = dataclasses.replace(result, diagnostics={**diagnostics, "observed_fraction": observed})
        if observed < cfg.min_observed_fraction:
            return dataclasses.replace(result, ok=False, reason=f"only {observed:.0%} of the UV chart is "
                                       f"visible (minimum {cfg.min_observed_fraction:.0%})",
                                       seconds=time.perf_counter() - started)
        with clock.stage("fill"):
            filled = fill_texture(partial.albedo, partial.mask, task.mirror, cfg.fill)
        result = dataclasses.replace(
            result,
            albedo=np.round(np.clip(filled.rgb, 0.0, 1.0) * 255.0).astype(np.uint8),
            fill_map=filled.fill_map,
        )
        if task.grams:
            with clock.stage("grams"):
                features = feature_texels(task.model.topology, cfg.resolution)
                result = dataclasses.replace(
                    result, grams=_texture_grams(result.albedo, filled.fill_map, features, task.mirror.chart, cfg))
    log.debug("%s: %s", subject, ", ".join(f"{k} {v:.2f} s" for k, v in clock.timings.items()))
    return dataclasses.replace(result, seconds=time.perf_counter() - started)


def remove_highlights(photo: Photo, detection: Detection, config: SpecularConfig) -> Photo:
    """``photo`` with the specular highlights of its facial skin (:func:`skin_region`) removed
    by SUV (:func:`facetex.database.specular.remove_specular`); the light's colour is white or,
    with ``config.source == "background"``, the backdrop's (outside ``detection.person_mask``)."""
    source_rgb = None
    if config.source == "background":
        source_rgb = estimate_source_color(photo.rgb, detection.person_mask < 0.5)
    clean = remove_specular(photo.rgb, skin_region(photo, detection), config, source_rgb=source_rgb)
    return Photo(rgb=clean, source=photo.source)


def skin_region(photo: Photo, detection: Detection) -> np.ndarray:
    """Facial skin of a photo for specular removal, (H, W) bool: inside the face oval and the
    person mask, outside the grown eye, brow, lip and nostril polygons (skin colour is NOT
    tested: a highlight is far from the skin colour)."""
    import cv2

    h, w = photo.size
    landmarks = np.asarray(detection.landmarks, dtype=np.float64)
    eyes = eye_centers(landmarks)
    unit = float(np.linalg.norm(eyes[0] - eyes[1]))
    parts = image_visibility(photo.rgb, landmarks, detection.person_mask, np.zeros((0, 2)), unit,
                             VisibilityConfig(use_skin_colour=False))
    oval = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(oval, [np.round(landmarks[list(FACE_OVAL), :2]).astype(np.int32)], 1)
    return (oval > 0) & parts.person & parts.features


def unwrap_config(cfg: DatabaseConfig) -> UnwrapConfig:
    """The unwrap settings of a database build: ``cfg.unwrap``, or the defaults at the
    database's resolution with its visibility cut (``cfg.min_cos_view``)."""
    if cfg.unwrap is not None:
        return cfg.unwrap
    return UnwrapConfig(resolution=cfg.resolution, visibility=VisibilityConfig(min_cos_view=cfg.min_cos_view))


def with_features(skin: ImageVisibility) -> ImageVisibility:
    """The input stage's skin mask with the facial features put back: a database texture is a
    complete face (eyes, brows, lips, nostrils), only hair, background and other non-skin
    colours are left to the fill."""
    inside_features = ~skin.features
    return ImageVisibility(person=skin.person, features=np.ones_like(skin.features),
                           skin_colour=skin.skin_colour | inside_features)


def _texture_grams(
    albedo: np.ndarray, fill_map: np.ndarray, features: np.ndarray, chart: np.ndarray, cfg: DatabaseConfig
) -> dict[int, dict[str, PackedGrams]]:
    """Normalised luminance Grams of one complete texture at every stored resolution, as the
    database returns it (8-bit values, exactly 0.5 off the chart), over the region
    ``cfg.gram_region`` of its (R, R) ``fill_map`` and the layout's (R, R) facial
    ``features`` (:func:`gram_region_mask`)."""
    vgg = _vgg19()
    rgb = albedo.astype(np.float32) / 255.0
    rgb[~chart] = 0.5
    out: dict[int, dict[str, PackedGrams]] = {}
    for res in cfg.gram_resolutions:
        small = downsample_textures(rgb[None], res)[0]
        region = gram_region_mask(fill_map[None], cfg.gram_region, res, features)
        grams = compute_grams(luminance(small)[None], vgg, layers=cfg.gram_layers, regions=region)
        out[int(res)] = {layer: pack_gram(g, cfg.gram_dtype) for layer, g in grams.grams.items()}
    return out


@functools.lru_cache(maxsize=1)
def _vgg19() -> VGG19:
    """The frozen VGG-19, loaded once per (worker) process: a constant, never modified."""
    return load_vgg19()
