"""The UV ↔ pixel convention of facetex: the one place where the v flip is written.

UV maps are square R × R images (see :mod:`facetex.types`): texel (row i, col j) has its centre
at ``u = (j + 0.5) / R``, ``v = 1 − (i + 0.5) / R``, so ``v = 1`` is the top row. In the UV
image's continuous pixel frame (x right, y down, texel centres at +0.5, as for photos) a UV
coordinate maps to ``x = u·R``, ``y = (1 − v)·R``.

This module is a leaf (it imports no other facetex geometry), so both the rasterizer
(:mod:`facetex.geometry.rasterize`) and the UV-chart helpers (:mod:`facetex.geometry.uv`, which
re-exports these functions) can use it.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from facetex.errors import ShapeMismatchError

__all__ = ["uv_to_pixel", "pixel_to_uv"]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def uv_to_pixel(uv: ArrayT, resolution: int) -> ArrayT:
    """Map UV coordinates to continuous pixel coordinates of an R × R UV image.

    Parameters
    ----------
    uv : (..., 2) numpy array or torch tensor, (u, v) with v = 1 at the top of the texture.
    resolution : R, the side of the UV image in texels.

    Returns
    -------
    (..., 2) of the same type and dtype: (x, y) = (u·R, (1 − v)·R), x right, y down, origin at
    the top-left corner of the UV image; texel (i, j) spans [j, j+1) × [i, i+1).
    Differentiable for tensors.
    """
    _check_last_axis(uv, "uv")
    return _stack_last(uv[..., 0] * resolution, (1.0 - uv[..., 1]) * resolution)


def pixel_to_uv(xy: ArrayT, resolution: int) -> ArrayT:
    """Inverse of :func:`uv_to_pixel`: (x, y) pixels of an R × R UV image → (u, v) = (x/R, 1 − y/R)."""
    _check_last_axis(xy, "xy")
    return _stack_last(xy[..., 0] / resolution, 1.0 - xy[..., 1] / resolution)


def _stack_last(a: ArrayT, b: ArrayT) -> ArrayT:
    if isinstance(a, torch.Tensor):
        return torch.stack([a, b], dim=-1)
    return np.stack([a, b], axis=-1)


def _check_last_axis(array: np.ndarray | torch.Tensor, name: str) -> None:
    if array.ndim < 1 or array.shape[-1] != 2:
        raise ShapeMismatchError(f"{name} must have shape (..., 2), got {tuple(array.shape)}")
