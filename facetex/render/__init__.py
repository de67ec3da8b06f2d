"""Outputs of a facetex result: mesh exports, bump/normal maps and Mitsuba 3 renders.

``export`` and ``maps`` need only numpy, scipy, Pillow and trimesh; ``mitsuba_render`` imports
Mitsuba 3 when a render is asked for.
"""

from facetex.render.export import ExportConfig, ExportedFiles, TexturedMesh, export_mesh, make_textured_mesh
from facetex.render.maps import DetailMapConfig, DetailMaps, detail_maps

__all__ = [
    "ExportConfig",
    "ExportedFiles",
    "TexturedMesh",
    "export_mesh",
    "make_textured_mesh",
    "DetailMapConfig",
    "DetailMaps",
    "detail_maps",
]
