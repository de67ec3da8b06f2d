"""Settings of a protocol-A run (:func:`facetex.evaluation.run.run_protocol`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from facetex.checks import setting
from facetex.config import InferConfig, config_to_dict
from facetex.evaluation.degrade import DegradeConfig
from facetex.evaluation.variants import ABLATIONS, PIPELINE_VARIANTS, VARIANTS, Variant, build_variants
from facetex.texture.config import Stage, TextureConfig

__all__ = ["ProtocolConfig", "ScoredRegion"]

#: Which texels of the UV tile are scored: ``"all"``; ``"face"``, the face proper — on the ICT
#: face tile the part mediapipe's mask covers (:func:`facetex.geometry.uv.face_region_mask`), so
#: results compare across the two layouts; ``"beyond-face"``, the rest of the tile (the ears, the
#: neck, the sides of the head).
ScoredRegion = Literal["all", "face", "beyond-face"]


@dataclass(frozen=True)
class ProtocolConfig:
    """Settings of a protocol-A run.

    Attributes
    ----------
    subjects : number of held-out persons (evenly spaced over the sorted person ids that have a
        neutral photo); ignored when ``persons`` is given.
    persons : explicit person ids to hold out.
    size : evaluation resolution R: the unwrap, the synthesis and the scoring run at R × R.
    iterations : L-BFGS iterations of each synthesis variant of the paper's comparisons and
        the ablations (early stopping as the texture config says); the "fast" recipe variant
        runs the texture config's own schedule instead.
    paper_iterations : iterations of the "paper" recipe variant (the paper: 1000).
    variants : names from :data:`~facetex.evaluation.variants.VARIANTS` and
        :data:`~facetex.evaluation.variants.PIPELINE_VARIANTS`.
    ablation : one of :data:`~facetex.evaluation.variants.ABLATIONS`.
    degrade : how the input is degraded.
    infer : the pipeline's settings (detect, fit, unwrap, texture); resolution and schedule
        are set from ``size`` and ``iterations``.
    identity : compute dlib identity similarity (needs dlib; skipped with a warning if not
        installed).
    same_person : issue 20's comparison inside the protocol: the person's other photo (the
        smiling one), degraded as the neutral one, is fitted with the neutral photo under one
        identity and both are unwrapped (:func:`facetex.multiview.fit_views`, as ``facetex
        infer --same-person`` fits them), and the two partial albedos are merged
        (:func:`facetex.multiview.merge_views`); the regions stay the neutral photo's, so
        "observed" and "hidden" mean the same texels with and without it.
    patch : side of the power-spectrum patches, texels (default R / 8: 32² at 256², whose
        bins 3 … 12 cycles per patch cover the mesoscopic band; larger patches rarely fit
        inside the observed skin between eyes, nose and mouth).
    region : which texels of the UV tile are scored (:data:`ScoredRegion`).
    face_width : texels per face width W at ``size``, the unit of every band and scale in
        cycles per face width (fidelity bands, mesoscopic band, low-pass, ONet scale): one face
        width is mediapipe's chart width, carried to the database's UV layout through the outer
        eye corners (:func:`facetex.evaluation.metrics.face_width_texels`: W = R on mediapipe's
        chart, ≈ 0.843 R on the ICT face tile). None: measured from the database's layout when
        the run starts (:func:`~facetex.evaluation.run.run_protocol` records the value it used in
        the result's config).
    confidence, resamples, seed : bootstrap settings of the aggregates.
    figure_subjects : subjects shown in the figure grid.
    """

    subjects: int = setting(20, help="number of held-out persons", range=(1, 1000))
    persons: tuple[str, ...] = setting((), help="explicit person ids, comma-separated (override subjects)")
    size: int = setting(256, help="evaluation resolution R, a power of two", range=(64, 2048))
    iterations: int = setting(30, help="L-BFGS iterations per synthesis variant", range=(0, 100_000))
    paper_iterations: int = setting(1000, help="iterations of the 'paper' recipe variant", range=(0, 100_000))
    variants: tuple[str, ...] = setting(
        VARIANTS,
        help="variants, comma-separated ('default' and 'default-paste' run the texture stage of `facetex "
        "infer` with and without keeping the photo's observed detail)",
        choices=VARIANTS + PIPELINE_VARIANTS,
    )
    ablation: str = setting("none", help="add the variants of an ablation", choices=ABLATIONS)
    degrade: DegradeConfig = field(default_factory=DegradeConfig)
    infer: InferConfig = field(default_factory=InferConfig)
    identity: bool = setting(True, help="compute the dlib identity metric")
    same_person: bool = setting(False, help="also give the pipeline the person's other (smiling) photo, degraded "
                                "alike, merged as `facetex infer --same-person` does; scored on the neutral photo's "
                                "regions")
    region: ScoredRegion = setting("all", help="texels scored: all, the face proper (mediapipe's mask on the ICT "
                                   "tile) or beyond it (ears, neck)", choices=get_args(ScoredRegion))
    patch: int | None = None
    face_width: float | None = None
    confidence: float = 0.95
    resamples: int = 2000
    seed: int = 0
    figure_subjects: int = 6

    def __post_init__(self) -> None:
        object.__setattr__(self, "persons", tuple(str(p) for p in self.persons))
        object.__setattr__(self, "variants", tuple(self.variants))
        if self.subjects < 1 and not self.persons:
            raise ValueError(f"subjects must be ≥ 1, got {self.subjects}")
        if self.size < 64 or self.size & (self.size - 1):
            raise ValueError(f"size must be a power of two ≥ 64, got {self.size}")
        if self.iterations < 0 or self.paper_iterations < 0:
            raise ValueError("iterations must be ≥ 0")
        if self.patch is not None and not 8 <= self.patch <= self.size:
            raise ValueError(f"patch must be in [8, size], got {self.patch}")
        if self.face_width is not None and not self.face_width > 0:
            raise ValueError(f"face_width must be > 0 texels, got {self.face_width}")
        build_variants(self.variants, self.ablation)  # validates names and ablation

    @property
    def patch_size(self) -> int:
        return self.patch if self.patch is not None else self.size // 8

    def texture_config(self, variant: Variant) -> TextureConfig:
        """The texture settings of a synthesis variant at the evaluation size."""
        base = self.infer.texture
        if variant.recipe == "paper":
            base = TextureConfig.paper(self.size, device=base.device).replace(
                schedule=(Stage(self.size, self.paper_iterations),),
                content_layers=base.content_layers,
                alpha=base.alpha,
            )
        elif variant.recipe == "fast":
            base = base.with_size(self.size)
        else:  # the paper's comparisons: one stage, starting where §5 does
            base = base.replace(schedule=(Stage(self.size, self.iterations),), analysis_size=None, start="lowfreq")
        changes: dict[str, Any] = {"solver": variant.solver}
        if variant.layers is not None:
            changes["gram_layers"] = variant.layers
        if variant.alpha is not None:
            changes["alpha"] = variant.alpha
        if variant.keep_observed is not None:
            changes["keep_observed"] = variant.keep_observed
        return base.replace(**changes)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready nested dicts (``facetex.config.config_to_dict``)."""
        return config_to_dict(self)
