"""The texture-completion variants of protocol A and the ablations that add more.

A :class:`Variant` names one way of completing a partial albedo: the PCA albedo alone, OpenCV
inpainting, or texture synthesis with one of the blend solvers (paper §4–5), optionally with
fewer Gram layers (Fig. 8), the top-k exemplars (Fig. 4), another α (Fig. 6), or the pipeline's
own texture stage ("recipe"). :func:`build_variants` turns the names and the ablation of a run
into variants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from facetex.texture.config import Solver, TextureConfig

__all__ = [
    "ABLATIONS",
    "ALPHAS",
    "GRAM_LAYERS",
    "PAPER_ORDER",
    "PIPELINE_VARIANTS",
    "TOP_K",
    "VARIANTS",
    "Recipe",
    "Variant",
    "VariantKind",
    "build_variants",
]

#: How a variant completes the texture.
VariantKind = Literal["pca", "inpaint", "synthesis"]
#: The pipeline's texture stage as ``facetex infer`` runs it ("fast") or with the paper's recipe.
Recipe = Literal["fast", "paper"]

#: Variants of the paper's comparison (user study, Fig. 12) and the inpainting baseline (Fig. 17).
VARIANTS = ("pca", "closest", "linear", "convex", "inpaint")
#: The pipeline's own texture stage as ``facetex infer`` runs it (the texture config scaled to
#: the evaluation size): keeping the photo's observed detail ("default",
#: ``TextureConfig.keep_observed`` True) and re-synthesising every texel ("default-paste",
#: False: the behaviour before issue 16). Not run unless named.
PIPELINE_VARIANTS = ("default", "default-paste")
#: Ablations: Gram layers (Fig. 8), exemplars blended (Fig. 4), α (Fig. 6), recipe.
ABLATIONS = ("none", "layers", "subjects", "alpha", "recipe")
#: The §5 Gram layers, in order (relu1_1 … relu5_1): the texture config's.
GRAM_LAYERS: tuple[str, ...] = TextureConfig().gram_layers
#: The paper's ordering (best first) whose adjacent pairs are tested.
PAPER_ORDER = ("convex", "linear", "closest", "pca")
#: Values of the ablations (besides the default variant "convex": 5 layers, all exemplars, α
#: of the texture config, the bench's shared exact fit).
TOP_K = (1, 2, 4, 8)
ALPHAS = (1.0, 10.0, 1000.0)


@dataclass(frozen=True)
class Variant:
    """One way of completing the texture.

    Attributes
    ----------
    name : label in tables ("convex", "layers=3", "top-4", "alpha=10", "paper", ...).
    kind : "pca", "inpaint" or "synthesis".
    solver : §4 solver of a synthesis variant ("convex", "linear", "closest").
    layers : Gram layers of the §4 fit and §5 synthesis (None: the texture config's).
    alpha : §5 α (None: the texture config's).
    top_k : keep the k largest convex weights, renormalised to sum 1 (Fig. 4); None keeps all.
    recipe : None: the bench's shared exact §4 fit (every exemplar, all layers computed once
        per subject) and one synthesis stage of the evaluation's iterations. "fast" or "paper":
        the pipeline's own texture stage (``facetex.texture.inference.infer_texture``) with
        its settings as ``facetex infer`` runs them (candidate preselection, the detailed
        start, its coarse-to-fine bf16 schedule scaled to the evaluation size by
        ``TextureConfig.with_size``: 128²×100 + 256²×30 at 256²) or with
        ``TextureConfig.paper`` (exact fp32 fit, one fp32 stage of ``paper_iterations``
        iterations from the low-frequency albedo, no early stopping).
    keep_observed : with a recipe, sets ``TextureConfig.keep_observed`` (True: the photo's own
        detail is kept where it observes skin; False: every texel re-synthesised, as before
        issue 16); None keeps the texture config's value.
    """

    name: str
    kind: VariantKind
    solver: Solver = "convex"
    layers: tuple[str, ...] | None = None
    alpha: float | None = None
    top_k: int | None = None
    recipe: Recipe | None = None
    keep_observed: bool | None = None

    def __post_init__(self) -> None:
        if self.kind not in get_args(VariantKind):
            raise ValueError(f"variant kind must be pca, inpaint or synthesis, got {self.kind!r}")
        if self.recipe is not None and self.recipe not in get_args(Recipe):
            raise ValueError(f"recipe must be None, 'fast' or 'paper', got {self.recipe!r}")
        if self.recipe is not None and self.top_k is not None:
            raise ValueError("top_k applies to the shared fit only (recipe None)")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be ≥ 1, got {self.top_k}")
        if self.keep_observed is not None and self.recipe is None:
            raise ValueError("keep_observed applies to the pipeline's texture stage only (a recipe)")


def build_variants(names: Sequence[str], ablation: str = "none") -> tuple[Variant, ...]:
    """The variants of a run: the named ones, then those of the ablation (no duplicates).

    Parameters
    ----------
    names : a subset of :data:`VARIANTS` and :data:`PIPELINE_VARIANTS` ("default": the
        pipeline's texture stage as ``facetex infer`` runs it, keeping the photo's observed
        detail; "default-paste": the same with ``keep_observed=False``).
    ablation : one of :data:`ABLATIONS`. "layers": convex with relu1_1 … relu{k}_1 for
        k = 1 … 4 (k = 5 is "convex"); "subjects": top-k of the convex weights for k in
        :data:`TOP_K`; "alpha": α in :data:`ALPHAS`; "recipe": the pipeline's texture stage
        with its fast default ("fast") and with the paper's recipe ("paper"). The reference
        "convex" is added when missing.
    """
    unknown = [n for n in names if n not in VARIANTS + PIPELINE_VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; choose from {', '.join(VARIANTS + PIPELINE_VARIANTS)}")
    if ablation not in ABLATIONS:
        raise ValueError(f"ablation must be one of {', '.join(ABLATIONS)}, got {ablation!r}")
    out: list[Variant] = []
    for name in dict.fromkeys(names):
        if name in ("pca", "inpaint"):
            out.append(Variant(name, name))
        elif name in PIPELINE_VARIANTS:
            out.append(Variant(name, "synthesis", recipe="fast", keep_observed=name == "default"))
        else:
            out.append(Variant(name, "synthesis", solver=name))
    if ablation != "none" and "convex" not in names:
        out.append(Variant("convex", "synthesis", solver="convex"))
    if ablation == "layers":
        out += [Variant(f"layers={k}", "synthesis", layers=GRAM_LAYERS[:k]) for k in range(1, len(GRAM_LAYERS))]
    elif ablation == "subjects":
        out += [Variant(f"top-{k}", "synthesis", top_k=k) for k in TOP_K]
    elif ablation == "alpha":
        out += [Variant(f"alpha={a:g}", "synthesis", alpha=a) for a in ALPHAS]
    elif ablation == "recipe":
        out += [Variant("fast", "synthesis", recipe="fast"), Variant("paper", "synthesis", recipe="paper")]
    if not out:
        raise ValueError("no variant to evaluate")
    return tuple(out)
