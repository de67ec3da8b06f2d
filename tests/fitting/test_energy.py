"""The §3 residuals, their hand-written Jacobian, and the helpers they use (problem, mesh, eyes,
photometric samples, IRLS weights)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from facetex.detect import landmarks as groups
from facetex.fitting.energy import energy_terms, linearize, residuals
from facetex.fitting.eyes import pupil_points
from facetex.fitting.mesh import camera_vertices
from facetex.fitting.photometric import sample_image, sh_basis_gradient
from facetex.fitting.problem import ColourSamples, EnergyProblem, FitParams, ParameterLayout
from facetex.fitting.samples import robust_weights
from facetex.geometry.camera import pose_rotation
from facetex.geometry.sh import sh_basis, sh_from_ambient

D = torch.float64


def _problem(model, topology, rng) -> tuple[EnergyProblem, FitParams, ColourSamples]:
    g = torch.Generator().manual_seed(1)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 136, 136, dtype=D, generator=g), 9, 1)
    image = smooth[0].permute(1, 2, 0).contiguous()  # (128, 128, 3), smooth so gradients are tame
    faces = torch.tensor(np.asarray(topology.faces))
    t = lambda a: torch.tensor(np.asarray(a), dtype=D)  # noqa: E731
    problem = EnergyProblem(
        mean_shape=t(topology.vertices),
        shape_basis=t(model.shape_basis),
        shape_std=t(model.shape_std),
        expression_basis=t(model.expression_basis),
        expression_std=t(model.expression_std),
        albedo_std=t(model.albedo_std),
        faces=faces,
        base_rotation=pose_rotation(t([0.1, -0.3, 0.05])),
        principal_point=t([128.0, 120.0]),
        image=image,
        image_scale=t([0.5, 0.5]),
        image_offset=t([2.0, -3.0]),
        landmark_vertices=torch.arange(0, 468, 9),
        landmarks=t(rng.uniform(60, 200, size=(52, 2))),
        landmark_unit=55.0,
        eye_contours=torch.tensor([groups.RIGHT_EYE, groups.LEFT_EYE]),
        iris_landmarks=t([[100.0, 90.0], [150.0, 92.0]]),
        eyeball_radius=1.2,
        eyeball_depth=1.1,
        gaze_std=0.35,
        log_focal_prior=t(math.log(400.0)),
        focal_prior_sigma=0.4,
        light_prior=t(sh_from_ambient(1.0)),
        light_prior_sigma=1.0,
        w_color=1.0,
        w_landmark=10.0,
        w_reg=2.5e-5,
        w_focal=1e-3,
        w_light=1e-4,
        landmark_depths=t(rng.uniform(-40, 10, size=52)),
        w_depth=2.5,
    )
    k_al = model.albedo_basis.shape[0]
    params = FitParams(
        shape=t(rng.normal(size=model.shape_basis.shape[0]) * 0.3),
        expression=t(rng.normal(size=6) * 0.3),
        rotation=torch.zeros(3, dtype=D),
        translation=t([1.0, -2.0, 60.0]),
        log_focal=t(math.log(420.0)),
        gaze=t([0.1, -0.2]),
        sh=t(sh_from_ambient(0.9) + rng.normal(size=(9, 3)) * 0.2),
        albedo=t(rng.normal(size=k_al) * 0.05),
    )
    p = 120
    bary = t(rng.dirichlet(np.ones(3), size=p))
    samples = ColourSamples(
        corners=faces[torch.tensor(rng.integers(0, faces.shape[0], size=p))],
        barycentrics=bary,
        albedo_basis=t(rng.uniform(0, 1, size=(p, 1 + k_al, 3))),
        weights=t(np.full(p, 1.0 / p)),
    )
    return problem, params, samples


def _autograd_jacobian(params, problem, samples, layout) -> torch.Tensor:
    """dr/d(free unknowns) of :func:`residuals` by reverse-mode autograd, columns as ``layout``."""

    def f(*values: torch.Tensor) -> torch.Tensor:
        return residuals(params._replace(**dict(zip(layout.names, values))), problem, samples)

    blocks = torch.autograd.functional.jacobian(f, tuple(getattr(params, n) for n in layout.names), vectorize=True)
    return torch.cat([b.reshape(b.shape[0], -1) for b in blocks], dim=1)


@pytest.mark.parametrize(
    "free", [FitParams._fields, ("shape", "rotation", "translation", "gaze", "albedo"), ("sh",)]
)
def test_linearize_matches_automatic_differentiation(model, topology, rng, free):
    problem, params, samples = _problem(model, topology, rng)
    layout = ParameterLayout.of(params, free)
    r, jac = linearize(params, problem, samples, layout)
    np.testing.assert_allclose(r.numpy(), residuals(params, problem, samples).numpy(), atol=1e-13)

    expected = _autograd_jacobian(params, problem, samples, layout)
    assert jac.shape == expected.shape == (r.shape[0], layout.size)
    np.testing.assert_allclose(jac.numpy(), expected.numpy(), atol=1e-10 * float(expected.abs().max()))


def test_linearize_without_colour_matches_automatic_differentiation(model, topology, rng):
    problem, params, _ = _problem(model, topology, rng)
    layout = ParameterLayout.of(params, ("shape", "expression", "rotation", "translation", "log_focal", "gaze"))
    r, jac = linearize(params, problem, None, layout)
    expected = _autograd_jacobian(params, problem, None, layout)
    np.testing.assert_allclose(jac.numpy(), expected.numpy(), atol=1e-10 * float(expected.abs().max()))


def test_linearize_needs_the_rotation_folded(model, topology, rng):
    problem, params, samples = _problem(model, topology, rng)
    moved = params._replace(rotation=torch.tensor([0.0, 0.01, 0.0], dtype=D))
    with pytest.raises(ValueError, match="rotation"):
        linearize(moved, problem, samples, ParameterLayout.of(moved, ("rotation",)))


def test_energy_is_the_sum_of_squared_residuals(model, topology, rng):
    problem, params, samples = _problem(model, topology, rng)
    terms = energy_terms(params, problem, samples)
    r = residuals(params, problem, samples)
    assert terms["E"] == pytest.approx(float(r @ r), rel=1e-10)
    assert terms["E_c"] > 0 and terms["E_lan"] > 0 and terms["E_reg"] > 0


def test_the_face_irradiance_prior_linearises_and_its_lighting_solve_minimises(model, topology, rng):
    """With a studio lighting prior on the face's mean irradiance: the residuals and Jacobian
    still match autograd, E is still their sum of squares, and the closed-form lighting is the
    minimum of the energy over the lighting (every small change of it costs)."""
    from dataclasses import replace

    from facetex.fitting.appearance import face_irradiance_basis, solve_lighting

    problem, params, samples = _problem(model, topology, rng)
    problem = replace(problem, face_irradiance_basis=face_irradiance_basis(params, problem, samples),
                      face_irradiance_sigma=0.01)
    layout = ParameterLayout.of(params, FitParams._fields)
    r, jac = linearize(params, problem, samples, layout)
    np.testing.assert_allclose(r.numpy(), residuals(params, problem, samples).numpy(), atol=1e-13)
    expected = _autograd_jacobian(params, problem, samples, layout)
    np.testing.assert_allclose(jac.numpy(), expected.numpy(), atol=1e-10 * float(expected.abs().max()))
    assert energy_terms(params, problem, samples)["E"] == pytest.approx(float(r @ r), rel=1e-10)
    best = params._replace(sh=solve_lighting(params, problem, samples))
    e_best = energy_terms(best, problem, samples)["E"]
    for _ in range(5):
        moved = best._replace(sh=best.sh + torch.tensor(rng.normal(size=(9, 3)) * 1e-3, dtype=D))
        assert energy_terms(moved, problem, samples)["E"] > e_best


def test_parameter_layout_applies_named_updates(model, topology, rng):
    _, params, _ = _problem(model, topology, rng)
    layout = ParameterLayout.of(params, ("translation", "sh"))
    assert layout.names == ("translation", "sh") and layout.size == 30
    delta = torch.arange(30, dtype=D)
    moved = layout.apply(params, delta)
    np.testing.assert_allclose((moved.translation - params.translation).numpy(), [0, 1, 2])
    np.testing.assert_allclose((moved.sh - params.sh).numpy(), np.arange(3, 30).reshape(9, 3))
    assert moved.shape is params.shape
    with pytest.raises(ValueError):
        ParameterLayout.of(params, ("focal",))


def test_sample_image_is_exact_on_a_linear_ramp():
    h, w = 6, 8
    ys, xs = torch.meshgrid(torch.arange(h, dtype=D) + 0.5, torch.arange(w, dtype=D) + 0.5, indexing="ij")
    image = torch.stack([2 * xs + 3 * ys, xs, ys], dim=-1)  # value = f(pixel centre)
    xy = torch.tensor([[1.25, 2.75], [3.5, 0.5], [7.5, 5.5], [4.1, 3.3]], dtype=D, requires_grad=True)
    values = sample_image(image, xy)
    np.testing.assert_allclose(values[:, 0].detach().numpy(), (2 * xy[:, 0] + 3 * xy[:, 1]).detach().numpy())
    values[:, 0].sum().backward()
    np.testing.assert_allclose(xy.grad.numpy(), np.tile([2.0, 3.0], (4, 1)))


def test_sh_basis_gradient_matches_autograd():
    n = torch.nn.functional.normalize(torch.randn(20, 3, dtype=D, generator=torch.Generator().manual_seed(2)), dim=1)
    auto = torch.autograd.functional.jacobian(lambda x: sh_basis(x).sum(dim=0), n, vectorize=True)  # (9, P, 3)
    np.testing.assert_allclose(sh_basis_gradient(n).numpy(), auto.permute(1, 0, 2).numpy(), atol=1e-14)


def test_robust_weights():
    e = torch.tensor([0.0, 0.05, 0.1, 0.2, 1.0], dtype=D)
    np.testing.assert_allclose(robust_weights(e, "huber", 0.1).numpy(), [1, 1, 1, 0.5, 0.1])
    tukey = robust_weights(e, "tukey", 0.1).numpy()
    c = 0.1 * 4.685 / 1.345
    np.testing.assert_allclose(tukey[:3], (1 - (e[:3].numpy() / c) ** 2) ** 2)
    assert tukey[-1] == 0.0
    np.testing.assert_allclose(robust_weights(e, "none", 0.1).numpy(), 1.0)
    with pytest.raises(ValueError):
        robust_weights(e, "cauchy", 0.1)


def test_pupils_follow_the_gaze(model, topology, rng):
    problem, params, _ = _problem(model, topology, rng)
    straight = params._replace(gaze=torch.zeros(2, dtype=D))
    verts = camera_vertices(straight, problem)
    pupils = pupil_points(straight, problem, verts)
    centroids = verts[problem.eye_contours].mean(dim=1)
    rotation = problem.base_rotation
    # A straight gaze puts each pupil radius − depth in front of its contour centroid.
    expected = centroids + (rotation @ torch.tensor([0.0, 0.0, 1.2 - 1.1], dtype=D))
    np.testing.assert_allclose(pupils.numpy(), expected.numpy(), atol=1e-12)
    up = pupil_points(params._replace(gaze=torch.tensor([0.0, 0.3], dtype=D)), problem, verts)
    model_up = (up - pupils) @ rotation  # back to the model frame: the pupils moved up (+y)
    assert (model_up[:, 1] > 0.3).all()


# -- landmarks on a mesh that is not mediapipe's (issue 18: the ICT model) ------------------------


def _mapped(problem: EnergyProblem, rng, *, sparse: bool) -> EnergyProblem:
    """``problem`` with its landmarks as barycentric points of random triangles, per-landmark
    weights (some 0, as unfound contour points) and, if ``sparse``, the Laplace expression prior."""
    from dataclasses import replace

    n = problem.landmarks.shape[0]
    tri = torch.tensor(rng.integers(0, problem.faces.shape[0], size=n))
    weights = torch.tensor(rng.uniform(0.2, 1.0, size=n), dtype=D)
    weights[:3] = 0.0
    extra = {}
    if sparse:
        extra = {"expression_l1": torch.full((6,), 1e-3, dtype=D),
                 "expression_std": torch.full((6,), math.inf, dtype=D), "expression_range": (0.0, 1.0)}
    return replace(
        problem,
        landmark_vertices=problem.faces[tri],
        landmark_barycentrics=torch.tensor(rng.dirichlet(np.ones(3), size=n), dtype=D),
        landmark_weights=weights,
        depth_weights=torch.tensor(rng.uniform(0.0, 1.0, size=n), dtype=D),
        **extra,
    )


@pytest.mark.parametrize("sparse", [False, True])
def test_linearize_with_barycentric_weighted_landmarks_matches_automatic_differentiation(
    model, topology, rng, sparse
):
    problem, params, samples = _problem(model, topology, rng)
    problem = _mapped(problem, rng, sparse=sparse)
    for with_samples in (samples, None):
        layout = ParameterLayout.of(params, FitParams._fields if with_samples is not None else
                                    ("shape", "expression", "rotation", "translation", "log_focal", "gaze"))
        r, jac = linearize(params, problem, with_samples, layout)
        np.testing.assert_allclose(r.numpy(), residuals(params, problem, with_samples).numpy(), atol=1e-13)
        expected = _autograd_jacobian(params, problem, with_samples, layout)
        np.testing.assert_allclose(jac.numpy(), expected.numpy(), atol=1e-10 * float(expected.abs().max()))


def test_identity_landmark_map_is_the_vertex_path(model, topology, rng):
    """Barycentric landmarks (i, i, i) with weights (1, 0, 0) and all weights 1 give the residuals
    and Jacobian of plain vertex landmarks (mediapipe's own mesh, ``landmark_map`` None)."""
    from dataclasses import replace

    problem, params, samples = _problem(model, topology, rng)
    n = problem.landmarks.shape[0]
    mapped = replace(
        problem,
        landmark_vertices=problem.landmark_vertices[:, None].expand(-1, 3).clone(),
        landmark_barycentrics=torch.tensor([[1.0, 0.0, 0.0]], dtype=D).expand(n, -1).clone(),
        landmark_weights=torch.ones(n, dtype=D),
        depth_weights=torch.ones(n, dtype=D),
    )
    layout = ParameterLayout.of(params, FitParams._fields)
    r0, j0 = linearize(params, problem, samples, layout)
    r1, j1 = linearize(params, mapped, samples, layout)
    np.testing.assert_allclose(r1.numpy(), r0.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(j1.numpy(), j0.numpy(), rtol=0, atol=1e-10 * float(j0.abs().max()))
    assert energy_terms(params, mapped, samples)["E"] == pytest.approx(energy_terms(params, problem, samples)["E"])


def test_large_mesh_path_gives_the_same_linearisation(model, topology, rng, monkeypatch):
    """A large mesh (the ICT model's) is linearised on the sub-mesh a step uses, its shape
    summed by matrix products: the same residuals and Jacobian as the whole-mesh path."""
    import facetex.fitting.mesh as mesh

    problem, params, samples = _problem(model, topology, rng)
    problem = _mapped(problem, rng, sparse=False)
    layout = ParameterLayout.of(params, FitParams._fields)
    r0, j0 = linearize(params, problem, samples, layout)
    monkeypatch.setattr(mesh, "RESTRICT_ABOVE", 10)
    r1, j1 = linearize(params, problem, samples, layout)
    np.testing.assert_allclose(r1.numpy(), r0.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(j1.numpy(), j0.numpy(), rtol=0, atol=1e-10 * float(j0.abs().max()))
