"""Outputs of a facetex result: mesh exports, bump/normal maps and Mitsuba 3 renders.

``export`` (with the modules it writes through) and ``maps`` need only numpy, scipy, Pillow and
trimesh; ``mitsuba_render`` imports Mitsuba 3 when a render is asked for.
"""

from facetex.render.export import ExportedFiles, export_mesh
from facetex.render.export_config import ExportConfig
from facetex.render.maps import DetailMapConfig, DetailMaps, detail_maps
from facetex.render.textured_mesh import TexturedMesh, make_textured_mesh

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
