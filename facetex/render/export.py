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
    top row; the flip t = 1 − v is :func:`uv_to_gltf` (trimesh applies it when it writes a GLB;
    the tests read the GLB's raw accessor to check it).
Brightness
    The MTL gives a white diffuse ``Kd 1 1 1`` beside ``map_Kd`` (viewers multiply the two;
    trimesh's default Kd of 0.4 shows the texture at 0.4× brightness), no ambient or specular.
    The GLB material is metallic 0, roughness 0.6 (skin), base colour factor 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facetex.errors import InputImageError, ShapeMismatchError
from facetex.io.atomic import atomic_path, write_image, write_text
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
    albedo_name, normal_name : file names of the texture PNGs written beside the OBJ.
    material_name : the material's name in the MTL and the GLB.
    subdivisions : levels of subdivision by :mod:`facetex.geometry.subdivide` (each level
        splits every triangle into 4); 0 exports the mesh as given.
    subdivision_scheme : "loop" (smoother surface) or "midpoint".
    roughness, metallic : glTF PBR factors of the skin material (skin is a dielectric; 0.6 is
        a common roughness for skin without a specular map).
    """

    basename: str = "face"
    albedo_name: str = "albedo.png"
    normal_name: str = "normal.png"
    material_name: str = "skin"
    subdivisions: int = 0
    subdivision_scheme: str = "loop"
    roughness: float = 0.6
    metallic: float = 0.0


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
    """

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    albedo: np.ndarray
    normal_map: np.ndarray | None = None


@dataclass(frozen=True)
class ExportedFiles:
    """Paths written by :func:`export_mesh` (``normal`` is None when no normal map was given)."""

    obj: Path
    mtl: Path
    albedo: Path
    glb: Path
    normal: Path | None


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
    return TexturedMesh(vertices=v, faces=f.astype(np.int64), uvs=uv, albedo=alb, normal_map=nrm)


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


def subdivide_textured_mesh(mesh: TexturedMesh, levels: int, *, scheme: str = "loop") -> TexturedMesh:
    """Subdivide ``levels`` times with :func:`facetex.geometry.subdivide.subdivide`.

    ``scheme`` is "loop" (smooth surface) or "midpoint" (same surface, more triangles); UVs are
    interpolated linearly either way, so the texture stays where it was. Textures are kept.
    """
    if levels == 0:
        return mesh
    from facetex.geometry.subdivide import subdivide

    topology = MeshTopology(
        vertices=mesh.vertices,
        uvs=mesh.uvs,
        faces=mesh.faces,
        landmark_weights=np.zeros(mesh.vertices.shape[0]),
    )
    fine, _ = subdivide(topology, levels, scheme=scheme)
    return make_textured_mesh(fine.vertices, fine.faces, fine.uvs, mesh.albedo, mesh.normal_map)


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3) of a CCW mesh."""
    tri = vertices[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_n)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)


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


def _mtl_text(config: ExportConfig, with_normal: bool) -> str:
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
        lines.append(f"norm {config.normal_name}")  # tangent-space normal map (three.js, tinyobj)
    return "\n".join(lines) + "\n"


def export_obj(
    mesh: TexturedMesh, out_dir: str | Path, config: ExportConfig = ExportConfig()
) -> tuple[Path, Path, Path, Path | None]:
    """Write ``<basename>.obj``, ``<basename>.mtl``, the albedo PNG (and normal PNG) atomically.

    The mesh is written as given (no subdivision; :func:`export_mesh` does that). Positions are
    in the export frame (module doc); ``vt`` are the facetex UVs unchanged.

    Returns
    -------
    (obj, mtl, albedo_png, normal_png or None) paths.
    """
    out = Path(out_dir)
    positions = model_to_export_frame(mesh.vertices)
    albedo_path = out / config.albedo_name
    normal_path = out / config.normal_name if mesh.normal_map is not None else None
    write_image(albedo_path, mesh.albedo)
    if normal_path is not None:
        write_image(normal_path, mesh.normal_map)
    mtl_path = out / f"{config.basename}.mtl"
    write_text(mtl_path, _mtl_text(config, normal_path is not None))
    obj_path = out / f"{config.basename}.obj"
    write_text(obj_path, _obj_text(mesh, config, positions))
    return obj_path, mtl_path, albedo_path, normal_path


def _to_pil(image: np.ndarray):
    from PIL import Image

    return Image.fromarray(np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8))


def glb_bytes(mesh: TexturedMesh, config: ExportConfig = ExportConfig()) -> bytes:
    """The binary glTF of ``mesh`` (export frame, embedded PNG textures, PBR skin material)."""
    import trimesh

    positions = model_to_export_frame(mesh.vertices)
    material = trimesh.visual.material.PBRMaterial(
        name=config.material_name,
        baseColorFactor=[255, 255, 255, 255],
        baseColorTexture=_to_pil(mesh.albedo),
        normalTexture=None if mesh.normal_map is None else _to_pil(mesh.normal_map),
        metallicFactor=float(config.metallic),
        roughnessFactor=float(config.roughness),
    )
    # trimesh's TextureVisuals take OBJ-convention UVs (= facetex) and write uv_to_gltf(uv).
    visual = trimesh.visual.TextureVisuals(uv=mesh.uvs, material=material)
    tm = trimesh.Trimesh(
        vertices=positions,
        faces=mesh.faces,
        vertex_normals=_vertex_normals(positions, mesh.faces),
        visual=visual,
        process=False,
    )
    scene = trimesh.Scene()
    scene.add_geometry(tm, node_name=config.basename, geom_name=config.basename)
    return trimesh.exchange.gltf.export_glb(scene, include_normals=True)


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
    obj, mtl, albedo, normal = export_obj(mesh, out_dir, config)
    glb = export_glb(mesh, Path(out_dir) / f"{config.basename}.glb", config)
    return ExportedFiles(obj=obj, mtl=mtl, albedo=albedo, glb=glb, normal=normal)
