"""One held-out subject made ready for the texture variants: its photo degraded, fitted with a
morphable model rebuilt without the person, unwrapped, and its scoring regions.

Scoring regions (R × R UV texels, :class:`SubjectRegions`): ``truth`` = texels the ground truth
observed (fill map ``OBSERVED``: visible skin of the sharp photo, not mirrored or inpainted);
``observed`` = truth texels the degraded input observed too; ``hidden`` = truth texels the input
did not observe (the occluder, the simulated turn, or texels the degraded photo's visibility
lost). All three lie in the part of the tile ``ProtocolConfig.region`` scores.

Registered truth (:func:`registered_truth`): the database texture was unwrapped with the sharp
photo's own fit; a degraded photo is fitted a little differently (its landmarks move under the
blur), so the same skin lands a texel or two apart in the two charts, and band-pass detail
stops correlating whatever the texture stage does (the sharp photo itself, unwrapped as the
database does but with the blurred photo's fit, correlates only 0.70 / 0.32 with the database
texture at 16–32 / 32–64 c/fw: docs/keep-the-person.md, "Registration"). The registered truth is
that unwrap: the person's own texture on the input's chart, what the texture stage could keep.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

import cv2
import numpy as np

from facetex.database.config import DatabaseConfig
from facetex.database.photo_stage import remove_highlights, unwrap_config, with_features
from facetex.database.store import TextureDatabase
from facetex.detect.detector import Detector
from facetex.errors import DatabaseError
from facetex.evaluation.config import ProtocolConfig
from facetex.evaluation.degrade import degrade_photo, hide_turn
from facetex.evaluation.metrics import face_width_texels
from facetex.evaluation.subjects import DatabaseArrays, exemplar_rows, held_out_model, neutral_subject, photo_path
from facetex.geometry.uv import face_region_mask
from facetex.io.images import load_photo
from facetex.multiview import fit_views, merge_views
from facetex.stages import PreparedFace, StageClock, prepare_face, unwrap_face
from facetex.types import Detection, FaceFit, MorphableModel, PartialAlbedo, Photo

__all__ = ["PreparedSubject", "Region", "SubjectRegions", "prepare_subject", "registered_truth", "truth_texture"]

#: A scoring region (module doc).
Region = Literal["truth", "observed", "hidden"]


@dataclass(frozen=True)
class SubjectRegions:
    """The scoring regions of one subject (module doc), each (R, R) bool."""

    truth: np.ndarray
    observed: np.ndarray
    hidden: np.ndarray

    @classmethod
    def of(cls, truth: np.ndarray, input_mask: np.ndarray) -> SubjectRegions:
        """The regions from the truth's observed texels and the input's observed mask.

        >>> regions = SubjectRegions.of(np.array([True, True, False]), np.array([True, False, True]))
        >>> regions.observed.tolist(), regions.mask("hidden").tolist()
        ([True, False, False], [False, True, False])
        """
        return cls(truth=truth, observed=truth & input_mask, hidden=truth & ~input_mask)

    def mask(self, region: Region) -> np.ndarray:
        """The (R, R) bool mask of ``region``."""
        if region not in ("truth", "observed", "hidden"):
            raise ValueError(f"unknown region {region!r}")
        return getattr(self, region)

    def copy(self) -> SubjectRegions:
        return SubjectRegions(self.truth.copy(), self.observed.copy(), self.hidden.copy())


@dataclass(frozen=True)
class PreparedSubject:
    """Everything the variants of one held-out subject share.

    Attributes
    ----------
    person, subject_id : who is held out, and the photo used.
    sharp : the original photo; degraded : the pipeline's input.
    detection : the face found in the degraded photo; fit : the §3 fit of the degraded photo
        with ``model``, the morphable model rebuilt without the person.
    partial : the partial albedo at R (after a simulated turn, when asked for).
    truth : (R, R, 3) float32 in [0, 1], the database texture of the subject (sharp photo,
        filled), area-averaged from the database's resolution to R (:func:`truth_texture`).
    regions : the scoring regions (a mapping "truth", "observed", "hidden" → mask is accepted
        and converted).
    exemplar_ids : ids of the database subjects the texture stage may use.
    seconds : time of load + degrade + detect + fit + unwrap.
    face_width : W, texels per face width of the truth's UV layout at R, the unit of the
        scoring's bands and scales (:func:`facetex.evaluation.metrics.face_width_texels`);
        None: R (mediapipe's chart).
    registered : (R, R, 3) float32 in [0, 1], the sharp photo unwrapped as the database does
        with the input's fit (:func:`registered_truth`), or None; registered_mask : (R, R)
        bool, its observed texels.
    unrestored : the degraded photo unwrapped as given, when the pipeline restored its blur
        first (``partial`` is then the restored photo's): what the photo holds before the
        deblur step (:mod:`facetex.fitting.deblur`); None when it was not restored.
    """

    person: str
    subject_id: str
    sharp: Photo
    degraded: Photo
    detection: Detection
    fit: FaceFit
    model: MorphableModel
    partial: PartialAlbedo
    truth: np.ndarray
    regions: SubjectRegions
    exemplar_ids: tuple[str, ...]
    seconds: float
    face_width: float | None = None
    registered: np.ndarray | None = None
    registered_mask: np.ndarray | None = None
    unrestored: PartialAlbedo | None = None

    def __post_init__(self) -> None:
        if isinstance(self.regions, Mapping):
            regions = SubjectRegions(**{name: self.regions[name] for name in ("truth", "observed", "hidden")})
            object.__setattr__(self, "regions", regions)


def prepare_subject(
    database: TextureDatabase,
    arrays: DatabaseArrays,
    person: str,
    config: ProtocolConfig,
    detector: Detector,
) -> tuple[PreparedSubject, np.ndarray]:
    """Degrade the person's neutral photo, then detect, fit and unwrap it
    (:func:`facetex.stages.prepare_face`) with the morphable model rebuilt without the person.

    The subject's texels per face width are ``config.face_width``, or measured on the model's
    UV layout when that is None.

    Returns
    -------
    The subject, and the (K,) int64 storage rows of the exemplars it may use
    (:func:`~facetex.evaluation.subjects.exemplar_rows`).
    """
    clock = time.perf_counter()
    record = neutral_subject(database, person)
    row = next(i for i, s in enumerate(arrays.subjects) if s.subject_id == record.subject_id)
    rows = exemplar_rows(database, person)
    sharp = load_photo(photo_path(database, record))
    degraded = degrade_photo(sharp, detector.detect_face(sharp), config.degrade)
    model = held_out_model(database, rows, arrays=arrays)
    infer = config.infer.with_resolution(config.size)
    references = database.reference_luminances(exclude_persons=(person,)) if infer.unwrap.deblur else None
    if config.same_person:
        other = _other_photo(database, person, record.subject_id, detector, config)
        face, second = fit_views([degraded, other], [detector.detect_face(degraded), detector.detect_face(other)],
                                 model, infer, detector=detector, light_prior=database.lighting,
                                 blur_references=references)
    else:
        face = prepare_face(
            degraded, model, infer.fit, infer.unwrap, light_prior=database.lighting, detector=detector,
            blur_references=references, clock=StageClock(),
        )
    partial = face.partial
    registered, registered_mask = registered_truth(sharp, face, model, database.resolution, config.size)
    unrestored = None
    if partial.restored_blur is not None:
        as_given = replace(infer.unwrap, deblur=False)
        unrestored = unwrap_face(replace(face, visibility=None, partial=None, blur=None), model, as_given).partial
    if config.degrade.hide == "turn":
        partial = hide_turn(partial, config.degrade.turn_fraction, config.degrade.side)
        if unrestored is not None:
            unrestored = hide_turn(unrestored, config.degrade.turn_fraction, config.degrade.side)
    seen = partial.mask  # the regions are the neutral photo's, with or without a second photo
    if config.same_person:
        second_partial = second.partial
        if config.degrade.hide == "turn":
            second_partial = hide_turn(second_partial, config.degrade.turn_fraction, config.degrade.side)
        partial = merge_views([face, second], model, [partial, second_partial]).partial
    prepared = PreparedSubject(
        person=person,
        subject_id=record.subject_id,
        sharp=sharp,
        degraded=degraded,
        detection=face.detection,
        fit=face.fit,
        model=model,
        partial=partial,
        truth=truth_texture(database, record.subject_id, config.size),
        regions=SubjectRegions.of(arrays.observed[row] & partial.chart & _scored(model, config), seen),
        exemplar_ids=tuple(arrays.subjects[r].subject_id for r in rows),
        seconds=time.perf_counter() - clock,
        face_width=(config.face_width if config.face_width is not None
                    else face_width_texels(model.topology, config.size)),
        registered=registered,
        registered_mask=registered_mask,
        unrestored=unrestored,
    )
    return prepared, rows


def _other_photo(database: TextureDatabase, person: str, first_id: str, detector: Detector,
                 config: ProtocolConfig) -> Photo:
    """The person's other photo (smiling first), degraded as the first (``ProtocolConfig.same_person``).

    Raises
    ------
    DatabaseError
        If the person has no other photo in the database.
    """
    others = sorted((s for s in database.subjects() if s.person_id == person and s.subject_id != first_id),
                    key=lambda s: s.expression != "smiling")
    if not others:
        raise DatabaseError(f"person {person!r} has one photo in {database.path.name}; same_person needs two")
    photo = load_photo(photo_path(database, others[0]))
    return degrade_photo(photo, detector.detect_face(photo), config.degrade)


def truth_texture(database: TextureDatabase, subject_id: str, size: int) -> np.ndarray:
    """The subject's database texture area-averaged (``cv2.INTER_AREA``) to ``size``:
    (size, size, 3) float32 in [0, 1].

    Area averaging, as for the registered truth and the database's stored Grams; the triangle
    filter of :func:`facetex.texture.resample.resize` takes 0.2 decades off the truth's band
    power at 32–64 cycles per face width from 640² to 256² (docs/ict-model.md, "Seventh session").
    """
    return np.clip(database.subject_textures([subject_id], resolution=size)[0], 0.0, 1.0).astype(np.float32)


def registered_truth(
    sharp: Photo, face: PreparedFace, model: MorphableModel, resolution: int, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The sharp photo unwrapped as the database unwraps a photo (highlights removed, facial
    features kept, the database's visibility cut, at its resolution, area-averaged to
    ``size``), but with the fit of the degraded input (module doc).

    Parameters
    ----------
    sharp : the original photo (the same size as the degraded one the fit refers to).
    face : the degraded photo's detection and fit.
    model : the morphable model of the fit.
    resolution : the database's texture resolution (its unwrap's R).
    size : R of the scoring.

    Returns
    -------
    albedo : (size, size, 3) float32 in [0, 1], photo ÷ the fit's shading (0.5 off its mask).
    mask : (size, size) bool, texels whose whole footprint the sharp photo observed.
    """
    build = DatabaseConfig()
    clean = remove_highlights(sharp, face.detection, build.specular)
    config = replace(unwrap_config(build), resolution=resolution)
    unwrapped = unwrap_face(PreparedFace(photo=clean, detection=face.detection, fit=face.fit), model, config,
                            visibility_filter=with_features).partial
    albedo = cv2.resize(unwrapped.albedo, (size, size), interpolation=cv2.INTER_AREA)
    coverage = cv2.resize(unwrapped.mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(albedo, 0.0, 1.0).astype(np.float32), coverage > 0.999


def _scored(model: MorphableModel, config: ProtocolConfig) -> np.ndarray | bool:
    """The texels ``config.region`` scores: (R, R) bool, or True for all of them."""
    if config.region == "all":
        return True
    face = face_region_mask(model.topology, config.size)
    return face if config.region == "face" else ~face
