"""Completion of the texels a photo does not show (database textures must be complete faces).

Two steps, both on the UV chart of the mesh:

1. **Mirror.** The face mesh is left/right symmetric in its model frame (x → −x maps the
   vertex set onto itself), so each texel has a mirror texel: take the triangle and barycentric
   coordinates of the texel, replace each corner by its mirror vertex and read the UV there.
   An unobserved texel whose mirror texel was observed takes the mirror's albedo.
2. **Membrane fill.** The remaining unobserved texels solve Laplace's equation with the known
   texels as boundary values (a harmonic, seamless smooth fill). With
   ``FillConfig.blend_gradients`` the mirrored texels are pasted in the gradient domain
   (Poisson image editing, Pérez, Gangnet & Blake, SIGGRAPH 2003) in the same linear system, so
   residual shading differences between the two sides leave no seam on the symmetry line.

The result records where each texel came from in a uint8 *fill map*: :data:`OBSERVED`,
:data:`MIRRORED`, :data:`INPAINTED`, or :data:`OFF_CHART` (texels outside the chart, whose
colour stays 0.5 as everywhere in facetex).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from facetex.database.config import FillConfig
from facetex.errors import EmptyMaskError, ShapeMismatchError
from facetex.geometry.uv import rasterize_uv, uv_to_pixel
from facetex.texture.membrane import solve_membrane
from facetex.types import MeshTopology

__all__ = [
    "OFF_CHART",
    "INPAINTED",
    "MIRRORED",
    "OBSERVED",
    "MirrorMap",
    "FilledTexture",
    "mirror_vertex_map",
    "mirror_texel_map",
    "fill_texture",
    "gram_region_mask",
]

#: Fill-map values (uint8).
OFF_CHART, INPAINTED, MIRRORED, OBSERVED = 0, 1, 2, 3


@dataclass(frozen=True)
class MirrorMap:
    """Where each texel's left/right mirror image lies in the same UV map.

    Attributes
    ----------
    chart : (R, R) bool, texels covered by a mesh triangle.
    coords : (R, R, 2) float32, (column, row) of the mirror position in texel-index units
        (texel (i, j) has its centre at (j, i)); NaN off the chart.
    """

    chart: np.ndarray
    coords: np.ndarray

    @property
    def resolution(self) -> int:
        return int(self.chart.shape[0])


@dataclass(frozen=True)
class FilledTexture:
    """A completed UV texture.

    Attributes
    ----------
    rgb : (R, R, 3) float32 in [0, 1]; 0.5 off the chart.
    fill_map : (R, R) uint8 of :data:`OBSERVED`, :data:`MIRRORED`, :data:`INPAINTED`,
        :data:`OFF_CHART`.
    """

    rgb: np.ndarray
    fill_map: np.ndarray


def mirror_vertex_map(topology: MeshTopology, *, tolerance: float = 0.05) -> np.ndarray:
    """Index of each vertex's mirror partner under x → −x in the model frame.

    Parameters
    ----------
    topology : the mesh; its ``vertices`` (V, 3) are in the model frame (x to image right).
    tolerance : largest allowed distance (mesh units, cm) between a mirrored vertex and its
        partner; vertices on the symmetry plane are their own partners.

    Returns
    -------
    (V,) int64.

    Raises
    ------
    ValueError
        If the mesh is not symmetric within ``tolerance``.
    """
    from scipy.spatial import cKDTree

    vertices = np.asarray(topology.vertices, dtype=np.float64)
    mirrored = vertices * np.array([-1.0, 1.0, 1.0])
    distance, partner = cKDTree(vertices).query(mirrored)
    if float(distance.max()) > tolerance:
        worst = int(np.argmax(distance))
        raise ValueError(
            f"mesh is not left/right symmetric: vertex {worst} is {distance[worst]:.3g} from "
            f"the nearest mirror partner (tolerance {tolerance})"
        )
    return partner.astype(np.int64)


def mirror_texel_map(topology: MeshTopology, resolution: int) -> MirrorMap:
    """Texel → mirror-texel map of an R × R UV map of ``topology`` (UV convention of
    :mod:`facetex.types`: texel (i, j) has centre u = (j + 0.5)/R, v = 1 − (i + 0.5)/R).

    Parameters
    ----------
    topology : symmetric mesh with per-vertex UVs.
    resolution : R ≥ 2.

    Returns
    -------
    MirrorMap
    """
    if int(resolution) < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    resolution = int(resolution)
    partner = mirror_vertex_map(topology)
    uvs = np.asarray(topology.uvs, dtype=np.float64)
    faces = np.asarray(topology.faces, dtype=np.int64)
    raster = rasterize_uv(topology, resolution, dtype=torch.float64)
    triangle = raster.triangle_id.cpu().numpy()
    bary = raster.barycentrics.cpu().numpy()
    chart = triangle >= 0
    corners = partner[faces[triangle[chart]]]  # (n, 3) mirror vertices of each texel's triangle
    uv = np.einsum("nk,nkc->nc", bary[chart], uvs[corners])
    coords = np.full((resolution, resolution, 2), np.nan, dtype=np.float32)
    coords[chart] = uv_to_pixel(uv, resolution) - 0.5  # continuous pixels → texel indices
    return MirrorMap(chart=chart, coords=coords)


def fill_texture(
    albedo: np.ndarray,
    observed: np.ndarray,
    mirror: MirrorMap,
    config: FillConfig,
) -> FilledTexture:
    """Complete a partial UV albedo map: mirror, then membrane (Poisson) fill.

    Parameters
    ----------
    albedo : (R, R, 3) float in [0, 1]; only texels with ``observed`` are read.
    observed : (R, R) bool, texels seen in the photo (off-chart texels are ignored).
    mirror : :func:`mirror_texel_map` of the same resolution.
    config : see :class:`FillConfig`.

    Returns
    -------
    FilledTexture

    Raises
    ------
    ShapeMismatchError
        If the shapes disagree.
    EmptyMaskError
        If no chart texel is observed.
    """
    import cv2

    albedo = np.asarray(albedo, dtype=np.float32)
    observed = np.asarray(observed, dtype=bool)
    size = mirror.resolution
    if albedo.shape != (size, size, 3) or observed.shape != (size, size):
        raise ShapeMismatchError(
            f"expected albedo ({size}, {size}, 3) and mask ({size}, {size}) to match the mirror "
            f"map, got {albedo.shape} and {observed.shape}"
        )
    chart = mirror.chart
    known = observed & chart
    if not known.any():
        raise EmptyMaskError("no texel of the UV chart is observed; nothing to fill from")

    # Bilinear mirror samples, normalised by how much of their footprint was observed.
    map_x = np.nan_to_num(mirror.coords[..., 0], nan=-10.0)
    map_y = np.nan_to_num(mirror.coords[..., 1], nan=-10.0)
    weight_src = known.astype(np.float32)
    value_src = albedo * weight_src[..., None]
    remap = dict(interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    weight = cv2.remap(weight_src, map_x, map_y, **remap)
    value = cv2.remap(value_src, map_x, map_y, **remap)
    has_mirror = chart & (weight >= config.mirror_min_weight)
    mirrored = np.where(has_mirror[..., None], value / np.maximum(weight, 1e-6)[..., None], 0.0)

    fill_map = np.full((size, size), INPAINTED, dtype=np.uint8)
    fill_map[~chart] = OFF_CHART
    fill_map[has_mirror & ~known] = MIRRORED
    fill_map[known] = OBSERVED

    rgb = np.full((size, size, 3), 0.5, dtype=np.float64)
    rgb[known] = albedo[known]
    if config.blend_gradients:
        fixed = known
        guidance = np.where(has_mirror[..., None], mirrored, np.nan)
    else:
        fixed = known | (fill_map == MIRRORED)
        rgb[fill_map == MIRRORED] = mirrored[fill_map == MIRRORED]
        guidance = None
    unknown = chart & ~fixed
    if unknown.any():
        mean = albedo[known].mean(axis=0)
        rgb[unknown] = solve_membrane(rgb, unknown, chart, guidance, mean, config.regularization)
    rgb[~chart] = 0.5
    return FilledTexture(rgb=np.clip(rgb, 0.0, 1.0).astype(np.float32), fill_map=fill_map)


def gram_region_mask(
    fill_maps: np.ndarray, region: str, size: int, features: np.ndarray | None = None
) -> np.ndarray | None:
    """The texels whose Grams a database stores (``DatabaseConfig.gram_region``), at ``size``².

    Parameters
    ----------
    fill_maps : (N, R, R) uint8 fill maps.
    region : ``"skin"`` (:data:`OBSERVED` or :data:`MIRRORED` texels outside ``features``: the
        skin detail a photo showed) or ``"texture"`` (every texel).
    size : side of the textures the Grams are taken of (nearest texel of the R² maps).
    features : (R, R) bool, the facial features of the UV layout
        (:func:`facetex.fitting.visibility.feature_texels`); required for ``"skin"``.

    Returns
    -------
    (N, size, size) bool, or None for ``"texture"`` (the whole image, no region).

    >>> maps = np.array([[[OBSERVED, INPAINTED], [MIRRORED, OBSERVED]]], dtype=np.uint8)
    >>> eyes = np.array([[False, False], [False, True]])
    >>> gram_region_mask(maps, "skin", 2, eyes).astype(int).tolist()
    [[[1, 0], [1, 0]]]
    >>> gram_region_mask(maps, "texture", 2) is None
    True
    """
    if region == "texture":
        return None
    if region != "skin":
        raise ValueError(f"gram region must be 'skin' or 'texture', got {region!r}")
    maps = np.asarray(fill_maps)
    if features is None or np.shape(features) != maps.shape[1:]:
        raise ShapeMismatchError(f"the 'skin' region needs an {maps.shape[1:]} feature mask, got "
                                 f"{None if features is None else np.shape(features)}")
    seen = ((maps == OBSERVED) | (maps == MIRRORED)) & ~np.asarray(features, dtype=bool)
    idx = (np.arange(size) * maps.shape[-1]) // size
    return seen[:, idx][:, :, idx]
