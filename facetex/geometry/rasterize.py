"""A differentiable triangle rasterizer in plain PyTorch, shaped like nvdiffrast's API.

Three functions chain: :func:`rasterize` (which triangle covers each pixel, and where) →
:func:`interpolate` (vertex attributes at each pixel) → :func:`texture` (UV-map lookups).
They run on any device the input tensors live on (CPU or CUDA); there is no context object.

Conventions (stated once, here)
-------------------------------
Screen positions
    ``pos`` (V, 3): ``x, y`` in continuous pixel coordinates of the output image (x right,
    y down, origin at the top-left corner, pixel (row i, col j) has its centre at
    (j + 0.5, i + 0.5), as in :mod:`facetex.types`), and ``z`` the camera-space depth (> 0,
    larger is farther). :func:`facetex.geometry.camera.screen_positions` makes them from
    camera-frame vertices. For UV-space rasterization pass ``uv_to_pixel(uv, R)`` with a
    constant depth (see :func:`facetex.geometry.uv.rasterize_uv`).
Coverage
    A pixel is covered by a triangle when its centre is inside it. Centres exactly on an edge
    or vertex belong to the triangle entered by moving from the centre by (ε, ε²) for a tiny
    ε > 0, and each edge function is evaluated identically (in float64) by the two triangles
    sharing it, so a mesh without gaps covers every pixel exactly once: no cracks and no double
    hits along shared edges. Triangles with a vertex at ``z <= 0`` or a non-finite coordinate,
    and triangles of zero screen area, are discarded (there is no clipping).
Facing
    A triangle is front-facing when it is counter-clockwise as the viewer sees it, i.e. its
    signed area ``(x1−x0)(y2−y0) − (x2−x0)(y1−y0)`` is negative in the y-down pixel frame. The
    mesh convention (counter-clockwise seen from outside) makes the face's front front-facing.
Depth test
    Nearest perspective-correct depth wins; exact ties (in float32) go to the lower triangle
    index.
Barycentrics
    Perspective-correct: for the winning triangle with screen-space barycentrics β_k at the
    pixel centre and vertex depths z_k, ``b_k = (β_k / z_k) / Σ_j (β_j / z_j)``; the depth is
    ``1 / Σ_j (β_j / z_j)``. Σ_k b_k = 1. With a constant z they are the affine barycentrics.
Algorithm
    Every pixel centre in each triangle's bounding box is a candidate fragment; fragments are
    tested in fixed-size chunks (bounded memory), and the nearest is kept per pixel by one
    ``scatter_reduce(amin)`` on a 64-bit key (float32 depth bits, triangle index). Barycentrics
    are then recomputed from the winning triangle's vertices with autograd enabled.
Gradients
    Barycentrics and depth are differentiable w.r.t. ``pos`` (x, y and z of the three vertices
    of the triangle each pixel shows). Which triangle a pixel shows is piecewise constant, so
    there is no gradient from visibility changes at silhouettes (nvdiffrast's ``antialias``
    is not provided).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from facetex.errors import ShapeMismatchError
from facetex.geometry.uv_frame import uv_to_pixel

__all__ = ["Raster", "rasterize", "interpolate", "texture"]

# Fragments (pixel centre, triangle candidate pairs) tested at once: ~200 bytes each, so peak
# memory stays near 100 MB however large the image or its triangles.
_FRAGMENT_BUDGET = 1 << 19
_NO_HIT = torch.iinfo(torch.int64).max


@dataclass(frozen=True, eq=False)
class Raster:
    """The output of :func:`rasterize`, all tensors on the device of ``pos``.

    Attributes
    ----------
    triangle_id : (H, W) int64, index into ``faces`` of the triangle seen at each pixel centre,
        −1 where no triangle covers it (background).
    barycentrics : (H, W, 3) float, dtype of ``pos``; perspective-correct barycentric weights
        of the three vertices of ``faces[triangle_id]`` (in that order); 0 on background.
        Differentiable w.r.t. ``pos``.
    depth : (H, W) float, dtype of ``pos``; camera-space depth at the pixel centre; 0 on
        background. Differentiable w.r.t. ``pos``.
    """

    triangle_id: torch.Tensor
    barycentrics: torch.Tensor
    depth: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """(H, W) bool, pixels covered by a triangle."""
        return self.triangle_id >= 0

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) in pixels."""
        return int(self.triangle_id.shape[0]), int(self.triangle_id.shape[1])


def rasterize(
    pos: torch.Tensor,
    faces: torch.Tensor | np.ndarray,
    size: tuple[int, int],
    *,
    cull_backfaces: bool = False,
) -> Raster:
    """Rasterize triangles with a z-buffer; return per-pixel triangle ids and barycentrics.

    Parameters
    ----------
    pos : (V, 3) float32 or float64 tensor, screen positions (x, y pixels; z camera depth > 0),
        see the module docstring. May require grad.
    faces : (F, 3) int tensor or array of vertex indices, any winding.
    size : (H, W) of the output image in pixels.
    cull_backfaces : discard triangles that are clockwise as seen by the viewer (back faces)
        before the depth test. Default False (both sides are drawn).

    Returns
    -------
    Raster
        ``triangle_id`` (H, W) int64 (−1 background), ``barycentrics`` (H, W, 3) and ``depth``
        (H, W) in the dtype and on the device of ``pos``.

    Raises
    ------
    ShapeMismatchError
        If ``pos``/``faces`` have the wrong shape or dtype, an index is out of range, or
        ``size`` is not two positive integers.
    """
    faces = _check_faces(faces, pos)
    height, width = _check_size(size)
    with torch.no_grad():
        triangle_id = _visible_triangles(pos.detach(), faces, height, width, cull_backfaces)
    barycentrics, depth = _perspective_barycentrics(pos, faces, triangle_id)
    return Raster(triangle_id=triangle_id, barycentrics=barycentrics, depth=depth)


def interpolate(attr: torch.Tensor, raster: Raster, faces: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Interpolate per-vertex attributes at every pixel with the raster's barycentrics.

    Parameters
    ----------
    attr : (V, C) float tensor, one attribute vector per vertex (same device as ``raster``).
    raster : output of :func:`rasterize` for the same ``faces``.
    faces : (F, 3) int tensor or array, the ``faces`` given to :func:`rasterize`.

    Returns
    -------
    (H, W, C) tensor in the dtype of ``attr``: ``Σ_k b_k · attr[faces[t, k]]`` at covered
    pixels, 0 on background. Differentiable w.r.t. ``attr`` and the raster's barycentrics
    (hence ``pos``).
    """
    if attr.ndim != 2:
        raise ShapeMismatchError(f"attr must have shape (V, C), got {tuple(attr.shape)}")
    faces = _check_faces(faces, attr, allow_any_width=True)
    height, width = raster.size
    flat_id = raster.triangle_id.reshape(-1)
    covered = torch.nonzero(flat_id >= 0).squeeze(1)
    corners = faces[flat_id[covered]]  # (N, 3)
    weights = raster.barycentrics.reshape(-1, 3)[covered].to(attr.dtype)  # (N, 3)
    values = (attr[corners] * weights.unsqueeze(-1)).sum(dim=1)  # (N, C)
    out = attr.new_zeros(height * width, attr.shape[1]).index_copy(0, covered, values)
    return out.reshape(height, width, attr.shape[1])


def texture(tex: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup of a square UV map at UV coordinates.

    Texel (row i, col j) of ``tex`` sits at ``u = (j + 0.5)/R``, ``v = 1 − (i + 0.5)/R``
    (:mod:`facetex.types`); between texel centres the value is bilinear, beyond the outermost
    centres it is clamped to the edge texels.

    Parameters
    ----------
    tex : (R, R, C) float tensor.
    uv : (..., 2) tensor of the same dtype and device, (u, v) with v = 1 at the top.

    Returns
    -------
    (..., C) tensor. Differentiable w.r.t. ``tex`` and ``uv``.
    """
    if tex.ndim != 3 or tex.shape[0] != tex.shape[1]:
        raise ShapeMismatchError(f"tex must have shape (R, R, C), got {tuple(tex.shape)}")
    if uv.ndim < 1 or uv.shape[-1] != 2:
        raise ShapeMismatchError(f"uv must have shape (..., 2), got {tuple(uv.shape)}")
    if uv.dtype != tex.dtype:
        raise ShapeMismatchError(f"uv ({uv.dtype}) and tex ({tex.dtype}) must share a dtype")
    resolution = tex.shape[0]
    lead = uv.shape[:-1]
    # grid_sample's normalised frame with align_corners=False: −1 and +1 are the outer edges.
    grid = uv_to_pixel(uv.reshape(1, 1, -1, 2), resolution) * (2.0 / resolution) - 1.0
    image = tex.permute(2, 0, 1).unsqueeze(0)  # (1, C, R, R)
    sampled = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return sampled[0, :, 0, :].transpose(0, 1).reshape(*lead, tex.shape[2])


def _visible_triangles(
    pos: torch.Tensor, faces: torch.Tensor, height: int, width: int, cull_backfaces: bool
) -> torch.Tensor:
    """Z-buffer: (H, W) int64 index of the nearest triangle covering each pixel centre, or −1."""
    device = pos.device
    p = pos.to(torch.float64)
    corner = [p[faces[:, k]] for k in range(3)]  # 3 × (F, 3)
    x = torch.stack([c[:, 0] for c in corner], dim=1)  # (F, 3)
    y = torch.stack([c[:, 1] for c in corner], dim=1)
    z = torch.stack([c[:, 2] for c in corner], dim=1)
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    valid = torch.isfinite(p[faces].reshape(-1, 9)).all(dim=1) & (z > 0).all(dim=1) & (area != 0)
    if cull_backfaces:
        valid &= area < 0

    # Pixel-centre bounding box of each triangle: columns j with xmin <= j + 0.5 <= xmax.
    safe_x = torch.where(valid[:, None], x, torch.zeros_like(x))
    safe_y = torch.where(valid[:, None], y, torch.zeros_like(y))
    j0 = torch.ceil(safe_x.amin(dim=1) - 0.5).clamp(0, width).long()
    j1 = torch.floor(safe_x.amax(dim=1) - 0.5).clamp(-1, width - 1).long()
    i0 = torch.ceil(safe_y.amin(dim=1) - 0.5).clamp(0, height).long()
    i1 = torch.floor(safe_y.amax(dim=1) - 0.5).clamp(-1, height - 1).long()
    box_w = (j1 - j0 + 1).clamp(min=0)
    box_h = (i1 - i0 + 1).clamp(min=0)
    counts = torch.where(valid, box_w * box_h, torch.zeros_like(box_w))

    coefficients = _edge_table(x, y, z, faces, area)  # (12, F) float64
    ends = torch.cumsum(counts, dim=0)
    boxes = torch.stack([ends - counts, box_w, i0, j0])  # (4, F) int64
    zbuffer = torch.full((height * width,), _NO_HIT, dtype=torch.int64, device=device)
    total = int(ends[-1]) if ends.numel() else 0
    for base in range(0, total, _FRAGMENT_BUDGET):
        fragment = torch.arange(base, min(base + _FRAGMENT_BUDGET, total), device=device)
        _draw_fragments(fragment, ends, boxes, coefficients, zbuffer, width)
    hit = zbuffer != _NO_HIT
    triangle_id = torch.where(hit, zbuffer & 0xFFFFFFFF, torch.full_like(zbuffer, -1))
    return triangle_id.reshape(height, width)


def _edge_table(
    x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, faces: torch.Tensor, area: torch.Tensor
) -> torch.Tensor:
    """Per-triangle coefficients (12, F): for k = 0..2, rows (A_k, B_k, C_k) of the edge function
    E_k(p) = A_k·p_x + B_k·p_y + C_k, positive inside and ∝ the screen barycentric of vertex k;
    then rows 1/z_k, k = 0..2.

    Each undirected edge's line is computed from its lower-index then its higher-index vertex,
    so two triangles sharing an edge get exactly opposite coefficients (watertight coverage).
    """
    rows = []
    orient = torch.sign(area)
    for k in range(3):
        a, b = (k + 1) % 3, (k + 2) % 3  # the edge opposite vertex k, directed a → b
        forward = faces[:, a] < faces[:, b]
        lo_x = torch.where(forward, x[:, a], x[:, b])
        lo_y = torch.where(forward, y[:, a], y[:, b])
        hi_x = torch.where(forward, x[:, b], x[:, a])
        hi_y = torch.where(forward, y[:, b], y[:, a])
        coef_a = lo_y - hi_y
        coef_b = hi_x - lo_x
        coef_c = -(coef_a * lo_x + coef_b * lo_y)
        sign = torch.where(forward, orient, -orient)
        rows += [sign * coef_a, sign * coef_b, sign * coef_c]
    inv_z = 1.0 / torch.where(z > 0, z, torch.ones_like(z))
    rows += [inv_z[:, 0], inv_z[:, 1], inv_z[:, 2]]
    return torch.stack(rows)


def _draw_fragments(
    fragment: torch.Tensor,
    ends: torch.Tensor,
    boxes: torch.Tensor,
    coefficients: torch.Tensor,
    zbuffer: torch.Tensor,
    width: int,
) -> None:
    """Depth-test a range of fragments into ``zbuffer``.

    Fragments are the pixel centres of every triangle's bounding box, numbered box after box
    (``ends`` is the running total per triangle). Covered ones are scattered into ``zbuffer``
    as (float32 depth bits << 32 | triangle index), keeping the minimum per pixel. Per-triangle
    values are fetched with 1-D ``index_select`` (much faster on CPU than 2-D row gathers).
    """
    tri = torch.searchsorted(ends, fragment, right=True)
    start, box_w, i0, j0 = (values.index_select(0, tri) for values in boxes)
    offset = fragment - start
    row = torch.div(offset, box_w, rounding_mode="floor")
    col = offset - row * box_w
    row += i0
    col += j0
    px = col.to(torch.float64) + 0.5
    py = row.to(torch.float64) + 0.5
    coef = [values.index_select(0, tri) for values in coefficients]
    inside = None
    edge_sum = weighted_sum = None
    for k in range(3):
        ca, cb, cc = coef[3 * k], coef[3 * k + 1], coef[3 * k + 2]
        e = ca * px + cb * py + cc
        # On the line: inside iff a step (ε, ε²) enters the triangle.
        covered = (e > 0) | ((e == 0) & ((ca > 0) | ((ca == 0) & (cb > 0))))
        inside = covered if inside is None else inside & covered
        edge_sum = e if edge_sum is None else edge_sum + e
        weighted_sum = e * coef[9 + k] if weighted_sum is None else weighted_sum + e * coef[9 + k]
    depth = (edge_sum / weighted_sum).to(torch.float32)  # 1 / Σ β_k / z_k
    # Positive float32 values order like their bit patterns read as integers.
    key = (depth.view(torch.int32).to(torch.int64) << 32) | tri
    key = torch.where(inside, key, torch.full_like(key, _NO_HIT))
    zbuffer.scatter_reduce_(0, row * width + col, key, reduce="amin", include_self=True)


def _perspective_barycentrics(
    pos: torch.Tensor, faces: torch.Tensor, triangle_id: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable perspective-correct barycentrics and depth at the covered pixel centres."""
    height, width = triangle_id.shape
    flat_id = triangle_id.reshape(-1)
    covered = torch.nonzero(flat_id >= 0).squeeze(1)
    tri = flat_id.index_select(0, covered)
    px = (covered % width).to(pos.dtype) + 0.5
    py = torch.div(covered, width, rounding_mode="floor").to(pos.dtype) + 0.5
    coords = pos.t()  # (3, V), differentiable view
    corners = [faces[:, k].index_select(0, tri) for k in range(3)]
    x, y, z = ([coords[c].index_select(0, v) for v in corners] for c in range(3))
    weighted = []
    for k in range(3):
        a, b = (k + 1) % 3, (k + 2) % 3
        # Twice the signed area of (v_a, v_b, p): ∝ the screen barycentric of vertex k.
        e = (x[b] - x[a]) * (py - y[a]) - (y[b] - y[a]) * (px - x[a])
        weighted.append(e / z[k])
    total = weighted[0] + weighted[1] + weighted[2]  # Σ β_k / z_k, up to 2·area
    area = (x[1] - x[0]) * (y[2] - y[0]) - (x[2] - x[0]) * (y[1] - y[0])
    values = torch.stack(weighted, dim=1) / total.unsqueeze(1)
    bary = pos.new_zeros(height * width, 3).index_copy(0, covered, values)
    depth = pos.new_zeros(height * width).index_copy(0, covered, area / total)
    return bary.reshape(height, width, 3), depth.reshape(height, width)


def _check_faces(
    faces: torch.Tensor | np.ndarray, ref: torch.Tensor, *, allow_any_width: bool = False
) -> torch.Tensor:
    if not allow_any_width and (ref.ndim != 2 or ref.shape[1] != 3):
        raise ShapeMismatchError(f"pos must have shape (V, 3), got {tuple(ref.shape)}")
    if not ref.is_floating_point():
        raise ShapeMismatchError(f"vertex data must be a float tensor, got {ref.dtype}")
    # torch.tensor copies (a read-only numpy array would make as_tensor warn).
    faces = torch.tensor(faces) if isinstance(faces, np.ndarray) else torch.as_tensor(faces)
    faces = faces.to(ref.device)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.is_floating_point() or faces.dtype == torch.bool:
        raise ShapeMismatchError(
            f"faces must be an (F, 3) integer array, got {tuple(faces.shape)} {faces.dtype}"
        )
    faces = faces.long()
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= ref.shape[0]):
        raise ShapeMismatchError(f"face indices must lie in [0, {ref.shape[0]})")
    return faces


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        height, width = (int(s) for s in size)
    except (TypeError, ValueError):
        raise ShapeMismatchError(f"size must be (H, W), got {size!r}") from None
    if height < 1 or width < 1 or (height, width) != tuple(size):
        raise ShapeMismatchError(f"size must be two positive integers (H, W), got {size!r}")
    return height, width
