"""Texture synthesis (paper §5): L-BFGS on the luminance image towards blended Gram statistics.

The paper minimises, over the luminance Y of the texture,

    Σ_{l∈L_F} ||F_l(I) − F_l(I(α_al))||² + α Σ_{l∈L_G} ||G_l(I) − Ĝ_l||²

by L-BFGS from the low-frequency albedo I(α_al), 1000 iterations, α = 2000, and recombines the
result with the I, Q channels of I(α_al) (after Gatys et al. 2016, "preserving colour").

What facetex does, and why (DESIGN §5 lists the traps seen on this machine):

* **Normalised terms.** Each layer's term is divided by its target's squared norm,
  ||F_l − F̂_l||² / ||F̂_l||² and ||G_l − Ĝ_l||² / ||Ĝ_l||², so every layer counts on the same
  scale (unnormalised, relu4_1's Gram term was 99 % of the loss and the content term 1e-6 of
  it) and the loss no longer depends on the resolution or on VGG's activation scale.
* **α and the paper's 2000.** With unnormalised terms (the paper's), layer l's Gram term
  weighs α·||Ĝ_l||² / Σ_{L_F}||F̂||² in facetex's units. Measured on a London face crop (VGG
  input 0–255 as in the paper's caffe network), α = 2000 maps to per-layer weights of
  37 (relu1_1), 2e4 (relu2_1), 7e4 (relu3_1), 7e7 (relu4_1) and 7e3 (relu5_1) at 512²,
  and 2–22× more at 256² (||F̂||² grows with the number of positions, normalised Grams do
  not). So the paper's α makes every Gram term dominate the content term, but as one number it
  does not carry over. facetex calibrates α by its effect instead, as in the paper's Fig. 6
  (small α: the result stays at the blurry init; large α: texture statistics take over),
  synthesising a Gaussian-blurred face crop (σ = R/64) towards its own sharp Grams at 128²:

  ======  ==========  =====================  ================  ===================
  α       iterations  Gram residual Σ_l      relu4_2 residual  high-freq. energy
  ======  ==========  =====================  ================  ===================
  0.01    60          2.18 → 2.05            0.0005            0.33 of the sharp's
  0.1     60          2.18 → 1.17            0.05              0.57
  1       100         2.18 → 0.17            0.31              0.98
  10      100         2.18 → 0.013           0.73              0.98
  100     100         2.18 → 0.002           0.99              0.98
  1000    100         2.18 → 0.002           1.04              0.98
  ======  ==========  =====================  ================  ===================

  The sharp ground truth itself lies at a relu4_2 residual of 0.8–1.05 from its blurred
  version at 128² and 1.4–1.8 at 256² (3 faces): a real detailed texture departs that far
  from the low-frequency init. The default α = 100 is the smallest tried whose result departs
  as far (0.99 at 128²; 1.65 at 256² after 60 iterations) and reaches the Gram match of
  larger α; larger values change nothing more, in agreement with the paper's α letting the
  Gram terms dominate. Its low-pass stays on the init (RMSE 0.013 after a σ = R/64 blur).
* **Content layer.** relu4_2 by default (Gatys et al.). relu5_1 measured the same at α = 100
  (128², 100 iterations: low-pass RMSE to the init 0.0130 vs 0.0131, RMSE to the sharp
  ground truth 0.0560 vs 0.0561) and costs the same (relu5_1 is computed for its Gram anyway).
* **Float64 optimiser.** The optimised variable and the L-BFGS state are float64 (cast to
  float32 inside the objective; costs nothing), history 100, strong-Wolfe line search; one
  line search may use at most ``config.max_line_search_evaluations`` evaluations, after which
  (or on a non-finite loss) the stage stops at the last accepted iterate.
* **Range.** Pixels stay in (0, 1) through the reparameterisation Y = sigmoid(x), x the
  optimised variable (clamping afterwards raised the loss 15× in DESIGN §5). The init is
  clipped to [0.001, 0.999] before its logit is taken.
* **Schedule.** ``config.schedule`` runs stages coarse to fine; each stage's Gram targets are
  the exemplars' complete Grams recomputed at that stage's size with the fixed §4 weights, and
  its content targets are the init's features at that size. A single stage at full resolution
  is the paper's recipe (``TextureConfig.paper()``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from facetex.errors import InputImageError, ShapeMismatchError
from facetex.texture.analysis import analyse_texture, blend_grams, compute_grams
from facetex.texture.color import luminance, replace_luminance
from facetex.texture.config import TextureConfig
from facetex.texture.gram import gram
from facetex.texture.vgg import VGG19
from facetex.types import BlendResult, GramSet, SynthesisResult

__all__ = [
    "SynthesisTargets",
    "TextureInference",
    "infer_texture",
    "make_targets",
    "resize",
    "synthesis_loss",
    "synthesize_texture",
]

log = logging.getLogger(__name__)

#: The init is clipped to [_EPS, 1 − _EPS] before taking its logit.
_EPS = 1e-3


@dataclass(frozen=True)
class SynthesisTargets:
    """Targets of the §5 objective at one resolution, on the network's device.

    Attributes
    ----------
    content : layer → (1, C_l, H_l, W_l) float32 tensor, F_l of the init's luminance.
    grams : layer → (1, C_l, C_l) float32 tensor, the blended Ĝ_l.
    content_scale, gram_scale : layer → float, the targets' squared Frobenius norms.
    """

    content: dict[str, torch.Tensor]
    grams: dict[str, torch.Tensor]
    content_scale: dict[str, float]
    gram_scale: dict[str, float]


def make_targets(init_luminance: np.ndarray, target: GramSet, vgg: VGG19, config: TextureConfig) -> SynthesisTargets:
    """Content targets from the init and Gram targets from the §4 blend, on ``vgg.device``.

    Parameters
    ----------
    init_luminance : (R, R) float, Y of the low-frequency albedo, in [0, 1].
    target : GramSet (N = 1) holding Ĝ_l for every layer of ``config.gram_layers``, computed
        at resolution R.
    vgg : the feature network.
    config : uses ``content_layers`` and ``gram_layers``.

    Returns
    -------
    SynthesisTargets.

    Raises
    ------
    ShapeMismatchError
        If ``target`` lacks a layer of ``config.gram_layers``.
    ValueError
        If ``target`` holds non-finite values.
    """
    missing = [layer for layer in config.gram_layers if layer not in target.grams]
    if missing:
        raise ShapeMismatchError(f"the target Grams lack layers {missing}")
    if not all(np.isfinite(target.grams[layer]).all() for layer in config.gram_layers):
        raise ValueError("the target Grams hold non-finite values")
    content: dict[str, torch.Tensor] = {}
    if config.content_layers:
        x = torch.from_numpy(np.ascontiguousarray(init_luminance, dtype=np.float32))[None, None]
        with torch.inference_mode():
            feats = vgg.features(x.to(vgg.device), config.content_layers)
        content = {layer: f.detach().clone() for layer, f in feats.items()}
    grams = {layer: torch.from_numpy(np.asarray(target.grams[layer], dtype=np.float32)).to(vgg.device) for layer in config.gram_layers}
    return SynthesisTargets(
        content=content,
        grams=grams,
        content_scale={layer: max(float(t.square().sum()), 1e-30) for layer, t in content.items()},
        gram_scale={layer: max(float(t.square().sum()), 1e-30) for layer, t in grams.items()},
    )


def synthesis_loss(luminance_image: torch.Tensor, targets: SynthesisTargets, vgg: VGG19, alpha: float) -> torch.Tensor:
    """The normalised §5 objective (module doc) of one luminance image.

    Parameters
    ----------
    luminance_image : (1, 1, R, R) float32 tensor in [0, 1] on ``vgg.device``.
    targets : from :func:`make_targets` at resolution R.
    vgg : the feature network.
    alpha : weight of the Gram term.

    Returns
    -------
    0-d float32 tensor Σ_{L_F} ||F − F̂||²/||F̂||² + α Σ_{L_G} ||G − Ĝ||²/||Ĝ||² (differentiable).
    """
    layers = list(dict.fromkeys([*targets.content, *targets.grams]))
    feats = vgg.features(luminance_image, layers)
    loss = luminance_image.new_zeros(())
    for layer, wanted in targets.content.items():
        loss = loss + (feats[layer] - wanted).square().sum() / targets.content_scale[layer]
    for layer, wanted in targets.grams.items():
        loss = loss + alpha * (gram(feats[layer]) - wanted).square().sum() / targets.gram_scale[layer]
    return loss


class _StopStage(Exception):
    """Raised inside the L-BFGS closure to end a stage (line search too long, non-finite loss)."""


def synthesize_texture(
    init_rgb: np.ndarray,
    target: GramSet,
    vgg: VGG19,
    config: TextureConfig,
    *,
    iterations: int,
    start_luminance: np.ndarray | None = None,
    progress: bool = True,
) -> SynthesisResult:
    """Synthesise a texture at the resolution of ``init_rgb`` by L-BFGS (paper §5).

    Parameters
    ----------
    init_rgb : (R, R, 3) float RGB in [0, 1], the low-frequency albedo I(α_al): source of the
        content targets and of the output's I, Q channels.
    target : GramSet (N = 1) with Ĝ_l at resolution R for ``config.gram_layers``.
    vgg : the feature network.
    config : uses the layers, ``alpha``, ``history_size``, ``max_line_search_evaluations`` and
        the early-stopping settings.
    iterations : L-BFGS iterations (0 returns the start).
    start_luminance : (R, R) float in [0, 1], where to start (default: Y of ``init_rgb``).
    progress : show a tqdm bar (stderr) with the iteration and the loss.

    Returns
    -------
    SynthesisResult at R × R; ``losses[0]`` is the loss at the start, one entry per iteration
    after it.
    """
    init = np.asarray(init_rgb, dtype=np.float32)
    if init.ndim != 3 or init.shape[2] != 3:
        raise ShapeMismatchError(f"init_rgb must be (R, R, 3), got {init.shape}")
    init_y = luminance(init)
    start = init_y if start_luminance is None else np.asarray(start_luminance, dtype=np.float32)
    if start.shape != init_y.shape:
        raise ShapeMismatchError(f"start luminance {start.shape} does not match the init {init_y.shape}")
    targets = make_targets(init_y, target, vgg, config)
    clock = time.perf_counter()

    start_t = torch.from_numpy(np.clip(start, _EPS, 1.0 - _EPS).astype(np.float64))[None, None]
    x = torch.logit(start_t).to(vgg.device).requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [x],
        lr=1.0,
        max_iter=1,
        max_eval=config.max_line_search_evaluations + 1,
        tolerance_grad=0.0,
        history_size=config.history_size,
        line_search_fn="strong_wolfe",
    )
    cache: dict[str, torch.Tensor] = {}
    evaluations = {"iteration": 0, "total": 0}

    def closure() -> torch.Tensor:
        # L-BFGS re-evaluates the point a line search just accepted; answer that from a cache.
        if cache and torch.equal(x.detach(), cache["x"]):
            x.grad = cache["grad"].clone()
            return cache["loss"]
        evaluations["iteration"] += 1
        if evaluations["iteration"] > config.max_line_search_evaluations:
            raise _StopStage("line search needed too many evaluations")
        evaluations["total"] += 1
        optimizer.zero_grad()
        loss = synthesis_loss(torch.sigmoid(x).float(), targets, vgg, config.alpha)
        if not torch.isfinite(loss):
            raise _StopStage("non-finite loss")
        loss.backward()
        cache.update(x=x.detach().clone(), grad=x.grad.detach().clone(), loss=loss.detach().double())
        return cache["loss"]

    losses = [float(closure())]
    reason = "iterations done"
    bar = tqdm(total=iterations, desc=f"synthesis {init.shape[0]}²", unit="it", disable=not progress, leave=False)
    try:
        for _ in range(iterations):
            before = x.detach().clone()
            evaluations["iteration"] = 0
            try:
                optimizer.step(closure)
                loss = float(closure())
            except _StopStage as exc:
                with torch.no_grad():
                    x.copy_(before)
                reason = str(exc)
                break
            if not loss < losses[-1]:
                with torch.no_grad():
                    x.copy_(before)
                reason = "no progress"
                break
            losses.append(loss)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}")
            window = config.early_stop_window
            if config.early_stop_tolerance > 0 and len(losses) > window:
                if losses[-1 - window] - loss < config.early_stop_tolerance * losses[-1 - window]:
                    reason = "early stop"
                    break
    finally:
        bar.close()
    seconds = time.perf_counter() - clock
    log.debug(
        "synthesis %d²: %d iterations, %d evaluations, loss %.4g → %.4g, %s, %.1f s",
        init.shape[0], len(losses) - 1, evaluations["total"], losses[0], losses[-1], reason, seconds,
    )
    y = torch.sigmoid(x.detach()).float().cpu().numpy()[0, 0]
    return SynthesisResult(rgb=replace_luminance(init, y), luminance=y, losses=losses, seconds=seconds)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an (H, W) or (H, W, C) float image to (size, size[, C]) float32.

    Bilinear with antialiasing when shrinking (torch ``interpolate``); a no-op copy at the same
    size.
    """
    arr = np.asarray(image, dtype=np.float32)
    if arr.shape[:2] == (size, size):
        return arr.copy()
    t = torch.from_numpy(np.ascontiguousarray(arr))
    t = t[None, None] if arr.ndim == 2 else t.permute(2, 0, 1)[None]
    out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    out = out[0, 0] if arr.ndim == 2 else out[0].permute(1, 2, 0)
    return np.ascontiguousarray(out.numpy())


@dataclass(frozen=True)
class TextureInference:
    """Result of :func:`infer_texture`.

    Attributes
    ----------
    blend : the §4 weights (``blend.target`` at the analysis resolution).
    synthesis : the §5 texture at the final stage's resolution; ``losses`` concatenates every
        stage's (each stage in its own normalised units, starting with its initial loss).
    timings : seconds per step: ``"analysis"`` (masked Grams and weights), ``"targets"``
        (complete exemplar Grams per stage), ``"synthesis"`` (L-BFGS, all stages).
    """

    blend: BlendResult
    synthesis: SynthesisResult
    timings: dict[str, float]


def _check_rgb(image: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ShapeMismatchError(f"{name} must be an (H, W, 3) RGB image, got shape {arr.shape}")
    if arr.shape[0] != arr.shape[1]:
        raise ShapeMismatchError(f"{name} is {arr.shape[1]}×{arr.shape[0]}; UV textures must be square")
    if not np.isfinite(arr).all():
        raise InputImageError(f"{name} holds non-finite values")
    return arr


def infer_texture(
    init_rgb: np.ndarray,
    partial_rgb: np.ndarray,
    mask: np.ndarray,
    exemplars_rgb: Sequence[np.ndarray],
    config: TextureConfig,
    vgg: VGG19,
    *,
    progress: bool = True,
) -> TextureInference:
    """Analysis (§4) and synthesis (§5) from arrays: the texture half of the paper's pipeline.

    Every input is resized to the working resolutions (``config.resolved_analysis_size`` for
    the weight fit, each ``config.schedule`` stage's size for synthesis).

    Parameters
    ----------
    init_rgb : (R, R, 3) float RGB in [0, 1], the low-frequency albedo I(α_al) in UV.
    partial_rgb : (R, R, 3) float RGB in [0, 1], the partial high-frequency albedo (0.5 off
        the observed texels).
    mask : (R, R) bool, True on observed texels of ``partial_rgb``.
    exemplars_rgb : K ≥ 1 complete exemplar textures, each (R_k, R_k, 3) float RGB in [0, 1]
        on the same UV layout (sizes may differ; they are resized).
    config : every setting.
    vgg : the feature network (its device is used).
    progress : show progress bars.

    Returns
    -------
    TextureInference.

    Raises
    ------
    InputImageError
        If no exemplars are given or an image holds non-finite values.
    ShapeMismatchError
        If init, partial and mask differ in size, or an image is not square RGB.
    EmptyMaskError
        If the mask hides everything (at full or at analysis resolution).
    """
    init = _check_rgb(init_rgb, "the init texture")
    partial = _check_rgb(partial_rgb, "the partial texture")
    visible = np.asarray(mask)
    if partial.shape != init.shape or visible.shape != init.shape[:2]:
        raise ShapeMismatchError(
            f"init {init.shape[:2]}, partial {partial.shape[:2]} and mask {visible.shape} must have one size"
        )
    if len(exemplars_rgb) == 0:
        raise InputImageError("no exemplar textures were given")
    exemplar_y = [luminance(_check_rgb(e, f"exemplar {i}")) for i, e in enumerate(exemplars_rgb)]

    clock = time.perf_counter()
    size = config.resolved_analysis_size
    coverage = resize(visible.astype(np.float32), size)
    visible_small = coverage > 0.5
    if not visible_small.any():  # a sliver of observed texels: keep every texel it touches
        visible_small = coverage > 0.0
    blend = analyse_texture(
        resize(luminance(partial), size),
        visible_small,
        np.stack([resize(y, size) for y in exemplar_y]),
        vgg,
        config,
    )
    timings = {"analysis": time.perf_counter() - clock, "targets": 0.0, "synthesis": 0.0}
    log.info("blend weights (%s): %s", config.solver, np.array2string(blend.weights, precision=3))

    used = np.flatnonzero(blend.weights != 0.0)
    current: np.ndarray | None = None
    losses: list[float] = []
    for stage in config.schedule:
        clock = time.perf_counter()
        if stage.size == size:
            target = blend.target
        else:
            complete = compute_grams(
                np.stack([resize(exemplar_y[i], stage.size) for i in used]),
                vgg,
                layers=config.gram_layers,
                batch_size=config.batch_size,
                bf16=config.bf16_grams,
            )
            target = blend_grams(blend.weights[used], complete)
        timings["targets"] += time.perf_counter() - clock
        result = synthesize_texture(
            resize(init, stage.size),
            target,
            vgg,
            config,
            iterations=stage.iterations,
            start_luminance=None if current is None else np.clip(resize(current, stage.size), 0.0, 1.0),
            progress=progress,
        )
        current = result.luminance
        losses.extend(result.losses)
        timings["synthesis"] += result.seconds
    final = SynthesisResult(rgb=result.rgb, luminance=result.luminance, losses=losses, seconds=timings["synthesis"])
    return TextureInference(blend=blend, synthesis=final, timings=timings)
