"""Render a fitted face as the §3 energy models it: albedo from UV × SH shading (Lambertian).

Used to check fits (the render should match the photo on visible skin) and to make synthetic
photos with known parameters for tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from facetex.errors import ShapeMismatchError
from facetex.fitting.model import model_albedo
from facetex.geometry.camera import screen_positions, vertex_normals
from facetex.geometry.rasterize import interpolate, rasterize, texture
from facetex.geometry.sh import sh_shading
from facetex.types import FaceFit, MeshTopology, MorphableModel

__all__ = ["Rendering", "render_face", "render_fit"]


@dataclass(frozen=True)
class Rendering:
    """A rendered face.

    Attributes
    ----------
    rgb : (H, W, 3) float32, albedo × shading on the face, 0 elsewhere (not clipped).
    mask : (H, W) bool, pixels covered by the mesh.
    albedo : (H, W, 3) float32, the albedo seen at each pixel (0 off the face).
    shading : (H, W, 3) float32, SH irradiance at each pixel (0 off the face).
    normals : (H, W, 3) float32 unit normals, camera frame (0 off the face).
    """

    rgb: np.ndarray
    mask: np.ndarray
    albedo: np.ndarray
    shading: np.ndarray
    normals: np.ndarray


def render_face(
    vertices: np.ndarray,
    topology: MeshTopology,
    focal_length: float,
    principal_point: np.ndarray,
    size: tuple[int, int],
    albedo_uv: np.ndarray,
    sh_coeffs: np.ndarray,
) -> Rendering:
    """Rasterize the mesh and shade it: albedo (bilinear from UV) × SH irradiance of the normal.

    Parameters
    ----------
    vertices : (V, 3) camera-frame vertices (cm).
    topology : faces and UVs.
    focal_length : pixels; principal_point : (2,) pixels.
    size : (H, W) of the image.
    albedo_uv : (R, R, 3) float UV map (facetex UV convention).
    sh_coeffs : (9, 3) lighting.

    Returns
    -------
    Rendering at (H, W). Normals are the perspective-correct blend of area-weighted vertex
    normals, renormalised — the same surface the fitting energy uses.
    """
    verts = torch.tensor(np.asarray(vertices), dtype=torch.float64)
    if verts.ndim != 2 or verts.shape[1] != 3 or verts.shape[0] != topology.vertices.shape[0]:
        raise ShapeMismatchError(
            f"vertices must have shape ({topology.vertices.shape[0]}, 3), got {tuple(verts.shape)}"
        )
    if np.shape(sh_coeffs) != (9, 3):
        raise ShapeMismatchError(f"sh_coeffs must have shape (9, 3), got {np.shape(sh_coeffs)}")
    faces = torch.tensor(np.asarray(topology.faces), dtype=torch.int64)
    pos = screen_positions(verts, float(focal_length), torch.tensor(np.asarray(principal_point), dtype=torch.float64))
    raster = rasterize(pos, faces, size)
    mask = raster.mask
    normals = interpolate(vertex_normals(verts, faces), raster, faces)
    normals = normals / normals.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    uv = interpolate(torch.tensor(np.asarray(topology.uvs), dtype=torch.float64), raster, faces)
    tex = torch.tensor(np.asarray(albedo_uv), dtype=torch.float64)
    albedo = texture(tex, uv) * mask[..., None]
    shading = sh_shading(normals, torch.tensor(np.asarray(sh_coeffs), dtype=torch.float64)) * mask[..., None]
    normals = normals * mask[..., None]

    def f32(t: torch.Tensor) -> np.ndarray:
        return t.numpy().astype(np.float32)

    return Rendering(
        rgb=f32(albedo * shading),
        mask=mask.numpy(),
        albedo=f32(albedo),
        shading=f32(shading),
        normals=f32(normals),
    )


def render_fit(
    fit: FaceFit,
    model: MorphableModel,
    *,
    albedo_uv: np.ndarray | None = None,
) -> Rendering:
    """Render a fit in the frame of its photo (``fit.image_size``).

    Parameters
    ----------
    fit : the fit.
    model : its morphable model (mesh, and albedo when ``albedo_uv`` is None).
    albedo_uv : (R, R, 3) albedo map to use instead of the model's I(α_al).
    """
    albedo = model_albedo(model, fit.albedo_coeffs) if albedo_uv is None else albedo_uv
    return render_face(
        fit.vertices, model.topology, fit.focal_length, fit.principal_point, fit.image_size, albedo, fit.sh_coeffs
    )
