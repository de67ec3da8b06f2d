"""The texture stage of protocol A, run once per variant on one subject's partial albedo.

The synthesis variants of the paper's comparisons share their §4 work: the masked Grams of the
partial texture and of every exemplar under the input's mask are computed once per subject, in
fp32 at every layer of :data:`~facetex.evaluation.variants.GRAM_LAYERS`, and every solver /
layer subset solves its weights on them (the exact fit over every exemplar, no preselection).
Their §5 half is :func:`facetex.texture.inference.complete_texture` with one synthesis stage at
the evaluation size, started from the low-frequency albedo, without the fusion with the photo.
The "recipe" variants run the pipeline's own texture stage
(:func:`facetex.texture.inference.infer_texture`) as ``facetex infer`` does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facetex.errors import ShapeMismatchError
from facetex.evaluation.baselines import inpaint_albedo, pca_albedo
from facetex.evaluation.config import ProtocolConfig
from facetex.evaluation.variants import GRAM_LAYERS, Variant
from facetex.geometry.uv import on_chart
from facetex.io.images import load_detail_map
from facetex.texture.analysis import BlendProblem, build_blend_problem, compute_grams, solve_blend
from facetex.texture.color import luminance
from facetex.texture.config import Solver, TextureConfig
from facetex.texture.inference import ExemplarBlend, complete_texture, infer_texture
from facetex.texture.vgg import VGG19
from facetex.types import GramSet, PartialAlbedo

__all__ = ["VariantRun", "VariantTextures", "observed_detail_inputs", "texture_variants", "top_k_weights"]


def top_k_weights(weights: np.ndarray, k: int) -> np.ndarray:
    """Keep the k largest weights (ties by index), zero the rest, renormalise to sum 1.

    >>> top_k_weights(np.array([0.1, 0.4, 0.0, 0.4, 0.1]), 2).tolist()
    [0.0, 0.5, 0.0, 0.5, 0.0]
    """
    w = np.asarray(weights, dtype=np.float64)
    keep = np.argsort(-w, kind="stable")[:k]
    out = np.zeros_like(w)
    out[keep] = w[keep]
    total = out.sum()
    if total <= 0:
        raise ValueError("the kept weights sum to zero")
    return out / total


def observed_detail_inputs(partial: PartialAlbedo, config: TextureConfig) -> dict[str, Any]:
    """What ``facetex infer`` passes to ``infer_texture`` besides the images (as
    ``facetex.pipeline.infer`` does): the photo's sampling density per texel, when the unwrap
    measured it, the photo's features, the per-texel detail map, when the config names one, and
    whether the photo was restored before the unwrap."""
    extra: dict[str, Any] = {}
    density = getattr(partial, "pixels_per_texel", None)
    if density is not None:
        extra["pixels_per_texel"] = density
    if partial.feature_mask is not None:
        extra["feature_rgb"] = partial.features
        extra["feature_mask"] = partial.feature_mask
    if getattr(config, "detail_map", None) is not None:
        extra["detail_map"] = load_detail_map(config.detail_map)
    if getattr(partial, "restored_blur", None) is not None:
        extra["restored_blur"] = partial.restored_blur
    return extra


@dataclass(frozen=True)
class VariantRun:
    """How one variant's texture was made.

    Attributes
    ----------
    seconds : wall time of the variant.
    weights : (K,) float64 blend weights over the exemplars (synthesis variants; else None).
    objective : the §4 masked-Gram residual at ``weights``.
    iterations : L-BFGS iterations run (all stages).
    final_loss : the last §5 loss.
    """

    seconds: float
    weights: np.ndarray | None = None
    objective: float | None = None
    iterations: int | None = None
    final_loss: float | None = None


@dataclass(frozen=True)
class VariantTextures:
    """Output of :func:`texture_variants`.

    Attributes
    ----------
    textures : variant name → (R, R, 3) float32 in [0, 1], 0.5 off the chart.
    info : variant name → how it was made.
    analysis_seconds : time of the shared §4 masked Grams.
    """

    textures: dict[str, np.ndarray]
    info: dict[str, VariantRun]
    analysis_seconds: float


def texture_variants(
    partial: PartialAlbedo,
    exemplars: np.ndarray,
    complete: GramSet | None,
    variants: Sequence[Variant],
    config: ProtocolConfig,
    vgg: VGG19 | None,
    *,
    exemplar_regions: np.ndarray | None = None,
    progress: bool = False,
) -> VariantTextures:
    """Complete one partial albedo by every variant (the texture stage, run per variant).

    Parameters
    ----------
    partial : the partial albedo at R = ``config.size``.
    exemplars : (K, R, R, 3) float32 complete exemplar textures (the held-out person excluded).
    complete : their complete Grams at R, every layer of
        :data:`~facetex.evaluation.variants.GRAM_LAYERS` (N = K); needed only by synthesis
        variants.
    variants : what to run.
    config : the run's settings (texture config per variant: :meth:`ProtocolConfig.texture_config`).
    vgg : the feature network; needed only by synthesis variants.
    exemplar_regions : (K, R, R) bool, the texels ``complete`` describes per exemplar (the
        database's gram regions), so Grams computed at other stage sizes match; None = whole.
    progress : show synthesis progress bars.

    Returns
    -------
    VariantTextures.
    """
    size = partial.resolution
    synthesis = any(v.kind == "synthesis" for v in variants)
    if synthesis and (complete is None or vgg is None):
        raise ValueError("synthesis variants need the exemplars' complete Grams and the network")
    if exemplars.shape[1:3] != (size, size) or (complete is not None and complete.count != exemplars.shape[0]):
        raise ShapeMismatchError(f"exemplars {exemplars.shape} and their Grams do not match the partial at {size}²")
    textures: dict[str, np.ndarray] = {}
    info: dict[str, VariantRun] = {}
    problems: dict[tuple[str, ...], BlendProblem] = {}
    solved: dict[tuple[tuple[str, ...], str], np.ndarray] = {}
    clock = time.perf_counter()
    masked: list[GramSet] = []
    # the §4 masked Grams, once, all layers, fp32 (the recipe variants run their own analysis)
    if any(v.kind == "synthesis" and v.recipe is None for v in variants):
        options = dict(layers=GRAM_LAYERS, batch_size=config.infer.texture.batch_size, bf16=False)
        masked.append(compute_grams(luminance(partial.albedo)[None], vgg, mask=partial.mask, **options))
        masked.append(compute_grams(luminance(exemplars), vgg, mask=partial.mask, **options))
    analysis_seconds = time.perf_counter() - clock

    def weights_for(layers: tuple[str, ...], solver: Solver) -> np.ndarray:
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
            info[variant.name] = VariantRun(seconds=time.perf_counter() - clock)
            continue
        if variant.kind == "inpaint":
            textures[variant.name] = inpaint_albedo(partial)
            info[variant.name] = VariantRun(seconds=time.perf_counter() - clock)
            continue
        tex_config = config.texture_config(variant)
        if variant.recipe is not None:  # the pipeline's texture stage, as `facetex infer` runs it
            run = infer_texture(
                partial.lowfreq, partial.albedo, partial.mask, list(exemplars), tex_config, vgg,
                exemplar_grams={size: complete}, exemplar_regions=exemplar_regions, progress=progress,
                **observed_detail_inputs(partial, tex_config),
            )
        else:  # the shared exact §4 fit, then §5 from the low-frequency albedo, nothing kept of the photo
            layers = tex_config.gram_layers
            solver = "convex" if variant.top_k is not None else tex_config.solver
            weights = weights_for(layers, solver)
            if variant.top_k is not None:
                weights = top_k_weights(weights, variant.top_k)
            blend = ExemplarBlend(
                weights=weights,
                candidates=np.arange(len(weights), dtype=np.int64),
                objective=problems[layers].objective(weights),
                solver=solver,
                timings={"preselection": 0.0, "analysis": 0.0},
            )
            run = complete_texture(
                blend, partial.lowfreq, partial.albedo, partial.mask, list(exemplars),
                tex_config.replace(keep_observed=False, detail=1.0), vgg,
                exemplar_grams={size: complete}, exemplar_regions=exemplar_regions, progress=progress,
            )
        textures[variant.name] = on_chart(run.synthesis.rgb, partial.chart)
        info[variant.name] = VariantRun(
            seconds=time.perf_counter() - clock,
            weights=run.blend.weights,
            objective=run.blend.objective,
            iterations=len(run.synthesis.losses) - 1,
            final_loss=run.synthesis.losses[-1],
        )
    return VariantTextures(textures=textures, info=info, analysis_seconds=analysis_seconds)
