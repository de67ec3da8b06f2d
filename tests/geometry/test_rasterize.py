"""Rasterizer: coverage, z-buffer, perspective correctness, watertightness, gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facetex.errors import ShapeMismatchError
from facetex.geometry.rasterize import interpolate, rasterize, texture
from facetex.geometry.uv import texel_centers


def _pixel_centres(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0:height, 0:width]
    return cols + 0.5, rows + 0.5


def _affine_barycentrics(tri_xy: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Barycentrics of points (x, y) in a 2D triangle by solving the 2×2 system."""
    a, b, c = tri_xy
    m = np.array([[b[0] - a[0], c[0] - a[0]], [b[1] - a[1], c[1] - a[1]]])
    rhs = np.stack([x - a[0], y - a[1]], axis=-1)
    l1l2 = rhs @ np.linalg.inv(m).T
    return np.concatenate([1.0 - l1l2.sum(-1, keepdims=True), l1l2], axis=-1)


def test_single_triangle_coverage_ids_and_barycentrics():
    pos = torch.tensor([[1.0, 1.0, 2.0], [7.0, 1.0, 2.0], [1.0, 7.0, 2.0]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2]])
    raster = rasterize(pos, faces, (8, 9))
    x, y = _pixel_centres(8, 9)
    # Strictly inside: x > 1, y > 1, x + y < 8. Centres on the hypotenuse (x + y = 8) are
    # excluded: a step (ε, ε²) leaves the triangle.
    expected = (x > 1) & (y > 1) & (x + y < 8)
    on_edge = (x > 1) & (y > 1) & (x + y == 8)
    assert expected.sum() == 15 and on_edge.sum() == 6
    np.testing.assert_array_equal(raster.mask.numpy(), expected)
    np.testing.assert_array_equal(raster.triangle_id.numpy(), np.where(expected, 0, -1))
    bary = _affine_barycentrics(pos[:, :2].numpy(), x, y)
    np.testing.assert_allclose(raster.barycentrics.numpy()[expected], bary[expected], atol=1e-12)
    np.testing.assert_array_equal(raster.barycentrics.numpy()[~expected], 0.0)
    np.testing.assert_allclose(raster.depth.numpy()[expected], 2.0)
    np.testing.assert_array_equal(raster.depth.numpy()[~expected], 0.0)


def test_edge_through_pixel_centres_follows_the_tie_rule():
    # Hypotenuse y = x runs through the centres (i + 0.5, i + 0.5); the triangle lies at x > y,
    # so the step (ε, ε²) enters it and those centres are covered.
    pos = torch.tensor([[0.0, 0.0, 1.0], [6.0, 0.0, 1.0], [6.0, 6.0, 1.0]])
    raster = rasterize(pos, torch.tensor([[0, 1, 2]]), (6, 6))
    x, y = _pixel_centres(6, 6)
    np.testing.assert_array_equal(raster.mask.numpy(), x >= y)


def test_z_buffer_keeps_the_nearer_surface_per_pixel():
    # Two triangles over the same square; one at constant depth 5, one tilted from depth 3 at
    # x = 0 to depth 7 at x = 16, so they cross at x = 8. Screen-space geometry is identical.
    xy = np.array([[-1.0, -1.0], [17.0, -1.0], [-1.0, 17.0], [17.0, 17.0]])
    flat = np.c_[xy, np.full(4, 5.0)]
    tilted = np.c_[xy, 3.0 + 4.0 * xy[:, 0] / 16.0]
    pos = torch.tensor(np.concatenate([flat, tilted]))
    # Quads as two triangles each; the tilted quad is listed first so order cannot decide.
    faces = torch.tensor([[4, 5, 6], [5, 7, 6], [0, 1, 2], [1, 3, 2]])
    raster = rasterize(pos, faces, (16, 16))
    x, _ = _pixel_centres(16, 16)
    # The rasterizer interpolates 1/z affinely in screen space (perspective-correct); the tilted
    # quad's vertex depths depend on x only, so its 1/z is affine in x: 1/2.75 at x = −1,
    # 1/7.25 at x = 17. It is nearer than 5 left of x ≈ 12.05.
    t = (x + 1.0) / 18.0
    inv_tilted = (1 - t) / (3.0 + 4.0 * (-1.0) / 16.0) + t / (3.0 + 4.0 * 17.0 / 16.0)
    tilted_depth = 1.0 / inv_tilted
    expect_tilted = tilted_depth < 5.0
    got_tilted = raster.triangle_id.numpy() <= 1
    np.testing.assert_array_equal(got_tilted, expect_tilted)
    np.testing.assert_allclose(raster.depth.numpy(), np.minimum(tilted_depth, 5.0), rtol=1e-12)


def test_perspective_barycentrics_match_ray_plane_intersection():
    focal, cx, cy = 40.0, 16.0, 12.0
    verts = np.array([[-0.6, -0.5, 2.0], [0.7, -0.3, 3.5], [-0.2, 0.6, 5.0]])  # camera frame
    proj = np.c_[focal * verts[:, 0] / verts[:, 2] + cx, focal * verts[:, 1] / verts[:, 2] + cy]
    pos = torch.tensor(np.c_[proj, verts[:, 2]])
    faces = torch.tensor([[0, 1, 2]])
    raster = rasterize(pos, faces, (24, 32))
    mask = raster.mask.numpy()
    assert mask.sum() > 50
    x, y = _pixel_centres(24, 32)
    rays = np.stack([(x - cx) / focal, (y - cy) / focal, np.ones_like(x)], axis=-1)
    normal = np.cross(verts[1] - verts[0], verts[2] - verts[0])
    hit = rays * ((verts[0] @ normal) / (rays @ normal))[..., None]  # ray–plane intersection
    # Barycentrics of the 3D hit point: solve hit = Σ b_k v_k with Σ b_k = 1 (least squares).
    system = np.vstack([verts.T, np.ones(3)])
    bary = np.linalg.lstsq(system, np.concatenate([hit[mask].T, np.ones((1, mask.sum()))]), rcond=None)[0].T
    np.testing.assert_allclose(raster.barycentrics.numpy()[mask], bary, atol=1e-10)
    np.testing.assert_allclose(raster.depth.numpy()[mask], hit[mask][:, 2], rtol=1e-12)
    # A pixel is covered iff its ray hits inside the triangle.
    rhs = np.concatenate([hit.reshape(-1, 3).T, np.ones((1, x.size))])
    all_bary = np.linalg.lstsq(system, rhs, rcond=None)[0].T
    np.testing.assert_array_equal(mask.ravel(), (all_bary > 0).all(axis=1))
    # interpolate() of the camera-frame vertices gives the 3D point each pixel sees.
    points = interpolate(torch.tensor(verts), raster, faces).numpy()
    np.testing.assert_allclose(points[mask], hit[mask], atol=1e-12)
    np.testing.assert_array_equal(points[~mask], 0.0)


def test_full_screen_quad_covers_every_pixel_once():
    pos = torch.tensor([[0.0, 0.0, 1.0], [13.0, 0.0, 1.0], [13.0, 13.0, 1.0], [0.0, 13.0, 1.0]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])  # the diagonal passes through pixel centres
    raster = rasterize(pos, faces, (13, 13))
    assert raster.mask.all()
    hits = sum(rasterize(pos, faces[[t]], (13, 13)).mask.long() for t in range(2))
    assert torch.equal(hits, torch.ones(13, 13, dtype=torch.long))


def test_jittered_grid_mesh_is_watertight(rng):
    # A 7×7 vertex grid spanning a 24×20 image exactly; interior vertices jittered, several
    # snapped onto pixel centres so edges and vertices hit centres exactly.
    height, width, n = 20, 24, 7
    gx, gy = np.meshgrid(np.linspace(0, width, n), np.linspace(0, height, n))
    interior = np.zeros((n, n), dtype=bool)
    interior[1:-1, 1:-1] = True
    gx[interior] += rng.uniform(-1.2, 1.2, interior.sum())
    gy[interior] += rng.uniform(-1.2, 1.2, interior.sum())
    snap = interior & (rng.random((n, n)) < 0.5)
    gx[snap] = np.floor(gx[snap]) + 0.5
    gy[snap] = np.floor(gy[snap]) + 0.5
    pos = torch.tensor(np.c_[gx.ravel(), gy.ravel(), rng.uniform(1, 2, n * n)])
    corners = [i * n + j for i in range(n - 1) for j in range(n - 1)]  # top-left of each quad
    faces = torch.tensor([f for a in corners for f in ((a, a + n, a + 1), (a + 1, a + n, a + n + 1))])
    hits = sum(rasterize(pos, faces[[t]], (height, width)).mask.long() for t in range(faces.shape[0]))
    assert torch.equal(hits, torch.ones(height, width, dtype=torch.long))
    assert rasterize(pos, faces, (height, width)).mask.all()


def test_backface_culling_uses_viewer_winding():
    ccw_on_screen = [[1.0, 1.0, 1.0], [1.0, 7.0, 1.0], [7.0, 1.0, 1.0]]  # negative signed area
    pos = torch.tensor(ccw_on_screen)
    front, back = torch.tensor([[0, 1, 2]]), torch.tensor([[0, 2, 1]])
    assert rasterize(pos, front, (8, 8), cull_backfaces=True).mask.any()
    assert not rasterize(pos, back, (8, 8), cull_backfaces=True).mask.any()
    assert torch.equal(rasterize(pos, back, (8, 8)).mask, rasterize(pos, front, (8, 8)).mask)


def test_triangles_behind_the_camera_are_discarded():
    pos = torch.tensor([[1.0, 1.0, 1.0], [7.0, 1.0, -1.0], [1.0, 7.0, 1.0]])
    assert not rasterize(pos, torch.tensor([[0, 1, 2]]), (8, 8)).mask.any()


def test_barycentrics_and_depth_gradcheck():
    base = torch.tensor([[1.3, 0.7, 2.0], [6.6, 1.9, 3.0], [2.2, 6.8, 4.5]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2]])

    def fn(pos):
        raster = rasterize(pos, faces, (8, 8))
        return raster.barycentrics, raster.depth

    assert torch.autograd.gradcheck(fn, (base.clone().requires_grad_(),), eps=1e-6, atol=1e-8)


def test_interpolate_gradcheck(rng):
    pos = torch.tensor([[1.3, 0.7, 2.0], [6.6, 1.9, 3.0], [2.2, 6.8, 4.5]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2]])
    attr = torch.tensor(rng.normal(size=(3, 2)), requires_grad=True)

    def fn(attr, pos):
        return interpolate(attr, rasterize(pos, faces, (8, 8)), faces)

    assert torch.autograd.gradcheck(fn, (attr, pos.clone().requires_grad_()), eps=1e-6, atol=1e-8)


def test_texture_reproduces_a_linear_ramp_and_texels():
    resolution = 8
    centres = texel_centers(resolution)  # (R, R, 2) uv of texel centres
    ramp = np.stack([2.0 * centres[..., 0] + 0.5 * centres[..., 1], 3.0 - centres[..., 1]], axis=-1)
    tex = torch.tensor(ramp)
    # Texel centres give back the texel values.
    np.testing.assert_allclose(texture(tex, torch.tensor(centres)).numpy(), ramp, atol=1e-12)
    # Between centres bilinear interpolation of a linear function is exact; v = 1 is the top row.
    uv = torch.tensor(np.random.default_rng(1).uniform(0.5 / resolution, 1 - 0.5 / resolution, (5, 4, 2)))
    expected = np.stack([2.0 * uv[..., 0] + 0.5 * uv[..., 1], 3.0 - uv[..., 1]], axis=-1)
    np.testing.assert_allclose(texture(tex, uv).numpy(), expected, atol=1e-12)
    top_left = texture(tex, torch.tensor([[0.0, 1.0]], dtype=torch.float64))
    np.testing.assert_allclose(top_left.numpy()[0], ramp[0, 0])  # clamped to the corner texel


def test_texture_gradcheck(rng):
    tex = torch.tensor(rng.uniform(size=(4, 4, 2)), requires_grad=True)
    uv = torch.tensor(rng.uniform(0.1, 0.9, size=(3, 2)), requires_grad=True)
    assert torch.autograd.gradcheck(texture, (tex, uv), eps=1e-6, atol=1e-8)


def test_input_errors():
    pos = torch.zeros(3, 3)
    with pytest.raises(ShapeMismatchError, match="pos"):
        rasterize(torch.zeros(3, 2), torch.tensor([[0, 1, 2]]), (4, 4))
    with pytest.raises(ShapeMismatchError, match="indices"):
        rasterize(pos, torch.tensor([[0, 1, 3]]), (4, 4))
    with pytest.raises(ShapeMismatchError, match="faces"):
        rasterize(pos, torch.tensor([[0.0, 1.0, 2.0]]), (4, 4))
    with pytest.raises(ShapeMismatchError, match="size"):
        rasterize(pos, torch.tensor([[0, 1, 2]]), (0, 4))
    with pytest.raises(ShapeMismatchError, match="tex"):
        texture(torch.zeros(4, 5, 3), torch.zeros(2, 2))
    with pytest.raises(ShapeMismatchError, match="dtype"):
        texture(torch.zeros(4, 4, 3), torch.zeros(2, 2, dtype=torch.float64))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(rng):
    pos = torch.tensor(np.c_[rng.uniform(0, 32, (30, 2)), rng.uniform(1, 3, 30)], dtype=torch.float32)
    faces = torch.tensor(rng.integers(0, 30, (40, 3)))
    cpu = rasterize(pos, faces, (32, 32))
    gpu = rasterize(pos.cuda(), faces.cuda(), (32, 32))
    assert torch.equal(gpu.triangle_id.cpu(), cpu.triangle_id)
    torch.testing.assert_close(gpu.barycentrics.cpu(), cpu.barycentrics)
