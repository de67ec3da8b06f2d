"""Evaluation bench: protocol A of the paper's comparisons as reproducible numbers (DESIGN §6).

* :mod:`~facetex.evaluation.metrics` — mesoscopic power spectrum, low-pass SSIM, per-region
  errors, dlib identity similarity, bootstrap intervals.
* :mod:`~facetex.evaluation.fidelity` — per octave band: correlation of the detail with the
  person's own, band power log-ratio, cross-person sameness (is it *this person's* skin?).
* :mod:`~facetex.evaluation.onet` — Gram distance of the detail under a network independent of
  the synthesis (MTCNN's ONet).
* :mod:`~facetex.evaluation.degrade` — blur, 4× downsampling, occluder, simulated head turn.
* :mod:`~facetex.evaluation.baselines` — PCA albedo only, OpenCV inpainting.
* :mod:`~facetex.evaluation.protocol` — :func:`run_protocol` over held-out database subjects.
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
