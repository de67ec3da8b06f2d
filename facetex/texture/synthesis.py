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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from tqdm import tqdm

from facetex.errors import EmptyMaskError, InputImageError, ShapeMismatchError
from facetex.texture.analysis import (
    blend_grams,
    compute_grams,
    masked_blend_problem,
    select_grams,
    shortlist_exemplars,
    solve_blend,
)
from facetex.texture.color import luminance, replace_luminance
from facetex.texture.config import TextureConfig
from facetex.texture.fusion import (
    BandTransfer,
    band_edges,
    estimate_transfer,
    keep_observed_detail,
    normalised_fill,
    sampling_cutoff,
)
from facetex.texture.gram import gram
from facetex.texture.vgg import VGG19
from facetex.types import BlendResult, GramSet, GramSource, SynthesisResult

__all__ = [
    "SynthesisStep",
    "SynthesisTargets",
    "TextureInference",
    "exemplar_detail",
    "infer_texture",
    "make_targets",
    "observed_start",
    "resize",
    "stage_start",
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


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an (H, W) or (H, W, C) float image to (size, size[, C]) float32.

    Bilinear with antialiasing when shrinking (torch ``interpolate``); a no-op copy at the same
    size.
    """
    arr = np.asarray(image, dtype=np.float32)
    if arr.shape[:2] == (size, size):
        return arr.copy()
    arr = np.ascontiguousarray(arr)
    if not arr.flags.writeable:  # torch.from_numpy warns on read-only arrays (memory maps, views)
        arr = arr.copy()
    t = torch.from_numpy(arr)
    t = t[None, None] if arr.ndim == 2 else t.permute(2, 0, 1)[None]
    out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    out = out[0, 0] if arr.ndim == 2 else out[0].permute(1, 2, 0)
    return np.ascontiguousarray(out.numpy())


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


def exemplar_detail(exemplars_y: Sequence[np.ndarray], weights: np.ndarray, sigma: float) -> np.ndarray:
    """The §4-weighted high-pass detail of the exemplars: Σ_k w_k H(Y_k) / ‖w‖₂.

    H is a Gaussian high-pass (Y − G_σ * Y) of each exemplar's luminance, on the shared UV
    layout. The detail of different faces is not aligned, so a weighted sum has about ‖w‖₂
    times the amplitude of one; dividing by ‖w‖₂ restores it.

    Parameters
    ----------
    exemplars_y : K (R, R) float exemplar luminances in [0, 1], one resolution.
    weights : (K,) float, their §4 weights, not all zero (≥ 0 for the convex and closest
        solvers; the unconstrained linear baseline's may be negative).
    sigma : Gaussian σ of the high-pass, in pixels.

    Returns
    -------
    (R, R) float32 detail (zero low-pass), luminance units.
    """
    w = np.asarray(weights, dtype=np.float64)
    if len(exemplars_y) != w.size or w.size == 0:
        raise ShapeMismatchError(f"{len(exemplars_y)} exemplars but {w.size} weights")
    norm = float(np.sqrt(np.sum(w**2)))
    if not norm > 0.0:
        raise ValueError("the exemplar weights are all zero")
    shape = np.shape(exemplars_y[0])
    detail = np.zeros(shape, dtype=np.float64)
    for weight, y in zip(w, exemplars_y):
        y = np.asarray(y, dtype=np.float64)
        if y.shape != shape or y.ndim != 2:
            raise ShapeMismatchError(f"exemplar luminances must share one (R, R) shape, got {y.shape} and {shape}")
        detail += weight * (y - gaussian_filter(y, sigma=sigma, mode="reflect"))
    return (detail / norm).astype(np.float32)


def stage_start(
    init_luminance: np.ndarray,
    previous: np.ndarray | None,
    detail: np.ndarray | None,
) -> np.ndarray:
    """Where a synthesis stage starts, (R, R) float32 in [0, 1].

    Without ``detail`` (the paper's §5): the low-frequency albedo's luminance for the first
    stage, the previous stage's result upsampled for later ones. With ``detail`` (an
    :func:`exemplar_detail` at R): the first stage starts at the init plus that detail; a later
    stage gets only the band the previous, coarser stage could not hold, ``detail − up(down(
    detail))``, added to its upsampled result. The low-pass stays the init's, and the §5
    objective is unchanged.

    Parameters
    ----------
    init_luminance : (R, R) float, Y of the low-frequency albedo at this stage's size.
    previous : (r, r) float luminance of the previous stage (r < R), or None for the first.
    detail : (R, R) float exemplar detail, or None.
    """
    size = init_luminance.shape[0]
    if previous is None:
        start = np.asarray(init_luminance, dtype=np.float32)
        if detail is not None:
            start = start + detail
    else:
        start = resize(previous, size)
        if detail is not None:
            start = start + detail - resize(resize(detail, previous.shape[0]), size)
    return np.clip(start, 0.0, 1.0).astype(np.float32)


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


def _visible_at(mask: np.ndarray, size: int) -> np.ndarray:
    """The visibility mask at ``size``²: texels at least half covered by observed ones (any
    covered texel if that leaves none, so a sliver of observed texels still counts)."""
    coverage = resize(mask.astype(np.float32), size)
    visible = coverage > 0.5
    return visible if visible.any() else coverage > 0.0


def infer_texture(
    init_rgb: np.ndarray,
    partial_rgb: np.ndarray,
    mask: np.ndarray,
    exemplars: Sequence[np.ndarray],
    config: TextureConfig,
    vgg: VGG19,
    *,
    exemplar_grams: Mapping[int, GramSource] | None = None,
    pixels_per_texel: np.ndarray | None = None,
    feature_rgb: np.ndarray | None = None,
    feature_mask: np.ndarray | None = None,
    detail_map: np.ndarray | None = None,
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
    pixels_per_texel : (R, R) float, the photo's sampling density per observed texel
        (:attr:`facetex.types.PartialAlbedo.pixels_per_texel`); None = resolves everything.
    feature_rgb, feature_mask : (R, R, 3) float RGB in [0, 1] and (R, R) bool, the brows,
        eyelids and lips the photo shows (:attr:`facetex.types.PartialAlbedo.features`): kept
        like observed skin by the fusion, never part of the §4 statistics; None = none.
    detail_map : (R, R) float in [0, 2], per-texel scale of the invented detail (multiplies
        ``config.detail``); None = 1 everywhere.
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
    init = _check_rgb(init_rgb, "the init texture")
    partial = _check_rgb(partial_rgb, "the partial texture")
    visible = np.asarray(mask).astype(bool)
    if partial.shape != init.shape or visible.shape != init.shape[:2]:
        raise ShapeMismatchError(
            f"init {init.shape[:2]}, partial {partial.shape[:2]} and mask {visible.shape} must have one size"
        )
    if len(exemplars) == 0:
        raise InputImageError("no exemplar textures were given")
    if not visible.any():
        raise EmptyMaskError("the visibility mask hides every pixel; nothing can be analysed")
    exemplar_y = [_exemplar_luminance(e, f"exemplar {i}") for i, e in enumerate(exemplars)]
    count = len(exemplar_y)
    cached = dict(exemplar_grams or {})
    for grams in cached.values():  # check them before the expensive analysis
        select_grams(grams, np.arange(0), config.gram_layers, expected=count)
    partial_y = luminance(partial)
    options = dict(layers=config.gram_layers, batch_size=config.batch_size)
    timings = {"preselection": 0.0, "analysis": 0.0, "targets": 0.0, "synthesis": 0.0}

    clock = time.perf_counter()
    candidates = np.arange(count, dtype=np.int64)
    if config.solver == "convex" and 0 < config.preselect_count < count:
        small = config.resolved_preselect_size
        screening = masked_blend_problem(
            resize(partial_y, small),
            _visible_at(visible, small),
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
        _visible_at(visible, size),
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
            complete = compute_grams(
                np.stack([resize(exemplar_y[i], stage.size) for i in used]), vgg, bf16=config.bf16_grams, **options
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
        at_size = visible if visible.shape[0] == size else _visible_at(visible, size)
        kept_at = kept if kept.shape[0] == size else _visible_at(kept, size)
        cutoff = sampling_cutoff(None if pixels_per_texel is None else _density_at(pixels_per_texel, size), size)
        transfer = estimate_transfer(
            resize(partial_y, size), at_size, cutoff, [resize(exemplar_y[i], size) for i in used], weights[used]
        )
        y = keep_observed_detail(y, resize(photo_y, size), kept_at, transfer, cutoff, detail=scale)
        log.info("what the photo holds: %s", transfer.as_dict())
    elif np.any(np.asarray(scale) != 1.0):
        no_photo = np.zeros((size, size), dtype=bool)
        nothing = BandTransfer(band_edges(size), np.full(len(band_edges(size)), np.nan))
        y = keep_observed_detail(y, y, no_photo, nothing, np.zeros((size, size)), detail=scale)
    timings["fusion"] = time.perf_counter() - clock
    final = SynthesisResult(
        rgb=replace_luminance(resize(init, size), y), luminance=y, losses=losses, seconds=timings["synthesis"]
    )
    blend = BlendResult(weights=weights, solver=config.solver, target=target, objective=objective)
    return TextureInference(blend=blend, synthesis=final, candidates=candidates, timings=timings, transfer=transfer)


def observed_start(start: np.ndarray, photo_y: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """A stage's start with the photo's luminance on observed texels (issue 16): no exemplar's
    spatially aligned marks enter what the photo shows.

    Parameters
    ----------
    start : (R, R) float32 start from :func:`stage_start`.
    photo_y : (R, R) float luminance of the partial albedo (filled off the mask).
    coverage : (R, R) float in [0, 1], the observed mask resized to R.

    Returns
    -------
    (R, R) float32 in [0, 1]: the photo where fully observed, blended over ~2 texels at the
    mask's edge (the mask blurred and remapped to reach 0 at its edge).
    """
    soft = gaussian_filter(np.asarray(coverage, dtype=np.float32), sigma=1.0, mode="constant")
    w = np.clip(2.0 * soft - 1.0, 0.0, 1.0) * (coverage > 0.5)
    return np.clip(w * photo_y + (1.0 - w) * start, 0.0, 1.0).astype(np.float32)


def _density_at(pixels_per_texel: np.ndarray, size: int) -> np.ndarray:
    """The sampling density at ``size``²: photo pixels per texel scale with the texel size."""
    density = np.asarray(pixels_per_texel, dtype=np.float32)
    if density.shape[0] == size:
        return density
    idx = (np.arange(size) * density.shape[0]) // size
    return density[np.ix_(idx, idx)] * (density.shape[0] / size)


def _check_detail_map(detail_map: np.ndarray, size: int) -> np.ndarray:
    arr = _check_uv_map(np.asarray(detail_map, dtype=np.float32), "the detail map")
    if arr.ndim != 2:
        raise ShapeMismatchError(f"the detail map must be (R, R), got {arr.shape}")
    if arr.min() < 0.0 or arr.max() > 2.0:
        raise InputImageError(f"detail map values must lie in [0, 2], got [{arr.min():.3g}, {arr.max():.3g}]")
    return resize(arr, size)
