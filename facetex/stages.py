"""The per-photo stage chain detect → fit (§3) → unwrap, written once.

Every caller that turns a photo into a fitted face and its partial albedo goes through
:func:`prepare_face` (``facetex infer``, ``facetex fit``, the database build, the evaluation
protocol, the benchmarks), timing each stage with one :class:`StageClock`.

Stage names recorded in the clock: ``detect``, ``clean`` (only when a ``clean`` step is given),
``fit``, ``unwrap`` and, a part of it, ``unwrap.deblur`` (only when sharp reference maps are given
and the unwrap config asks for it), and ``refit`` (detect and fit again, only when the photo was
restored and the unwrap config asks for it; its second unwrap adds to ``unwrap``).
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from facetex.detect.config import DetectConfig
from facetex.detect.detector import Detector
from facetex.fitting.config import FitConfig, UnwrapConfig
from facetex.fitting.crop import FaceCrop
from facetex.fitting.deblur import estimate_photo_blur, restore_photo
from facetex.fitting.solver import fit_face
from facetex.fitting.unwrap import unwrap_albedo
from facetex.fitting.visibility import ImageVisibility, photo_visibility
from facetex.types import Detection, FaceFit, MorphableModel, PartialAlbedo, Photo, PhotoBlur

__all__ = ["PreparedFace", "StageClock", "peak_rss_mib", "prepare_face", "unwrap_face"]

log = logging.getLogger(__name__)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (``getrusage`` high-water mark)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


@dataclass
class StageClock:
    """Wall seconds and the process's peak resident memory (MiB) after each named stage.

    ``on_stage(name, seconds)`` is called when a stage ends (e.g. to advance a progress bar).
    A stage timed twice accumulates its seconds.

    >>> clock = StageClock()
    >>> with clock.stage("load"):
    ...     pass
    >>> list(clock.timings), clock.timings["load"] >= 0.0
    (['load'], True)
    """

    on_stage: Callable[[str, float], None] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    peak_memory_mib: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body of the ``with`` block as stage ``name`` (recorded only if it succeeds)."""
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        self.timings[name] = self.timings.get(name, 0.0) + seconds
        self.peak_memory_mib[name] = peak_rss_mib()
        log.debug("%s: %.2f s, peak %.0f MiB", name, seconds, self.peak_memory_mib[name])
        if self.on_stage is not None:
            self.on_stage(name, seconds)


@dataclass(frozen=True)
class PreparedFace:
    """One face of one photo, fitted and (optionally) unwrapped.

    Attributes
    ----------
    photo : the photo the fit saw (after the ``clean`` step of :func:`prepare_face`, if any).
    detection : the chosen face (box, 478 landmarks in pixels, person mask).
    fit : the §3 fit (pose, camera, shape, expression, SH lighting, albedo coefficients).
    visibility : the photo's skin/feature masks and the face crop the unwrap rasterised,
        None until :func:`unwrap_face` ran.
    partial : the partial high-frequency albedo in UV, None until :func:`unwrap_face` ran.
    blur : the photo's blur against the database's photos, None unless :func:`unwrap_face`
        measured it; the unwrap read the photo restored by it when ``blur.restored``.
    restored : that restored photo (``rgb`` (H, W, 3) float32 in [0, 1]), None when the photo
        was not restored.
    """

    photo: Photo
    detection: Detection
    fit: FaceFit
    visibility: tuple[ImageVisibility, FaceCrop] | None = None
    partial: PartialAlbedo | None = None
    blur: PhotoBlur | None = None
    restored: Photo | None = None


def prepare_face(
    photo: Photo,
    model: MorphableModel,
    fit_config: FitConfig,
    unwrap_config: UnwrapConfig | None = None,
    *,
    detector: Detector | None = None,
    detect_config: DetectConfig | None = None,
    face_index: int = 0,
    detection: Detection | None = None,
    clean: Callable[[Photo, Detection], Photo] | None = None,
    sh_coeffs: np.ndarray | None = None,
    light_prior: np.ndarray | None = None,
    visibility_filter: Callable[[ImageVisibility], ImageVisibility] | None = None,
    blur_references: np.ndarray | None = None,
    identity: tuple[np.ndarray, np.ndarray] | None = None,
    clock: StageClock | None = None,
) -> PreparedFace:
    """Detect, fit (§3) and unwrap one face of ``photo``.

    When the unwrap restored the photo's blur (:func:`unwrap_face`) and
    ``unwrap_config.deblur_refit``, the face is detected and fitted again on the restored photo
    (stage ``refit``), whose landmarks lie closer to where a sharp photo's would, and the
    restored photo is unwrapped with that fit; ``detection`` and ``fit`` are then the restored
    photo's, ``photo`` stays the photo as given.

    Parameters
    ----------
    photo : the photo, ``rgb`` (H, W, 3) float32 in [0, 1].
    model : the morphable model to fit.
    fit_config : settings of the §3 fit.
    unwrap_config : settings of the unwrap; None stops after the fit (``partial`` is None;
        :func:`unwrap_face` can finish later, e.g. after a quality check of the fit).
    detector : a detector to reuse across photos; None makes one from ``detect_config`` and
        closes it. Its config's ``min_face_px`` applies.
    face_index : which face, largest first (0 = the largest).
    detection : a detection made earlier; skips the ``detect`` stage.
    clean : ``(photo, detection) → photo`` run between detection and fit (the database build
        removes specular highlights there); the fit and the unwrap see its result.
    sh_coeffs : (9, 3) SH lighting to hold fixed in the fit (``fit_face(..., sh_coeffs=)``).
    light_prior : (9, 3) SH lighting the fit's lighting prior pulls towards, e.g. the
        database's studio lighting (``fit_face(..., light_prior=)``).
    visibility_filter : changes the photo's skin masks before the unwrap (see :func:`unwrap_face`).
    blur_references : sharp luminance maps for the deblur step (see :func:`unwrap_face`).
    identity : (shape, albedo) coefficients to hold fixed in every fit (``fit_face(...,
        identity=)``): a person's identity shared by several photos.
    clock : records each stage's seconds and peak memory.

    Raises
    ------
    NoFaceError, FaceSelectionError, FittingError, EmptyMaskError
        As the stages raise them.
    """
    clock = clock if clock is not None else StageClock()
    if detection is None:
        with clock.stage("detect"):
            detection = _detect(photo, detector, detect_config, face_index)
    if clean is not None:
        with clock.stage("clean"):
            photo = clean(photo, detection)
    with clock.stage("fit"):
        fit = fit_face(photo, detection, model, fit_config, sh_coeffs=sh_coeffs, light_prior=light_prior,
                       identity=identity)
    prepared = PreparedFace(photo=photo, detection=detection, fit=fit)
    if unwrap_config is None:
        return prepared
    prepared = unwrap_face(
        prepared, model, unwrap_config, visibility_filter=visibility_filter, blur_references=blur_references, clock=clock
    )
    if prepared.restored is None or not unwrap_config.deblur_refit:
        return prepared
    restored = prepared.restored
    with clock.stage("refit"):
        detection = _detect(restored, detector, detect_config, face_index)
        fit = fit_face(restored, detection, model, fit_config, sh_coeffs=sh_coeffs, light_prior=light_prior,
                       identity=identity)
    refitted = unwrap_face(
        PreparedFace(photo=restored, detection=detection, fit=fit), model, replace(unwrap_config, deblur=False),
        visibility_filter=visibility_filter, clock=clock,
    )
    partial = replace(refitted.partial, restored_blur=prepared.blur)
    return replace(prepared, detection=detection, fit=fit, visibility=refitted.visibility, partial=partial)


def _detect(photo: Photo, detector: Detector | None, config: DetectConfig | None, face_index: int) -> Detection:
    """Face ``face_index`` of ``photo``, with ``detector`` or, when None, one made from ``config``."""
    if detector is None:
        with Detector(config) as own:
            return own.detect_face(photo, face_index)
    return detector.detect_face(photo, face_index)


def unwrap_face(
    prepared: PreparedFace,
    model: MorphableModel,
    config: UnwrapConfig,
    *,
    visibility_filter: Callable[[ImageVisibility], ImageVisibility] | None = None,
    blur_references: np.ndarray | None = None,
    clock: StageClock | None = None,
) -> PreparedFace:
    """The unwrap stage of :func:`prepare_face`: visible skin ÷ fitted shading in UV.

    ``visibility_filter`` maps the photo's :class:`~facetex.fitting.visibility.ImageVisibility`
    to another before unwrapping (the database keeps the facial features in its textures).

    With ``blur_references`` ((K, r, r) luminance maps of sharp faces on the model's layout,
    :meth:`facetex.database.store.TextureDatabase.reference_luminances`) and
    ``config.deblur``, the photo's blur is measured against them first
    (:func:`facetex.fitting.deblur.estimate_photo_blur`) and, when σ is at least
    ``config.deblur_min_sigma`` of the inter-ocular distance, undone
    (:func:`~facetex.fitting.deblur.restore_photo`) in the face's crop before the unwrap
    samples it; ``prepared.photo`` stays the photo as given.

    Returns ``prepared`` with ``visibility``, ``partial``, ``blur`` (when measured) and
    ``restored`` (when restored) set.
    """
    clock = clock if clock is not None else StageClock()
    with clock.stage("unwrap"):
        skin, crop = photo_visibility(
            prepared.photo, prepared.detection, model.topology, config.visibility, max_side=config.zbuffer_max_size
        )
        if visibility_filter is not None:
            skin = visibility_filter(skin)
        photo, blur = prepared.photo, None
        if config.deblur and blur_references is not None and len(blur_references) > 0:
            with clock.stage("unwrap.deblur"):  # a part of "unwrap", as "texture.*" are of "texture"
                blur = estimate_photo_blur(photo, prepared.detection, prepared.fit, model, (skin, crop), blur_references)
                if blur.sigma_iod >= config.deblur_min_sigma:
                    photo = restore_photo(photo, blur, crop.bounds, max_gain=config.deblur_max_gain)
                    blur = replace(blur, restored=True)
                log.info("photo blur: %s%s", blur.as_dict(), " (restored)" if blur.restored else "")
        partial = unwrap_albedo(photo, prepared.detection, prepared.fit, model, config, visibility=(skin, crop))
        if blur is not None and blur.restored:
            partial = replace(partial, restored_blur=blur)
    restored = photo if blur is not None and blur.restored else None
    return replace(prepared, visibility=(skin, crop), partial=partial, blur=blur, restored=restored)
