"""Evaluation bench: protocol A of the paper's comparisons (§6, Appendix II) as reproducible numbers.

The protocol and its metrics: ``docs/evaluation.md``.

* :mod:`~facetex.evaluation.variants`, :mod:`~facetex.evaluation.config` — what a run
  compares, and its settings (:class:`ProtocolConfig`).
* :mod:`~facetex.evaluation.subjects` — leave-one-out queries, the database arrays of a run.
* :mod:`~facetex.evaluation.prepare` — one held-out subject: degrade, detect, fit, unwrap.
* :mod:`~facetex.evaluation.textures` — the texture stage per variant.
* :mod:`~facetex.evaluation.scoring` — every metric of one texture against the ground truth.
* :mod:`~facetex.evaluation.run`, :mod:`~facetex.evaluation.results` — :func:`run_protocol`
  over held-out database subjects, and what it returns.
* :mod:`~facetex.evaluation.spectra` — mesoscopic power spectrum.
* :mod:`~facetex.evaluation.metrics` — low-pass SSIM, per-region errors.
* :mod:`~facetex.evaluation.identity` — dlib identity similarity.
* :mod:`~facetex.evaluation.bootstrap` — means with bootstrap intervals, paired differences.
* :mod:`~facetex.evaluation.fidelity` — per octave band: correlation of the detail with the
  person's own, band power log-ratio, cross-person sameness (is it *this person's* skin?).
* :mod:`~facetex.evaluation.onet` — Gram distance of the detail under a network independent of
  the synthesis (MTCNN's ONet).
* :mod:`~facetex.evaluation.degrade` — blur, 4× downsampling, occluder, simulated head turn.
* :mod:`~facetex.evaluation.baselines` — PCA albedo only, OpenCV inpainting.
* :mod:`~facetex.evaluation.tables` — markdown / CSV / JSON / figure of a run.

Typical use (what ``facetex evaluate`` does)::

    result = run_protocol(load_database(path), ProtocolConfig(subjects=20, size=256))
    write_results(result, "out/eval")
"""

from facetex.evaluation.degrade import DegradeConfig
from facetex.evaluation.config import ProtocolConfig
from facetex.evaluation.results import ProtocolResult
from facetex.evaluation.run import run_protocol
from facetex.evaluation.tables import write_results

__all__ = ["DegradeConfig", "ProtocolConfig", "ProtocolResult", "run_protocol", "write_results"]
