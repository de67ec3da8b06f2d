"""Writing a textured mesh as ``face.obj`` + ``face.mtl`` + its texture PNGs.

The face is the OBJ's first object (``o face``, material ``skin``); each of the mesh's parts
follows as its own object and material (``o head`` / ``usemtl head``, …), with its textures as
``<part>_albedo.png`` and ``<part>_normal.png``.

Frame, unit and ``vt`` convention: :mod:`facetex.render.textured_mesh` (export frame, metres;
``vt`` are the facetex UVs unchanged).

Brightness
    The MTL gives a white diffuse ``Kd 1 1 1`` beside ``map_Kd`` (viewers multiply the two;
    trimesh's default Kd of 0.4 shows the texture at 0.4× brightness), no ambient or specular.
MTL texture keywords (what importers read; :func:`mtl_text`)
    ``map_Kd albedo.png`` (every importer; trimesh reads only this one).
    ``map_Bump -bm 1 normal.png``: the tangent-space **normal map**. Blender's OBJ importer
    (the C++ one of 3.x and the older Python one) and its exporter use ``map_Bump``/``bump`` for
    a normal map (a Normal Map node of strength ``-bm``); it ignores ``norm``. Unity and most
    game loaders read it the same way.
    ``norm normal.png``: the same normal map for three.js's MTLLoader and tinyobjloader, which
    read ``norm`` as a normal map. (three.js also reads ``map_Bump`` as a height bump map; in
    three.js use ``face.glb``, which carries the normal map and tangents unambiguously.)
    ``disp -mm BIAS GAIN bump.png``: the height map, with base and gain such that the
    displacement is (bump − 0.5) · range in metres (0.5 = the surface), as three.js's MTLLoader
    applies it. Blender ignores ``disp``; render bump.png with Mitsuba (:mod:`.mitsuba_render`).
"""

from __future__ import annotations

from pathlib import Path

from facetex.io.atomic import write_image, write_text
from facetex.render.export_config import ExportConfig
from facetex.render.mesh_prep import padded_textures
from facetex.render.surface_frames import welded_vertex_normals
from facetex.render.textured_mesh import MeshPart, TexturedMesh, model_to_export_frame

__all__ = ["mtl_text", "export_obj", "write_padded_obj"]


def _obj_text(mesh: TexturedMesh, config: ExportConfig) -> str:
    lines = [
        "# facetex textured face; frame: y up, z towards the viewer, metres",
        f"mtllib {config.basename}.mtl",
    ]
    objects = [(config.basename, config.material_name, mesh.vertices, mesh.uvs, mesh.faces)]
    objects += [(part.name, part.name, part.vertices, part.uvs, part.faces) for part in mesh.parts]
    positions = [model_to_export_frame(vertices) for _, _, vertices, _, _ in objects]
    normals = welded_vertex_normals([(p, obj[4]) for p, obj in zip(positions, objects)])  # no crease at shared borders
    first = 1  # OBJ indices are 1-based and run on across objects
    for (name, material, vertices, uvs, faces), position, normal in zip(objects, positions, normals):
        lines.append(f"o {name}")
        lines += [f"v {x:.7g} {y:.7g} {z:.7g}" for x, y, z in position]
        lines += [f"vt {u:.7g} {v:.7g}" for u, v in uvs]  # OBJ vt: v = 1 at the top, as facetex
        lines += [f"vn {x:.6f} {y:.6f} {z:.6f}" for x, y, z in normal]
        lines.append(f"usemtl {material}")
        lines.append("s 1")
        lines += [f"f {a}/{a}/{a} {b}/{b}/{b} {c}/{c}/{c}" for a, b, c in faces + first]
        first += len(vertices)
    return "\n".join(lines) + "\n"


def mtl_text(config: ExportConfig, *, with_normal: bool, with_bump: bool = False, bump_range_mm: float = 0.5,
             parts: tuple[MeshPart, ...] = ()) -> str:
    """The MTL of the skin material: white diffuse × ``map_Kd``, the normal map as ``map_Bump -bm
    1`` (Blender, Unity) and ``norm`` (three.js, tinyobjloader), the bump map as ``disp`` with
    ``-mm`` base/gain in metres (module doc); then a material per part, its colour as ``Kd`` and
    its textures ``<name>_albedo.png`` / ``<name>_normal.png`` likewise."""
    lines = [
        "# facetex skin material: white diffuse so map_Kd shows at full brightness",
        f"newmtl {config.material_name}",
        "Ka 0 0 0",
        "Kd 1 1 1",
        "Ks 0 0 0",
        "d 1",
        "illum 1",
        f"map_Kd {config.albedo_name}",
    ]
    if with_normal:
        lines.append(f"map_Bump -bm 1 {config.normal_name}")  # tangent-space normal map (Blender, Unity)
        lines.append(f"norm {config.normal_name}")  # the same normal map (three.js, tinyobjloader)
    if with_bump:
        gain = bump_range_mm / 1000.0  # metres per unit of bump.png; 0.5 is the surface
        lines.append(f"disp -mm {-0.5 * gain:.6g} {gain:.6g} {config.bump_name}")  # height (three.js)
    for part in parts:
        lines += ["", f"newmtl {part.name}", "Ka 0 0 0", "Kd {:.4g} {:.4g} {:.4g}".format(*part.colour), "Ks 0 0 0",
                  "d 1", "illum 1"]
        if part.albedo is not None:
            lines.append(f"map_Kd {part.name}_albedo.png")
        if part.normal_map is not None:
            lines += [f"map_Bump -bm 1 {part.name}_normal.png", f"norm {part.name}_normal.png"]
    return "\n".join(lines) + "\n"


def export_obj(
    mesh: TexturedMesh, out_dir: str | Path, config: ExportConfig = ExportConfig()
) -> tuple[Path, Path, Path, Path | None]:
    """Write ``<basename>.obj``, ``<basename>.mtl``, the albedo PNG (and normal, 16-bit bump PNGs)
    atomically, the textures edge-padded (:func:`padded_textures`).

    The mesh is written as given (no subdivision; :func:`export_mesh` does that). Positions are
    in the export frame (:mod:`facetex.render.textured_mesh`); ``vt`` are the facetex UVs unchanged.

    Returns
    -------
    (obj, mtl, albedo_png, normal_png or None) paths (the bump PNG is ``config.bump_name``).
    """
    return write_padded_obj(padded_textures(mesh, config), Path(out_dir), config)


def write_padded_obj(mesh: TexturedMesh, out: Path, config: ExportConfig) -> tuple[Path, Path, Path, Path | None]:
    """:func:`export_obj` of a mesh whose textures are already padded."""
    albedo_path = out / config.albedo_name
    normal_path = out / config.normal_name if mesh.normal_map is not None else None
    write_image(albedo_path, mesh.albedo)
    if normal_path is not None:
        write_image(normal_path, mesh.normal_map)
    if mesh.bump is not None:
        write_image(out / config.bump_name, mesh.bump, bits=16)
    for part in mesh.parts:
        if part.albedo is not None:
            write_image(out / f"{part.name}_albedo.png", part.albedo)
        if part.normal_map is not None:
            write_image(out / f"{part.name}_normal.png", part.normal_map)
    mtl_path = out / f"{config.basename}.mtl"
    write_text(
        mtl_path,
        mtl_text(
            config, with_normal=normal_path is not None, with_bump=mesh.bump is not None,
            bump_range_mm=mesh.bump_range_mm, parts=mesh.parts,
        ),
    )
    obj_path = out / f"{config.basename}.obj"
    write_text(obj_path, _obj_text(mesh, config))
    return obj_path, mtl_path, albedo_path, normal_path
