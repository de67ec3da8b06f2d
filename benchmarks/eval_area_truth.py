"""Protocol A with the truth area-averaged to the evaluation size, for checkouts from before
``facetex evaluate`` did so itself (:func:`facetex.evaluation.prepare.truth_texture`, 2026-12-07):
``facetex evaluate`` as it was, except that each subject's ground-truth texture reaches R² by
area averaging (``cv2.INTER_AREA``) instead of :func:`facetex.texture.resample.resize`
(antialiased bilinear, a triangle filter). It rescores an old baseline, e.g. the mediapipe
mask's, against the truth today's protocol uses.

Why: the triangle filter takes 0.19–0.21 decades off the truth's band power at 32–64 cycles
per face width when a 640² texture is brought to 256² (docs/ict-model.md, "Seventh session"),
so an output with the right power reads too rough. Only the truth changes; the exemplars the
texture stage uses are the ones ``facetex infer`` uses. On a checkout that has
``truth_texture`` the script changes nothing.

Usage (any ``facetex evaluate`` arguments, with ``PYTHONPATH`` pointing at the old checkout)::

    PYTHONPATH=/path/to/17c7c31 python benchmarks/eval_area_truth.py evaluate --subjects 20 \
        --size 256 --variants default --db ~/.cache/facetex/databases/london-v1-b2.h5 -o out/eval-area
"""

from __future__ import annotations

import dataclasses
import sys

import cv2
import numpy as np

import facetex.evaluation.run as run
from facetex.cli import main

_prepare = run.prepare_subject


def prepare_with_area_truth(database, arrays, person, config, detector):
    """:func:`facetex.evaluation.prepare.prepare_subject`, its truth replaced by the subject's
    full-resolution texture area-averaged to the evaluation size."""
    prepared, rows = _prepare(database, arrays, person, config, detector)
    full = database.subject_textures([prepared.subject_id])[0]
    size = prepared.truth.shape[0]
    truth = cv2.resize(full, (size, size), interpolation=cv2.INTER_AREA)
    return dataclasses.replace(prepared, truth=np.clip(truth, 0.0, 1.0).astype(np.float32)), rows


if __name__ == "__main__":
    run.prepare_subject = prepare_with_area_truth
    sys.exit(main(sys.argv[1:]))
