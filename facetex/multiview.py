"""Several photos of one person → one texture (issue 20; the paper's multi-view consistency,
Fig. 9, used on purpose): what one photo hides, another shows.

Steps (:func:`infer_same_person`):

1. detect and fit (§3) every photo on its own, the first usable one (the primary) exactly as
   ``facetex infer`` does it alone, unwrap included; a photo that fails (no face, an
   unreadable file, a fit that diverges) is named in ``skipped`` and the others go on;
2. check that the photos show one person: dlib's face-recognition embedding of each face lies
   within :data:`SAME_PERSON_DISTANCE` of the first's (dlib: two photos of one person lie
   within 0.6 on LFW); a photo beyond it stops the run (:class:`PersonMismatchError`) unless
   ``force``;
3. one identity: the first photo's (:data:`IDENTITY_PRIMARY_WEIGHT`; :func:`shared_identity`
   can average the photos' instead); every other photo is fitted again with that identity held
   fixed, so only its pose, camera, expression, gaze and lighting are its own, and every photo
   is unwrapped with its fit;
4. one observation: the partial albedos merged texel by texel from the views that see each best
   (:func:`facetex.fitting.merge_views.merge_partials`);
5. §4–5 on the merged observation, with the photo's detail kept where any photo shows skin and
   invented only where none does (:func:`facetex.pipeline.complete_partial`).

The result's mesh is posed as in the first usable photo; ``views`` lists every photo used,
``source_map`` which photo each texel came from.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from facetex.config import InferConfig
from facetex.database.store import TextureDatabase
from facetex.detect.detector import Detector
from facetex.errors import FacetexError, MissingDependencyError, PersonMismatchError
from facetex.fitting.merge_views import MergedPartial, expression_motion, merge_partials
from facetex.io.images import load_detail_map
from facetex.pipeline import complete_partial
from facetex.stages import PreparedFace, StageClock, prepare_face
from facetex.texture.vgg import VGG19
from facetex.types import InferenceResult, MorphableModel, PartialAlbedo, Photo, ViewRecord

__all__ = ["SAME_PERSON_DISTANCE", "infer_same_person", "merge_views", "shared_identity"]

log = logging.getLogger(__name__)

SAME_PERSON_DISTANCE = 0.6
"""dlib face-embedding distance above which two faces are taken for different people."""

IDENTITY_PRIMARY_WEIGHT = math.inf
"""How many times the first photo's fit counts in the shared identity: all of it. Averaged with
the others (4×, 3 London persons at 128²), the identity moved the first photo's texels in UV and
their 16–32 c/fw correlation with the person's texture fell from 0.94 to 0.84 on one person
(docs/design.md, "Several photos of one person")."""

MERGE_PRIMARY_WEIGHT = 16.0
"""How many times the first photo's quality counts in the merge
(:func:`facetex.fitting.merge_views.merge_partials`). At 4 a London smiling photo mixed a
fifth of its detail into the neutral face and cost 0.014 of observed 16–32 c/fw correlation
against the neutral truth; at 16, 0.001 (5 persons, docs/design.md)."""


def _name(photo: Photo) -> str:
    return Path(photo.source).name


def shared_identity(faces: Sequence[PreparedFace], *,
                    primary_weight: float = IDENTITY_PRIMARY_WEIGHT) -> tuple[np.ndarray, np.ndarray]:
    """(shape, albedo) coefficients of one person from several fits: their mean weighted by each
    fit's visible skin pixels, the first (primary) fit's counting ``primary_weight`` times (the
    model is linear in both, so this is the mean shape and albedo); with an infinite weight, the
    first fit's own. The primary photo poses the mesh and gives most texels: every change of its
    identity moves its texels in UV."""
    if math.isinf(primary_weight):
        return np.asarray(faces[0].fit.shape_coeffs, np.float64), np.asarray(faces[0].fit.albedo_coeffs, np.float64)
    weights = np.array([max(float(face.fit.diagnostics.visible_pixels), 1.0) for face in faces])
    weights[0] *= primary_weight
    weights = weights / weights.sum()
    shape = sum(w * np.asarray(face.fit.shape_coeffs, np.float64) for w, face in zip(weights, faces))
    albedo = sum(w * np.asarray(face.fit.albedo_coeffs, np.float64) for w, face in zip(weights, faces))
    return np.asarray(shape), np.asarray(albedo)


def _embedding_distances(faces: Sequence[PreparedFace]) -> list[float] | None:
    """dlib embedding distance of each face to the first; None when dlib is not installed."""
    try:
        from facetex.evaluation.identity import IdentityEmbedder, embedding_distance

        embedder = IdentityEmbedder()
    except MissingDependencyError as exc:
        log.warning("cannot check that the photos show one person: %s", exc)
        return None
    embeddings = [embedder.embed(face.photo.rgb, face.detection.box) for face in faces]
    return [embedding_distance(embeddings[0], e) for e in embeddings]


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
    primary_kept = math.isinf(IDENTITY_PRIMARY_WEIGHT)  # the first photo's own fit is the identity
    references = database.reference_luminances(exclude_persons=exclude) if config.unwrap.deblur else None
    try:
        faces, photos_used, first_error = [], [], None
        for photo in photos:
            unwrap = config.unwrap if primary_kept and not faces else None  # the primary: as one photo alone
            try:
                faces.append(prepare_face(photo, model, config.fit, unwrap, light_prior=database.lighting,
                                          detector=detector, blur_references=references, clock=clock))
                photos_used.append(photo)
            except FacetexError as exc:
                first_error = first_error or exc
                skipped.append(f"{_name(photo)}: {exc}")
                log.warning("skipping %s: %s", _name(photo), exc)
        if not faces:
            assert first_error is not None
            raise first_error
        with clock.stage("same_person"):
            distances = _embedding_distances(faces) if len(faces) > 1 else [0.0]
        if distances is not None and not force:
            for face, distance in zip(faces[1:], distances[1:]):
                if distance > SAME_PERSON_DISTANCE:
                    raise PersonMismatchError(
                        f"{_name(face.photo)} shows another person than {_name(faces[0].photo)} (face-embedding "
                        f"distance {distance:.2f} > {SAME_PERSON_DISTANCE}); use --force to combine them anyway"
                    )
        identity = shared_identity(faces, primary_weight=IDENTITY_PRIMARY_WEIGHT)
        unwrapped = [faces[0]] if primary_kept else []
        unwrapped += [
            prepare_face(face.photo, model, config.fit, config.unwrap, light_prior=database.lighting,
                         detector=detector, detection=face.detection, blur_references=references,
                         identity=identity, clock=clock)
            for face in faces[len(unwrapped):]
        ]
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
