"""The texture half of the paper's pipeline from arrays: §4 analysis, then §5 synthesis and the
fusion with the photo's own detail.

:func:`infer_texture` is the two halves in a row: :func:`fit_exemplar_blend` (candidate
preselection, then the exact masked-Gram fit of the blend weights, §4) and
:func:`complete_texture` (the blended target Grams Ĝ_l per stage, L-BFGS per stage of the
schedule, §5, and with ``keep_observed`` the photo's bands, :mod:`facetex.texture.fusion`).
Callers that compare several settings (the evaluation's variants) reuse one half and vary the
other.

UV maps are (R, R[, 3]) float arrays in [0, 1] on the facetex UV layout (:mod:`facetex.geometry.uv`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from facetex.errors import EmptyMaskError, InputImageError, ShapeMismatchError
from facetex.geometry.uv import resized_chart
from facetex.texture.analysis import (
    blend_grams,
    compute_grams,
    masked_blend_problem,
    select_grams,
    shortlist_exemplars,
    solve_blend,
)
from facetex.texture.color import luminance, replace_luminance
from facetex.texture.config import Solver, TextureConfig
from facetex.texture.bands import band_edges, sampling_cutoff
from facetex.texture.fusion import (
    BandTransfer,
    estimate_transfer,
    keep_observed_detail,
    normalised_fill,
    restored_share,
)
from facetex.texture.membrane import continue_photo_colour
from facetex.texture.resample import density_at, resize, visible_at
from facetex.texture.starts import exemplar_detail, observed_start, stage_start
from facetex.texture.synthesis import synthesize_texture
from facetex.texture.vgg import VGG19
from facetex.types import BlendResult, GramSource, PhotoBlur, SynthesisResult

__all__ = [
    "ExemplarBlend",
    "TextureInference",
    "complete_texture",
    "fit_exemplar_blend",
    "infer_texture",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextureInference:
    """Result of :func:`infer_texture`.

    Attributes
    ----------
    blend : the §4 weights over all K exemplars (zero outside ``candidates``); ``objective``
        is the exact fit's at the analysis resolution; ``target`` holds the Ĝ_l matched by the
        final synthesis stage (at the output resolution).
    synthesis : the §5 texture at the final stage's resolution; ``losses`` concatenates every
        stage's (each stage in its own normalised units, starting with its initial loss).
    candidates : (N,) int64 sorted indices of the exemplars that entered the exact fit (all K
        without preselection).
    timings : seconds per step: ``"preselection"`` (screening fit; 0 when off),
        ``"analysis"`` (exact masked Grams and weights), ``"targets"`` (complete exemplar
        Grams per stage, 0 when all come from ``exemplar_grams``), ``"synthesis"`` (L-BFGS,
        all stages), ``"fusion"`` (keeping the photo's bands).
    transfer : the photo's per-band transfer when ``config.keep_observed`` (what the photo
        was found to hold, :mod:`facetex.texture.fusion`), else None.
    """

    blend: BlendResult
    synthesis: SynthesisResult
    candidates: np.ndarray
    timings: dict[str, float]
    transfer: BandTransfer | None = None


def _exemplar_luminance(image: np.ndarray, name: str) -> np.ndarray:
    """Y of an exemplar given as (R, R, 3) RGB or (R, R) luminance, float32."""
    arr = np.asarray(image, dtype=np.float32)
    return _check_uv_map(arr, name) if arr.ndim == 2 else luminance(_check_rgb(arr, name))


def _check_rgb(image: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ShapeMismatchError(f"{name} must be an (H, W, 3) RGB image, got shape {arr.shape}")
    return _check_uv_map(arr, name)


def _check_uv_map(arr: np.ndarray, name: str) -> np.ndarray:
    """``arr`` itself if it is square and finite."""
    if arr.shape[0] != arr.shape[1]:
        raise ShapeMismatchError(f"{name} is {arr.shape[1]}×{arr.shape[0]}; UV textures must be square")
    if not np.isfinite(arr).all():
        raise InputImageError(f"{name} holds non-finite values")
    return arr


def infer_texture(
    init_rgb: np.ndarray,
    partial_rgb: np.ndarray,
    mask: np.ndarray,
    exemplars: Sequence[np.ndarray],
    config: TextureConfig,
    vgg: VGG19,
    *,
    exemplar_grams: Mapping[int, GramSource] | None = None,
    exemplar_regions: Sequence[np.ndarray] | None = None,
    pixels_per_texel: np.ndarray | None = None,
    feature_rgb: np.ndarray | None = None,
    feature_mask: np.ndarray | None = None,
    detail_map: np.ndarray | None = None,
    restored_blur: PhotoBlur | None = None,
    progress: bool = True,
) -> TextureInference:
    """Analysis (§4) and synthesis (§5) from arrays: the texture half of the paper's pipeline.

    Steps (timed in ``TextureInference.timings``):

    1. *preselection* (convex solver, ``config.preselect_count`` > 0 and more exemplars than
       that; the "linear" and "closest" baselines always use every exemplar): masked Grams of
       the partial texture and of every exemplar at ``config.resolved_preselect_size`` (bf16
       if ``config.preselect_bf16``), the same convex fit, and
       :func:`~facetex.texture.analysis.shortlist_exemplars` keeps its support plus the
       next-best candidates;
    2. *analysis*: the exact masked-Gram fit of ``config.solver`` over the candidates at
       ``config.resolved_analysis_size`` (the paper's §4 when preselection is off);
    3. *targets*: Ĝ_l = Σ w_k G_l(I_k) at every stage's size, from ``exemplar_grams`` when it
       holds that size (e.g. a database's cached Grams), else computed for the exemplars
       with non-zero weight;
    4. *synthesis*: L-BFGS per ``config.schedule`` stage from :func:`stage_start` (the
       low-frequency albedo, plus the exemplars' detail when ``config.start`` says so; with
       ``config.keep_observed`` the photo's partial luminance on observed texels);
    5. *fusion* (``config.keep_observed``, :mod:`facetex.texture.fusion`): the photo's own
       bands where it resolves them, the synthesis's detail (× ``config.detail`` × the detail
       map) elsewhere.

    Parameters
    ----------
    init_rgb : (R, R, 3) float RGB in [0, 1], the low-frequency albedo I(α_al) in UV.
    partial_rgb : (R, R, 3) float RGB in [0, 1], the partial high-frequency albedo (0.5 off
        the observed texels).
    mask : (R, R) bool, True on observed texels of ``partial_rgb``.
    exemplars : K ≥ 1 complete exemplar textures on the same UV layout, each (R_k, R_k, 3)
        float RGB or (R_k, R_k) float luminance Y, in [0, 1] (only Y is used: pass luminance,
        e.g. :meth:`~facetex.database.store.TextureDatabase.luminances`, to hold a third of
        the memory; sizes may differ, they are resized to each working size).
    config : every setting.
    vgg : the feature network (its device is used).
    exemplar_grams : optional precomputed complete luminance Grams of the K exemplars, keyed
        by the resolution they were computed at: size → GramSource (K images in the order of
        ``exemplars``, every layer of ``config.gram_layers``), a GramSet or
        :meth:`facetex.database.store.TextureDatabase.stored_grams`, which reads only the
        exemplars that get weight.
    exemplar_regions : optional K (R_k, R_k) bool masks at the exemplars' own sizes, the
        texels of each exemplar whose Grams describe it (a database's :meth:`~facetex.database.store.TextureDatabase.gram_regions`);
        complete Grams computed here (sizes ``exemplar_grams`` lacks) are then taken over those
        texels only (:func:`~facetex.texture.analysis.compute_grams`'s ``regions``), as the
        database's stored ones are. None = whole textures, the paper's G_l(I_k).
    pixels_per_texel : (R, R) float, the photo's sampling density per observed texel
        (:attr:`facetex.types.PartialAlbedo.pixels_per_texel`); None = resolves everything.
    feature_rgb, feature_mask : (R, R, 3) float RGB in [0, 1] and (R, R) bool, the brows,
        eyelids and lips the photo shows (:attr:`facetex.types.PartialAlbedo.features`): kept
        like observed skin by the fusion, never part of the §4 statistics; None = none.
    detail_map : (R, R) float in [0, 2], per-texel scale of the invented detail (multiplies
        ``config.detail``); None = 1 everywhere.
    restored_blur : the blur undone in the photo before the unwrap
        (:attr:`facetex.types.PartialAlbedo.restored_blur`): the fusion then keeps the
        partial's bands as they are and invents only the power the restoration could not bring
        back (:meth:`~facetex.types.PhotoBlur.kept_share`, mapped into UV by
        ``pixels_per_texel``); None = the fusion estimates and restores the blur in UV.
    progress : show progress bars.

    Returns
    -------
    TextureInference.

    Raises
    ------
    InputImageError
        If no exemplars are given or an image holds non-finite values.
    ShapeMismatchError
        If init, partial and mask differ in size, an image is not square RGB, or
        ``exemplar_grams`` does not hold K Grams of every layer.
    EmptyMaskError
        If the mask hides everything (at full or at a working resolution).
    """
    for grams in (exemplar_grams or {}).values():  # check them before the expensive analysis
        select_grams(grams, np.arange(0), config.gram_layers, expected=len(exemplars))
    blend = fit_exemplar_blend(partial_rgb, mask, exemplars, config, vgg, init_rgb=init_rgb)
    return complete_texture(
        blend,
        init_rgb,
        partial_rgb,
        mask,
        exemplars,
        config,
        vgg,
        exemplar_grams=exemplar_grams,
        exemplar_regions=exemplar_regions,
        pixels_per_texel=pixels_per_texel,
        feature_rgb=feature_rgb,
        feature_mask=feature_mask,
        detail_map=detail_map,
        restored_blur=restored_blur,
        progress=progress,
    )


@dataclass(frozen=True)
class ExemplarBlend:
    """The §4 half of :func:`infer_texture`: blend weights of the exemplars.

    Attributes
    ----------
    weights : (K,) float64 over all K exemplars, zero outside ``candidates`` (≥ 0 and summing
        to 1 for the convex and closest solvers).
    candidates : (N,) int64 sorted indices of the exemplars that entered the exact fit.
    objective : the exact fit's masked-Gram residual at the analysis resolution.
    solver : the solver that gave ``weights``.
    timings : seconds of ``"preselection"`` (0 when off) and ``"analysis"``.
    """

    weights: np.ndarray
    candidates: np.ndarray
    objective: float
    solver: Solver
    timings: dict[str, float]

    @property
    def used(self) -> np.ndarray:
        """(M,) int64 indices of the exemplars with non-zero weight."""
        return np.flatnonzero(self.weights != 0.0)


def fit_exemplar_blend(
    partial_rgb: np.ndarray,
    mask: np.ndarray,
    exemplars: Sequence[np.ndarray],
    config: TextureConfig,
    vgg: VGG19,
    *,
    init_rgb: np.ndarray | None = None,
) -> ExemplarBlend:
    """Steps 1–2 of :func:`infer_texture` (§4): preselection, then the exact masked-Gram fit.

    Parameters are those of :func:`infer_texture`; ``init_rgb`` is only checked against the
    partial's size. Uses ``config.solver``, ``preselect_count``, ``resolved_preselect_size``,
    ``preselect_bf16``, ``resolved_analysis_size``, ``bf16_grams``, ``gram_layers`` and
    ``batch_size``.
    """
    partial = _check_rgb(partial_rgb, "the partial texture")
    visible = np.asarray(mask).astype(bool)
    if init_rgb is not None and _check_rgb(init_rgb, "the init texture").shape != partial.shape:
        raise ShapeMismatchError(
            f"init {np.shape(init_rgb)[:2]}, partial {partial.shape[:2]} and mask {visible.shape} must have one size"
        )
    if visible.shape != partial.shape[:2]:
        raise ShapeMismatchError(
            f"partial {partial.shape[:2]} and mask {visible.shape} must have one size"
        )
    if len(exemplars) == 0:
        raise InputImageError("no exemplar textures were given")
    if not visible.any():
        raise EmptyMaskError("the visibility mask hides every pixel; nothing can be analysed")
    exemplar_y = [_exemplar_luminance(e, f"exemplar {i}") for i, e in enumerate(exemplars)]
    count = len(exemplar_y)
    partial_y = luminance(partial)
    options = dict(layers=config.gram_layers, batch_size=config.batch_size)
    timings = {"preselection": 0.0, "analysis": 0.0}

    clock = time.perf_counter()
    candidates = np.arange(count, dtype=np.int64)
    if config.solver == "convex" and 0 < config.preselect_count < count:
        small = config.resolved_preselect_size
        screening = masked_blend_problem(
            resize(partial_y, small),
            visible_at(visible, small),
            np.stack([resize(y, small) for y in exemplar_y]),
            vgg,
            bf16=config.preselect_bf16,
            **options,
        )
        candidates = shortlist_exemplars(screening, config.preselect_count)
        timings["preselection"] = time.perf_counter() - clock
        log.info("preselection at %d²: %d of %d exemplars kept", small, candidates.size, count)

    clock = time.perf_counter()
    size = config.resolved_analysis_size
    problem = masked_blend_problem(
        resize(partial_y, size),
        visible_at(visible, size),
        np.stack([resize(exemplar_y[i], size) for i in candidates]),
        vgg,
        bf16=config.bf16_grams,
        **options,
    )
    weights = np.zeros(count)
    weights[candidates] = solve_blend(problem, config.solver)
    objective = problem.objective(weights[candidates])
    timings["analysis"] = time.perf_counter() - clock
    used = np.flatnonzero(weights != 0.0)
    heaviest = used[np.argsort(-weights[used])]
    log.info(
        "blend weights (%s): %d of %d exemplars, %s",
        config.solver,
        used.size,
        count,
        ", ".join(f"#{i} {weights[i]:.3f}" for i in heaviest),
    )
    return ExemplarBlend(
        weights=weights, candidates=candidates, objective=float(objective), solver=config.solver, timings=timings
    )


def complete_texture(
    blend: ExemplarBlend,
    init_rgb: np.ndarray,
    partial_rgb: np.ndarray,
    mask: np.ndarray,
    exemplars: Sequence[np.ndarray],
    config: TextureConfig,
    vgg: VGG19,
    *,
    exemplar_grams: Mapping[int, GramSource] | None = None,
    exemplar_regions: Sequence[np.ndarray] | None = None,
    pixels_per_texel: np.ndarray | None = None,
    feature_rgb: np.ndarray | None = None,
    feature_mask: np.ndarray | None = None,
    detail_map: np.ndarray | None = None,
    restored_blur: PhotoBlur | None = None,
    progress: bool = True,
) -> TextureInference:
    """Steps 3–5 of :func:`infer_texture`: target Grams Ĝ_l = Σ w_k G_l(I_k) per stage, L-BFGS
    per stage of ``config.schedule`` (§5), and the fusion with the photo's bands.

    ``blend`` gives the weights (from :func:`fit_exemplar_blend`, or any (K,) weights the
    caller chose, e.g. an evaluation baseline); the other parameters are those of
    :func:`infer_texture`.
    """
    init = _check_rgb(init_rgb, "the init texture")
    partial = _check_rgb(partial_rgb, "the partial texture")
    visible = np.asarray(mask).astype(bool)
    if partial.shape != init.shape or visible.shape != init.shape[:2]:
        raise ShapeMismatchError(
            f"init {init.shape[:2]}, partial {partial.shape[:2]} and mask {visible.shape} must have one size"
        )
    if config.keep_observed:  # the photo's colour, not the model's, next to what it shows
        init = continue_photo_colour(init, partial, visible, carry_tone=config.carry_tone)
    exemplar_y = [_exemplar_luminance(e, f"exemplar {i}") for i, e in enumerate(exemplars)]
    count = len(exemplar_y)
    weights = np.asarray(blend.weights, dtype=np.float64)
    if weights.shape != (count,):
        raise ShapeMismatchError(f"{count} exemplars but {weights.shape} blend weights")
    if exemplar_regions is not None and len(exemplar_regions) != count:
        raise ShapeMismatchError(f"{count} exemplars but {len(exemplar_regions)} exemplar regions")
    cached = dict(exemplar_grams or {})
    for grams in cached.values():
        select_grams(grams, np.arange(0), config.gram_layers, expected=count)
    partial_y = luminance(partial)
    options = dict(layers=config.gram_layers, batch_size=config.batch_size)
    timings = {**blend.timings, "targets": 0.0, "synthesis": 0.0}
    used = np.flatnonzero(weights != 0.0)
    kept, kept_y = visible, partial_y  # what the output keeps of the photo: skin and features
    if feature_mask is not None and feature_rgb is not None:
        features = np.asarray(feature_mask, dtype=bool)
        if features.shape != visible.shape or np.shape(feature_rgb) != init.shape:
            raise ShapeMismatchError(f"feature map {np.shape(feature_rgb)} / mask {features.shape} must match the init")
        kept = visible | features
        kept_y = np.where(features, luminance(_check_rgb(feature_rgb, "the feature map")), partial_y)
    # the photo continued past its texels by their local mean, so resizing pulls no 0.5 fill in
    photo_y = normalised_fill(kept_y, kept, kept.shape[0] / 32.0).astype(np.float32) if config.keep_observed else None
    current: np.ndarray | None = None
    losses: list[float] = []
    for stage in config.schedule:
        clock = time.perf_counter()
        if stage.size in cached:
            complete = select_grams(cached[stage.size], used, config.gram_layers, expected=count)
        else:
            regions = None if exemplar_regions is None else np.stack(
                [resized_chart(exemplar_regions[i], stage.size) for i in used])
            complete = compute_grams(
                np.stack([resize(exemplar_y[i], stage.size) for i in used]), vgg, regions=regions,
                bf16=config.bf16_grams, **options
            )
        target = blend_grams(weights[used], complete)
        timings["targets"] += time.perf_counter() - clock
        detail = None
        if config.start == "exemplar_detail":
            exemplars_at_size = [resize(exemplar_y[i], stage.size) for i in used]
            detail = exemplar_detail(exemplars_at_size, weights[used], config.start_highpass_sigma * stage.size)
        stage_init = resize(init, stage.size)
        start = stage_start(luminance(stage_init), current, detail)
        if photo_y is not None:
            start = observed_start(start, resize(photo_y, stage.size), resize(kept.astype(np.float32), stage.size))
        result = synthesize_texture(
            stage_init,
            target,
            vgg,
            config,
            iterations=stage.iterations,
            bf16=stage.bf16,
            start_luminance=start,
            progress=progress,
        )
        current = result.luminance
        losses.extend(result.losses)
        timings["synthesis"] += result.seconds
    clock = time.perf_counter()
    size = config.size
    scale = config.detail if detail_map is None else config.detail * _check_detail_map(detail_map, size)
    transfer = None
    y = result.luminance
    if config.keep_observed:
        at_size = visible if visible.shape[0] == size else visible_at(visible, size)
        kept_at = kept if kept.shape[0] == size else visible_at(kept, size)
        cutoff = sampling_cutoff(None if pixels_per_texel is None else density_at(pixels_per_texel, size), size)
        transfer = estimate_transfer(
            resize(partial_y, size), at_size, cutoff, [resize(exemplar_y[i], size) for i in used], weights[used]
        )
        kept_share = None
        if restored_blur is not None:
            densities = None if pixels_per_texel is None else density_at(pixels_per_texel, size)[kept_at]
            kept_share = restored_share(restored_blur, densities)
        y = keep_observed_detail(y, resize(photo_y, size), kept_at, transfer, cutoff, detail=scale, kept_share=kept_share)
        log.info("what the photo holds: %s", transfer.as_dict())
    elif np.any(np.asarray(scale) != 1.0):
        no_photo = np.zeros((size, size), dtype=bool)
        nothing = BandTransfer(band_edges(size), np.full(len(band_edges(size)), np.nan))
        y = keep_observed_detail(y, y, no_photo, nothing, np.zeros((size, size)), detail=scale)
    timings["fusion"] = time.perf_counter() - clock
    final = SynthesisResult(
        rgb=replace_luminance(resize(init, size), y), luminance=y, losses=losses, seconds=timings["synthesis"]
    )
    result_blend = BlendResult(weights=weights, solver=blend.solver, target=target, objective=blend.objective)
    return TextureInference(
        blend=result_blend, synthesis=final, candidates=blend.candidates, timings=timings, transfer=transfer
    )


def _check_detail_map(detail_map: np.ndarray, size: int) -> np.ndarray:
    arr = _check_uv_map(np.asarray(detail_map, dtype=np.float32), "the detail map")
    if arr.ndim != 2:
        raise ShapeMismatchError(f"the detail map must be (R, R), got {arr.shape}")
    if arr.min() < 0.0 or arr.max() > 2.0:
        raise InputImageError(f"detail map values must lie in [0, 2], got [{arr.min():.3g}, {arr.max():.3g}]")
    return resize(arr, size)
