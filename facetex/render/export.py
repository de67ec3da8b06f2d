"""Textured-mesh export: ``face.obj`` + ``face.mtl`` + ``albedo.png`` and ``face.glb``.

:func:`export_mesh` subdivides, pads and writes both files; the parts, one job each:

* :mod:`~facetex.render.export_config` — :class:`ExportConfig`.
* :mod:`~facetex.render.textured_mesh` — :class:`TexturedMesh`, the export frame (metres, y
  up, z towards the viewer) and the UV conventions of OBJ and glTF.
* :mod:`~facetex.render.mesh_prep` — subdivision and edge padding of the textures.
* :mod:`~facetex.render.surface_frames` — vertex normals and glTF tangents.
* :mod:`~facetex.render.obj_writer` — the OBJ/MTL/PNG set and the MTL keywords importers read.
* :mod:`~facetex.render.gltf_writer` — the GLB and its material.

``ExportConfig``, ``TexturedMesh``, ``make_textured_mesh``, ``model_frame_vertices`` and
``padded_textures`` stay importable from here for the packages that import them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from facetex.io.atomic import atomic_path
from facetex.render.export_config import ExportConfig
from facetex.render.gltf_writer import padded_glb_bytes
from facetex.render.mesh_prep import padded_textures, subdivide_textured_mesh
from facetex.render.obj_writer import write_padded_obj
from facetex.render.textured_mesh import TexturedMesh

__all__ = [
    "ExportedFiles",
    "export_mesh",
]


@dataclass(frozen=True)
class ExportedFiles:
    """Paths written by :func:`export_mesh` (``normal``/``bump`` are None when not given)."""

    obj: Path
    mtl: Path
    albedo: Path
    glb: Path
    normal: Path | None
    bump: Path | None = None


def export_mesh(
    mesh: TexturedMesh, out_dir: str | Path, config: ExportConfig = ExportConfig()
) -> ExportedFiles:
    """Subdivide (``config.subdivisions``) and write the OBJ/MTL/PNG set and the GLB to ``out_dir``.

    Every file is written atomically (temporary sibling, then rename).

    Raises
    ------
    ValueError
        If ``config`` asks for negative subdivision or PBR factors outside [0, 1].
    OutputError
        If ``out_dir`` cannot be written.
    """
    if int(config.subdivisions) != config.subdivisions or config.subdivisions < 0:
        raise ValueError(f"subdivisions must be a non-negative integer, got {config.subdivisions!r}")
    for name in ("roughness", "metallic"):
        value = getattr(config, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {value}")
    if config.subdivisions:
        mesh = subdivide_textured_mesh(mesh, config.subdivisions, scheme=config.subdivision_scheme)
    mesh = padded_textures(mesh, config)
    out = Path(out_dir)
    obj, mtl, albedo, normal = write_padded_obj(mesh, out, config)
    glb = out / f"{config.basename}.glb"
    with atomic_path(glb) as tmp:
        tmp.write_bytes(padded_glb_bytes(mesh, config))
    bump = out / config.bump_name if mesh.bump is not None else None
    return ExportedFiles(obj=obj, mtl=mtl, albedo=albedo, glb=glb, normal=normal, bump=bump)
