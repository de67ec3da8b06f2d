"""Second-order spherical-harmonics lighting of a Lambertian surface (paper §3).

Basis (real SH, orthonormal over the sphere; normals in the camera frame, unit length), in the
order of :mod:`facetex.types`::

    k  name   Y_k(n), n = (x, y, z)
    0  Y00    0.282095                   = 1 / (2√π)
    1  Y1-1   0.488603 · y               = √(3 / 4π) · y
    2  Y10    0.488603 · z
    3  Y11    0.488603 · x
    4  Y2-2   1.092548 · x y             = √(15 / 4π) · x y
    5  Y2-1   1.092548 · y z
    6  Y20    0.315392 · (3 z² − 1)      = √(5 / 16π) · (3 z² − 1)
    7  Y21    1.092548 · x z
    8  Y22    0.546274 · (x² − y²)       = √(15 / 16π) · (x² − y²)

Lighting coefficients L (9, 3) (one column per RGB channel) already hold the convolution with
the clamped cosine lobe (Ramamoorthi & Hanrahan, "An efficient representation for irradiance
environment maps", SIGGRAPH 2001): if a distant environment has radiance SH coefficients
R_k, then ``L_k = Â_l(k) · R_k`` with ``Â_0 = π``, ``Â_1 = 2π/3``, ``Â_2 = π/4``, and the
irradiance of a surface with normal n is ``E(n) = Σ_k L_k Y_k(n)`` — the shading that multiplies
albedo. For a single directional light of irradiance E₀ (at normal incidence) from direction d
this gives the order-2 approximation of E₀·max(0, n·d) (addition theorem)::

    E(n) = E₀ · (1/4 + (n·d)/2 + (5/16)·(3 (n·d)² − 1)/2)

whose largest deviation from E₀·max(0, n·d) is below 0.1·E₀.
Functions accept numpy arrays or torch tensors and return the same type.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

from facetex.errors import ShapeMismatchError

__all__ = [
    "SH_CONSTANTS",
    "LAMBERT_BAND_FACTORS",
    "SH_BAND",
    "sh_basis",
    "sh_shading",
    "sh_convolve_lambert",
    "sh_from_ambient",
    "sh_from_directional_light",
]

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

_C0 = 0.5 / math.sqrt(math.pi)
_C1 = math.sqrt(3.0 / (4.0 * math.pi))
_C2 = math.sqrt(15.0 / (4.0 * math.pi))
_C20 = math.sqrt(5.0 / (16.0 * math.pi))
_C22 = math.sqrt(15.0 / (16.0 * math.pi))

SH_CONSTANTS = (_C0, _C1, _C1, _C1, _C2, _C2, _C20, _C2, _C22)
"""The normalisation constant of each basis function, in basis order."""

SH_BAND = (0, 1, 1, 1, 2, 2, 2, 2, 2)
"""The band l of each basis function, in basis order."""

LAMBERT_BAND_FACTORS = (math.pi, 2.0 * math.pi / 3.0, math.pi / 4.0)
"""Â_l, l = 0, 1, 2: SH coefficients of the clamped-cosine kernel (Ramamoorthi & Hanrahan 2001)."""


def sh_basis(normals: ArrayT) -> ArrayT:
    """The 9 real SH basis functions at unit normals.

    Parameters
    ----------
    normals : (..., 3) unit vectors (x, y, z) in the camera frame (numpy array or tensor).

    Returns
    -------
    (..., 9) of the same type and dtype, in the order of the module table. Differentiable.
    """
    _check_vectors(normals, "normals")
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    ones = x * 0.0 + 1.0
    columns = [
        _C0 * ones,
        _C1 * y,
        _C1 * z,
        _C1 * x,
        _C2 * x * y,
        _C2 * y * z,
        _C20 * (3.0 * z * z - 1.0),
        _C2 * x * z,
        _C22 * (x * x - y * y),
    ]
    if isinstance(normals, torch.Tensor):
        return torch.stack(columns, dim=-1)
    return np.stack(columns, axis=-1)


def sh_shading(normals: ArrayT, coeffs: ArrayT) -> ArrayT:
    """Lambertian irradiance ``E(n) = Σ_k L_k Y_k(n)`` per colour channel.

    Parameters
    ----------
    normals : (..., 3) unit normals, camera frame.
    coeffs : (9, 3) lighting L (cosine convolution folded in, see the module doc), same type as
        ``normals``.

    Returns
    -------
    (..., 3) irradiance (may be negative for lighting that is not physically valid).
    Differentiable w.r.t. both inputs.
    """
    if tuple(coeffs.shape) != (9, 3):
        raise ShapeMismatchError(f"SH coefficients must have shape (9, 3), got {tuple(coeffs.shape)}")
    return sh_basis(normals) @ coeffs


def sh_convolve_lambert(radiance_coeffs: ArrayT) -> ArrayT:
    """Fold the clamped-cosine convolution into radiance SH coefficients: L_k = Â_l(k) · R_k.

    Parameters
    ----------
    radiance_coeffs : (..., 9, C) SH projection of a distant radiance environment.

    Returns
    -------
    (..., 9, C) lighting coefficients usable by :func:`sh_shading`.
    """
    if radiance_coeffs.ndim < 2 or radiance_coeffs.shape[-2] != 9:
        raise ShapeMismatchError(f"expected shape (..., 9, C), got {tuple(radiance_coeffs.shape)}")
    factors = np.array([LAMBERT_BAND_FACTORS[band] for band in SH_BAND])[:, None]
    if isinstance(radiance_coeffs, torch.Tensor):
        factors = torch.as_tensor(factors, dtype=radiance_coeffs.dtype, device=radiance_coeffs.device)
    return radiance_coeffs * factors


def sh_from_ambient(irradiance: float | np.ndarray) -> np.ndarray:
    """Lighting that gives the same irradiance for every normal (uniform radiance E/π).

    Parameters
    ----------
    irradiance : scalar or (3,) RGB irradiance E.

    Returns
    -------
    (9, 3) float64 L with L_0 = E / Y00 and all other coefficients 0, so shading ≡ E.
    """
    rgb = _rgb(irradiance)
    coeffs = np.zeros((9, 3), dtype=np.float64)
    coeffs[0] = rgb / _C0
    return coeffs


def sh_from_directional_light(direction: np.ndarray, irradiance: float | np.ndarray) -> np.ndarray:
    """Lighting of one distant directional light, projected on order 2.

    Parameters
    ----------
    direction : (3,) vector from the surface towards the light, camera frame (normalised here).
        The camera itself is in direction (0, 0, −1).
    irradiance : scalar or (3,) RGB irradiance E₀ on a surface facing the light.

    Returns
    -------
    (9, 3) float64 L = Â_l · E₀ · Y_k(d): :func:`sh_shading` then gives the order-2 approximation
    of E₀ · max(0, n·d) written in the module doc.
    """
    d = np.asarray(direction, dtype=np.float64)
    _check_vectors(d, "direction")
    norm = float(np.linalg.norm(d))
    if d.shape != (3,) or not np.isfinite(norm) or norm == 0.0:
        raise ShapeMismatchError(f"direction must be a non-zero (3,) vector, got {direction!r}")
    radiance = sh_basis(d / norm)[:, None] * _rgb(irradiance)[None, :]
    return sh_convolve_lambert(radiance)


def _rgb(value: float | np.ndarray) -> np.ndarray:
    try:
        rgb = np.broadcast_to(np.asarray(value, dtype=np.float64), (3,)).copy()
    except ValueError:
        raise ShapeMismatchError(f"irradiance must be a scalar or (3,) RGB, got {value!r}") from None
    if not np.isfinite(rgb).all():
        raise ShapeMismatchError(f"irradiance must be finite, got {value!r}")
    return rgb


def _check_vectors(array: np.ndarray | torch.Tensor, name: str) -> None:
    if array.ndim < 1 or array.shape[-1] != 3:
        raise ShapeMismatchError(f"{name} must have shape (..., 3), got {tuple(array.shape)}")
