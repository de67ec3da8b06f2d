"""Summary statistics the benchmarks write into their JSON results, written once.

The benchmarks run as scripts (``python benchmarks/bench_fitting.py``), so this folder is on
``sys.path`` and they import it as ``from _stats import describe``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["describe"]


def describe(values: Sequence[float], *, percentile: int) -> dict[str, float]:
    """Count, median, mean, the ``percentile``-th percentile (key ``p<percentile>``) and max.

    The percentile is numpy's default (linear interpolation between the closest ranks). An
    empty list gives ``{"count": 0}``.

    >>> describe([1.0, 2.0, 3.0, 4.0, 5.0], percentile=90)
    {'count': 5, 'median': 3.0, 'mean': 3.0, 'p90': 4.6, 'max': 5.0}
    >>> describe([], percentile=95)
    {'count': 0}
    """
    if len(values) == 0:
        return {"count": 0}
    a = np.asarray(values, dtype=np.float64)
    return {
        "count": int(a.size),
        "median": float(np.median(a)),
        "mean": float(a.mean()),
        f"p{percentile}": float(np.percentile(a, percentile)),
        "max": float(a.max()),
    }
