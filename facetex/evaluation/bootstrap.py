"""Mean and bootstrap confidence interval of a metric over subjects, and paired differences."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facetex.errors import ShapeMismatchError

__all__ = ["Summary", "paired_difference", "summarize"]


@dataclass(frozen=True)
class Summary:
    """Mean of a metric over subjects with a bootstrap confidence interval.

    Attributes
    ----------
    mean : mean of the finite values (NaN if none).
    low, high : percentile-bootstrap interval at ``confidence`` (equal to ``mean`` for a
        single value; NaN if none).
    count : number of finite values.
    confidence : e.g. 0.95.
    """

    mean: float
    low: float
    high: float
    count: int
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean, "low": self.low, "high": self.high, "count": self.count, "confidence": self.confidence
        }


def summarize(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Summary:
    """Mean and percentile-bootstrap confidence interval (Efron & Tibshirani 1993, §13.3).

    NaN / infinite values (a metric that could not be computed for a subject) are dropped.
    The bootstrap is seeded, so the interval is reproducible.

    Parameters
    ----------
    values : one value per subject.
    confidence : in (0, 1).
    resamples : bootstrap resamples.
    seed : generator seed.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be ≥ 1, got {resamples}")
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Summary(math.nan, math.nan, math.nan, 0, confidence)
    mean = float(x.mean())
    if x.size == 1:
        return Summary(mean, mean, mean, 1, confidence)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Summary(mean, float(low), float(high), int(x.size), confidence)


def paired_difference(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Summary:
    """:func:`summarize` of the per-subject differences a − b (pairs with a NaN dropped).

    An interval that excludes 0 means the two variants differ on that metric at the given
    confidence (paired over the same subjects, which removes the between-subject spread).
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ShapeMismatchError(f"paired values of different lengths {x.shape} and {y.shape}")
    return summarize(x - y, confidence=confidence, resamples=resamples, seed=seed)
