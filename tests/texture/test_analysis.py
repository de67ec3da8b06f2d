from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize

from facetex.errors import EmptyMaskError, InputImageError, ShapeMismatchError
from facetex.texture.analysis import (
    BlendProblem,
    analyse_texture,
    blend_grams,
    build_blend_problem,
    compute_grams,
    masked_blend_problem,
    shortlist_exemplars,
    solve_blend,
)
from facetex.texture.color import mask_out
from facetex.texture.config import TextureConfig
from facetex.texture.simplex_qp import solve_simplex_qp
from facetex.types import GramSet

LAYERS = TextureConfig().gram_layers


def random_problem(rng, k: int, m: int):
    """A least-squares QP (Q = AᵀA, c = Aᵀb) with strongly correlated columns, like face Grams."""
    a = rng.standard_normal((m, k)) + rng.uniform(0, 10) * rng.standard_normal((m, 1))
    b = rng.standard_normal(m) + rng.uniform(0, 2) * a[:, 0]
    return a.T @ a, a.T @ b


def enumerate_simplex_qp(q, c):
    """Exact optimum by enumerating supports: solve each equality-constrained QP, keep feasible ones."""
    k = len(c)
    best, best_w = np.inf, None
    for size in range(1, k + 1):
        for support in itertools.combinations(range(k), size):
            s = list(support)
            kkt = np.zeros((size + 1, size + 1))
            kkt[:size, :size] = 2 * q[np.ix_(s, s)]
            kkt[:size, size] = -1
            kkt[size, :size] = 1
            sol = np.linalg.lstsq(kkt, np.r_[2 * c[s], 1.0], rcond=None)[0][:size]
            if sol.min() < -1e-12:
                continue
            w = np.zeros(k)
            w[s] = sol
            value = w @ q @ w - 2 * c @ w
            if value < best:
                best, best_w = value, w
    return best, best_w


def assert_kkt(q, c, solution, scale):
    w, mu, lam = solution.weights, solution.equality_multiplier, solution.bound_multipliers
    assert abs(w.sum() - 1.0) <= 1e-12
    assert w.min() >= 0.0
    grad = 2 * (q @ w - c)
    np.testing.assert_allclose(grad - mu - lam, 0.0, atol=1e-9 * scale)  # stationarity
    assert lam.min() >= -1e-9 * scale  # dual feasibility
    assert np.all(lam[w > 0] == 0.0) and np.all(w[lam > 0] == 0.0)  # complementary slackness
    assert np.count_nonzero(w) >= 1


@pytest.mark.parametrize("seed", range(12))
def test_convex_solver_is_exact_on_small_instances(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    q, c = random_problem(rng, k, int(rng.integers(1, 3 * k)))  # includes rank-deficient Q
    solution = solve_simplex_qp(q, c)
    scale = max(np.abs(q).max(), np.abs(c).max())
    assert_kkt(q, c, solution, scale)
    best, _ = enumerate_simplex_qp(q, c)
    w = solution.weights
    assert w @ q @ w - 2 * c @ w <= best + 1e-10 * scale


@pytest.mark.parametrize("seed", range(8))
def test_convex_solver_matches_scipy(seed):
    rng = np.random.default_rng(100 + seed)
    k = int(rng.integers(8, 40))
    q, c = random_problem(rng, k, 2 * k)  # full rank: unique minimiser
    solution = solve_simplex_qp(q, c)
    scale = max(np.abs(q).max(), np.abs(c).max())
    assert_kkt(q, c, solution, scale)
    qs, cs = q / scale, c / scale  # SLSQP needs a well-scaled objective
    result = minimize(
        lambda w: w @ qs @ w - 2 * cs @ w,
        np.full(k, 1.0 / k),
        jac=lambda w: 2 * (qs @ w - cs),
        bounds=[(0.0, None)] * k,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)}],
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 2000},
    )
    assert result.success
    ours = solution.weights @ q @ solution.weights - 2 * c @ solution.weights
    theirs = result.x @ q @ result.x - 2 * c @ result.x
    assert ours <= theirs + 1e-9 * scale
    np.testing.assert_allclose(solution.weights, result.x, atol=1e-4)


def test_convex_solver_rejects_bad_shapes():
    with pytest.raises(ShapeMismatchError):
        solve_simplex_qp(np.eye(3), np.zeros(2))
    with pytest.raises(ShapeMismatchError):
        solve_simplex_qp(np.zeros((0, 0)), np.zeros(0))


@pytest.fixture(scope="module")
def exemplar_grams(vgg, textures):
    crops = [textures["brick"][:64, :64], textures["grass"][:64, :64], textures["gravel"][:64, :64],
             textures["brick"][300:364, 200:264], textures["gravel"][400:464, 100:164]]
    return np.stack(crops), compute_grams(np.stack(crops), vgg, layers=LAYERS, batch_size=2)


def test_compute_grams_batching_and_mask(vgg, exemplar_grams):
    images, grams = exemplar_grams
    assert grams.layers == LAYERS and grams.count == 5
    assert grams.grams["relu5_1"].shape == (5, 512, 512) and grams.grams["relu1_1"].dtype == np.float32
    single = compute_grams(images[3:4], vgg, layers=LAYERS)
    for layer in LAYERS:  # batch size only changes float32 rounding
        ref = grams.grams[layer][3]
        assert np.linalg.norm(single.grams[layer][0] - ref) <= 1e-5 * np.linalg.norm(ref)
    mask = np.zeros((64, 64), bool)
    mask[10:50, 5:40] = True
    masked = compute_grams(images[:2], vgg, layers=["relu2_1"], mask=mask)
    by_hand = compute_grams(np.stack([mask_out(im, mask) for im in images[:2]]), vgg, layers=["relu2_1"])
    np.testing.assert_array_equal(masked.grams["relu2_1"], by_hand.grams["relu2_1"])
    assert not np.allclose(masked.grams["relu2_1"], grams.grams["relu2_1"][:2])
    bf16 = compute_grams(images[:2], vgg, layers=LAYERS, bf16=True)
    for layer in LAYERS:
        ref = grams.grams[layer][:2]
        assert np.linalg.norm(bf16.grams[layer] - ref) / np.linalg.norm(ref) < 0.02


def test_region_grams_describe_only_their_region(vgg, textures):
    """A Gram over a region is the statistics of that part of the image: half gravel, half flat
    grey, its Gram over the gravel half is close to a whole gravel image's, while the whole
    image's Gram has about half the energy (the database's Grams over observed skin, not over
    the smooth fill)."""
    gravel = textures["gravel"][:128, :128]
    half = gravel.copy()
    half[:, 64:] = gravel.mean()
    region = np.zeros((128, 128), bool)
    region[:, :64] = True
    layers = ["relu1_1", "relu2_1", "relu3_1"]
    reference = compute_grams(gravel[None], vgg, layers=layers)
    whole = compute_grams(half[None], vgg, layers=layers)
    inside = compute_grams(half[None], vgg, layers=layers, regions=region[None])
    for layer in layers:
        ref = reference.grams[layer][0]
        near = np.linalg.norm(inside.grams[layer][0] - ref) / np.linalg.norm(ref)
        far = np.linalg.norm(whole.grams[layer][0] - ref) / np.linalg.norm(ref)
        assert near < 0.5 * far, (layer, near, far)
    everywhere = compute_grams(half[None], vgg, layers=layers, regions=np.ones((1, 128, 128), bool))
    for layer in layers:  # the whole image as a region: the plain Gram
        np.testing.assert_allclose(everywhere.grams[layer], whole.grams[layer], rtol=1e-4, atol=1e-6)
    with pytest.raises(EmptyMaskError):
        compute_grams(half[None], vgg, layers=layers, regions=np.zeros((1, 128, 128), bool))
    with pytest.raises(ShapeMismatchError):
        compute_grams(half[None], vgg, layers=layers, regions=region)


def test_recovers_known_convex_weights(exemplar_grams):
    _, grams = exemplar_grams
    truth = np.array([0.5, 0.0, 0.3, 0.2, 0.0])
    problem = build_blend_problem(blend_grams(truth, grams), grams)
    weights = solve_blend(problem, "convex")
    np.testing.assert_allclose(weights, truth, atol=1e-4)
    assert abs(weights.sum() - 1.0) <= 1e-12 and weights.min() >= 0.0
    assert problem.objective(weights) < 1e-6
    assert problem.constant == len(LAYERS)


def test_closest_and_linear_solvers(exemplar_grams):
    _, grams = exemplar_grams
    one = GramSet(grams={layer: g[2:3] for layer, g in grams.grams.items()})
    problem = build_blend_problem(one, grams)
    np.testing.assert_array_equal(solve_blend(problem, "closest"), [0, 0, 1, 0, 0])
    np.testing.assert_allclose(solve_blend(problem, "convex"), [0, 0, 1, 0, 0], atol=1e-6)
    # An affine but not convex mix: only the unconstrained linear solver can reproduce it.
    truth = np.array([1.4, -0.6, 0.0, 0.5, 0.0])
    problem = build_blend_problem(blend_grams(truth, grams), grams)
    linear = solve_blend(problem, "linear")
    np.testing.assert_allclose(linear, truth, atol=1e-3)
    assert problem.objective(linear) < 1e-6
    convex = solve_blend(problem, "convex")
    assert convex.min() >= 0.0 and abs(convex.sum() - 1.0) <= 1e-12
    assert problem.objective(convex) > 100 * problem.objective(linear)
    closest = solve_blend(problem, "closest")
    assert problem.objective(closest) >= problem.objective(convex) - 1e-12
    with pytest.raises(ValueError, match="solver"):
        solve_blend(problem, "pca")


def test_build_blend_problem_checks_inputs(exemplar_grams):
    _, grams = exemplar_grams
    with pytest.raises(ShapeMismatchError):
        build_blend_problem(grams, grams)  # target of 5 images
    partial = GramSet(grams={"relu1_1": grams.grams["relu1_1"][:1]})
    with pytest.raises(ShapeMismatchError):
        build_blend_problem(partial, grams)


def test_analyse_texture_blends_complete_grams(vgg, exemplar_grams):
    images, grams = exemplar_grams
    mask = np.zeros((64, 64), bool)
    mask[:, :32] = True
    config = TextureConfig(solver="convex", bf16_grams=False)  # fp32, as the reference Grams
    # The partial texture is exemplar 0 seen through the mask: its weight must be exactly 1, and
    # the target must be exemplar 0's *complete* Grams, not the masked ones.
    partial = mask_out(images[0], mask)
    result = analyse_texture(partial, mask, images, vgg, config)
    np.testing.assert_allclose(result.weights, [1, 0, 0, 0, 0], atol=1e-6)
    assert result.solver == "convex" and result.objective < 1e-6
    assert result.target.count == 1 and result.target.layers == LAYERS
    masked = compute_grams(images[:1], vgg, layers=LAYERS, mask=mask)
    for layer in LAYERS:
        ref = grams.grams[layer][0]
        assert np.linalg.norm(result.target.grams[layer][0] - ref) <= 1e-4 * np.linalg.norm(ref)
        assert np.linalg.norm(masked.grams[layer][0] - ref) > 1e-2 * np.linalg.norm(ref)


def test_analyse_texture_prefers_the_same_material(vgg, textures):
    brick, grass, gravel = textures["brick"], textures["grass"], textures["gravel"]
    mask = np.zeros((64, 64), bool)
    mask[8:56, 4:40] = True
    partial = mask_out(brick[200:264, 300:364], mask)
    exemplars = np.stack([grass[:64, :64], brick[:64, :64], gravel[:64, :64]])
    for solver in ("convex", "closest"):
        result = analyse_texture(partial, mask, exemplars, vgg, TextureConfig(solver=solver))
        assert int(np.argmax(result.weights)) == 1
        assert abs(result.weights.sum() - 1.0) <= 1e-12 and result.weights.min() >= 0.0


def test_analyse_texture_errors(vgg, textures):
    brick = textures["brick"][:64, :64]
    mask = np.ones((64, 64), bool)
    config = TextureConfig()
    with pytest.raises(InputImageError, match="no exemplar"):
        analyse_texture(brick, mask, np.zeros((0, 64, 64), np.float32), vgg, config)
    with pytest.raises(ShapeMismatchError):
        analyse_texture(brick, mask, np.stack([textures["grass"][:48, :48]]), vgg, config)
    with pytest.raises(ShapeMismatchError):
        analyse_texture(brick, mask[:32], brick[None], vgg, config)
    with pytest.raises(EmptyMaskError):
        analyse_texture(brick, np.zeros((64, 64), bool), brick[None], vgg, config)
    with pytest.raises(InputImageError, match="finite"):
        analyse_texture(np.full((64, 64), np.nan, np.float32), mask, brick[None], vgg, config)


def test_shortlist_keeps_the_support_and_the_least_multipliers():
    rng = np.random.default_rng(7)
    k = 30
    q, c = random_problem(rng, k, 2 * k)
    problem = BlendProblem(hessian=q, linear=c, constant=0.0, layers=("relu1_1",))
    solution = solve_simplex_qp(q, c)
    support = set(np.flatnonzero(solution.weights > 0))
    for count in (1, 5, 12):
        short = shortlist_exemplars(problem, count)
        assert np.all(np.diff(short) > 0) and short.dtype == np.int64
        assert support <= set(short.tolist())
        assert short.size == max(count, len(support))
        others = [i for i in range(k) if i not in support]
        picked = [i for i in short if i not in support]
        rest = [i for i in others if i not in picked]
        if picked and rest:  # every picked non-support exemplar has λ no larger than any left out
            assert max(solution.bound_multipliers[picked]) <= min(solution.bound_multipliers[rest])
        # The exact fit restricted to the shortlist is the exact fit over everything.
        sub = solve_simplex_qp(q[np.ix_(short, short)], c[short])
        np.testing.assert_allclose(sub.weights, solution.weights[short], atol=1e-9)
    np.testing.assert_array_equal(shortlist_exemplars(problem, k + 5), np.arange(k))
    with pytest.raises(ValueError, match="count"):
        shortlist_exemplars(problem, 0)


def test_analyse_texture_blends_given_complete_grams(vgg, exemplar_grams):
    images, grams = exemplar_grams
    mask = np.zeros((64, 64), bool)
    mask[:, 16:] = True
    config = TextureConfig(bf16_grams=False)  # the given Grams are fp32
    partial = mask_out(images[2], mask)
    computed = analyse_texture(partial, mask, images, vgg, config)
    given = analyse_texture(partial, mask, images, vgg, config, complete=grams)
    np.testing.assert_array_equal(given.weights, computed.weights)
    for layer in LAYERS:
        ref = computed.target.grams[layer]
        assert np.linalg.norm(given.target.grams[layer] - ref) <= 1e-5 * np.linalg.norm(ref)
    with pytest.raises(ShapeMismatchError):
        analyse_texture(partial, mask, images, vgg, config, complete=GramSet(grams={k: g[:3] for k, g in grams.grams.items()}))


def test_masked_blend_problem_matches_the_masked_grams(vgg, exemplar_grams):
    images, _ = exemplar_grams
    mask = np.zeros((64, 64), bool)
    mask[10:60, 0:30] = True
    problem = masked_blend_problem(images[0], mask, images[1:], vgg, layers=("relu2_1", "relu3_1"))
    target = compute_grams(images[:1], vgg, layers=("relu2_1", "relu3_1"), mask=mask)
    others = compute_grams(images[1:], vgg, layers=("relu2_1", "relu3_1"), mask=mask)
    reference = build_blend_problem(target, others)
    assert problem.layers == ("relu2_1", "relu3_1") and problem.size == 4
    np.testing.assert_allclose(problem.hessian, reference.hessian, rtol=1e-6)
    np.testing.assert_allclose(problem.linear, reference.linear, rtol=1e-6)
