"""PCA models: exact recovery on constructed data, leave-one-out curves, rigid alignment."""

from __future__ import annotations

import numpy as np
import pytest

from facetex.database.pca import (
    align_rigid,
    build_morphable_model,
    fit_pca,
    leave_one_out_error,
    project,
    reconstruct,
)
from facetex.errors import ShapeMismatchError
from facetex.types import MeshTopology


def _low_rank(rng, n=40, d=60, rank=4, noise=0.01):
    directions = np.linalg.qr(rng.normal(size=(d, rank)))[0].T  # (rank, d) orthonormal
    scales = np.array([3.0, 2.0, 1.0, 0.5])[:rank]
    coeffs = rng.normal(size=(n, rank)) * scales
    mean = rng.normal(size=d)
    return mean + coeffs @ directions + noise * rng.normal(size=(n, d)), directions


def test_fit_pca_recovers_subspace_and_variances(rng):
    data, directions = _low_rank(rng, n=400, noise=0.0)
    model = fit_pca(data, 10)
    assert model.num_components == 4  # rank-deficient data: zero-variance directions dropped
    np.testing.assert_allclose(model.basis @ model.basis.T, np.eye(4), atol=1e-10)
    # Same subspace: projecting the true directions on the basis keeps their norm.
    np.testing.assert_allclose(np.linalg.norm(directions @ model.basis.T, axis=1), 1.0, atol=1e-8)
    np.testing.assert_allclose(model.std, np.std(data @ model.basis.T, axis=0, ddof=1), rtol=1e-10)
    assert np.all(np.diff(model.std) <= 0)
    np.testing.assert_allclose(reconstruct(model, project(model, data)), data, atol=1e-9)


def test_fit_pca_caps_components_by_samples(rng):
    assert fit_pca(rng.normal(size=(5, 30)), 80).num_components == 4
    uncentred = fit_pca(rng.normal(size=(5, 30)), 80, center=False)
    assert uncentred.num_components == 5
    np.testing.assert_array_equal(uncentred.mean, 0.0)
    with pytest.raises(ShapeMismatchError):
        fit_pca(np.zeros(5), 2)


def test_leave_one_out_error_falls_with_components_then_flattens(rng):
    data, _ = _low_rank(rng, n=40, noise=0.01)
    errors = leave_one_out_error(data, [0, 1, 2, 3, 4, 8])
    assert np.all(np.diff(errors[:5]) < 0)  # each true direction helps
    # With all 4 true directions the held-out error is the noise level (σ = 0.01).
    assert errors[4] == pytest.approx(0.01, rel=0.15)
    assert errors[5] <= errors[4] * 1.01  # more components fit only noise


def test_leave_one_out_holds_out_whole_groups(rng):
    data, _ = _low_rank(rng, n=20, noise=0.01)
    twins = np.repeat(data[:10], 2, axis=0)  # each "person" has two identical photos
    groups = np.repeat([f"p{i}" for i in range(10)], 2)
    by_person = leave_one_out_error(twins, [30], groups=groups)
    by_photo = leave_one_out_error(twins, [30])
    # With every component kept, a photo held out alone is rebuilt exactly from its twin
    # (leakage); holding out the person leaves the noise no model can predict (σ = 0.01).
    assert by_photo[0] < 1e-8
    assert by_person[0] > 0.005


def test_align_rigid_removes_a_known_pose(rng):
    target = rng.normal(size=(30, 3))
    angle = 0.4
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    moved = target @ rot.T + np.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(align_rigid(moved, target), target, atol=1e-10)
    weights = np.zeros(30)
    weights[:5] = 1.0
    np.testing.assert_allclose(align_rigid(moved[None], target, weights)[0], target, atol=1e-10)


def test_build_morphable_model_shapes_and_conventions(rng):
    v = 6
    topology = MeshTopology(rng.normal(size=(v, 3)), rng.uniform(size=(v, 2)), np.array([[0, 1, 2]]), np.ones(v))
    neutral = topology.vertices + 0.1 * rng.normal(size=(5, v, 3))
    smile = 0.2 * rng.normal(size=(3, v, 3))
    textures = rng.uniform(size=(5, 32, 32, 3)).astype(np.float32)
    model = build_morphable_model(
        "test", topology, textures=textures, neutral_vertices=neutral, expression_offsets=smile,
        albedo_resolution=8, albedo_components=80, shape_components=80, expression_components=29,
    )
    assert model.shape_basis.shape == (4, v, 3) and model.shape_std.shape == (4,)
    assert model.expression_basis.shape == (3, v, 3)  # uncentred: as many as pairs
    assert model.albedo_basis.shape == (4, 8, 8, 3) and model.albedo_mean.shape == (8, 8, 3)
    np.testing.assert_allclose(model.topology.vertices, neutral.mean(axis=0))
    # The expression model is uncentred: every offset lies in its span, zero = neutral.
    flat = model.expression_basis.reshape(3, -1)
    np.testing.assert_allclose(smile.reshape(3, -1) @ flat.T @ flat, smile.reshape(3, -1), atol=1e-10)
