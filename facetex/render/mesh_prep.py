"""Preparing a textured mesh for export: subdivision and texture padding.

Texture padding
    Every texture written (albedo, normal, bump) is edge-padded a few texels past the chart
    (:func:`facetex.render.maps.pad_chart`, ``ExportConfig.padding_texels`` at 512², scaled with
    R), so that bilinear filtering and mipmaps at the chart's border never pull in the 0.5 fill.
    The maps facetex keeps in memory keep the fill (``docs/design.md#conventions``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from facetex.geometry.subdivide import Scheme, subdivide
from facetex.geometry.uv import chart_mask
from facetex.render.export_config import ExportConfig
from facetex.render.maps import pad_chart, padding_texels
from facetex.render.textured_mesh import TexturedMesh, make_morph_targets, make_textured_mesh
from facetex.types import MeshTopology

__all__ = ["subdivide_textured_mesh", "padded_textures"]


def subdivide_textured_mesh(mesh: TexturedMesh, levels: int, *, scheme: Scheme = "loop") -> TexturedMesh:
    """Subdivide ``levels`` times with :func:`facetex.geometry.subdivide.subdivide`.

    ``scheme`` is "loop" (smooth surface) or "midpoint" (same surface, more triangles); UVs are
    interpolated linearly either way, so the texture stays where it was. Textures are kept;
    morph targets' offsets go through the same (linear) subdivision as the positions. The
    mesh's parts are subdivided alike.
    """
    if levels == 0:
        return mesh
    fine, matrix = _subdivided(mesh.vertices, mesh.faces, mesh.uvs, levels, scheme)
    morphs = mesh.morphs
    if morphs is not None:
        morphs = make_morph_targets(morphs.names, _carried(matrix, morphs.offsets), morphs.weights,
                                    fine.vertices.shape[0])
    parts = []
    for part in mesh.parts:
        part_fine, part_matrix = _subdivided(part.vertices, part.faces, part.uvs, levels, scheme)
        parts.append(dataclasses.replace(
            part, vertices=part_fine.vertices, faces=part_fine.faces, uvs=part_fine.uvs,
            morph_offsets=None if part.morph_offsets is None else _carried(part_matrix, part.morph_offsets),
        ))
    return make_textured_mesh(
        fine.vertices, fine.faces, fine.uvs, mesh.albedo, mesh.normal_map,
        bump=mesh.bump, bump_range_mm=mesh.bump_range_mm,
        chart=mesh.chart if mesh.chart is not None else _uv_chart(mesh), morphs=morphs, parts=tuple(parts),
    )


def _topology(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray) -> MeshTopology:
    """A bare mesh as a MeshTopology (no landmarks)."""
    return MeshTopology(vertices=vertices, uvs=uvs, faces=faces, landmark_weights=np.zeros(vertices.shape[0]))


def _subdivided(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray, levels: int, scheme: Scheme):
    """:func:`facetex.geometry.subdivide.subdivide` of a bare mesh: (fine topology, (V', V) matrix)."""
    return subdivide(_topology(vertices, faces, uvs), levels, scheme=scheme)


def _carried(matrix, offsets: np.ndarray) -> np.ndarray:
    """Morph offsets (K, V, 3) through a subdivision matrix (it is linear in the positions)."""
    return np.stack([matrix @ offset.astype(np.float64) for offset in offsets]).astype(np.float32)


def _uv_chart(mesh: TexturedMesh) -> np.ndarray:
    """Texels whose centre lies inside the mesh's UV triangles, at the albedo's resolution."""
    return chart_mask(_topology(mesh.vertices, mesh.faces, mesh.uvs), mesh.albedo.shape[0])


def padded_textures(mesh: TexturedMesh, config: ExportConfig = ExportConfig()) -> TexturedMesh:
    """``mesh`` with its textures edge-padded past the chart for renderers (module doc, "Texture padding").

    The chart is ``mesh.chart``, else the texels inside the UV triangles; the width is
    ``config.padding_texels`` scaled from 512² to the albedo's resolution
    (:func:`facetex.render.maps.padding_texels`). Texels on the chart are unchanged.
    """
    if int(config.padding_texels) != config.padding_texels or config.padding_texels < 0:
        raise ValueError(f"padding_texels must be a non-negative integer, got {config.padding_texels!r}")
    width = padding_texels(mesh.albedo.shape[0], int(config.padding_texels))
    if width == 0:
        return mesh
    chart = mesh.chart if mesh.chart is not None else _uv_chart(mesh)

    def pad(image: np.ndarray | None, chart: np.ndarray) -> np.ndarray | None:
        if image is None:
            return None
        texels = padding_texels(image.shape[0], int(config.padding_texels))
        return np.clip(pad_chart(image, chart, texels), 0.0, 1.0).astype(np.float32)

    parts = []
    for part in mesh.parts:
        if part.albedo is None:
            parts.append(part)
            continue
        part_chart = part.chart if part.chart is not None else chart_mask(
            _topology(part.vertices, part.faces, part.uvs), part.albedo.shape[0])
        parts.append(dataclasses.replace(part, albedo=pad(part.albedo, part_chart),
                                         normal_map=pad(part.normal_map, part_chart), chart=part_chart))
    return dataclasses.replace(
        mesh, albedo=pad(mesh.albedo, chart), normal_map=pad(mesh.normal_map, chart), bump=pad(mesh.bump, chart),
        chart=chart, parts=tuple(parts),
    )
