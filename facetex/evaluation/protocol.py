"""Protocol A under its former single-module names (kept for ``facetex.cli.evaluate`` and the
benchmarks; new code imports from the modules below).

* :mod:`~facetex.evaluation.variants` — the variants and ablations.
* :mod:`~facetex.evaluation.config` — :class:`ProtocolConfig`.
* :mod:`~facetex.evaluation.subjects` — leave-one-out queries and the arrays a run reads once.
* :mod:`~facetex.evaluation.prepare` — one subject: degrade, detect, fit, unwrap; its regions.
* :mod:`~facetex.evaluation.textures` — the texture stage per variant.
* :mod:`~facetex.evaluation.scoring` — the metrics of one texture against the ground truth.
* :mod:`~facetex.evaluation.results` / :mod:`~facetex.evaluation.run` — the run and its
  aggregates.
"""

from __future__ import annotations

from facetex.evaluation.config import ProtocolConfig
from facetex.evaluation.degrade import DegradeConfig, degrade_photo
from facetex.evaluation.prepare import PreparedSubject, SubjectRegions
from facetex.evaluation.results import FidelityMaps, ProtocolResult, SubjectResult, VariantInfo
from facetex.evaluation.run import aggregate, protocol_sameness, run_protocol
from facetex.evaluation.scoring import (
    FIDELITY_REGIONS,
    METRICS,
    GroundTruthReference,
    fidelity_metric,
    fidelity_scores,
    ground_truth_reference,
    score_texture,
)
from facetex.evaluation.subjects import exemplar_rows, held_out_model, neutral_subject, photo_path, select_persons
from facetex.evaluation.textures import VariantTextures, texture_variants
from facetex.evaluation.variants import (
    ABLATIONS,
    GRAM_LAYERS,
    PAPER_ORDER,
    PIPELINE_VARIANTS,
    VARIANTS,
    Variant,
    build_variants,
)

__all__ = [
    "ABLATIONS",
    "FIDELITY_REGIONS",
    "GRAM_LAYERS",
    "METRICS",
    "PAPER_ORDER",
    "PIPELINE_VARIANTS",
    "VARIANTS",
    "DegradeConfig",
    "FidelityMaps",
    "GroundTruthReference",
    "PreparedSubject",
    "ProtocolConfig",
    "ProtocolResult",
    "SubjectRegions",
    "SubjectResult",
    "Variant",
    "VariantInfo",
    "VariantTextures",
    "aggregate",
    "build_variants",
    "degrade_photo",
    "exemplar_rows",
    "fidelity_metric",
    "fidelity_scores",
    "ground_truth_reference",
    "held_out_model",
    "neutral_subject",
    "photo_path",
    "protocol_sameness",
    "run_protocol",
    "score_texture",
    "select_persons",
    "texture_variants",
]
