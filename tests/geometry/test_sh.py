"""Spherical-harmonics lighting against closed forms and numerical quadrature."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facetex.errors import ShapeMismatchError
from facetex.geometry.sh import (
    LAMBERT_BAND_FACTORS,
    sh_basis,
    sh_convolve_lambert,
    sh_from_ambient,
    sh_from_directional_light,
    sh_shading,
)


def _sphere_quadrature(n_theta: int = 24, n_phi: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre in cos θ × uniform φ: exact for polynomials of low degree on the sphere."""
    cos_t, w_t = np.polynomial.legendre.leggauss(n_theta)
    phi = (np.arange(n_phi) + 0.5) * 2 * np.pi / n_phi
    c, p = np.meshgrid(cos_t, phi, indexing="ij")
    s = np.sqrt(1 - c**2)
    dirs = np.stack([s * np.cos(p), s * np.sin(p), c], axis=-1).reshape(-1, 3)
    weights = (w_t[:, None] * np.full(n_phi, 2 * np.pi / n_phi)[None, :]).reshape(-1)
    return dirs, weights


def _unit(rng, n):
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_basis_is_orthonormal_on_the_sphere():
    dirs, weights = _sphere_quadrature()
    y = sh_basis(dirs)
    gram = (y * weights[:, None]).T @ y
    np.testing.assert_allclose(gram, np.eye(9), atol=1e-12)


def test_basis_order_and_layout():
    y = sh_basis(np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    # +z excites Y10 (index 2) and Y20; +x excites Y11 (3) and Y22; +y excites Y1-1 (1).
    assert y[0, 2] > 0 and y[0, 1] == 0 and y[0, 3] == 0 and y[0, 6] > 0
    assert y[1, 3] > 0 and y[1, 2] == 0 and y[1, 8] > 0
    assert y[2, 1] > 0 and y[2, 8] < 0


def test_lambert_factors_are_the_clamped_cosine_projection():
    # Â_l = √(4π / (2l + 1)) · ∫ max(0, cos θ) Y_l0 dω, by quadrature (integrand is smooth per
    # hemisphere, so integrate z ≥ 0 only, mapping Gauss nodes to [0, 1]).
    cos_t, w_t = np.polynomial.legendre.leggauss(40)
    c, w = 0.5 * (cos_t + 1), 0.5 * w_t
    dirs = np.stack([np.sqrt(1 - c**2), np.zeros_like(c), c], axis=-1)
    y = sh_basis(dirs)
    for band, k in ((0, 0), (1, 2), (2, 6)):
        projection = 2 * np.pi * np.sum(w * c * y[:, k])
        factor = np.sqrt(4 * np.pi / (2 * band + 1)) * projection
        assert factor == pytest.approx(LAMBERT_BAND_FACTORS[band], rel=1e-12)


def test_ambient_lighting_gives_uniform_shading(rng):
    rgb = np.array([0.8, 0.5, 0.3])
    normals = _unit(rng, 100)
    np.testing.assert_allclose(sh_shading(normals, sh_from_ambient(rgb)), np.tile(rgb, (100, 1)), atol=1e-14)


def test_directional_light_matches_the_order_two_closed_form(rng):
    direction = np.array([0.3, -0.5, -0.8])
    d = direction / np.linalg.norm(direction)
    irradiance = np.array([1.0, 2.0, 0.5])
    coeffs = sh_from_directional_light(direction, irradiance)
    normals = _unit(rng, 500)
    c = normals @ d
    closed_form = (0.25 + c / 2 + (5 / 16) * (3 * c**2 - 1) / 2)[:, None] * irradiance
    shading = sh_shading(normals, coeffs)
    np.testing.assert_allclose(shading, closed_form, atol=1e-12)
    # ... and it approximates the exact Lambertian irradiance within 0.094 E₀.
    exact = np.maximum(0.0, c)[:, None] * irradiance
    assert np.max(np.abs(shading - exact) / irradiance) < 0.094
    facing = sh_shading(d[None], coeffs)[0]
    np.testing.assert_allclose(facing, 1.0625 * irradiance)


def test_convolution_of_a_projected_environment_gives_irradiance():
    # Radiance L(ω) = 1 + ω_z (a smooth, order-1 environment). Its exact irradiance for
    # normal n is π + (2π/3) n_z; projection by quadrature, then convolve.
    dirs, weights = _sphere_quadrature()
    radiance = 1.0 + dirs[:, 2]
    coeffs = sh_basis(dirs).T @ (weights * radiance)
    lighting = sh_convolve_lambert(np.repeat(coeffs[:, None], 3, axis=1))
    normals = _unit(np.random.default_rng(3), 50)
    expected = np.pi + 2 * np.pi / 3 * normals[:, 2]
    np.testing.assert_allclose(sh_shading(normals, lighting)[:, 1], expected, atol=1e-12)


def test_torch_matches_numpy_and_is_differentiable(rng):
    normals = _unit(rng, 7)
    coeffs = rng.normal(size=(9, 3))
    from_torch = sh_shading(torch.tensor(normals), torch.tensor(coeffs)).numpy()
    np.testing.assert_allclose(from_torch, sh_shading(normals, coeffs), atol=1e-14)
    n_t = torch.tensor(normals, requires_grad=True)
    c_t = torch.tensor(coeffs, requires_grad=True)
    assert torch.autograd.gradcheck(sh_shading, (n_t, c_t))
    conv = sh_convolve_lambert(torch.tensor(coeffs))
    np.testing.assert_allclose(conv.numpy(), sh_convolve_lambert(coeffs))


def test_sh_input_errors():
    with pytest.raises(ShapeMismatchError):
        sh_basis(np.zeros((4, 2)))
    with pytest.raises(ShapeMismatchError):
        sh_shading(np.zeros((4, 3)), np.zeros((9, 1)))
    with pytest.raises(ShapeMismatchError):
        sh_from_directional_light(np.zeros(3), 1.0)
    with pytest.raises(ShapeMismatchError):
        sh_from_ambient(np.ones(4))
