"""Resampling of UV maps between the stages' working resolutions."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["density_at", "resize", "visible_at"]


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an (H, W) or (H, W, C) float image to (size, size[, C]) float32.

    Bilinear with antialiasing when shrinking (torch ``interpolate``); a no-op copy at the same
    size.
    """
    arr = np.asarray(image, dtype=np.float32)
    if arr.shape[:2] == (size, size):
        return arr.copy()
    arr = np.ascontiguousarray(arr)
    if not arr.flags.writeable:  # torch.from_numpy warns on read-only arrays (memory maps, views)
        arr = arr.copy()
    t = torch.from_numpy(arr)
    t = t[None, None] if arr.ndim == 2 else t.permute(2, 0, 1)[None]
    out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    out = out[0, 0] if arr.ndim == 2 else out[0].permute(1, 2, 0)
    return np.ascontiguousarray(out.numpy())


def visible_at(mask: np.ndarray, size: int) -> np.ndarray:
    """The (R, R) bool visibility mask at ``size``²: texels at least half covered by observed
    ones (any covered texel if that leaves none, so a sliver of observed texels still counts)."""
    coverage = resize(mask.astype(np.float32), size)
    visible = coverage > 0.5
    return visible if visible.any() else coverage > 0.0


def density_at(pixels_per_texel: np.ndarray, size: int) -> np.ndarray:
    """The (R, R) sampling density (photo pixels per texel) at ``size``²: nearest texel, scaled
    with the texel size."""
    density = np.asarray(pixels_per_texel, dtype=np.float32)
    if density.shape[0] == size:
        return density
    idx = (np.arange(size) * density.shape[0]) // size
    return density[np.ix_(idx, idx)] * (density.shape[0] / size)
