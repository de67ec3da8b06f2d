"""Texture synthesis (paper §5): L-BFGS on the luminance image towards blended Gram statistics.

The paper minimises, over the luminance Y of the texture,

    Σ_{l∈L_F} ||F_l(I) − F_l(I(α_al))||² + α Σ_{l∈L_G} ||G_l(I) − Ĝ_l||²

by L-BFGS from the low-frequency albedo I(α_al), 1000 iterations, α = 2000, and recombines the
result with the I, Q channels of I(α_al) (after Gatys et al. 2016, "preserving colour").

What facetex changes, and where the reasons are (``docs/design.md#texture-synthesis``):

* **Normalised terms.** Each layer's term is divided by its target's squared norm,

      Σ_{l∈L_F} ||F_l(I) − F̂_l||² / ||F̂_l||²  +  α Σ_{l∈L_G} ||G_l(I) − Ĝ_l||² / ||Ĝ_l||²,

  so every layer counts on the same scale and the loss does not depend on the resolution or on
  VGG's activation scale (:func:`synthesis_loss`). α is therefore in facetex's units, not the
  paper's: ``TextureConfig.alpha`` (default 100) is calibrated by its effect, as the paper's
  Fig. 6 (``docs/design.md#normalised-terms-and-alpha``). L_F is relu4_2 by default
  (``docs/design.md#content-layer``); L_G is relu1_1 … relu5_1 as the paper.
* **Optimiser.** ``torch.optim.LBFGS``, history ``config.history_size``, strong-Wolfe line
  search. The optimised variable and the L-BFGS state are float64 (cast to float32 inside the
  objective); one line search may use at most ``config.max_line_search_evaluations``
  evaluations, after which (or on a non-finite loss) the stage stops at the last accepted
  iterate. The first iteration's ``lr`` is set so that its trial step moves the largest logit
  by ``_FIRST_STEP`` (:func:`_first_step_lr`). ``docs/design.md#optimiser-float64-range-first-step``.
* **Range.** Pixels stay in (0, 1) through the reparameterisation Y = sigmoid(x), x the
  optimised variable; the start is clipped to [0.001, 0.999] before its logit is taken.
* **One stage per call.** :func:`synthesize_texture` runs one stage of a coarse-to-fine
  ``config.schedule`` at the resolution R of its init: Gram targets Ĝ_l at R (the exemplars'
  complete Grams at that size with the fixed §4 weights), content targets the init's features
  at R, the network in fp32 or bf16 (``Stage.bf16``; Grams and the loss in fp32, the optimiser
  state float64). :func:`facetex.texture.inference.infer_texture` runs the schedule,
  chooses where each stage starts — the low-frequency albedo (the paper's), plus the
  §4-weighted exemplars' high-pass (``TextureConfig.start``), and the photo's own luminance on observed texels
  (``TextureConfig.keep_observed``, issue 16) — and fuses the result with the photo's bands
  (:mod:`facetex.texture.fusion`). The default schedule (``320x100bf16,640x30bf16`` at 640², the
  ICT face tile; measured as ``256x100bf16,512x30bf16`` at 512² on mediapipe's chart) and start: ``docs/design.md#default-schedule``, ``docs/design.md#start-with-detail``,
  ``docs/keep-the-person.md``. A single fp32 stage of 1000 iterations at full resolution from
  I(α_al) is the paper's recipe (``TextureConfig.paper()``).

Shapes: luminance images are (R, R) float arrays in [0, 1] (tensors (1, 1, R, R) float32 on the
network's device); RGB textures (R, R, 3) in [0, 1] on the facetex UV layout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from facetex.errors import ShapeMismatchError
from facetex.texture.color import luminance, replace_luminance
from facetex.texture.config import TextureConfig
from facetex.texture.gram import gram
from facetex.texture.vgg import VGG19
from facetex.types import GramSet, SynthesisResult

__all__ = [
    "SynthesisStep",
    "SynthesisTargets",
    "make_targets",
    "synthesis_loss",
    "synthesize_texture",
]

log = logging.getLogger(__name__)

#: The init is clipped to [_EPS, 1 − _EPS] before taking its logit.
_EPS = 1e-3
#: Largest logit change of the first L-BFGS trial step (:func:`_first_step_lr`).
_FIRST_STEP = 0.3


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
        x = torch.from_numpy(np.array(init_luminance, dtype=np.float32))[None, None]
        with torch.inference_mode():
            feats = vgg.features(x.to(vgg.device), config.content_layers)
        content = {layer: f.detach().clone() for layer, f in feats.items()}
    grams = {layer: torch.from_numpy(np.array(target.grams[layer], dtype=np.float32)).to(vgg.device) for layer in config.gram_layers}
    return SynthesisTargets(
        content=content,
        grams=grams,
        content_scale={layer: max(float(t.square().sum()), 1e-30) for layer, t in content.items()},
        gram_scale={layer: max(float(t.square().sum()), 1e-30) for layer, t in grams.items()},
    )


def synthesis_loss(
    luminance_image: torch.Tensor,
    targets: SynthesisTargets,
    vgg: VGG19,
    alpha: float,
    *,
    bf16: bool = False,
) -> torch.Tensor:
    """The normalised §5 objective (module doc) of one luminance image.

    Parameters
    ----------
    luminance_image : (1, 1, R, R) float32 tensor in [0, 1] on ``vgg.device``.
    targets : from :func:`make_targets` at resolution R.
    vgg : the feature network.
    alpha : weight of the Gram term.
    bf16 : run the network under bfloat16 autocast; Grams, differences and the sum are taken
        in float32.

    Returns
    -------
    0-d float32 tensor Σ_{L_F} ||F − F̂||²/||F̂||² + α Σ_{L_G} ||G − Ĝ||²/||Ĝ||² (differentiable).
    """
    layers = list(dict.fromkeys([*targets.content, *targets.grams]))
    feats = {name: f.float() for name, f in vgg.features(luminance_image, layers, bf16=bf16).items()}
    loss = luminance_image.new_zeros((), dtype=torch.float32)
    for layer, wanted in targets.content.items():
        loss = loss + (feats[layer] - wanted).square().sum() / targets.content_scale[layer]
    for layer, wanted in targets.grams.items():
        loss = loss + alpha * (gram(feats[layer]) - wanted).square().sum() / targets.gram_scale[layer]
    return loss


@dataclass(frozen=True)
class SynthesisStep:
    """State after one accepted L-BFGS iteration, passed to a ``callback`` of
    :func:`synthesize_texture` (for progress reports and quality-vs-time studies).

    Attributes
    ----------
    iteration : 1, 2, … within the stage.
    loss : the normalised §5 objective at the new iterate.
    evaluations : objective + gradient evaluations so far in the stage (line searches
        included; the cost of the stage is proportional to it).
    seconds : wall time since the stage's optimisation began.
    luminance : (R, R) float32 in (0, 1), the current Y.
    """

    iteration: int
    loss: float
    evaluations: int
    seconds: float
    luminance: np.ndarray


def _first_step_lr(gradient: torch.Tensor) -> float:
    """``lr`` of L-BFGS's first iteration, so its first trial step moves the largest logit by
    :data:`_FIRST_STEP`.

    torch's L-BFGS first tries t = lr · min(1, 1/‖g‖₁) along −g; with lr = 1 and ‖g‖₁ summed
    over R² pixels that moves pixels by ~1/R² of what they need, and the strong-Wolfe search
    spent 4 extra evaluations extrapolating (measured at 256² and 512² on London faces).
    """
    g1 = float(gradient.abs().sum())
    gmax = float(gradient.abs().max())
    if not (gmax > 0.0 and np.isfinite(g1)):
        return 1.0
    return _FIRST_STEP / (min(1.0, 1.0 / g1) * gmax)


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
    bf16: bool = False,
    progress: bool = True,
    callback: Callable[[SynthesisStep], None] | None = None,
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
    bf16 : evaluate the network under bfloat16 autocast (the optimiser stays in float64).
    progress : show a tqdm bar (stderr) with the iteration and the loss.
    callback : called after every accepted iteration with a :class:`SynthesisStep`.

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
        loss = synthesis_loss(torch.sigmoid(x).float(), targets, vgg, config.alpha, bf16=bf16)
        if not torch.isfinite(loss):
            raise _StopStage("non-finite loss")
        loss.backward()
        cache.update(x=x.detach().clone(), grad=x.grad.detach().clone(), loss=loss.detach().double())
        return cache["loss"]

    losses = [float(closure())]
    optimizer.param_groups[0]["lr"] = _first_step_lr(cache["grad"])
    reason = "iterations done"
    bar = tqdm(total=iterations, desc=f"synthesis {init.shape[0]}²", unit="it", disable=not progress, leave=False)
    try:
        for _ in range(iterations):
            before = x.detach().clone()
            evaluations["iteration"] = 0
            try:
                optimizer.step(closure)
                optimizer.param_groups[0]["lr"] = 1.0  # later steps: the quasi-Newton step itself
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
            if callback is not None:
                y_now = torch.sigmoid(x.detach()).float().cpu().numpy()[0, 0]
                callback(SynthesisStep(len(losses) - 1, loss, evaluations["total"], time.perf_counter() - clock, y_now))
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
