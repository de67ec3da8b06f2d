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
  the exemplars' complete Grams at that stage's size (a database's cached ones when given,
  else recomputed) with the fixed §4 weights, and its content targets are the init's features
  at that size. A stage may run the network in bf16 (``Stage.bf16``); the optimiser state
  stays float64 and the Grams and the loss are taken in fp32. A single fp32 stage at full
  resolution is the paper's recipe (``TextureConfig.paper()``).
* **First step.** torch's L-BFGS first tries a step of lr/‖g‖₁ along −g, i.e. pixels move by
  ~1/R² of what they need; its strong-Wolfe search then spent 4 extra evaluations per stage
  extrapolating (256² and 512², London faces). The first iteration's ``lr`` is set so the
  trial step moves the largest logit by 0.3 (:func:`_first_step_lr`): accepted after one
  evaluation, and at 256² the loss after 12 iterations fell to 8.6 instead of 10.3.
* **Default schedule** (issue 7): 100 bf16 iterations at half size, then 30 bf16 iterations
  at full size (``Stage(256, 100, True), Stage(512, 30, True)`` at 512²). The schedule study
  (``benchmarks/bench_speed.py --study``; ``benchmarks/reference/`` holds its JSON and plot)
  scores the iterates of each schedule on the full-size fp32 objective, its Gram distance
  and the high-pass energy relative to the subject's own texture, against measured seconds.
  Findings, London faces 001 and 173 on the idle machine:

  - bf16 iterations do nearly the work of fp32 ones at ~60 % of the cost (0.83 s against
    1.35 s per 512² iteration), so bf16 wins at every budget; a bf16 iterate's loss
    evaluated in fp32 is within 1 % of its bf16 value (DESIGN §5 saw its gradient degrade
    only near convergence, far beyond these budgets). Switching to fp32 after some bf16
    iterations restarts L-BFGS and lost time (an earlier study, face 003).
  - Coarse to fine pays once the full-size stage runs: the 256² stage alone ends far from
    the 512² objective (77 / 85 after 100 iterations; Gram statistics do not carry across
    scales, DESIGN §5), but it places the large-scale structure at a quarter of the cost.
    50 full-size bf16 iterations from its upsampled result reach the objective of 100
    single-stage ones (1.91 / 2.46 against 1.88 / 2.52) in 59 s instead of 80 s, with more
    high-pass energy (0.757 / 0.912 against 0.743 / 0.896); 25 reach 2.59 / 3.23 in 39 s,
    about what the single stage has after ~60 iterations (47 s). An earlier study, made
    before the first-step fix above, saw coarse to fine lose: each stage then paid 4 extra
    evaluations.
  - End to end (5 held-out London faces against the paper's recipe, ``bench_speed.py``):
    256²×100 + 512²×30 in bf16 took 70.7 s median, photo to albedo and mesh, with every
    evaluation metric within 3 % of the paper recipe's after 100 iterations or better (its
    full 1000 iterations reach more detail: README "Speed"); 512²×50 instead of 30 took
    88 s for 1–2 % more detail; the former single stage of 100 bf16 iterations at 512² took
    101.5 s. Early stopping (0.1 % over 10 iterations) does not trigger within these budgets.
* **Start with detail** (issue 7; ``config.start``, :func:`stage_start`). From the blurry
  low-frequency albedo, L-BFGS has to grow every pore; the paper's 1000 full-size iterations
  do, 30 do not. By default the first stage instead starts at I(α_al) plus the exemplars'
  Gaussian high-pass weighted by the §4 weights (σ = R/128, near the evaluation's detail
  cut-off R/100; amplitude renormalised by ‖w‖₂, :func:`exemplar_detail`), and each later
  stage adds the band its predecessor could not hold. Every exemplar lies on the same UV
  layout, so pores land on skin and lashes on lids. The objective stays the paper's: the
  start only puts the optimiser nearer the Gram targets. Measured with ``bench_speed.py``:

  - 5 held-out London faces, same schedule, against the paper recipe shortened to 100
    iterations: spectrum error −33 % (low-frequency start: −11 %), detail ratio hidden
    +15 % (+1 %), observed +3 % (+3 %), high-pass RMSE hidden −6.5 %, the rest within 0.2 %;
    65.9 s median against 70.7 s (synthesis 43.8 s against 46.5 s).
  - Variants against the full 1000-iteration recipe on face 001 (``--variant``): σ = R/128 at every stage gave spectrum error −12 %, detail
    hidden +6 %, observed −6 %; σ = R/64 +4 %, +4 %, −5 %; the detail added to the first
    stage only +14 %, −1 %, −5 %; a single 512²×40 stage from the detailed start lost observed
    detail (−12 %); 256²×100 + 512²×50 gained nothing for 15 s more.
  - Schedule study (``--study ...+detail``, faces 001 / 173, quiet machine): 256²×100 +
    512²×30 from the detailed start reaches the full-size objective 1.78 / 2.37 and
    high-pass energy 0.80 / 0.99 of the truth's in 45 s of synthesis; from the low-frequency
    start, 100 fp32 full-size iterations (the paper's recipe, cut short) reach 1.84 / 2.44
    and 0.74 / 0.90 in 130–136 s, 150 bf16 ones 1.65 / 2.20 and 0.75 / 0.90 in 126–130 s;
    512²×50 from the detailed start gets 1.63 / 2.17 in 61 s.
  - Against the full 1000-iteration recipe (5 held-out faces, 21.7× faster) it is within 3 %
    or better on every metric but the observed region's detail ratio, 7.5 % lower on average
    (README "Speed"). On faces 001 and 173, α = 300 or 1000, the start's detail scaled by 1.3 or 1.6, σ = R/64 or
    R/96, other splits of the same budget between the stages, and an fp32 512² stage all
    left it between −5.5 and −7.3 %; only full-size iterations close it (512²×130: −4.0 %),
    in step with the §5 objective.
  - On the demo photo the detailed start also removed the photo's teeth and a seam across the
    nose that the low-frequency start carried into the result.

  ``TextureConfig.paper()`` starts at I(α_al), as the paper.
* **Keep the person** (issue 16; ``config.keep_observed``, the default). On observed texels
  (skin and the brows, lids, eyes and lips the photo shows) every stage starts from the photo's
  own luminance (:func:`observed_start`), so no exemplar's aligned marks enter what the photo
  shows; after the last stage :func:`facetex.texture.fusion.keep_observed_detail` keeps the
  photo's bands where it resolves them and the synthesis's detail only where it does not.
  ``docs/keep-the-person.md`` has the design and the measurements.
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
