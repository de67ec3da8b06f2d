"""What a protocol-A run returns: per-subject scores and the run's aggregates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facetex.evaluation.bootstrap import Summary
from facetex.evaluation.config import ProtocolConfig
from facetex.evaluation.fidelity import Sameness
from facetex.evaluation.prepare import SubjectRegions
from facetex.evaluation.textures import VariantRun
from facetex.evaluation.variants import Variant

__all__ = ["FidelityMaps", "ProtocolResult", "SubjectResult", "VariantInfo"]


@dataclass(frozen=True)
class VariantInfo:
    """How one variant's texture of one subject was made (the JSON "info" of the results).

    Attributes
    ----------
    seconds : wall time of the variant.
    objective, iterations, final_loss : of a synthesis variant (:class:`~facetex.evaluation
        .textures.VariantRun`); None otherwise.
    top_weights : the 8 largest blend weights, as (exemplar subject id, weight), non-zero only.
    nonzero_weights : how many exemplars got weight.
    """

    seconds: float
    objective: float | None = None
    iterations: int | None = None
    final_loss: float | None = None
    top_weights: tuple[tuple[str, float], ...] | None = None
    nonzero_weights: int | None = None

    @classmethod
    def of(cls, run: VariantRun, exemplar_ids: Sequence[str]) -> VariantInfo:
        """The record of ``run``, its weights named by the exemplars' subject ids."""
        if run.weights is None:
            return cls(seconds=run.seconds, objective=run.objective, iterations=run.iterations,
                       final_loss=run.final_loss)
        w = np.asarray(run.weights)
        order = np.argsort(-np.abs(w))[:8]
        return cls(
            seconds=run.seconds,
            objective=run.objective,
            iterations=run.iterations,
            final_loss=run.final_loss,
            top_weights=tuple((exemplar_ids[i], float(w[i])) for i in order if w[i] != 0),
            nonzero_weights=int(np.count_nonzero(w)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set, in order (``top_weights`` as [id, weight] lists)."""
        out: dict[str, Any] = {}
        for name in ("seconds", "objective", "iterations", "final_loss", "top_weights", "nonzero_weights"):
            value = getattr(self, name)
            if value is not None:
                out[name] = [list(pair) for pair in value] if name == "top_weights" else value
        return out


@dataclass(frozen=True)
class FidelityMaps:
    """What the cross-person sameness needs of one subject (kept for the whole run).

    Attributes
    ----------
    luminance : "truth", "input" (the partial albedo) and each variant's name → (R, R) float32
        luminance of the UV map.
    regions : the subject's scoring regions (:mod:`facetex.evaluation.prepare`).
    """

    luminance: dict[str, np.ndarray]
    regions: SubjectRegions


@dataclass(frozen=True)
class SubjectResult:
    """Scores of every variant on one held-out subject.

    Attributes
    ----------
    person, subject_id : the held-out person and photo.
    metrics : variant → metric → value (NaN where undefined).
    info : variant → how its texture was made.
    seconds : "prepare" (detect + fit + unwrap), "analysis" (shared §4 masked Grams) and
        "total" for this subject.
    diagnostics : fit diagnostics, observed fractions of the regions.
    images : for the figure (first ``figure_subjects`` subjects only, else empty): "input"
        (face crop of the degraded photo), "partial", "truth", and each variant's texture.
    input_metrics : the fidelity metrics of the input's own partial albedo against the truth,
        observed region only (:func:`~facetex.evaluation.scoring.fidelity_scores`): what the
        degraded photo still holds.
    unrestored_metrics : the same for the degraded photo's partial albedo before the deblur
        step, when the pipeline restored the photo (else empty).
    maps : luminance maps and regions for the cross-person sameness
        (:func:`~facetex.evaluation.run.protocol_sameness`).
    """

    person: str
    subject_id: str
    metrics: dict[str, dict[str, float]]
    info: dict[str, VariantInfo]
    seconds: dict[str, float]
    diagnostics: dict[str, float]
    images: dict[str, np.ndarray] = field(default_factory=dict)
    input_metrics: dict[str, float] = field(default_factory=dict)
    unrestored_metrics: dict[str, float] = field(default_factory=dict)
    maps: FidelityMaps | None = None


@dataclass(frozen=True)
class ProtocolResult:
    """A whole run: settings, per-subject scores, aggregates.

    Attributes
    ----------
    config : the settings.
    variants : the variants, in table order.
    subjects : one result per held-out subject that could be processed.
    failures : [person, reason] of subjects that could not (no face found, fit failed, ...).
    summary : variant → metric → Summary over subjects.
    comparisons : adjacent pairs of :data:`~facetex.evaluation.variants.PAPER_ORDER` present in
        the run →
        metric → paired Summary of (better-ranked − worse-ranked), sign-adjusted so that > 0
        means the paper's ordering holds.
    database : name, path and size of the database.
    seconds : wall time of the run.
    input_summary : fidelity metric → Summary over subjects of the input's own partial albedo
        (``SubjectResult.input_metrics``); unrestored_summary : the same before the deblur step
        (``SubjectResult.unrestored_metrics``; empty when no photo was restored).
    sameness : "input" and each variant → region → band label → cross-person
        :class:`~facetex.evaluation.fidelity.Sameness` over the run's subjects
        (:func:`~facetex.evaluation.run.protocol_sameness`; empty with fewer than two subjects).
    """

    config: ProtocolConfig
    variants: tuple[Variant, ...]
    subjects: tuple[SubjectResult, ...]
    failures: tuple[tuple[str, str], ...]
    summary: dict[str, dict[str, Summary]]
    comparisons: dict[str, dict[str, Summary]]
    database: dict[str, Any]
    seconds: float
    input_summary: dict[str, Summary] = field(default_factory=dict)
    unrestored_summary: dict[str, Summary] = field(default_factory=dict)
    sameness: dict[str, dict[str, dict[str, Sameness]]] = field(default_factory=dict)
