"""A protocol-A run: for each held-out person, degrade the photo, complete the texture by every
variant, score it against the ground truth; then aggregate over subjects.

The protocol, its regions and its metrics are described in ``docs/evaluation.md``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence

import cv2
import numpy as np
from tqdm import tqdm

from facetex.database.store import TextureDatabase
from facetex.detect.detector import Detector
from facetex.errors import FacetexError, MissingDependencyError
from facetex.evaluation.bootstrap import Summary, paired_difference, summarize
from facetex.evaluation.config import ProtocolConfig
from facetex.evaluation.fidelity import Sameness, sameness
from facetex.evaluation.identity import FaceEmbedder, IdentityEmbedder
from facetex.evaluation.metrics import face_width_texels
from facetex.evaluation.onet import ONetGrams
from facetex.evaluation.prepare import prepare_subject
from facetex.evaluation.results import FidelityMaps, ProtocolResult, SubjectResult, VariantInfo
from facetex.evaluation.scoring import METRICS, fidelity_scores, ground_truth_reference, score_texture
from facetex.evaluation.subjects import DatabaseArrays, load_arrays, select_persons
from facetex.evaluation.textures import texture_variants
from facetex.evaluation.variants import GRAM_LAYERS, PAPER_ORDER, Variant, build_variants
from facetex.texture.color import luminance
from facetex.texture.vgg import VGG19, load_vgg19
from facetex.types import GramSet, Photo

__all__ = ["aggregate", "protocol_sameness", "run_protocol"]

log = logging.getLogger(__name__)


def _face_crop(photo: Photo, box: np.ndarray, size: int) -> np.ndarray:
    """Square crop around a face box (15 % margin), resized to size²."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = 1.3 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = photo.size
    a = int(round(max(0.0, cx - side / 2)))
    b = int(round(max(0.0, cy - side / 2)))
    c = int(round(min(float(w), cx + side / 2)))
    d = int(round(min(float(h), cy + side / 2)))
    crop = photo.rgb[b:d, a:c]
    return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


def _evaluate_subject(
    database: TextureDatabase,
    arrays: DatabaseArrays,
    person: str,
    variants: Sequence[Variant],
    config: ProtocolConfig,
    vgg: VGG19 | None,
    detector: Detector,
    embedder: FaceEmbedder | None,
    onet: ONetGrams | None,
    *,
    keep_images: bool,
) -> SubjectResult:
    """Prepare one held-out subject, complete its texture by every variant, score them."""
    clock = time.perf_counter()
    prepared, rows = prepare_subject(database, arrays, person, config, detector)
    complete = None
    if arrays.grams is not None:
        complete = GramSet(grams={layer: g[rows] for layer, g in arrays.grams.grams.items()})
    elif vgg is not None:
        complete = database.gram_set(config.size, layers=GRAM_LAYERS, exclude_persons=(person,))
    regions = None if arrays.gram_regions is None else arrays.gram_regions[rows]
    completed = texture_variants(prepared.partial, arrays.textures[rows], complete, variants, config, vgg,
                                 exemplar_regions=regions)
    reference = ground_truth_reference(prepared, config, embedder, onet)
    scores = {
        name: score_texture(texture, prepared, config, reference, embedder, onet)
        for name, texture in completed.textures.items()
    }
    info = {name: VariantInfo.of(run, prepared.exemplar_ids) for name, run in completed.info.items()}
    images: dict[str, np.ndarray] = {}
    if keep_images:
        images = {
            "input": _face_crop(prepared.degraded, prepared.detection.box, config.size),
            "partial": prepared.partial.albedo,
            "truth": prepared.truth,
            **completed.textures,
        }
    regions = prepared.regions
    maps = FidelityMaps(
        luminance={
            name: luminance(texture).astype(np.float32)
            for name, texture in {"truth": prepared.truth, "input": prepared.partial.albedo,
                                  **completed.textures}.items()
        },
        regions=regions.copy(),
    )
    return SubjectResult(
        person=person,
        subject_id=prepared.subject_id,
        metrics=scores,
        info=info,
        seconds={
            "prepare": prepared.seconds,
            "analysis": completed.analysis_seconds,
            "total": time.perf_counter() - clock,
        },
        diagnostics={
            **{f"fit_{k}": v for k, v in (prepared.fit.diagnostics.as_dict() if prepared.fit.diagnostics else {}).items()},
            "observed_fraction": float(regions.observed.sum() / max(regions.truth.sum(), 1)),
            "hidden_texels": int(regions.hidden.sum()),
            "truth_patches": len(reference.corners["truth"]),
            "hidden_patches": len(reference.corners["hidden"]),
            "hidden_patch_size": reference.patches["hidden"],
        },
        images=images,
        input_metrics=fidelity_scores(prepared.partial.albedo, prepared, ("observed", "registered")),
        unrestored_metrics=({} if prepared.unrestored is None
                            else fidelity_scores(prepared.unrestored.albedo, prepared, ("observed", "registered"))),
        maps=maps,
    )


def protocol_sameness(
    subjects: Sequence[SubjectResult], rows: Sequence[str], *, face_width: float | None = None
) -> dict[str, dict[str, dict[str, Sameness]]]:
    """Cross-person sameness (:func:`facetex.evaluation.fidelity.sameness`) over a run.

    Parameters
    ----------
    subjects : the run's subjects, with their ``maps`` (subjects without are left out).
    rows : "input" and/or variant names.
    face_width : texels per face width of the maps (``ProtocolConfig.face_width``; default R).

    Returns
    -------
    row → region ("observed", "hidden") → band label → Sameness of the row's textures
    across persons (pairs scored on the texels both persons' regions share) against their
    truths; empty with fewer than two subjects.
    """
    kept = [s for s in subjects if s.maps is not None]
    if len({s.person for s in kept}) < 2:
        return {}
    truths = [s.maps.luminance["truth"] for s in kept]
    out: dict[str, dict[str, dict[str, Sameness]]] = {}
    for row in rows:
        out[row] = {}
        for region in ("observed", "hidden"):
            if row == "input" and region != "observed":
                continue  # the input holds nothing where it did not observe
            out[row][region] = sameness(
                [s.maps.luminance[row] for s in kept], truths, [s.maps.regions.mask(region) for s in kept],
                resolution=face_width,
            )
    return out


def aggregate(
    subjects: Sequence[SubjectResult],
    variants: Sequence[Variant],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[dict[str, dict[str, Summary]], dict[str, dict[str, Summary]]]:
    """Mean and bootstrap interval per variant and metric; paired tests of the paper's order.

    Returns
    -------
    summary : variant → metric → Summary.
    comparisons : "a>b" (adjacent in :data:`PAPER_ORDER`, both present) → metric → Summary of
        the per-subject differences oriented so that a positive mean favours ``a``: a − b for
        the goal "max", b − a for "min", |b − t| − |a − t| for an ideal value t.
    """
    names = [v.name for v in variants]
    options = dict(confidence=confidence, resamples=resamples, seed=seed)

    def column(variant: str, metric: str) -> np.ndarray:
        return np.array([s.metrics[variant][metric] for s in subjects], dtype=np.float64)

    summary = {v: {m: summarize(column(v, m), **options) for m in METRICS} for v in names}
    present = [v for v in PAPER_ORDER if v in names]
    comparisons: dict[str, dict[str, Summary]] = {}
    for better, worse in zip(present, present[1:]):
        per_metric = {}
        for metric, (_, goal) in METRICS.items():
            a, b = column(better, metric), column(worse, metric)
            if goal == "max":
                per_metric[metric] = paired_difference(a, b, **options)
            elif goal == "min":
                per_metric[metric] = paired_difference(b, a, **options)
            else:
                per_metric[metric] = paired_difference(np.abs(b - goal), np.abs(a - goal), **options)
        comparisons[f"{better}>{worse}"] = per_metric
    return summary, comparisons


def run_protocol(
    database: TextureDatabase,
    config: ProtocolConfig,
    *,
    vgg: VGG19 | None = None,
    embedder: FaceEmbedder | None = None,
    onet: ONetGrams | None = None,
    progress: bool = True,
) -> ProtocolResult:
    """Run protocol A (module doc) over held-out subjects of ``database``.

    Parameters
    ----------
    database : the texture database (London by default); every subject's neutral photo must
        be readable (its path is in the database's source list).
    config : the run's settings; a ``face_width`` of None is measured on the database's UV
        layout (:func:`~facetex.evaluation.metrics.face_width_texels`) and the result's config
        holds the value used.
    vgg : a loaded VGG-19 (loaded on ``config.infer.texture.device`` if None).
    embedder : an IdentityEmbedder (made when ``config.identity`` and dlib is installed).
    onet : the network of the ONet Gram distance (made when facenet-pytorch is installed).
    progress : a tqdm bar over subjects (stderr).

    Returns
    -------
    ProtocolResult. Subjects that fail with a FacetexError (photo not found, no face found,
    fit failure, empty mask) are listed in ``failures`` and left out of the aggregates.

    Raises
    ------
    DatabaseError
        Fewer than two persons, or unknown persons.
    FacetexError
        If no subject could be evaluated (the message gives the first reasons).
    """
    start = time.perf_counter()
    if config.face_width is None:  # bands per face width: measured on the database's layout
        width = face_width_texels(database.morphable_model().topology, config.size)
        config = dataclasses.replace(config, face_width=width)
        log.info("texels per face width at %d²: %.2f", config.size, width)
    variants = build_variants(config.variants, config.ablation)
    persons = select_persons(database, config.subjects, config.persons)
    if vgg is None and any(v.kind == "synthesis" for v in variants):
        vgg = load_vgg19(config.infer.texture.device, channels_last=config.infer.texture.channels_last)
    if embedder is None and config.identity:
        try:
            embedder = IdentityEmbedder()
        except MissingDependencyError as exc:
            log.warning("identity similarity skipped: %s", exc)
    if onet is None:
        try:
            onet = ONetGrams(config.infer.texture.device)
        except MissingDependencyError as exc:
            log.warning("ONet Gram distance skipped: %s", exc)
    arrays = load_arrays(database, config.size, vgg, config.infer.texture)
    results: list[SubjectResult] = []
    failures: list[tuple[str, str]] = []
    with Detector(config.infer.detect) as detector:
        for person in tqdm(persons, desc="protocol A", unit="subject", disable=not progress):
            try:
                results.append(
                    _evaluate_subject(
                        database, arrays, person, variants, config, vgg, detector, embedder, onet,
                        keep_images=len(results) < config.figure_subjects,
                    )
                )
            except FacetexError as exc:
                log.warning("subject %s skipped: %s", person, exc)
                failures.append((person, str(exc)))
    if not results:
        raise FacetexError(f"no held-out subject could be evaluated ({len(failures)} failed: {failures[:3]})")
    summary, comparisons = aggregate(
        results, variants, confidence=config.confidence, resamples=config.resamples, seed=config.seed
    )
    options = dict(confidence=config.confidence, resamples=config.resamples, seed=config.seed)
    input_metrics = [m for m in METRICS
                     if m.startswith(("corr_observed_", "logratio_observed_", "corr_registered_", "logratio_registered_"))]
    input_summary = {m: summarize([s.input_metrics.get(m, math.nan) for s in results], **options) for m in input_metrics}
    restored = [s for s in results if s.unrestored_metrics]
    unrestored_summary = {
        m: summarize([s.unrestored_metrics.get(m, math.nan) for s in restored], **options) for m in input_metrics
    } if restored else {}
    sameness = protocol_sameness(results, ["input", *(v.name for v in variants)], face_width=config.face_width)
    return ProtocolResult(
        config=config,
        variants=variants,
        subjects=tuple(results),
        failures=tuple(failures),
        summary=summary,
        comparisons=comparisons,
        database={"name": database.name, "path": str(database.path), "subjects": len(database.subjects()),
                  "persons": len(database.persons), "attribution": database.attribution},
        seconds=time.perf_counter() - start,
        input_summary=input_summary,
        unrestored_summary=unrestored_summary,
        sameness=sameness,
    )

