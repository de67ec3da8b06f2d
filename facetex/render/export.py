"""Textured-mesh export: ``face.obj`` + ``face.mtl`` + ``albedo.png`` and ``face.glb``.

Export frame
    The facetex model frame (see :mod:`facetex.types`) converted to metres: x to image right
    (the subject's left), **y up**, **z out of the face towards the viewer**, origin near the
    head centre (the canonical mesh's origin). This is exactly glTF's frame (right-handed,
    +Y up, +Z the front of the asset, metres), so a viewer opening ``face.glb`` sees the face
    upright and frontal. The OBJ uses the same frame and unit (OBJ itself has none).
    A :class:`~facetex.types.FaceFit` holds camera-frame vertices; :func:`model_frame_vertices`
    undoes its pose first.
Texture coordinates
    facetex UVs have v = 1 at the top row of the texture as stored (types.py). OBJ ``vt`` uses
    the same convention, so it is written unchanged. glTF's ``TEXCOORD_0`` has t = 0 at the
    top row; the flip t = 1 − v is :func:`uv_to_gltf` (:func:`glb_bytes` applies it;
    the tests read the GLB's raw accessor to check it).
Brightness
    The MTL gives a white diffuse ``Kd 1 1 1`` beside ``map_Kd`` (viewers multiply the two;
    trimesh's default Kd of 0.4 shows the texture at 0.4× brightness), no ambient or specular.
    The GLB material is metallic 0, roughness 0.6 (skin), base colour factor 1.
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
glTF specifics (:func:`glb_bytes`)
    Per-vertex TANGENT (xyz along +u, w = ±1 so that cross(N, T)·w points along +v, as
    MikkTSpace and the glTF spec define it; :func:`vertex_tangents`), bufferView targets
    (34962 for vertex attributes, 34963 for indices), named images, textures and material, a
    clamp-to-edge mipmapped sampler, and ``doubleSided: true``: the face is an open shell, and a
    one-sided material shows nothing once the head is turned past profile.
Texture padding
    Every texture written (albedo, normal, bump) is edge-padded a few texels past the chart
    (:func:`facetex.render.maps.pad_chart`, ``ExportConfig.padding_texels`` at 512², scaled with
    R), so that bilinear filtering and mipmaps at the chart's border never pull in the 0.5 fill.
    The maps facetex keeps in memory keep the fill (``docs/design.md#conventions``).
"""

from __future__ import annotations

import dataclasses
import json
import struct
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Literal

import numpy as np

from facetex import __version__
from facetex.checks import check_choice, check_integer, check_number
from facetex.errors import InputImageError, ShapeMismatchError
from facetex.geometry.subdivide import Scheme, subdivide
from facetex.geometry.uv import chart_mask
from facetex.io.atomic import atomic_path, write_image, write_text
from facetex.render.maps import pad_chart, padding_texels
from facetex.types import FaceFit, MeshTopology

__all__ = [
    "CM_PER_METRE",
    "ExportConfig",
    "TexturedMesh",
    "ExportedFiles",
    "make_textured_mesh",
    "model_frame_vertices",
    "model_to_export_frame",
    "uv_to_gltf",
    "subdivide_textured_mesh",
    "export_obj",
    "mtl_text",
    "vertex_tangents",
    "padded_textures",
    "glb_bytes",
    "export_glb",
    "export_mesh",
]

CM_PER_METRE = 100.0


@dataclass(frozen=True)
class ExportConfig:
    """Settings of :func:`export_mesh`.

    Attributes
    ----------
    basename : file stem of the meshes (``face`` → ``face.obj``, ``face.mtl``, ``face.glb``).
    albedo_name, normal_name, bump_name : file names of the texture PNGs written beside the OBJ.
    material_name : the material's name in the MTL and the GLB.
    subdivisions : levels of subdivision by :mod:`facetex.geometry.subdivide` (each level
        splits every triangle into 4); 0 exports the mesh as given.
    subdivision_scheme : "loop" (smoother surface) or "midpoint".
    roughness, metallic : glTF PBR factors of the skin material (skin is a dielectric; 0.6 is
        a common roughness for skin without a specular map).
    padding_texels : edge padding of the exported textures past the UV chart, in texels of a
        512² map (scaled with the resolution: 2 at 128²); 0 writes the maps unpadded.
    """

    basename: str = "face"
    albedo_name: str = "albedo.png"
    normal_name: str = "normal.png"
    bump_name: str = "bump.png"
    material_name: str = "skin"
    subdivisions: int = 0
    subdivision_scheme: str = "loop"
    roughness: float = 0.6
    metallic: float = 0.0
    padding_texels: int = 8

    def __post_init__(self) -> None:
        check_integer("subdivisions", self.subdivisions, 0, 4)  # 4 levels: 230 k triangles
        check_choice("subdivision_scheme", self.subdivision_scheme, ("loop", "midpoint"))
        check_number("roughness", self.roughness, 0.0, 1.0)
        check_number("metallic", self.metallic, 0.0, 1.0)
        check_integer("padding_texels", self.padding_texels, 0, 256)


@dataclass(frozen=True)
class TexturedMesh:
    """A triangle mesh with per-vertex UVs and its textures, ready to export or render.

    Build it with :func:`make_textured_mesh`, which validates the arrays.

    Attributes
    ----------
    vertices : (V, 3) float64, facetex **model frame**, centimetres (x image right, y up,
        z towards the viewer).
    faces : (F, 3) int64, counter-clockwise seen from outside (from +z for a frontal face).
    uvs : (V, 2) float64 in [0, 1], facetex convention (v = 1 at the top row).
    albedo : (R, R, 3) float32 in [0, 1], sRGB-encoded diffuse albedo in UV.
    normal_map : (R, R, 3) float32 in [0, 1] or None; tangent-space normals encoded as
        (n + 1) / 2, OpenGL convention (red +u, green +v i.e. up in the stored image, blue out of
        the surface), as made by :func:`facetex.render.maps.detail_maps`.
    bump : (R, R) float32 in [0, 1] or None; height map, 0.5 = the surface (maps.py's encoding).
    bump_range_mm : millimetres of relief that the bump map's [0, 1] spans.
    chart : (R, R) bool or None; texels that hold the textures' values (the rest is the 0.5
        fill and is replaced by edge padding on export). None: the texels whose centre lies
        inside the mesh's UV triangles (:func:`facetex.geometry.uv.chart_mask`), the chart of
        every texture facetex makes.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    albedo: np.ndarray
    normal_map: np.ndarray | None = None
    bump: np.ndarray | None = None
    bump_range_mm: float = 0.5
    chart: np.ndarray | None = None


@dataclass(frozen=True)
class ExportedFiles:
    """Paths written by :func:`export_mesh` (``normal``/``bump`` are None when not given)."""

    obj: Path
    mtl: Path
    albedo: Path
    glb: Path
    normal: Path | None
    bump: Path | None = None


def _check_texture(name: str, image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputImageError(f"{name} must be an (H, W, 3) RGB image, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or arr.min() < 0.0 or arr.max() > 1.0:
        raise InputImageError(f"{name} must hold finite values in [0, 1]")
    return arr


def make_textured_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    uvs: np.ndarray,
    albedo: np.ndarray,
    normal_map: np.ndarray | None = None,
    *,
    bump: np.ndarray | None = None,
    bump_range_mm: float = 0.5,
    chart: np.ndarray | None = None,
) -> TexturedMesh:
    """Validate arrays and bundle them into a :class:`TexturedMesh` (see it for shapes/frames).

    Raises
    ------
    ShapeMismatchError
        If the arrays' shapes disagree, a face indexes a missing vertex, or UVs leave [0, 1].
    InputImageError
        If a texture is not an RGB image with values in [0, 1].
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    uv = np.asarray(uvs, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] < 3:
        raise ShapeMismatchError(f"vertices must have shape (V, 3) with V >= 3, got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ShapeMismatchError("vertices must be finite")
    if f.ndim != 2 or f.shape[1] != 3 or f.shape[0] < 1 or not np.issubdtype(f.dtype, np.integer):
        raise ShapeMismatchError(f"faces must be an integer array of shape (F, 3), got {f.dtype} {f.shape}")
    if f.min() < 0 or f.max() >= v.shape[0]:
        raise ShapeMismatchError(f"faces index vertices outside [0, {v.shape[0]})")
    if uv.shape != (v.shape[0], 2):
        raise ShapeMismatchError(f"uvs must have shape ({v.shape[0]}, 2) to match vertices, got {uv.shape}")
    if not np.all(np.isfinite(uv)) or uv.min() < 0.0 or uv.max() > 1.0:
        raise ShapeMismatchError("uvs must lie in [0, 1]")
    alb = _check_texture("albedo", albedo)
    nrm = None
    if normal_map is not None:
        nrm = _check_texture("normal_map", normal_map)
        if nrm.shape != alb.shape:
            raise ShapeMismatchError(f"normal_map shape {nrm.shape} differs from albedo shape {alb.shape}")
    hgt = None
    if bump is not None:
        hgt = _check_texture("bump", np.repeat(np.asarray(bump, dtype=np.float32)[..., None], 3, axis=2))[..., 0]
        if hgt.shape != alb.shape[:2]:
            raise ShapeMismatchError(f"bump shape {hgt.shape} differs from the albedo's {alb.shape[:2]}")
    if not (np.isfinite(bump_range_mm) and bump_range_mm > 0):
        raise ValueError(f"bump_range_mm must be > 0, got {bump_range_mm}")
    mask = None
    if chart is not None:
        mask = np.asarray(chart, dtype=bool)
        if mask.shape != alb.shape[:2]:
            raise ShapeMismatchError(f"chart shape {mask.shape} differs from the albedo's {alb.shape[:2]}")
    return TexturedMesh(
        vertices=v, faces=f.astype(np.int64), uvs=uv, albedo=alb, normal_map=nrm,
        bump=hgt, bump_range_mm=float(bump_range_mm), chart=mask,
    )


def model_frame_vertices(fit: FaceFit) -> np.ndarray:
    """The fitted vertices with the pose removed: X_model = Rᵀ (X_cam − t).

    Parameters
    ----------
    fit : a :class:`~facetex.types.FaceFit`; its ``vertices`` are (V, 3) camera-frame cm.

    Returns
    -------
    (V, 3) float64, model frame, cm (the fitted identity and expression, facing +z, y up).
    """
    rot = np.asarray(fit.rotation, dtype=np.float64)
    t = np.asarray(fit.translation, dtype=np.float64)
    return (np.asarray(fit.vertices, dtype=np.float64) - t) @ rot


def model_to_export_frame(vertices: np.ndarray) -> np.ndarray:
    """Model-frame centimetres (V, 3) → export frame metres (V, 3): the same axes, ÷ 100."""
    return np.asarray(vertices, dtype=np.float64) / CM_PER_METRE


def uv_to_gltf(uvs: np.ndarray) -> np.ndarray:
    """facetex UVs (v = 1 at the top row) → glTF TEXCOORD_0 (t = 0 at the top row): (u, 1 − v)."""
    uv = np.array(uvs, dtype=np.float64, copy=True)
    uv[..., 1] = 1.0 - uv[..., 1]
    return uv


def subdivide_textured_mesh(mesh: TexturedMesh, levels: int, *, scheme: Scheme = "loop") -> TexturedMesh:
    """Subdivide ``levels`` times with :func:`facetex.geometry.subdivide.subdivide`.

    ``scheme`` is "loop" (smooth surface) or "midpoint" (same surface, more triangles); UVs are
    interpolated linearly either way, so the texture stays where it was. Textures are kept.
    """
    if levels == 0:
        return mesh
    topology = MeshTopology(
        vertices=mesh.vertices,
        uvs=mesh.uvs,
        faces=mesh.faces,
        landmark_weights=np.zeros(mesh.vertices.shape[0]),
    )
    fine, _ = subdivide(topology, levels, scheme=scheme)
    return make_textured_mesh(
        fine.vertices, fine.faces, fine.uvs, mesh.albedo, mesh.normal_map,
        bump=mesh.bump, bump_range_mm=mesh.bump_range_mm,
        chart=mesh.chart if mesh.chart is not None else _uv_chart(mesh),
    )


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3) of a CCW mesh."""
    tri = vertices[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_n)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


def vertex_tangents(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Per-vertex tangent frames from UVs, as glTF's TANGENT attribute (MikkTSpace-style).

    Each triangle's dP/du and dP/dv (facetex UVs, v up) are summed at its corners, weighted by
    the corner's angle (as MikkTSpace weights them); the tangent is the sum of dP/du made
    orthogonal to the vertex normal (Gram–Schmidt) and normalised, and w = +1 when
    cross(N, T) points along the summed dP/dv, else −1. A vertex whose UV triangles are all
    degenerate gets any unit vector orthogonal to N, w = +1.

    Parameters
    ----------
    vertices : (V, 3) float, any frame and unit (the tangents are in the same frame).
    faces : (F, 3) int, counter-clockwise seen from outside.
    uvs : (V, 2) float, facetex UVs (v = 1 at the top row). With glTF's TEXCOORD_0 (t = 1 − v)
        the bitangent cross(N, T)·w points along −t: up in the image, where the normal map's
        green channel points (OpenGL / glTF convention).
    normals : (V, 3) unit vertex normals.

    Returns
    -------
    (V, 4) float64: xyz unit tangent ⟂ normal, w ∈ {−1, +1}.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    uv = np.asarray(uvs, dtype=np.float64)
    n = np.asarray(normals, dtype=np.float64)
    tangent_sum = np.zeros_like(v)
    bitangent_sum = np.zeros_like(v)
    p = v[f]  # (F, 3, 3)
    t = uv[f]  # (F, 3, 2)
    for corner in range(3):
        a, b, c = corner, (corner + 1) % 3, (corner + 2) % 3
        e1, e2 = p[:, b] - p[:, a], p[:, c] - p[:, a]
        d1, d2 = t[:, b] - t[:, a], t[:, c] - t[:, a]
        det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
        ok = np.abs(det) > 1e-20
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)[:, None]
        dp_du = (e1 * d2[:, 1:2] - e2 * d1[:, 1:2]) * inv
        dp_dv = (e2 * d1[:, 0:1] - e1 * d2[:, 0:1]) * inv
        l1, l2 = np.linalg.norm(e1, axis=1), np.linalg.norm(e2, axis=1)
        cos = np.einsum("ij,ij->i", e1, e2) / np.maximum(l1 * l2, 1e-300)
        angle = np.arccos(np.clip(cos, -1.0, 1.0))[:, None]

        def unit(x: np.ndarray) -> np.ndarray:
            length = np.linalg.norm(x, axis=1, keepdims=True)
            return np.divide(x, length, out=np.zeros_like(x), where=length > 0)

        np.add.at(tangent_sum, f[:, a], unit(dp_du) * angle)
        np.add.at(bitangent_sum, f[:, a], unit(dp_dv) * angle)
    tangent = tangent_sum - n * np.einsum("ij,ij->i", tangent_sum, n)[:, None]
    length = np.linalg.norm(tangent, axis=1)
    bad = length < 1e-12
    if bad.any():  # any direction orthogonal to the normal
        helper = np.where(np.abs(n[bad, 0:1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
        tangent[bad] = np.cross(n[bad], helper)
        length = np.linalg.norm(tangent, axis=1)
    tangent /= np.maximum(length, 1e-300)[:, None]
    handed = np.einsum("ij,ij->i", np.cross(n, tangent), bitangent_sum)
    w = np.where(handed < 0.0, -1.0, 1.0)
    return np.concatenate([tangent, w[:, None]], axis=1)


def _uv_chart(mesh: TexturedMesh) -> np.ndarray:
    """Texels whose centre lies inside the mesh's UV triangles, at the albedo's resolution."""
    topology = MeshTopology(
        vertices=mesh.vertices, uvs=mesh.uvs, faces=mesh.faces, landmark_weights=np.zeros(mesh.vertices.shape[0])
    )
    return chart_mask(topology, mesh.albedo.shape[0])


def padded_textures(mesh: TexturedMesh, config: ExportConfig = ExportConfig()) -> TexturedMesh:
    """``mesh`` with its textures edge-padded past the chart for renderers (module doc).

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

    def pad(image: np.ndarray | None) -> np.ndarray | None:
        return None if image is None else np.clip(pad_chart(image, chart, width), 0.0, 1.0).astype(np.float32)

    return dataclasses.replace(
        mesh, albedo=pad(mesh.albedo), normal_map=pad(mesh.normal_map), bump=pad(mesh.bump), chart=chart
    )


def _obj_text(mesh: TexturedMesh, config: ExportConfig, positions: np.ndarray) -> str:
    normals = _vertex_normals(positions, mesh.faces)
    lines = [
        "# facetex textured face; frame: y up, z towards the viewer, metres",
        f"mtllib {config.basename}.mtl",
        f"o {config.basename}",
    ]
    lines += [f"v {x:.7g} {y:.7g} {z:.7g}" for x, y, z in positions]
    lines += [f"vt {u:.7g} {v:.7g}" for u, v in mesh.uvs]  # OBJ vt: v = 1 at the top, as facetex
    lines += [f"vn {x:.6f} {y:.6f} {z:.6f}" for x, y, z in normals]
    lines.append(f"usemtl {config.material_name}")
    lines.append("s 1")
    lines += [f"f {a}/{a}/{a} {b}/{b}/{b} {c}/{c}/{c}" for a, b, c in mesh.faces + 1]
    return "\n".join(lines) + "\n"


def mtl_text(config: ExportConfig, *, with_normal: bool, with_bump: bool = False, bump_range_mm: float = 0.5) -> str:
    """The MTL of the skin material: white diffuse × ``map_Kd``, the normal map as ``map_Bump -bm
    1`` (Blender, Unity) and ``norm`` (three.js, tinyobjloader), the bump map as ``disp`` with
    ``-mm`` base/gain in metres (module doc, "MTL texture keywords")."""
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
    return "\n".join(lines) + "\n"


def export_obj(
    mesh: TexturedMesh, out_dir: str | Path, config: ExportConfig = ExportConfig()
) -> tuple[Path, Path, Path, Path | None]:
    """Write ``<basename>.obj``, ``<basename>.mtl``, the albedo PNG (and normal, 16-bit bump PNGs)
    atomically, the textures edge-padded (:func:`padded_textures`).

    The mesh is written as given (no subdivision; :func:`export_mesh` does that). Positions are
    in the export frame (module doc); ``vt`` are the facetex UVs unchanged.

    Returns
    -------
    (obj, mtl, albedo_png, normal_png or None) paths (the bump PNG is ``config.bump_name``).
    """
    return _write_obj(padded_textures(mesh, config), Path(out_dir), config)


def _write_obj(mesh: TexturedMesh, out: Path, config: ExportConfig) -> tuple[Path, Path, Path, Path | None]:
    """:func:`export_obj` of a mesh whose textures are already padded."""
    positions = model_to_export_frame(mesh.vertices)
    albedo_path = out / config.albedo_name
    normal_path = out / config.normal_name if mesh.normal_map is not None else None
    write_image(albedo_path, mesh.albedo)
    if normal_path is not None:
        write_image(normal_path, mesh.normal_map)
    if mesh.bump is not None:
        write_image(out / config.bump_name, mesh.bump, bits=16)
    mtl_path = out / f"{config.basename}.mtl"
    write_text(
        mtl_path,
        mtl_text(
            config, with_normal=normal_path is not None, with_bump=mesh.bump is not None,
            bump_range_mm=mesh.bump_range_mm,
        ),
    )
    obj_path = out / f"{config.basename}.obj"
    write_text(obj_path, _obj_text(mesh, config, positions))
    return obj_path, mtl_path, albedo_path, normal_path


def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = BytesIO()
    Image.fromarray(np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


# glTF constants
_FLOAT, _UNSIGNED_INT = 5126, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_LINEAR, _LINEAR_MIPMAP_LINEAR, _CLAMP_TO_EDGE = 9729, 9987, 33071


def glb_bytes(mesh: TexturedMesh, config: ExportConfig = ExportConfig()) -> bytes:
    """The binary glTF 2.0 of ``mesh``: export frame (metres, y up), embedded PNG textures
    (edge-padded, :func:`padded_textures`), PBR skin material (module doc, "glTF specifics").

    One node, one mesh, one primitive with POSITION, NORMAL, TANGENT (when there is a normal
    map) and TEXCOORD_0 (t = 1 − v, :func:`uv_to_gltf`), 32-bit indices; each attribute in its
    own bufferView with its target. Images, textures and the material are named.
    """
    return _glb_bytes(padded_textures(mesh, config), config)


def _glb_bytes(mesh: TexturedMesh, config: ExportConfig) -> bytes:
    """:func:`glb_bytes` of a mesh whose textures are already padded."""
    positions = model_to_export_frame(mesh.vertices)
    normals = _vertex_normals(positions, mesh.faces)
    blob = bytearray()
    views: list[dict] = []
    accessors: list[dict] = []

    def add_view(data: bytes, target: int | None) -> int:
        while len(blob) % 4:
            blob.append(0)
        view = {"buffer": 0, "byteOffset": len(blob), "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        blob.extend(data)
        views.append(view)
        return len(views) - 1

    def add_attribute(values: np.ndarray, kind: Literal["VEC2", "VEC3", "VEC4"], *, bounds: bool = False) -> int:
        data = np.ascontiguousarray(values, dtype="<f4")
        accessor = {
            "bufferView": add_view(data.tobytes(), _ARRAY_BUFFER),
            "componentType": _FLOAT,
            "count": int(data.shape[0]),
            "type": kind,
        }
        if bounds:  # required for POSITION
            accessor["min"] = [float(x) for x in data.min(axis=0)]
            accessor["max"] = [float(x) for x in data.max(axis=0)]
        accessors.append(accessor)
        return len(accessors) - 1

    attributes = {
        "POSITION": add_attribute(positions, "VEC3", bounds=True),
        "NORMAL": add_attribute(normals, "VEC3"),
        "TEXCOORD_0": add_attribute(uv_to_gltf(mesh.uvs), "VEC2"),
    }
    if mesh.normal_map is not None:
        attributes["TANGENT"] = add_attribute(vertex_tangents(positions, mesh.faces, mesh.uvs, normals), "VEC4")
    indices = np.ascontiguousarray(mesh.faces.reshape(-1), dtype="<u4")
    accessors.append(
        {
            "bufferView": add_view(indices.tobytes(), _ELEMENT_ARRAY_BUFFER),
            "componentType": _UNSIGNED_INT,
            "count": int(indices.size),
            "type": "SCALAR",
            "min": [int(indices.min())],
            "max": [int(indices.max())],
        }
    )
    index_accessor = len(accessors) - 1

    images, textures = [], []

    def add_texture(image: np.ndarray, name: str) -> int:
        images.append({"name": name, "mimeType": "image/png", "bufferView": add_view(_png_bytes(image), None)})
        textures.append({"name": name, "sampler": 0, "source": len(images) - 1})
        return len(textures) - 1

    albedo_name = Path(config.albedo_name).stem
    material: dict = {
        "name": config.material_name,
        "pbrMetallicRoughness": {
            "baseColorFactor": [1.0, 1.0, 1.0, 1.0],
            "baseColorTexture": {"index": add_texture(mesh.albedo, albedo_name)},
            "metallicFactor": float(config.metallic),
            "roughnessFactor": float(config.roughness),
        },
        "doubleSided": True,
    }
    if mesh.normal_map is not None:
        material["normalTexture"] = {"index": add_texture(mesh.normal_map, Path(config.normal_name).stem)}
    while len(blob) % 4:
        blob.append(0)
    document = {
        "asset": {"version": "2.0", "generator": f"facetex {__version__}"},
        "scene": 0,
        "scenes": [{"name": config.basename, "nodes": [0]}],
        "nodes": [{"name": config.basename, "mesh": 0}],
        "meshes": [
            {
                "name": config.basename,
                "primitives": [{"attributes": attributes, "indices": index_accessor, "material": 0, "mode": 4}],
            }
        ],
        "materials": [material],
        "textures": textures,
        "images": images,
        "samplers": [
            {
                "magFilter": _LINEAR,
                "minFilter": _LINEAR_MIPMAP_LINEAR,
                "wrapS": _CLAMP_TO_EDGE,
                "wrapT": _CLAMP_TO_EDGE,
            }
        ],
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{"byteLength": len(blob)}],
    }
    text = json.dumps(document, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    total = 12 + 8 + len(text) + 8 + len(blob)
    return b"".join(
        [
            struct.pack("<4sII", b"glTF", 2, total),
            struct.pack("<II", len(text), 0x4E4F534A),
            text,
            struct.pack("<II", len(blob), 0x004E4942),
            bytes(blob),
        ]
    )


def export_glb(mesh: TexturedMesh, path: str | Path, config: ExportConfig = ExportConfig()) -> Path:
    """Write ``mesh`` as a binary glTF file atomically (see :func:`glb_bytes`)."""
    data = glb_bytes(mesh, config)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


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
    obj, mtl, albedo, normal = _write_obj(mesh, out, config)
    glb = out / f"{config.basename}.glb"
    with atomic_path(glb) as tmp:
        tmp.write_bytes(_glb_bytes(mesh, config))
    bump = out / config.bump_name if mesh.bump is not None else None
    return ExportedFiles(obj=obj, mtl=mtl, albedo=albedo, glb=glb, normal=normal, bump=bump)
