"""Writing a textured mesh as a binary glTF 2.0 file, ``face.glb``.

Frame, unit and ``TEXCOORD_0`` convention: :mod:`facetex.render.textured_mesh` (export frame,
metres; t = 1 − v by :func:`~facetex.render.textured_mesh.uv_to_gltf`).

Material
    Metallic 0, roughness 0.6 (skin), base colour factor 1.
glTF specifics (:func:`glb_bytes`)
    Per-vertex TANGENT (xyz along +u, w = ±1 so that cross(N, T)·w points along +v, as
    MikkTSpace and the glTF spec define it; :func:`vertex_tangents`), bufferView targets
    (34962 for vertex attributes, 34963 for indices), named images, textures and material, a
    clamp-to-edge mipmapped sampler, and ``doubleSided: true``: the face is an open shell, and a
    one-sided material shows nothing once the head is turned past profile.
Morph targets (when the mesh has :class:`~facetex.render.textured_mesh.MorphTargets`)
    POSITION is the neutral shape (every weight 0, the identity kept); each blendshape is a
    target with POSITION and NORMAL offsets (the normals of neutral + offset minus the neutral
    normals), stored as sparse accessors over the vertices that move more than
    :data:`MORPH_EPSILON_M` (the ICT blendshapes leave about 60 % of the face still); the
    mesh's ``weights`` are the mesh's own (a fit's expression, so a viewer shows the fitted
    face) and ``extras.targetNames`` their names, as Blender's importer and three.js read them.
"""

from __future__ import annotations

import json
import struct
from io import BytesIO
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from facetex import __version__
from facetex.io.atomic import atomic_path
from facetex.render.export_config import ExportConfig
from facetex.render.mesh_prep import padded_textures
from facetex.render.surface_frames import vertex_tangents, weld_groups, welded_vertex_normals
from facetex.render.textured_mesh import CM_PER_METRE, TexturedMesh, model_to_export_frame, uv_to_gltf

__all__ = ["MORPH_EPSILON_M", "glb_bytes", "padded_glb_bytes", "export_glb"]

#: A morph target's position offsets at or below this (metres) are stored as 0.
MORPH_EPSILON_M = 1e-5
#: A morph target's change of a unit normal at or below this (≈ 0.1°) is stored as 0.
MORPH_NORMAL_EPSILON = 2e-3


def _png_bytes(image: np.ndarray) -> bytes:
    buffer = BytesIO()
    Image.fromarray(np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


# glTF constants
_FLOAT, _UNSIGNED_INT = 5126, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_LINEAR, _LINEAR_MIPMAP_LINEAR, _CLAMP_TO_EDGE = 9729, 9987, 33071


def glb_bytes(mesh: TexturedMesh, config: ExportConfig = ExportConfig()) -> bytes:
    """The binary glTF 2.0 of ``mesh``: export frame (metres, y up), embedded PNG textures
    (edge-padded, :func:`padded_textures`), PBR skin material (module doc).

    One node, one mesh; one primitive for the face and one per part (``mesh.parts``: the rest of
    a head), each with its own named material, POSITION, NORMAL (welded where primitives share
    a vertex position, so the head shows no crease along the face's border), TANGENT (when it
    has a normal map) and TEXCOORD_0 (t = 1 − v, :func:`uv_to_gltf`), 32-bit indices; each
    attribute in its own bufferView with its target. Images and textures are named.
    """
    return padded_glb_bytes(padded_textures(mesh, config), config)


def padded_glb_bytes(mesh: TexturedMesh, config: ExportConfig) -> bytes:
    """:func:`glb_bytes` of a mesh whose textures are already padded."""
    morphs = mesh.morphs
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

    def add_sparse(values: np.ndarray, *, bounds: bool = False, epsilon: float = MORPH_EPSILON_M) -> int:
        """A VEC3 float accessor of (V, 3) ``values`` holding only the rows above ``epsilon``."""
        data = np.ascontiguousarray(values, dtype="<f4")
        rows = np.flatnonzero(np.abs(data).max(axis=1) > epsilon)
        if rows.size == 0:  # a sparse accessor needs one entry
            rows = np.zeros(1, dtype=np.int64)
        kept = np.zeros_like(data)
        kept[rows] = data[rows]
        accessor = {
            "componentType": _FLOAT,
            "count": int(data.shape[0]),
            "type": "VEC3",
            "sparse": {
                "count": int(rows.size),
                "indices": {"bufferView": add_view(rows.astype("<u4").tobytes(), None), "componentType": _UNSIGNED_INT},
                "values": {"bufferView": add_view(kept[rows].tobytes(), None)},
            },
        }
        if bounds:  # required for POSITION, morph targets included
            accessor["min"] = [float(x) for x in kept.min(axis=0)]
            accessor["max"] = [float(x) for x in kept.max(axis=0)]
        accessors.append(accessor)
        return len(accessors) - 1

    def add_primitive(positions: np.ndarray, normals: np.ndarray, faces: np.ndarray, uvs: np.ndarray,
                      tangents: bool, target_normals: list[np.ndarray] | None, offsets: np.ndarray | None,
                      material: int) -> dict:
        """One primitive: neutral positions (V, 3) m and their (welded) normals; per morph target
        its offsets (K, V, 3) cm and the normals of neutral + offset."""
        attributes = {
            "POSITION": add_attribute(positions, "VEC3", bounds=True),
            "NORMAL": add_attribute(normals, "VEC3"),
            "TEXCOORD_0": add_attribute(uv_to_gltf(uvs), "VEC2"),
        }
        if tangents:
            attributes["TANGENT"] = add_attribute(vertex_tangents(positions, faces, uvs, normals), "VEC4")
        indices = np.ascontiguousarray(faces.reshape(-1), dtype="<u4")
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
        primitive: dict = {"attributes": attributes, "indices": len(accessors) - 1, "material": material, "mode": 4}
        if morphs is not None:
            primitive["targets"] = [
                {"POSITION": add_sparse(offset.astype(np.float64) / CM_PER_METRE, bounds=True),
                 "NORMAL": add_sparse(moved_normals - normals, epsilon=MORPH_NORMAL_EPSILON)}
                for offset, moved_normals in zip(offsets, target_normals)
            ]
        return primitive

    images, textures = [], []

    def add_texture(image: np.ndarray, name: str) -> int:
        images.append({"name": name, "mimeType": "image/png", "bufferView": add_view(_png_bytes(image), None)})
        textures.append({"name": name, "sampler": 0, "source": len(images) - 1})
        return len(textures) - 1

    def add_material(name: str, colour, albedo: np.ndarray | None, albedo_name: str, normal_map: np.ndarray | None,
                     normal_name: str, roughness: float) -> int:
        pbr: dict = {
            "baseColorFactor": [float(c) for c in colour] + [1.0],
            "metallicFactor": float(config.metallic),
            "roughnessFactor": float(roughness),
        }
        if albedo is not None:
            pbr["baseColorTexture"] = {"index": add_texture(albedo, albedo_name)}
        material: dict = {"name": name, "pbrMetallicRoughness": pbr, "doubleSided": True}
        if normal_map is not None:
            material["normalTexture"] = {"index": add_texture(normal_map, normal_name)}
        materials.append(material)
        return len(materials) - 1

    materials: list[dict] = []
    face_material = add_material(config.material_name, (1.0, 1.0, 1.0), mesh.albedo, Path(config.albedo_name).stem,
                                 mesh.normal_map, Path(config.normal_name).stem, config.roughness)
    shapes = [(mesh.vertices, mesh.faces, mesh.uvs, mesh.normal_map is not None,
               None if morphs is None else morphs.offsets, face_material)]
    for part in mesh.parts:
        material = add_material(part.name, part.colour, part.albedo, f"{part.name}_albedo", part.normal_map,
                                f"{part.name}_normal", part.roughness)
        shapes.append((part.vertices, part.faces, part.uvs, part.normal_map is not None, part.morph_offsets, material))
    neutral = [model_to_export_frame(shown if morphs is None else shown - np.einsum("k,kvc->vc", morphs.weights, offsets))
               for shown, _, _, _, offsets, _ in shapes]
    group = weld_groups(neutral)  # a vertex the face shares with a part (or a UV seam's copies): one normal
    normals = welded_vertex_normals([(p, shape[1]) for p, shape in zip(neutral, shapes)], group)
    target_normals: list[list[np.ndarray]] = [[] for _ in shapes]
    for k in range(0 if morphs is None else len(morphs.names)):
        moved = [(p + shape[4][k].astype(np.float64) / CM_PER_METRE, shape[1]) for p, shape in zip(neutral, shapes)]
        for i, n in enumerate(welded_vertex_normals(moved, group)):
            target_normals[i].append(n)
    primitives = [
        add_primitive(p, n, faces, uvs, tangents, targets, offsets, material)
        for p, n, targets, (_, faces, uvs, tangents, offsets, material) in zip(neutral, normals, target_normals, shapes)
    ]
    gltf_mesh: dict = {"name": config.basename, "primitives": primitives}
    if morphs is not None:
        gltf_mesh["weights"] = [float(w) for w in morphs.weights]
        gltf_mesh["extras"] = {"targetNames": list(morphs.names)}
    while len(blob) % 4:
        blob.append(0)
    document = {
        "asset": {"version": "2.0", "generator": f"facetex {__version__}"},
        "scene": 0,
        "scenes": [{"name": config.basename, "nodes": [0]}],
        "nodes": [{"name": config.basename, "mesh": 0}],
        "meshes": [gltf_mesh],
        "materials": materials,
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
