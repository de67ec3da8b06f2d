"""Symmetric Gram matrices stored compactly: upper triangles, float16 with one power-of-two
scale per matrix (or float32), as the database file holds them (``/grams/<r>/<layer>``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from facetex.errors import DatabaseError, ShapeMismatchError

__all__ = ["PackedGrams", "pack_gram", "unpack_gram"]


@dataclass(frozen=True)
class PackedGrams:
    """Symmetric Gram matrices stored as their upper triangles, one scale per matrix.

    Attributes
    ----------
    values : (N, C(C+1)/2) float16 or float32, row-major upper triangle of each Gram divided
        by its scale.
    scale : (N,) float64; a power of two per matrix (1 for float32), chosen so the largest
        stored magnitude is ≤ 2¹⁴ (float16 keeps ~5e-4 relative precision over its range).
    """

    values: np.ndarray
    scale: np.ndarray

    @property
    def count(self) -> int:
        return int(self.values.shape[0])

    @property
    def channels(self) -> int:
        m = int(self.values.shape[1])
        c = int(round((np.sqrt(8 * m + 1) - 1) / 2))
        if c * (c + 1) // 2 != m:
            raise DatabaseError(f"a stored Gram has {m} entries, not a triangle of any size")
        return c

    @staticmethod
    def concatenate(parts: Iterable[PackedGrams]) -> PackedGrams:
        parts = list(parts)
        return PackedGrams(
            values=np.concatenate([p.values for p in parts]),
            scale=np.concatenate([p.scale for p in parts]),
        )


def pack_gram(grams: np.ndarray, dtype: str) -> PackedGrams:
    """Pack symmetric Grams (N, C, C) as upper triangles, ``dtype`` "float16" or "float32"."""
    g = np.asarray(grams, dtype=np.float64)
    if g.ndim != 3 or g.shape[1] != g.shape[2]:
        raise ShapeMismatchError(f"Grams must be (N, C, C), got {g.shape}")
    rows, cols = np.triu_indices(g.shape[1])
    tri = g[:, rows, cols]
    if dtype == "float32":
        return PackedGrams(values=tri.astype(np.float32), scale=np.ones(g.shape[0]))
    if dtype != "float16":
        raise ValueError(f"gram dtype must be 'float16' or 'float32', got {dtype!r}")
    peak = np.abs(tri).max(axis=1) if tri.size else np.zeros(g.shape[0])
    exponent = np.ceil(np.log2(np.maximum(peak, 1e-300) / 2.0**14))
    scale = np.where(peak > 0, 2.0**exponent, 1.0)
    return PackedGrams(values=(tri / scale[:, None]).astype(np.float16), scale=scale)


def unpack_gram(packed: PackedGrams) -> np.ndarray:
    """Inverse of :func:`pack_gram`: (N, C, C) float32 symmetric matrices."""
    c = packed.channels
    rows, cols = np.triu_indices(c)
    out = np.zeros((packed.count, c, c), dtype=np.float32)
    tri = packed.values.astype(np.float32) * packed.scale[:, None].astype(np.float32)
    out[:, rows, cols] = tri
    out[:, cols, rows] = tri
    return out
