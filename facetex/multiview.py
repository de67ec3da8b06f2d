"""Several photos of one person → one texture (issue 20; the paper's multi-view consistency,
Fig. 9, used on purpose): what one photo hides, another shows.

Steps (:func:`infer_same_person`):

1. detect the face in every photo; a photo that fails (no face, an unreadable file) is named
   in ``skipped`` and the others go on;
2. check that the photos show one person: dlib's face-recognition embedding of each face lies
   within :data:`SAME_PERSON_DISTANCE` of the first's (dlib: two photos of one person lie
   within 0.6 on LFW); a photo beyond it stops the run (:class:`PersonMismatchError`) unless
   ``force``;
3. one identity (:func:`fit_views`): by default (``FitConfig.shared_identity = "joint"``) one
   §3 fit of all photos at once, the shape and albedo coefficients shared and each photo's
   pose, camera, expression, gaze and lighting its own (:func:`facetex.fitting.fit_faces`);
   with ``"first"``, the first photo's own fit, the others fitted with it held fixed. A photo
   whose fit fails is found by fitting it alone, named in ``skipped`` and left out. Every photo
   is unwrapped with its fit (a blurred one restored and refitted as
   :func:`facetex.stages.prepare_face` does it);
4. one observation: the partial albedos merged texel by texel from the views that see each best
   (:func:`facetex.fitting.merge_views.merge_partials`);
5. §4–5 on the merged observation, with the photo's detail kept where any photo shows skin and
   invented only where none does (:func:`facetex.pipeline.complete_partial`).

The result's mesh is posed as in the first usable photo; ``views`` lists every photo used,
``source_map`` which photo each texel came from.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any
from dataclasses import replace
from pathlib import Path

import numpy as np

from facetex.config import InferConfig
from facetex.database.store import TextureDatabase
from facetex.detect.detector import Detector
from facetex.errors import FacetexError, FittingError, MissingDependencyError, PersonMismatchError
from facetex.fitting.merge_views import MergedPartial, expression_motion, merge_partials
from facetex.io.images import load_detail_map
from facetex.pipeline import complete_partial
from facetex.fitting.solver import fit_face, fit_faces
from facetex.stages import PreparedFace, StageClock, unwrap_face
from facetex.texture.vgg import VGG19
from facetex.types import Detection, InferenceResult, MorphableModel, PartialAlbedo, Photo, ViewRecord

__all__ = ["SAME_PERSON_DISTANCE", "fit_views", "infer_same_person", "merge_views"]

log = logging.getLogger(__name__)

SAME_PERSON_DISTANCE = 0.6
"""dlib face-embedding distance above which two faces are taken for different people."""

MERGE_PRIMARY_WEIGHT = 64.0
"""How many times the first photo's quality counts in the merge
(:func:`facetex.fitting.merge_views.merge_partials`). At 4 a London smiling photo mixed a
fifth of its detail into the neutral face and cost 0.014 of observed 16–32 c/fw correlation
against the neutral truth; at 16, 0.001–0.002; at 64, 0.0000–0.0001 (5 persons, docs/design.md)."""


def _name(photo: Photo) -> str:
    return Path(photo.source).name


def _embedding_distances(photos: Sequence[Photo], detections: Sequence[Detection]) -> list[float] | None:
    """dlib embedding distance of each photo's face to the first's; None when dlib is not installed."""
    try:
        from facetex.evaluation.identity import IdentityEmbedder, embedding_distance

        embedder = IdentityEmbedder()
    except MissingDependencyError as exc:
        log.warning("cannot check that the photos show one person: %s", exc)
        return None
    embeddings = [embedder.embed(photo.rgb, detection.box) for photo, detection in zip(photos, detections)]
    return [embedding_distance(embeddings[0], e) for e in embeddings]


def fit_views(
    photos: Sequence[Photo],
    detections: Sequence[Detection],
    model: MorphableModel,
    config: InferConfig,
    *,
    detector: Detector,
    light_prior: np.ndarray | None = None,
    blur_references: np.ndarray | None = None,
    clock: StageClock | None = None,
) -> list[PreparedFace]:
    """Fit the photos of one person with one identity and unwrap each (module doc, step 3).

    Parameters
    ----------
    photos, detections : N ≥ 1 photos and the person's face in each.
    model : the morphable model.
    config : ``fit`` (its ``shared_identity`` picks joint or first), ``unwrap`` (its ``deblur``
        and ``deblur_refit`` as for one photo).
    detector : detects the face again in a restored photo.
    light_prior, blur_references : as :func:`facetex.stages.prepare_face`.
    clock : records the stages ``fit``, ``unwrap`` and ``refit``.

    Returns
    -------
    One :class:`~facetex.stages.PreparedFace` per photo, unwrapped; their fits share the shape
    and albedo coefficients. A restored photo's detection and fit are the restored photo's,
    its ``photo`` the photo as given.

    Raises
    ------
    FittingError, EmptyMaskError
        As :func:`facetex.stages.prepare_face`, for any of the photos.
    """
    clock = clock if clock is not None else StageClock()
    faces = _fit_unwrap(photos, detections, model, config, light_prior, blur_references, clock)
    if not config.unwrap.deblur_refit or all(face.restored is None for face in faces):
        return faces
    seen = [face.photo if face.restored is None else face.restored for face in faces]
    with clock.stage("refit"):
        again = [face.detection if face.restored is None else detector.detect_face(face.restored) for face in faces]
    refitted = _fit_unwrap(seen, again, model, replace(config, unwrap=replace(config.unwrap, deblur=False)),
                           light_prior, None, clock, stage="refit")
    return [
        replace(face, detection=new.detection, fit=new.fit, visibility=new.visibility,
                partial=new.partial if face.restored is None else replace(new.partial, restored_blur=face.blur))
        for face, new in zip(faces, refitted)
    ]


def _fit_unwrap(photos: Sequence[Photo], detections: Sequence[Detection], model: MorphableModel,
                config: InferConfig, light_prior: np.ndarray | None, blur_references: np.ndarray | None,
                clock: StageClock, stage: str = "fit") -> list[PreparedFace]:
    """One identity's fits of ``photos`` (``config.fit.shared_identity``), each unwrapped."""
    with clock.stage(stage):
        if config.fit.shared_identity == "joint":
            fits = fit_faces(list(photos), list(detections), model, config.fit, light_prior=light_prior)
        else:
            fits = [fit_face(photos[0], detections[0], model, config.fit, light_prior=light_prior)]
            identity = (fits[0].shape_coeffs, fits[0].albedo_coeffs)
            fits += [fit_face(photo, detection, model, config.fit, light_prior=light_prior, identity=identity)
                     for photo, detection in zip(photos[1:], detections[1:])]
    return [unwrap_face(PreparedFace(photo=photo, detection=detection, fit=fit), model, config.unwrap,
                        blur_references=blur_references, clock=clock)
            for photo, detection, fit in zip(photos, detections, fits)]


def _usable(photos: Sequence[Photo], attempt: Callable[[int], Any], errors: type[Exception],
            skipped: list[str]) -> list[tuple[int, Any]]:
    """(index, ``attempt(index)``) of each photo where ``attempt`` succeeds; each photo where it
    raises ``errors`` is named in ``skipped``. Raises the first photo's error when none succeeds."""
    results, first_error = [], None
    for i, photo in enumerate(photos):
        try:
            results.append((i, attempt(i)))
        except errors as exc:
            first_error = first_error or exc
            skipped.append(f"{_name(photo)}: {exc}")
            log.warning("skipping %s: %s", _name(photo), exc)
    if not results:
        assert first_error is not None
        raise first_error
    return results


def merge_views(faces: Sequence[PreparedFace], model: MorphableModel,
                partials: Sequence[PartialAlbedo] | None = None) -> MergedPartial:
    """One observation from the unwrapped views of one person (step 4): their partial albedos
    (or ``partials``, the same views altered, e.g. part hidden) merged with the first as the
    primary (:data:`MERGE_PRIMARY_WEIGHT`), each other view weighted down where its expression
    moves the surface away from the first's (:func:`~facetex.fitting.merge_views.expression_motion`)."""
    partials = [face.partial for face in faces] if partials is None else list(partials)
    reference = faces[0].fit.expression_coeffs
    motion = [None] + [expression_motion(model, face.fit.expression_coeffs, reference, partials[0].resolution)
                       for face in faces[1:]]
    return merge_partials(partials, primary_weight=MERGE_PRIMARY_WEIGHT, motion_mm=motion)


def infer_same_person(
    photos: Sequence[Photo],
    database: TextureDatabase,
    config: InferConfig,
    *,
    vgg: VGG19 | None = None,
    detector: Detector | None = None,
    force: bool = False,
    exclude_persons: Sequence[str] = (),
    model: MorphableModel | None = None,
    skipped: Sequence[str] = (),
    partial_filter: Callable[[int, PartialAlbedo], PartialAlbedo] | None = None,
    progress: bool = True,
) -> InferenceResult:
    """One complete albedo from several photos of one person (module doc).

    Parameters
    ----------
    photos : the photos, loaded; the first usable one poses the mesh.
    database, config, vgg, exclude_persons, model, progress : as :func:`facetex.pipeline.infer`.
    detector : a detector to reuse (one is made and closed if None).
    force : go on when the faces' embeddings say they are different people.
    skipped : photos the caller could not load, "name: reason", carried into the result.
    partial_filter : ``(view index, partial) → partial`` applied to each view's unwrap before the
        merge (the evaluation hides part of a view with it, as a turned head would).

    Returns
    -------
    InferenceResult with ``views``, ``source_map`` and ``skipped`` set.

    Raises
    ------
    PersonMismatchError
        A photo's face is not the first photo's person (and not ``force``).
    NoFaceError, FittingError, EmptyMaskError, ...
        When no photo is usable: the first photo's error.
    """
    clock = StageClock()
    model = database.morphable_model() if model is None else model
    exclude = tuple(exclude_persons)
    skipped = list(skipped)
    own_detector = detector is None
    detector = Detector(config.detect) if detector is None else detector
    references = database.reference_luminances(exclude_persons=exclude) if config.unwrap.deblur else None
    try:
        def detect(i: int) -> Detection:
            with clock.stage("detect"):
                return detector.detect_face(photos[i])

        found = _usable(photos, detect, FacetexError, skipped)
        photos_used = [photos[i] for i, _ in found]
        detections = [detection for _, detection in found]
        with clock.stage("same_person"):
            distances = _embedding_distances(photos_used, detections) if len(photos_used) > 1 else [0.0]
        if distances is not None and not force:
            for photo, distance in zip(photos_used[1:], distances[1:]):
                if distance > SAME_PERSON_DISTANCE:
                    raise PersonMismatchError(
                        f"{_name(photo)} shows another person than {_name(photos_used[0])} (face-embedding "
                        f"distance {distance:.2f} > {SAME_PERSON_DISTANCE}); use --force to combine them anyway"
                    )
        try:
            unwrapped = fit_views(photos_used, detections, model, config, detector=detector,
                                  light_prior=database.lighting, blur_references=references, clock=clock)
        except FittingError:
            if len(photos_used) == 1:
                raise
            # find the photos that cannot be fitted even alone, and leave them out
            keep = [i for i, _ in _usable(
                photos_used, lambda i: fit_face(photos_used[i], detections[i], model, config.fit,
                                                light_prior=database.lighting), FittingError, skipped)]
            photos_used = [photos_used[i] for i in keep]
            detections = [detections[i] for i in keep]
            distances = None if distances is None else [distances[i] for i in keep]
            unwrapped = fit_views(photos_used, detections, model, config, detector=detector,
                                  light_prior=database.lighting, blur_references=references, clock=clock)
        del references
    finally:
        if own_detector:
            detector.close()

    with clock.stage("merge"):
        partials = [face.partial for face in unwrapped]
        if partial_filter is not None:
            partials = [partial_filter(i, partial) for i, partial in enumerate(partials)]
        merged = merge_views(unwrapped, model, partials)
    observed = merged.source >= 0
    shares = [float(np.count_nonzero(merged.source == i)) / max(int(observed.sum()), 1) for i in range(len(unwrapped))]
    views = tuple(
        ViewRecord(photo=face.photo, detection=face.detection, fit=face.fit, observed=float(merged.observed[i]),
                   share=shares[i], gain=tuple(float(g) for g in merged.gains[i]),
                   embedding_distance=None if distances is None else float(distances[i]))
        for i, face in enumerate(unwrapped)
    )
    detail_map = None if config.texture.detail_map is None else load_detail_map(config.texture.detail_map)
    first = unwrapped[0]
    result = complete_partial(
        merged.partial, database, config, photo=photos_used[0], detection=first.detection, fit=first.fit,
        photo_blur=None if first.blur is None else first.blur.as_dict(), vgg=vgg, exclude_persons=exclude,
        detail_map=detail_map, clock=clock, progress=progress,
    )
    return replace(result, views=views, source_map=merged.source, skipped=tuple(skipped))
