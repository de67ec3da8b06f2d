"""Protocol A (paper §6 / Appendix II, DESIGN §6): degrade a held-out photo, infer, compare.

For each held-out person of the database (leave-one-out: *both* photos of the person are left
out of everything the inference uses — exemplars, Grams and the morphable model):

1. take the person's neutral photo and the texture the database unwrapped from it (the ground
   truth: complete albedo in UV, with the fill map telling which texels were really observed);
2. degrade the photo (:mod:`facetex.evaluation.degrade`: blur or 4× downsampling, optionally an
   occluder) and run the pipeline's stages once up to the partial albedo: detect, fit (§3) with
   a morphable model rebuilt without the person, unwrap (optionally hide one side: "turn");
3. run the texture stage once per *variant* on the same partial albedo — PCA albedo only,
   closest Gram, unconstrained linear blend, convex blend (§4–5), generic inpainting — plus the
   variants of an ablation (Gram layers, Fig. 8; top-k exemplars of the convex blend, Fig. 4;
   α, Fig. 6; the paper's recipe against the fast default), and the pipeline's own default
   texture stage with and without keeping the photo's observed detail ("default",
   "default-paste": what ``facetex infer`` runs, before/after issue 16);
4. score each texture against the ground truth at the same resolution
   (:mod:`facetex.evaluation.metrics`; fidelity per octave band, :mod:`facetex.evaluation
   .fidelity`), and aggregate over subjects: mean, bootstrap confidence interval, and paired
   differences between the variants of the paper's ordering convex ≥ linear ≥ closest ≥ PCA;
   the input's own partial albedo is scored for fidelity too (what the degraded photo still
   holds), and the cross-person "sameness" of every variant is computed over the run's
   subjects.

Scoring regions (R × R UV texels): ``truth`` = texels the ground truth observed (fill-map
``OBSERVED``: visible skin of the sharp photo, not mirrored or inpainted); ``observed`` = truth
texels the degraded input observed too; ``hidden`` = truth texels the input did not observe
(the occluder, the simulated turn, or texels the degraded photo's visibility lost).

Texture stage, as ``facetex.texture.inference.infer_texture`` with one synthesis stage at the
evaluation size, but sharing work between variants: the masked Grams of §4 (partial texture and
every exemplar under the input's mask) are computed once per subject in fp32 at all five layers,
and every solver / layer subset solves its weights on them; complete exemplar Grams come from
the database when it stores them at the evaluation size. The bench's variants therefore use the
paper's exact §4 fit over every exemplar; the pipeline's fast default screens candidates first
(``TextureConfig.preselect_count``), and they synthesise from the low-frequency albedo as §5
does, where the pipeline's default starts from the exemplars' detail (``TextureConfig.start``).
The "recipe" ablation runs the pipeline's own texture stage (``infer_texture``) as ``facetex
infer`` does (its coarse-to-fine schedule scaled to the evaluation size) and with the paper's
recipe, to measure that too (issue 7).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facetex.database import holdout
from facetex.database.store import SubjectRecord, TextureDatabase
from facetex.errors import DatabaseError, FacetexError, MissingDependencyError, NoFaceError, ShapeMismatchError
from facetex.evaluation import fidelity as F
from facetex.evaluation import metrics as M
from facetex.evaluation.baselines import inpaint_albedo, pca_albedo
from facetex.evaluation.config import ProtocolConfig
from facetex.evaluation.degrade import (
    DegradeConfig,
    blur_photo,
    blur_sigma,
    downsample_photo,
    hide_turn,
    occlude_photo,
)
from facetex.evaluation.onet import ONetGrams, RegionGrams, gram_distance
from facetex.evaluation.variants import (
    ABLATIONS,
    GRAM_LAYERS,
    PAPER_ORDER,
    PIPELINE_VARIANTS,
    VARIANTS,
    Variant,
    build_variants,
)
from facetex.texture.color import luminance
from facetex.texture.config import TextureConfig
from facetex.types import Detection, FaceFit, GramSet, MorphableModel, PartialAlbedo, Photo

__all__ = [
    "VARIANTS",
    "PIPELINE_VARIANTS",
    "FIDELITY_REGIONS",
    "fidelity_metric",
    "ABLATIONS",
    "GRAM_LAYERS",
    "METRICS",
    "PAPER_ORDER",
    "Variant",
    "ProtocolConfig",
    "PreparedSubject",
    "SubjectResult",
    "ProtocolResult",
    "FidelityMaps",
    "fidelity_scores",
    "protocol_sameness",
    "build_variants",
    "select_persons",
    "neutral_subject",
    "photo_path",
    "exemplar_rows",
    "held_out_model",
    "degrade_photo",
    "VariantTextures",
    "texture_variants",
    "GroundTruthReference",
    "ground_truth_reference",
    "score_texture",
    "aggregate",
    "run_protocol",
]

log = logging.getLogger(__name__)


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
#: Regions of the fidelity metrics (module doc).
FIDELITY_REGIONS = ("observed", "hidden")


def fidelity_metric(kind: str, region: str, band: tuple[float, float]) -> str:
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


# --------------------------------------------------------------------------------------------
# held-out subjects and leave-one-out queries


def neutral_subject(database: TextureDatabase, person: str) -> SubjectRecord:
    """The person's neutral photo (else their first photo) in the database.

    Raises
    ------
    DatabaseError
        If the person has no photo in the database.
    """
    records = [s for s in database.subjects() if s.person_id == person]
    if not records:
        raise DatabaseError(f"person {person!r} is not in {database.path.name}")
    neutral = [s for s in records if s.expression == "neutral"]
    return (neutral or records)[0]


def select_persons(database: TextureDatabase, count: int, persons: Sequence[str] = ()) -> tuple[str, ...]:
    """Persons to hold out: ``persons`` if given (checked), else ``count`` evenly spaced ones.

    Candidates are the sorted person ids with a neutral photo; ``count`` of them are taken at
    evenly spaced positions (so the choice is deterministic and spread over the set).

    Raises
    ------
    DatabaseError
        An explicit person is unknown, or the database has fewer than 2 persons (one must
        remain to blend from).
    """
    known = database.persons
    if len(known) < 2:
        raise DatabaseError(f"{database.path.name} holds {len(known)} person(s); leave-one-out needs at least 2")
    if persons:
        missing = [p for p in persons if p not in known]
        if missing:
            raise DatabaseError(f"persons {missing} are not in {database.path.name}")
        return tuple(dict.fromkeys(persons))
    candidates = sorted({s.person_id for s in database.subjects() if s.expression == "neutral"}) or sorted(known)
    if count >= len(candidates):
        return tuple(candidates)
    idx = np.unique(np.round(np.linspace(0, len(candidates) - 1, count)).astype(int))
    return tuple(candidates[i] for i in idx)


def photo_path(database: TextureDatabase, record: SubjectRecord) -> Path:
    """Where the photo of ``record`` is: the database's source list, else the London set.

    Raises
    ------
    DatabaseError
        If the photo cannot be found.
    """
    tried = []
    for source in database.manifest.get("sources", []):
        path = Path(source["path"])
        if path.name == record.source:
            if path.is_file():
                return path
            tried.append(str(path))
    try:
        from facetex.paths import london_dir

        for folder in ("neutral", "smiling"):
            path = london_dir() / folder / record.source
            if path.is_file():
                return path
            tried.append(str(path))
    except DatabaseError:
        pass
    raise DatabaseError(f"the photo of subject {record.subject_id} ({record.source}) is not found (tried {tried})")


def exemplar_rows(database: TextureDatabase, person: str) -> np.ndarray:
    """Storage rows of the database subjects a held-out ``person`` may use (leave-one-out).

    Uses the database's own query ``subjects(exclude_persons=(person,))`` and checks its
    answer: no photo of ``person`` may remain.

    Returns
    -------
    (K,) int64 row indices into ``database.subjects()`` (storage order).

    Raises
    ------
    DatabaseError
        If the query still returns a photo of the person, or nothing remains.
    """
    kept = database.subjects(exclude_persons=(person,))
    if any(s.person_id == person for s in kept):
        raise DatabaseError(f"leave-one-out query of {database.path.name} still returns photos of {person}")
    if not kept:
        raise DatabaseError(f"no database subject remains once {person} is left out")
    ids = {s.subject_id for s in kept}
    return np.array([i for i, s in enumerate(database.subjects()) if s.subject_id in ids], dtype=np.int64)


@dataclass(frozen=True)
class _DatabaseArrays:
    """The database arrays a run needs, read once (storage order).

    textures : (N, S, S, 3) float32 at the evaluation size; textures_pca : (N, r, r, 3) at the
    morphable model's albedo resolution; observed : (N, S, S) bool, fill map == OBSERVED;
    vertices : (N, V, 3); grams : complete Grams at S of every subject, or None to read them
    from the database per query.
    """

    subjects: tuple[SubjectRecord, ...]
    textures: np.ndarray
    textures_pca: np.ndarray
    observed: np.ndarray
    vertices: np.ndarray
    grams: GramSet | None


def _load_arrays(database: TextureDatabase, size: int, vgg: Any, config: TextureConfig) -> _DatabaseArrays:
    """Read the arrays once; complete Grams are computed only if ``vgg`` is given and the
    database does not store them at ``size``."""
    from facetex.database.fill import OBSERVED
    from facetex.database.pca import downsample_textures
    from facetex.texture.analysis import compute_grams
    from facetex.texture.resample import resize

    model = database.morphable_model()
    full = database.textures()
    textures = np.stack([resize(t, size) for t in full])
    textures_pca = downsample_textures(full, model.albedo_mean.shape[0])
    del full
    fill = database.fill_maps()
    idx = (np.arange(size) * fill.shape[1]) // size
    observed = (fill == OBSERVED)[:, idx][:, :, idx]
    stored = size in database.gram_resolutions and set(GRAM_LAYERS) <= set(database.gram_layers)
    grams = None
    if vgg is not None and not stored:
        log.info("computing complete Grams of %d database textures at %d² (not stored)", len(textures), size)
        grams = compute_grams(
            luminance(textures), vgg, layers=GRAM_LAYERS, batch_size=config.batch_size, bf16=False
        )
    return _DatabaseArrays(
        subjects=database.subjects(),
        textures=textures,
        textures_pca=textures_pca,
        observed=observed,
        vertices=database.vertices().astype(np.float64),
        grams=grams,
    )


def held_out_model(
    database: TextureDatabase,
    rows: np.ndarray,
    *,
    arrays: _DatabaseArrays | None = None,
) -> MorphableModel:
    """:func:`facetex.database.holdout.held_out_model` from the protocol's loaded arrays."""
    if arrays is None:
        return holdout.held_out_model(database, rows)
    return holdout.held_out_model(
        database, rows, subjects=arrays.subjects, vertices=arrays.vertices, textures_pca=arrays.textures_pca
    )


# --------------------------------------------------------------------------------------------
# one subject


def degrade_photo(photo: Photo, detection: Detection, config: DegradeConfig) -> Photo:
    """Apply the photo degradations of ``config`` (detail, then occluder) to a sharp photo.

    Parameters
    ----------
    photo : the sharp photo.
    detection : its face (eye centres for the blur σ, box for the occluder).
    config : what to do; the "turn" hiding is applied later, to the partial albedo.

    Returns
    -------
    A new Photo, ``source`` tagged with the degradation.
    """
    from facetex.detect import eye_centers

    rgb = photo.rgb
    tags = []
    if config.detail == "blur":
        eyes = eye_centers(detection.landmarks)
        sigma = blur_sigma(float(np.linalg.norm(eyes[1] - eyes[0])), config.blur_fraction)
        rgb = blur_photo(rgb, sigma)
        tags.append(f"blur σ={sigma:.1f}px")
    elif config.detail == "downsample":
        rgb = downsample_photo(rgb, config.downsample_factor)
        tags.append(f"downsample ×{config.downsample_factor}")
    if config.hide == "occluder":
        rgb = occlude_photo(rgb, detection.box, side=config.side, colour=config.occluder_colour)
        tags.append(f"occluder {config.side}")
    if not tags:
        return photo
    return Photo(rgb=np.asarray(rgb, dtype=np.float32), source=f"{photo.source} [{', '.join(tags)}]")


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
    truth : (R, R, 3) float32, the database texture of the subject (sharp photo, filled).
    regions : "truth", "observed", "hidden" → (R, R) bool (module doc).
    exemplar_ids : ids of the database subjects the texture stage may use.
    seconds : time of detect + fit + unwrap.
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
    regions: dict[str, np.ndarray]
    exemplar_ids: tuple[str, ...]
    seconds: float


def _prepare(
    database: TextureDatabase,
    arrays: _DatabaseArrays,
    person: str,
    config: ProtocolConfig,
    detector: Any,
) -> tuple[PreparedSubject, np.ndarray]:
    from facetex.fitting import fit_face, unwrap_albedo
    from facetex.io.images import load_photo

    clock = time.perf_counter()
    record = neutral_subject(database, person)
    row = next(i for i, s in enumerate(arrays.subjects) if s.subject_id == record.subject_id)
    rows = exemplar_rows(database, person)
    sharp = load_photo(photo_path(database, record))
    degraded = degrade_photo(sharp, detector.detect_face(sharp), config.degrade)
    detection = detector.detect_face(degraded)
    model = held_out_model(database, rows, arrays=arrays)
    infer = config.infer.with_resolution(config.size)
    fit = fit_face(degraded, detection, model, infer.fit)
    partial = unwrap_albedo(degraded, detection, fit, model, infer.unwrap)
    if config.degrade.hide == "turn":
        partial = hide_turn(partial, config.degrade.turn_fraction, config.degrade.side)
    truth_observed = arrays.observed[row] & partial.chart
    regions = {
        "truth": truth_observed,
        "observed": truth_observed & partial.mask,
        "hidden": truth_observed & ~partial.mask,
    }
    prepared = PreparedSubject(
        person=person,
        subject_id=record.subject_id,
        sharp=sharp,
        degraded=degraded,
        detection=detection,
        fit=fit,
        model=model,
        partial=partial,
        truth=arrays.textures[row],
        regions=regions,
        exemplar_ids=tuple(arrays.subjects[r].subject_id for r in rows),
        seconds=time.perf_counter() - clock,
    )
    return prepared, rows


def _top_k(weights: np.ndarray, k: int) -> np.ndarray:
    """Keep the k largest weights (ties by index), zero the rest, renormalise to sum 1."""
    w = np.asarray(weights, dtype=np.float64)
    keep = np.argsort(-w, kind="stable")[:k]
    out = np.zeros_like(w)
    out[keep] = w[keep]
    total = out.sum()
    if total <= 0:
        raise ValueError("the kept weights sum to zero")
    return out / total


def _observed_detail_inputs(partial: PartialAlbedo, config: TextureConfig) -> dict[str, Any]:
    """What ``facetex infer`` passes to ``infer_texture`` besides the images (as
    ``facetex.pipeline.infer`` does): the photo's sampling density per texel, when the unwrap
    measured it, and the per-texel detail map, when the config names one."""
    extra: dict[str, Any] = {}
    density = getattr(partial, "pixels_per_texel", None)
    if density is not None:
        extra["pixels_per_texel"] = density
    if partial.feature_mask is not None:
        extra["feature_rgb"] = partial.features
        extra["feature_mask"] = partial.feature_mask
    if getattr(config, "detail_map", None) is not None:
        from facetex.io.images import load_detail_map

        extra["detail_map"] = load_detail_map(config.detail_map)
    return extra


@dataclass(frozen=True)
class VariantTextures:
    """Output of :func:`texture_variants`.

    Attributes
    ----------
    textures : variant name → (R, R, 3) float32 in [0, 1], 0.5 off the chart.
    info : variant name → {"seconds"; for synthesis variants also "weights" (K,) float64,
        "objective" (§4 fit residual), "iterations" run, "final_loss"}.
    analysis_seconds : time of the shared §4 masked Grams.
    """

    textures: dict[str, np.ndarray]
    info: dict[str, dict[str, Any]]
    analysis_seconds: float


def texture_variants(
    partial: PartialAlbedo,
    exemplars: np.ndarray,
    complete: GramSet | None,
    variants: Sequence[Variant],
    config: ProtocolConfig,
    vgg: Any,
    *,
    progress: bool = False,
) -> VariantTextures:
    """Complete one partial albedo by every variant (the texture stage, run per variant).

    Parameters
    ----------
    partial : the partial albedo at R = ``config.size``.
    exemplars : (K, R, R, 3) float32 complete exemplar textures (the held-out person excluded).
    complete : their complete Grams at R, every layer of :data:`GRAM_LAYERS` (N = K); needed
        only by synthesis variants.
    variants : what to run.
    config : the run's settings (texture config per variant: :meth:`ProtocolConfig.texture_config`).
    vgg : the feature network.
    progress : show synthesis progress bars.

    Returns
    -------
    VariantTextures.
    """
    from facetex.texture.analysis import blend_grams, build_blend_problem, compute_grams, solve_blend
    from facetex.pipeline import on_chart
    from facetex.texture.inference import infer_texture
    from facetex.texture.synthesis import synthesize_texture

    size = partial.resolution
    synthesis = any(v.kind == "synthesis" for v in variants)
    if synthesis and (complete is None or vgg is None):
        raise ValueError("synthesis variants need the exemplars' complete Grams and the network")
    if exemplars.shape[1:3] != (size, size) or (complete is not None and complete.count != exemplars.shape[0]):
        raise ShapeMismatchError(f"exemplars {exemplars.shape} and their Grams do not match the partial at {size}²")
    textures: dict[str, np.ndarray] = {}
    info: dict[str, dict[str, Any]] = {}
    problems: dict[tuple[str, ...], Any] = {}
    solved: dict[tuple[tuple[str, ...], str], np.ndarray] = {}
    clock = time.perf_counter()
    masked: list[GramSet] = []
    # the §4 masked Grams, once, all layers, fp32 (the recipe variants run their own analysis)
    if any(v.kind == "synthesis" and v.recipe is None for v in variants):
        options = dict(layers=GRAM_LAYERS, batch_size=config.infer.texture.batch_size, bf16=False)
        masked.append(compute_grams(luminance(partial.albedo)[None], vgg, mask=partial.mask, **options))
        masked.append(compute_grams(luminance(exemplars), vgg, mask=partial.mask, **options))
    analysis_seconds = time.perf_counter() - clock

    def weights_for(layers: tuple[str, ...], solver: str) -> np.ndarray:
        if layers not in problems:
            problems[layers] = build_blend_problem(
                GramSet(grams={layer: masked[0].grams[layer] for layer in layers}),
                GramSet(grams={layer: masked[1].grams[layer] for layer in layers}),
            )
        if (layers, solver) not in solved:
            solved[layers, solver] = solve_blend(problems[layers], solver)
        return solved[layers, solver]

    for variant in variants:
        clock = time.perf_counter()
        if variant.kind == "pca":
            textures[variant.name] = pca_albedo(partial)
            info[variant.name] = {"seconds": time.perf_counter() - clock}
            continue
        if variant.kind == "inpaint":
            textures[variant.name] = inpaint_albedo(partial)
            info[variant.name] = {"seconds": time.perf_counter() - clock}
            continue
        tex_config = config.texture_config(variant)
        if variant.recipe is not None:  # the pipeline's texture stage, as `facetex infer` runs it
            run = infer_texture(
                partial.lowfreq, partial.albedo, partial.mask, list(exemplars), tex_config, vgg,
                exemplar_grams={size: complete}, progress=progress, **_observed_detail_inputs(partial, tex_config),
            )
            textures[variant.name] = on_chart(run.synthesis.rgb, partial.chart)
            info[variant.name] = {
                "seconds": time.perf_counter() - clock,
                "weights": run.blend.weights,
                "objective": run.blend.objective,
                "iterations": len(run.synthesis.losses) - 1,
                "final_loss": run.synthesis.losses[-1],
            }
            continue
        layers = tex_config.gram_layers
        if variant.top_k is not None:
            weights = _top_k(weights_for(layers, "convex"), variant.top_k)
        else:
            weights = weights_for(layers, tex_config.solver)
        problem = problems[layers]
        used = np.flatnonzero(weights != 0.0)
        target = blend_grams(weights[used], GramSet(grams={layer: complete.grams[layer][used] for layer in layers}))
        result = synthesize_texture(
            partial.lowfreq,
            target,
            vgg,
            tex_config,
            iterations=tex_config.schedule[-1].iterations,
            progress=progress,
        )
        textures[variant.name] = on_chart(result.rgb, partial.chart)
        info[variant.name] = {
            "seconds": time.perf_counter() - clock,
            "weights": weights,
            "objective": problem.objective(weights),
            "iterations": len(result.losses) - 1,
            "final_loss": result.losses[-1],
        }
    return VariantTextures(textures=textures, info=info, analysis_seconds=analysis_seconds)


# --------------------------------------------------------------------------------------------
# scoring


@dataclass(frozen=True)
class GroundTruthReference:
    """Ground-truth quantities shared by every variant of a subject.

    Attributes
    ----------
    corners : region ("truth", "hidden") → power-spectrum patch corners inside it.
    spectra : region → the ground truth's spectrum over those patches (regions with no patch
        are absent).
    embedding : (128,) dlib embedding of the render with the ground-truth texture, or None.
    onet_grams : region ("observed", "hidden") → the ground truth's ONet Grams of its detail
        (:mod:`facetex.evaluation.onet`); empty without the network, empty regions absent.
    """

    corners: dict[str, list[tuple[int, int]]]
    spectra: dict[str, M.RadialSpectrum]
    embedding: np.ndarray | None
    onet_grams: dict[str, RegionGrams] = field(default_factory=dict)


def _composite_render(prepared: PreparedSubject, texture: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Render the fitted face with ``texture`` under the fit's lighting, composited on the sharp
    photo, at ``scale`` × the photo's size. Returns the image and the face box at that scale."""
    import cv2

    from facetex.fitting import render_face

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


def _embed(embedder: Any, image: np.ndarray, box: np.ndarray) -> np.ndarray:
    try:
        return embedder.embed(image)
    except NoFaceError:
        return embedder.embed(image, box)


#: Regions the ONet Gram distance is reported for.
_ONET_REGIONS = ("observed", "hidden")


def ground_truth_reference(
    prepared: PreparedSubject, config: ProtocolConfig, embedder: Any = None, onet: ONetGrams | None = None
) -> GroundTruthReference:
    """Patches, spectra, identity embedding and ONet Grams of a subject's ground truth (shared
    by variants); no embedding without ``embedder``, no Grams without ``onet``."""
    patch = config.patch_size
    corners = {name: M.skin_patches(prepared.regions[name], patch) for name in ("truth", "hidden")}
    spectra = {
        name: M.radial_power_spectrum(prepared.truth, c, patch) for name, c in corners.items() if c
    }
    embedding = None
    if embedder is not None:
        image, box = _composite_render(prepared, prepared.truth, _identity_scale(prepared))
        embedding = _embed(embedder, image, box)
    onet_grams = {}
    if onet is not None:
        onet_grams = {
            name: onet.region_grams(prepared.truth, prepared.regions[name])
            for name in _ONET_REGIONS
            if prepared.regions[name].any()
        }
    return GroundTruthReference(corners=corners, spectra=spectra, embedding=embedding, onet_grams=onet_grams)


def fidelity_scores(
    texture: np.ndarray, prepared: PreparedSubject, regions: Sequence[str] = FIDELITY_REGIONS
) -> dict[str, float]:
    """The fidelity metrics of :data:`METRICS` (per band and region) of one texture.

    Parameters
    ----------
    texture : (R, R, 3) float32 in [0, 1], on the truth's chart (an output, or the input's
        partial albedo, whose unobserved texels are eroded away with the region's border).
    prepared : the subject (truth and regions).
    regions : which of :data:`FIDELITY_REGIONS` to score; the others' metrics are absent.

    Returns
    -------
    metric name → value; NaN for bands above R / 2 and empty regions.
    """
    out: dict[str, float] = {}
    for region in regions:
        scores = F.band_fidelity(texture, prepared.truth, prepared.regions[region])
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
    embedder: Any = None,
    onet: ONetGrams | None = None,
) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one completed texture (NaN where undefined),
    fidelity included (:func:`fidelity_scores`).

    Parameters
    ----------
    texture : (R, R, 3) float32 in [0, 1].
    prepared : the subject (ground truth, regions, fit for the identity renders).
    config : patch size and the mesoscopic band.
    reference : from :func:`ground_truth_reference`.
    embedder : an :class:`~facetex.evaluation.metrics.IdentityEmbedder`, or None to skip
        identity.
    onet : the :class:`~facetex.evaluation.onet.ONetGrams` the reference was made with, or
        None to skip the ONet Gram distance.
    """
    out = {name: float("nan") for name in METRICS}
    patch = config.patch_size
    for region, key in (("truth", "spectrum"), ("hidden", "spectrum_error_hidden")):
        if region not in reference.spectra:
            continue
        band = M.band_log_error(
            M.radial_power_spectrum(texture, reference.corners[region], patch), reference.spectra[region]
        )
        if region == "truth":
            out["spectrum_error"] = band.log_error
            out["spectrum_ratio"] = band.log_ratio
        else:
            out[key] = band.log_error
    if prepared.regions["truth"].any():
        out["ssim_lowpass"] = M.lowpass_ssim(texture, prepared.truth, prepared.regions["truth"])
    errors = M.region_errors(
        texture, prepared.truth, {"observed": prepared.regions["observed"], "hidden": prepared.regions["hidden"]}
    )
    for region, err in errors.items():
        out[f"rmse_{region}"] = err.rmse
        out[f"hp_rmse_{region}"] = err.highpass_rmse
        out[f"detail_{region}"] = err.detail_ratio
    if embedder is not None and reference.embedding is not None:
        image, box = _composite_render(prepared, texture, _identity_scale(prepared))
        embedding = _embed(embedder, image, box)
        out["identity"] = M.identity_similarity(embedding, reference.embedding)
        out["identity_distance"] = M.embedding_distance(embedding, reference.embedding)
    if onet is not None:
        for region, truth_grams in reference.onet_grams.items():
            grams = onet.region_grams(texture, prepared.regions[region])
            out[f"onet_gram_{region}"] = gram_distance(grams, truth_grams)
    out.update(fidelity_scores(texture, prepared))
    return out


# --------------------------------------------------------------------------------------------
# the run


@dataclass(frozen=True)
class FidelityMaps:
    """What the cross-person sameness needs of one subject (kept for the whole run).

    Attributes
    ----------
    luminance : "truth", "input" (the partial albedo) and each variant's name → (R, R) float32
        luminance of the UV map.
    regions : "observed", "hidden" → (R, R) bool (module doc).
    """

    luminance: dict[str, np.ndarray]
    regions: dict[str, np.ndarray]


@dataclass(frozen=True)
class SubjectResult:
    """Scores of every variant on one held-out subject.

    Attributes
    ----------
    person, subject_id : the held-out person and photo.
    metrics : variant → metric → value (NaN where undefined).
    info : variant → {"seconds", "weights" (top entries as [subject_id, weight]), ...}.
    seconds : "prepare" (detect + fit + unwrap), "analysis" (shared §4 masked Grams) and
        "total" for this subject.
    diagnostics : fit diagnostics, observed fractions of the regions.
    images : for the figure (first ``figure_subjects`` subjects only, else empty): "input"
        (face crop of the degraded photo), "partial", "truth", and each variant's texture.
    input_metrics : the fidelity metrics of the input's own partial albedo against the truth,
        observed region only (:func:`fidelity_scores`): what the degraded photo still holds.
    maps : luminance maps and regions for the cross-person sameness (:func:`protocol_sameness`).
    """

    person: str
    subject_id: str
    metrics: dict[str, dict[str, float]]
    info: dict[str, dict[str, Any]]
    seconds: dict[str, float]
    diagnostics: dict[str, float]
    images: dict[str, np.ndarray] = field(default_factory=dict)
    input_metrics: dict[str, float] = field(default_factory=dict)
    maps: FidelityMaps | None = None


@dataclass(frozen=True)
class ProtocolResult:
    """A whole run: settings, per-subject scores, aggregates.

    Attributes
    ----------
    config : the settings.
    variants : the variants, in table order.
    subjects : one result per held-out subject that could be processed.
    failures : [person, reason] of subjects that could not (no face found, fit failed, ...).
    summary : variant → metric → Summary over subjects.
    comparisons : adjacent pairs of :data:`PAPER_ORDER` present in the run →
        metric → paired Summary of (better-ranked − worse-ranked), sign-adjusted so that > 0
        means the paper's ordering holds.
    database : name, path and size of the database.
    seconds : wall time of the run.
    input_summary : fidelity metric → Summary over subjects of the input's own partial albedo
        (``SubjectResult.input_metrics``).
    sameness : "input" and each variant → region → band label → cross-person
        :class:`~facetex.evaluation.fidelity.Sameness` over the run's subjects
        (:func:`protocol_sameness`; empty with fewer than two subjects).
    """

    config: ProtocolConfig
    variants: tuple[Variant, ...]
    subjects: tuple[SubjectResult, ...]
    failures: tuple[tuple[str, str], ...]
    summary: dict[str, dict[str, M.Summary]]
    comparisons: dict[str, dict[str, M.Summary]]
    database: dict[str, Any]
    seconds: float
    input_summary: dict[str, M.Summary] = field(default_factory=dict)
    sameness: dict[str, dict[str, dict[str, F.Sameness]]] = field(default_factory=dict)


def _face_crop(photo: Photo, box: np.ndarray, size: int) -> np.ndarray:
    """Square crop around a face box (15 % margin), resized to size²."""
    import cv2

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
    arrays: _DatabaseArrays,
    person: str,
    variants: Sequence[Variant],
    config: ProtocolConfig,
    vgg: Any,
    detector: Any,
    embedder: Any,
    onet: ONetGrams | None,
    *,
    keep_images: bool,
) -> SubjectResult:
    """Prepare one held-out subject, complete its texture by every variant, score them."""
    clock = time.perf_counter()
    prepared, rows = _prepare(database, arrays, person, config, detector)
    complete = None
    if arrays.grams is not None:
        complete = GramSet(grams={layer: g[rows] for layer, g in arrays.grams.grams.items()})
    elif vgg is not None:
        complete = database.gram_set(config.size, layers=GRAM_LAYERS, exclude_persons=(person,))
    completed = texture_variants(prepared.partial, arrays.textures[rows], complete, variants, config, vgg)
    reference = ground_truth_reference(prepared, config, embedder, onet)
    scores = {
        name: score_texture(texture, prepared, config, reference, embedder, onet)
        for name, texture in completed.textures.items()
    }
    info = {name: dict(entry) for name, entry in completed.info.items()}
    for entry in info.values():
        if "weights" in entry:  # keep the largest weights, by subject id
            w = np.asarray(entry.pop("weights"))
            order = np.argsort(-np.abs(w))[:8]
            entry["top_weights"] = [[prepared.exemplar_ids[i], float(w[i])] for i in order if w[i] != 0]
            entry["nonzero_weights"] = int(np.count_nonzero(w))
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
        regions={name: regions[name].copy() for name in FIDELITY_REGIONS},
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
            **{f"fit_{k}": float(v) for k, v in prepared.fit.diagnostics.items()},
            "observed_fraction": float(regions["observed"].sum() / max(regions["truth"].sum(), 1)),
            "hidden_texels": int(regions["hidden"].sum()),
            "truth_patches": len(reference.corners["truth"]),
            "hidden_patches": len(reference.corners["hidden"]),
        },
        images=images,
        input_metrics=fidelity_scores(prepared.partial.albedo, prepared, ("observed",)),
        maps=maps,
    )


def protocol_sameness(
    subjects: Sequence[SubjectResult], rows: Sequence[str]
) -> dict[str, dict[str, dict[str, F.Sameness]]]:
    """Cross-person sameness (:func:`facetex.evaluation.fidelity.sameness`) over a run.

    Parameters
    ----------
    subjects : the run's subjects, with their ``maps`` (subjects without are left out).
    rows : "input" and/or variant names.

    Returns
    -------
    row → region (:data:`FIDELITY_REGIONS`) → band label → Sameness of the row's textures
    across persons (pairs scored on the texels both persons' regions share) against their
    truths; empty with fewer than two subjects.
    """
    kept = [s for s in subjects if s.maps is not None]
    if len({s.person for s in kept}) < 2:
        return {}
    truths = [s.maps.luminance["truth"] for s in kept]
    out: dict[str, dict[str, dict[str, F.Sameness]]] = {}
    for row in rows:
        out[row] = {}
        for region in FIDELITY_REGIONS:
            if row == "input" and region != "observed":
                continue  # the input holds nothing where it did not observe
            out[row][region] = F.sameness(
                [s.maps.luminance[row] for s in kept], truths, [s.maps.regions[region] for s in kept]
            )
    return out


def aggregate(
    subjects: Sequence[SubjectResult],
    variants: Sequence[Variant],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[dict[str, dict[str, M.Summary]], dict[str, dict[str, M.Summary]]]:
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

    summary = {v: {m: M.summarize(column(v, m), **options) for m in METRICS} for v in names}
    present = [v for v in PAPER_ORDER if v in names]
    comparisons: dict[str, dict[str, M.Summary]] = {}
    for better, worse in zip(present, present[1:]):
        per_metric = {}
        for metric, (_, goal) in METRICS.items():
            a, b = column(better, metric), column(worse, metric)
            if goal == "max":
                per_metric[metric] = M.paired_difference(a, b, **options)
            elif goal == "min":
                per_metric[metric] = M.paired_difference(b, a, **options)
            else:
                per_metric[metric] = M.paired_difference(np.abs(b - goal), np.abs(a - goal), **options)
        comparisons[f"{better}>{worse}"] = per_metric
    return summary, comparisons


def run_protocol(
    database: TextureDatabase,
    config: ProtocolConfig,
    *,
    vgg: Any = None,
    embedder: Any = None,
    onet: ONetGrams | None = None,
    progress: bool = True,
) -> ProtocolResult:
    """Run protocol A (module doc) over held-out subjects of ``database``.

    Parameters
    ----------
    database : the texture database (London by default); every subject's neutral photo must
        be readable (its path is in the database's source list).
    config : the run's settings.
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
    from tqdm import tqdm

    from facetex.detect import Detector
    from facetex.texture.vgg import load_vgg19

    start = time.perf_counter()
    variants = build_variants(config.variants, config.ablation)
    persons = select_persons(database, config.subjects, config.persons)
    if vgg is None and any(v.kind == "synthesis" for v in variants):
        vgg = load_vgg19(config.infer.texture.device, channels_last=config.infer.texture.channels_last)
    if embedder is None and config.identity:
        try:
            embedder = M.IdentityEmbedder()
        except MissingDependencyError as exc:
            log.warning("identity similarity skipped: %s", exc)
    if onet is None:
        try:
            onet = ONetGrams(config.infer.texture.device)
        except MissingDependencyError as exc:
            log.warning("ONet Gram distance skipped: %s", exc)
    arrays = _load_arrays(database, config.size, vgg, config.infer.texture)
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
    input_summary = {
        m: M.summarize([s.input_metrics.get(m, math.nan) for s in results], **options)
        for m in METRICS
        if m.startswith(("corr_observed_", "logratio_observed_"))
    }
    sameness = protocol_sameness(results, ["input", *(v.name for v in variants)])
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
        sameness=sameness,
    )
