"""Settings of texture analysis (paper §4) and synthesis (§5), with the paper's values as defaults.

``TextureConfig()`` is the fast default of the CLI (issue 7): candidate preselection by a bf16
screening fit at 128², the exact convex fit over 32 candidates at the output size with bf16
Grams, Ĝ from the database's cached complete Grams, coarse-to-fine synthesis with the network in
bf16 (100 L-BFGS iterations at half size, then 30 at full size) starting from the low-frequency
albedo plus the exemplars' weighted detail, and the photo's own detail kept where it shows the
face (issue 16). Why each value, and its speed and quality against the paper's recipe:
``docs/design.md#texture-analysis``, ``docs/design.md#texture-synthesis``,
``docs/results.md#speed-of-facetex-infer``. ``TextureConfig.paper()`` is the paper's recipe:
exact fp32 masked Grams of every exemplar at full resolution, 1000 fp32 L-BFGS iterations at
full resolution from the low-frequency albedo, no early stopping.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, get_args

from facetex.checks import check_declared, check_integer, check_number, setting
from facetex.texture.vgg import LAYERS

__all__ = ["SOLVERS", "STARTS", "Solver", "Stage", "Start", "TextureConfig", "format_schedule", "parse_schedule"]

#: Blend-weight solvers of §4: convex (the paper's), unconstrained linear, closest exemplar.
Solver = Literal["convex", "linear", "closest"]
SOLVERS: tuple[Solver, ...] = get_args(Solver)

#: Where synthesis starts (§5): the low-frequency albedo (the paper's), or that plus the
#: weighted exemplars' high-pass detail (``facetex.texture.starts.stage_start``).
Start = Literal["lowfreq", "exemplar_detail"]
STARTS: tuple[Start, ...] = get_args(Start)

#: Smallest synthesis / analysis resolution: relu5_1 sits 16× below the input.
MIN_SIZE = 32
#: Largest: a 4096² texture needs ~35 GiB and ~100 s per L-BFGS iteration on a CPU
#: (``docs/design.md#speed-on-a-cpu``); the unwrap and so ``facetex infer`` stop at 2048².
MAX_SIZE = 4096
#: Most L-BFGS iterations one stage may ask for (the paper runs 1000).
MAX_ITERATIONS = 100_000


@dataclass(frozen=True)
class Stage:
    """One synthesis stage of a coarse-to-fine schedule.

    Attributes
    ----------
    size : side R of the square R × R texture optimised in this stage, pixels (≥ 32).
    iterations : L-BFGS iterations (each one line search; early stopping may end it sooner).
    bf16 : evaluate the network under bfloat16 autocast in this stage (the optimiser state
        stays float64).
    """

    size: int = setting(help="side R of the stage's square texture, pixels", range=(MIN_SIZE, MAX_SIZE))
    iterations: int = setting(help="L-BFGS iterations of the stage", range=(0, MAX_ITERATIONS))
    bf16: bool = False

    def __post_init__(self) -> None:
        check_declared(self, prefix="stage ")
        if not isinstance(self.bf16, bool):
            raise ValueError(f"stage bf16 must be true or false, got {self.bf16!r}")


def format_schedule(stages: tuple[Stage, ...]) -> str:
    """A schedule as the CLI writes it, the inverse of :func:`parse_schedule`.

    >>> format_schedule((Stage(256, 100, True), Stage(512, 30)))
    '256x100bf16,512x30'
    """
    return ",".join(f"{s.size}x{s.iterations}{'bf16' if s.bf16 else ''}" for s in stages)


def parse_schedule(text: str) -> tuple[Stage, ...]:
    """A schedule written as the CLI takes it: '256x100bf16,512x30' → (Stage(256, 100, True),
    Stage(512, 30)); SIZExITERATIONS per stage, coarse to fine, 'bf16' for a bf16 network.

    Raises ValueError naming the expected form.
    """
    stages = []
    for part in text.lower().split(","):
        part = part.strip()
        try:
            size, iterations = (int(v) for v in part.removesuffix("bf16").split("x"))
            stages.append(Stage(size, iterations, bf16=part.endswith("bf16")))
        except ValueError as exc:
            raise ValueError(
                f"expected SIZExITERATIONS[bf16][,SIZExITERATIONS[bf16]...], got {text!r} ({exc})"
            ) from None
    return tuple(stages)


@dataclass(frozen=True)
class TextureConfig:
    """Every tunable of the texture stages (paper §4–5).

    Attributes
    ----------
    gram_layers : L_G, the layers whose Gram matrices are matched (§5: "all 5 mid-layers of
        VGG-19", relu1_1 … relu5_1; fewer give blurrier results, Fig. 8). Also the layers of the
        §4 blend-weight fit.
    content_layers : L_F, the layers whose features are kept close to the low-frequency albedo's
        (§5; the paper does not name them). relu4_2 (Gatys et al.) by default: compared with
        relu5_1 it made no measurable difference (``docs/design.md#content-layer``).
    alpha : weight α of the Gram term against the content term, in facetex's normalised units
        (each layer's term divided by its target's squared norm). The paper's α = 2000 belongs
        to unnormalised terms; ``docs/design.md#normalised-terms-and-alpha`` gives the mapping
        and the calibration of the default 100.
    solver : blend-weight solver, one of :data:`SOLVERS` (§4; the paper uses "convex").
    schedule : synthesis stages, coarse to fine; the last stage's size is the output size.
        Gram statistics do not carry across scales (``docs/design.md#speed-on-a-cpu``): each
        stage matches Grams of the exemplars recomputed at its own size.
    analysis_size : resolution of the exact §4 masked-Gram fit, at most the output size;
        ``None`` = the output size (the paper analyses at full resolution).
    preselect_count : candidate preselection before the exact convex §4 fit (0 = off, the
        paper's exact fit over every exemplar; the "linear" and "closest" solvers never
        preselect). When there are more exemplars than this, a screening
        fit (masked Grams of every exemplar at ``preselect_size``, the same convex QP) ranks
        them; the exact fit then runs over its support plus the best-ranked others, at least
        ``preselect_count`` in all (``facetex.texture.analysis.shortlist_exemplars``).
    preselect_size : resolution of the screening fit (≥ 32), at most the analysis
        resolution; ``None`` = the analysis resolution.
    preselect_bf16 : run the screening fit's forward passes under bfloat16 autocast.
    start : where synthesis starts, one of :data:`STARTS`: ``"lowfreq"``, the low-frequency
        albedo I(α_al) (the paper's §5; later stages from the previous one's result), or
        ``"exemplar_detail"``, that plus the §4-weighted high-pass of the exemplars, each later
        stage adding the band its coarser predecessor could not hold
        (:func:`facetex.texture.starts.stage_start`). Only the start changes, not the
        objective.
    start_highpass_sigma : Gaussian σ of that high-pass as a fraction of the stage's side R
        (1/128: 2 px at 256², 4 px at 512², near the evaluation's detail cut-off R/100).
    history_size : L-BFGS memory (pairs of update vectors).
    max_line_search_evaluations : evaluations one L-BFGS line search may use before synthesis
        stops at the last accepted iterate (guards against a search that cannot progress).
    early_stop_window, early_stop_tolerance : stop a stage when the loss fell by less than
        ``early_stop_tolerance`` (relative) over the last ``early_stop_window`` iterations;
        tolerance 0 disables early stopping.
    device : torch device for the network (``"cpu"``, ``"cuda"``); a CUDA device is used when
        asked for, same code.
    channels_last : run the network in channels_last memory format (faster on CPU).
    bf16_grams : compute the forward-only Grams (masked Grams of §4 and the exemplars' complete
        Grams) under bfloat16 autocast: ~1.85× faster, Grams within ~1 %
        (``docs/design.md#squared-normalised-objective``). Synthesis precision is set per stage (``Stage.bf16``).
    batch_size : images per forward pass when extracting exemplar Grams.
    keep_observed : keep the photo's own detail where the photo observes skin
        (:mod:`facetex.texture.fusion`): observed texels carry the partial albedo's luminance
        in every band the photo resolves there, and synthesised detail only above it; the
        synthesis starts from the photo there, not from the exemplars' detail; and the
        photo's low-frequency colour is carried smoothly into hidden texels
        (:func:`~facetex.texture.membrane.continue_photo_colour`), so they meet the observed
        ones without an edge. False is the paper's §5, which re-synthesises every texel from
        I(α_al).
    carry_tone : with ``keep_observed``, hidden skin far from the observed texels takes the
        photo's overall skin tone (the median photo − model residual) on top of the model
        albedo; False: the model albedo's own tone there.
    detail : scale of the invented detail, in [0, 2]: 0 = none (hidden texels keep the
        low-frequency albedo, observed ones the photo's own bands), 1 = the database-matched
        amount, 2 = twice it. The photo's own detail is never scaled.
    detail_map : optional per-texel scale of the invented detail, a greyscale UV image
        (black–white ↦ 0–2, any size, resized to R); multiplies ``detail``.
    """

    gram_layers: tuple[str, ...] = setting(
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), help="Gram layers L_G, comma-separated"
    )
    content_layers: tuple[str, ...] = ("relu4_2",)
    alpha: float = setting(100.0, help="Gram weight α (normalised units)", range=(0.0, 1e12))
    solver: Solver = setting("convex", help="blend-weight solver", choices=SOLVERS)
    schedule: tuple[Stage, ...] = setting(
        default_factory=lambda: (Stage(320, 100, bf16=True), Stage(640, 30, bf16=True)),
        help="coarse-to-fine synthesis stages, SIZExITERATIONS with 'bf16' for a bf16 network",
    )
    analysis_size: int | None = None
    preselect_count: int = 32
    preselect_size: int | None = 128
    preselect_bf16: bool = True
    start: Start = setting(
        "exemplar_detail",
        help="where synthesis starts: the low-frequency albedo (the paper's) or that plus the weighted "
        "exemplars' detail",
        choices=STARTS,
    )
    start_highpass_sigma: float = 1.0 / 128.0
    history_size: int = 100
    max_line_search_evaluations: int = 20
    early_stop_window: int = 10
    early_stop_tolerance: float = 1e-3
    device: str = setting("cpu", help="torch device: cpu or cuda")
    channels_last: bool = True
    bf16_grams: bool = True
    batch_size: int = 4
    keep_observed: bool = setting(
        True,
        help="keep the photo's own detail where it sees skin (off: re-synthesise every texel, as the "
        "paper's §5)",
    )
    carry_tone: bool = setting(
        True,
        help="hidden skin far from what the photo shows takes the photo's overall skin tone (off: the "
        "model albedo's)",
    )
    detail: float = setting(
        1.0,
        help="scale of the invented detail: 0 = none (hidden skin stays smooth), 1 = the database-matched "
        "amount; the photo's own detail is always kept as it is",
        range=(0.0, 2.0),
    )
    detail_map: str | None = setting(
        None,
        help="per-texel scale of the invented detail: a greyscale UV image, black 0, mid-grey 1, white 2 "
        "(multiplies the detail scale)",
    )

    def __post_init__(self) -> None:
        for name in ("gram_layers", "content_layers"):
            layers = tuple(getattr(self, name))
            object.__setattr__(self, name, layers)
            bad = [layer for layer in layers if layer not in LAYERS]
            if bad:
                raise ValueError(f"{name}: unknown VGG-19 layers {bad}; choose from {', '.join(LAYERS)}")
        if not self.gram_layers:
            raise ValueError("gram_layers must name at least one layer")
        stages = tuple(s if isinstance(s, Stage) else Stage(*s) for s in self.schedule)
        object.__setattr__(self, "schedule", stages)
        if not stages:
            raise ValueError("schedule must have at least one stage")
        check_declared(self)  # alpha, solver, start, detail
        check_number("start_highpass_sigma", self.start_highpass_sigma, 0.0, 0.25, low_open=True)
        for name in ("analysis_size", "preselect_size"):
            if getattr(self, name) is not None:
                check_integer(name, getattr(self, name), MIN_SIZE, MAX_SIZE)
        check_integer("preselect_count", self.preselect_count, 0, 100_000)
        check_integer("history_size", self.history_size, 1, 10_000)
        check_integer("max_line_search_evaluations", self.max_line_search_evaluations, 1, 1000)
        check_integer("early_stop_window", self.early_stop_window, 1, MAX_ITERATIONS)
        check_integer("batch_size", self.batch_size, 1, 1024)
        check_number("early_stop_tolerance", self.early_stop_tolerance, 0.0, 1.0)

    @classmethod
    def paper(cls, size: int = 640, *, device: str = "cpu", solver: Solver = "convex") -> TextureConfig:
        """The paper's recipe (§4–5): the exact fp32 masked-Gram fit over every exemplar at full
        resolution (no preselection), 1000 L-BFGS iterations at full resolution in fp32 from
        the low-frequency albedo, no early stopping.

        Parameters
        ----------
        size : texture resolution R (the output is R × R).
        device : torch device name.
        solver : blend-weight solver (the paper's is ``"convex"``).

        Use :meth:`replace` on the result to change any other field.
        """
        return cls(
            schedule=(Stage(size, 1000),),
            analysis_size=None,
            preselect_count=0,
            preselect_size=None,
            early_stop_tolerance=0.0,
            bf16_grams=False,
            start="lowfreq",
            keep_observed=False,
            device=device,
            solver=solver,
        )

    def with_size(self, size: int) -> TextureConfig:
        """The same settings for a ``size``² output: the last stage at ``size`` (its iterations
        and precision kept), earlier coarser stages scaled by the same factor (e.g. 256², 512²
        → 512², 1024²); a stage that would not be coarser than the last (at least
        ``MIN_SIZE``) is dropped."""
        last = self.schedule[-1]
        scale = size / last.size
        earlier = tuple(
            dataclasses.replace(s, size=max(MIN_SIZE, round(s.size * scale))) for s in self.schedule[:-1]
        )
        earlier = tuple(s for s in earlier if s.size < size)
        return self.replace(schedule=earlier + (dataclasses.replace(last, size=size),))

    @property
    def size(self) -> int:
        """Output resolution: the last stage's size."""
        return self.schedule[-1].size

    @property
    def resolved_analysis_size(self) -> int:
        """Resolution of the exact §4 fit: ``analysis_size`` (None: the output size), at most
        the output size."""
        return self.size if self.analysis_size is None else min(self.analysis_size, self.size)

    @property
    def resolved_preselect_size(self) -> int:
        """Resolution of the screening fit: ``preselect_size`` (None: the analysis
        resolution), at most the analysis resolution."""
        analysis = self.resolved_analysis_size
        return analysis if self.preselect_size is None else min(self.preselect_size, analysis)

    def replace(self, **changes: Any) -> TextureConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every field (saved beside every output)."""
        data = dataclasses.asdict(self)
        data["schedule"] = [[s.size, s.iterations, True] if s.bf16 else [s.size, s.iterations] for s in self.schedule]
        data["gram_layers"] = list(self.gram_layers)
        data["content_layers"] = list(self.content_layers)
        return data
