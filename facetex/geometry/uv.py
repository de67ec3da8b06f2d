"""The UV convention of facetex, and rasterization of a mesh's UV chart.

UV maps are square R × R images (see :mod:`facetex.types`): texel (row i, col j) has its centre
at ``u = (j + 0.5) / R``, ``v = 1 − (i + 0.5) / R``, so ``v = 1`` is the top row. In the UV
image's continuous pixel frame (x right, y down, texel centres at +0.5, as for photos) a UV
coordinate maps to ``x = u·R``, ``y = (1 − v)·R``. :func:`uv_to_pixel` and :func:`pixel_to_uv`
are the only places where this flip is written; every other module calls them. They live in the
leaf module :mod:`facetex.geometry.uv_frame` (re-exported here) so that the dependency runs one
way: uv_frame ← rasterize ← uv.
"""

from __future__ import annotations

import numpy as np
import torch

from facetex.errors import ShapeMismatchError
from facetex.geometry.rasterize import Raster, rasterize
from facetex.geometry.uv_frame import pixel_to_uv, uv_to_pixel
from facetex.types import MeshTopology

__all__ = ["uv_to_pixel", "pixel_to_uv", "texel_centers", "rasterize_uv", "chart_mask", "face_region_mask", "landmark_uvs", "resized_chart", "on_chart"]

def texel_centers(resolution: int) -> np.ndarray:
    """UV coordinates of every texel centre.

    Returns
    -------
    (R, R, 2) float64, ``[i, j] = ((j + 0.5) / R, 1 − (i + 0.5) / R)``.
    """
    _check_resolution(resolution)
    centres = np.arange(resolution, dtype=np.float64) + 0.5
    x, y = np.meshgrid(centres, centres, indexing="xy")
    return pixel_to_uv(np.stack([x, y], axis=-1), resolution)


def rasterize_uv(
    topology: MeshTopology,
    resolution: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> Raster:
    """Rasterize a mesh's UV chart: which triangle covers each texel centre, and where.

    The result depends only on the topology and R, so callers compute it once and keep it.

    Parameters
    ----------
    topology : the mesh; its ``uvs`` (V, 2) in [0, 1] place the triangles.
    resolution : R.
    dtype, device : of the returned barycentrics.

    Returns
    -------
    Raster of size (R, R): ``triangle_id`` (R, R) int64 (−1 off the chart), ``barycentrics``
    (R, R, 3) of the texel centre in its triangle (affine in UV space), ``depth`` 1 on the
    chart, 0 off it. Interpolating vertex attributes with them (e.g.
    :func:`facetex.geometry.rasterize.interpolate` of camera-frame vertices) gives each texel's
    3D point.
    """
    _check_resolution(resolution)
    uvs = torch.tensor(np.asarray(topology.uvs), dtype=torch.float64)
    xy = uv_to_pixel(uvs, resolution)
    pos = torch.cat([xy, torch.ones_like(xy[:, :1])], dim=1).to(dtype=dtype, device=device)
    faces = torch.tensor(np.asarray(topology.faces), dtype=torch.int64, device=device)
    return rasterize(pos, faces, (resolution, resolution))


def chart_mask(topology: MeshTopology, resolution: int) -> np.ndarray:
    """Texels whose centre lies inside the UV chart: (R, R) bool numpy array."""
    return rasterize_uv(topology, resolution).mask.cpu().numpy()


def face_region_mask(topology: MeshTopology, resolution: int) -> np.ndarray:
    """Texels of the UV chart on the face proper, (R, R) bool: the triangles of
    ``topology.fit_faces`` (on the ICT face tile: those inside mediapipe's face oval, the
    region mediapipe's mask covers; docs/ict-model.md), or the whole chart for a mesh without
    ``fit_faces`` (mediapipe's own). The rest of an ICT tile is the ears, the neck and the sides
    of the head."""
    raster = rasterize_uv(topology, resolution)
    triangle = raster.triangle_id.cpu().numpy()
    on = triangle >= 0
    if topology.fit_faces is None:
        return on
    keep = np.asarray(topology.fit_faces, dtype=bool)
    return on & keep[np.where(on, triangle, 0)]


def landmark_uvs(topology: MeshTopology, landmarks) -> np.ndarray:
    """UVs of mediapipe landmarks on ``topology``'s chart, (L, 2) float64 for L landmark ids.

    With a ``landmark_map`` (:class:`facetex.types.LandmarkMap`, a mesh that is not
    mediapipe's) a landmark is its surface point Σ barycentrics · uvs[vertices]; without one
    (mediapipe's own mesh) landmark i is vertex i.
    """
    ids = np.asarray(landmarks, dtype=np.int64)
    uvs = np.asarray(topology.uvs, dtype=np.float64)
    table = topology.landmark_map
    if table is None:
        return uvs[ids]
    weights = np.asarray(table.barycentrics, dtype=np.float64)[ids]
    return np.einsum("lk,lkc->lc", weights, uvs[np.asarray(table.vertices)[ids]])


def resized_chart(chart: np.ndarray, size: int) -> np.ndarray:
    """An (R, R) bool mask (the chart, or any region of it) at ``size``² (nearest texel).

    >>> chart = np.zeros((4, 4), dtype=bool); chart[:2, :2] = True
    >>> resized_chart(chart, 2).astype(int).tolist()
    [[1, 0], [0, 0]]
    """
    if chart.shape[0] == size:
        return chart
    idx = (np.arange(size) * chart.shape[0]) // size
    return chart[np.ix_(idx, idx)]


def on_chart(rgb: np.ndarray, chart: np.ndarray) -> np.ndarray:
    """(R, R, 3) ``rgb`` clipped to [0, 1] with texels outside the UV chart (any resolution,
    resized to R² by nearest texel) set to 0.5, the facetex convention for every texture.

    >>> chart = np.array([[True, False], [False, False]])
    >>> on_chart(np.full((2, 2, 3), 2.0), chart)[:, :, 0].tolist()
    [[1.0, 0.5], [0.5, 0.5]]
    """
    out = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0).copy()
    out[~resized_chart(chart, out.shape[0])] = 0.5
    return out


def _check_resolution(resolution: int) -> None:
    if int(resolution) != resolution or resolution < 1:
        raise ShapeMismatchError(f"UV resolution must be a positive integer, got {resolution}")
