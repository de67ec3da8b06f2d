"""The generic morphable model and model evaluation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from facetex.errors import ShapeMismatchError
from facetex.fitting import EXPRESSION_NAMES, generic_model, model_albedo, model_vertices
from facetex.fitting.model import validate_model


def test_generic_model_shapes(model, topology):
    v = topology.vertices.shape[0]
    assert model.name == "generic"
    assert model.shape_basis.shape == (32, v, 3) and model.shape_std.shape == (32,)
    assert model.expression_basis.shape == (len(EXPRESSION_NAMES), v, 3)
    assert model.albedo_mean.shape == (64, 64, 3) and model.albedo_basis.shape == (15, 64, 64, 3)
    assert np.all(model.shape_std > 0) and np.all(model.expression_std > 0) and np.all(model.albedo_std > 0)


def test_identity_basis_is_orthonormal_and_free_of_similarity_motion(model, topology):
    k = model.shape_basis.shape[0]
    flat = model.shape_basis.reshape(k, -1)
    gram = flat @ flat.T / topology.vertices.shape[0]  # unit RMS displacement per vertex
    np.testing.assert_allclose(gram, np.eye(k), atol=1e-9)
    centred = topology.vertices - topology.vertices.mean(axis=0)
    rigid = [np.broadcast_to(a, centred.shape) for a in np.eye(3)] + [np.cross(a, centred) for a in np.eye(3)]
    for field in rigid + [centred]:  # translations, rotations, uniform scaling
        assert np.abs(flat @ field.reshape(-1)).max() < 1e-8


def test_identity_modes_are_left_right_symmetric(model, topology):
    mirrored = topology.vertices * [-1.0, 1.0, 1.0]
    mirror = np.argmin(((topology.vertices[None] - mirrored[:, None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(model.shape_basis[:, mirror] * [-1.0, 1.0, 1.0], model.shape_basis, atol=1e-9)


def test_expression_modes_are_local(model):
    peak = np.linalg.norm(model.expression_basis, axis=2)  # (K_ex, V) cm per unit coefficient
    np.testing.assert_allclose(peak.max(axis=1), 1.0)
    jaw, smile = EXPRESSION_NAMES.index("jaw_open"), EXPRESSION_NAMES.index("smile")
    assert peak[jaw, 152] > 0.8  # the chin moves with the jaw
    assert peak[jaw, 10] < 1e-9  # the top of the forehead (mesh boundary) stays
    assert peak[smile, [61, 291]].min() > 0.9  # both mouth corners
    close_right = EXPRESSION_NAMES.index("close_right_eye")
    assert peak[close_right, 159] > 0.5 and peak[close_right, 386] < 0.01  # right lid only
    # Jaw opening moves the chin down (model y is up).
    assert model.expression_basis[jaw, 152, 1] < 0


def test_model_vertices_is_the_linear_model(model, topology):
    zeros_id = torch.zeros(model.shape_basis.shape[0], dtype=torch.float64)
    zeros_ex = torch.zeros(model.expression_basis.shape[0], dtype=torch.float64)
    np.testing.assert_allclose(model_vertices(model, zeros_id, zeros_ex).numpy(), topology.vertices)
    coeffs = zeros_id.clone()
    coeffs[3] = 0.5
    moved = model_vertices(model, coeffs, zeros_ex).numpy()
    np.testing.assert_allclose(moved - topology.vertices, 0.5 * model.shape_basis[3], atol=1e-12)


def test_model_albedo(model):
    coeffs = np.zeros(model.albedo_basis.shape[0])
    np.testing.assert_allclose(model_albedo(model, coeffs), model.albedo_mean)
    coeffs[0] = 0.1  # red constant
    albedo = model_albedo(model, coeffs)
    np.testing.assert_allclose(albedo[..., 0] - model.albedo_mean[..., 0], 0.1, atol=1e-6)
    np.testing.assert_allclose(albedo[..., 1:], model.albedo_mean[..., 1:])
    coeffs[0] = 10.0
    assert model_albedo(model, coeffs).max() <= 1.0
    with pytest.raises(ShapeMismatchError):
        model_albedo(model, np.zeros(3))


def test_albedo_modes_are_left_right_symmetric(model):
    np.testing.assert_allclose(model.albedo_basis, model.albedo_basis[:, :, ::-1], atol=1e-6)


def test_validate_model_rejects_inconsistent_arrays(model):
    with pytest.raises(ShapeMismatchError):
        validate_model(dataclasses.replace(model, shape_std=model.shape_std[:-1]))
    with pytest.raises(ShapeMismatchError):
        validate_model(dataclasses.replace(model, albedo_basis=model.albedo_basis[:, :32]))
    with pytest.raises(ShapeMismatchError):
        validate_model(dataclasses.replace(model, expression_std=-model.expression_std))


def test_generic_model_needs_the_mediapipe_mesh(topology):
    small = dataclasses.replace(topology, vertices=topology.vertices[:100], uvs=topology.uvs[:100])
    with pytest.raises(ShapeMismatchError):
        generic_model(small)


def test_identity_basis_does_not_depend_on_the_lapack_kernel(model, topology, monkeypatch):
    """The basis is the same whatever signs / rotations LAPACK returns (it differed between an
    AMD Zen 4 and an Intel Xeon, and so did the synthetic faces of the tests built from it)."""
    import facetex.fitting.model as model_module

    eigh = np.linalg.eigh
    flips = np.where(np.random.default_rng(1).random(468) < 0.5, -1.0, 1.0)

    def flipped_eigh(matrix):
        values, vectors = eigh(matrix)
        return values, vectors * flips

    monkeypatch.setattr(model_module.np.linalg, "eigh", flipped_eigh)
    again = generic_model(topology)
    np.testing.assert_allclose(again.shape_basis, model.shape_basis, atol=1e-9)

    # Candidates with repeated singular values: Gram–Schmidt keeps their order and signs.
    candidates = np.random.default_rng(2).normal(size=(4, 10, 3))
    candidates[1] = candidates[0] * [[-1.0, 1.0, 1.0]]  # same norm as the first
    basis = model_module._orthonormal_complement(candidates, np.zeros((0, 10, 3)))
    assert basis.shape[0] == 4
    flat = basis.reshape(4, -1)
    np.testing.assert_allclose(flat @ flat.T, 10 * np.eye(4), atol=1e-9)
    assert (np.einsum("kd,kd->k", flat, candidates.reshape(4, -1)) > 0).all()
    np.testing.assert_allclose(flat[0], candidates[0].reshape(-1) / np.linalg.norm(candidates[0]) * 10**0.5)
