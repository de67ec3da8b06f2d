"""Face geometry: mesh topology with UVs, rasterizer, camera, SH lighting, UV maps, subdivision.

Modules (each documents its conventions; the shared ones are in :mod:`facetex.types`):

* :mod:`~facetex.geometry.topology` — the canonical 468-vertex mediapipe face mesh, index helpers.
* :mod:`~facetex.geometry.rasterize` — differentiable z-buffer rasterizer (rasterize →
  interpolate → texture), nvdiffrast-shaped, plain PyTorch.
* :mod:`~facetex.geometry.camera` — axis-angle rotations, the model → camera axis flip,
  perspective projection, vertex normals.
* :mod:`~facetex.geometry.sh` — 2nd-order real spherical harmonics lighting.
* :mod:`~facetex.geometry.uv` — the UV convention and UV-space rasterization.
* :mod:`~facetex.geometry.subdivide` — midpoint and Loop subdivision.
"""

from facetex.geometry.camera import pose_rotation, project, rodrigues, screen_positions, vertex_normals
from facetex.geometry.rasterize import Raster, interpolate, rasterize, texture
from facetex.geometry.sh import sh_basis, sh_from_ambient, sh_from_directional_light, sh_shading
from facetex.geometry.subdivide import subdivide
from facetex.geometry.topology import load_face_mesh
from facetex.geometry.uv import chart_mask, pixel_to_uv, rasterize_uv, texel_centers, uv_to_pixel

__all__ = [
    "Raster",
    "chart_mask",
    "interpolate",
    "load_face_mesh",
    "pixel_to_uv",
    "pose_rotation",
    "project",
    "rasterize",
    "rasterize_uv",
    "rodrigues",
    "screen_positions",
    "sh_basis",
    "sh_from_ambient",
    "sh_from_directional_light",
    "sh_shading",
    "subdivide",
    "texel_centers",
    "texture",
    "uv_to_pixel",
    "vertex_normals",
]
