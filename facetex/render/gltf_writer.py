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
from facetex.render.surface_frames import vertex_normals, vertex_tangents
from facetex.render.textured_mesh import CM_PER_METRE, TexturedMesh, model_to_export_frame, uv_to_gltf

__all__ = ["MORPH_EPSILON_M", "glb_bytes", "padded_glb_bytes", "export_glb"]

#: A morph target's offsets (metres, and unit-normal change) at or below this are stored as 0.
MORPH_EPSILON_M = 1e-5


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

    One node, one mesh, one primitive with POSITION, NORMAL, TANGENT (when there is a normal
    map) and TEXCOORD_0 (t = 1 − v, :func:`uv_to_gltf`), 32-bit indices; each attribute in its
    own bufferView with its target. Images, textures and the material are named.
    """
    return padded_glb_bytes(padded_textures(mesh, config), config)


def padded_glb_bytes(mesh: TexturedMesh, config: ExportConfig) -> bytes:
    """:func:`glb_bytes` of a mesh whose textures are already padded."""
    morphs = mesh.morphs
    positions = model_to_export_frame(mesh.vertices if morphs is None else morphs.neutral(mesh.vertices))
    normals = vertex_normals(positions, mesh.faces)
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

    def add_sparse(values: np.ndarray, *, bounds: bool = False) -> int:
        """A VEC3 float accessor of (V, 3) ``values`` holding only the rows above the epsilon."""
        data = np.ascontiguousarray(values, dtype="<f4")
        rows = np.flatnonzero(np.abs(data).max(axis=1) > MORPH_EPSILON_M)
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
    primitive: dict = {"attributes": attributes, "indices": index_accessor, "material": 0, "mode": 4}
    gltf_mesh: dict = {"name": config.basename, "primitives": [primitive]}
    if morphs is not None:
        targets = []
        for offset in morphs.offsets:
            moved = positions + offset.astype(np.float64) / CM_PER_METRE
            targets.append({
                "POSITION": add_sparse(moved - positions, bounds=True),
                "NORMAL": add_sparse(vertex_normals(moved, mesh.faces) - normals),
            })
        primitive["targets"] = targets
        gltf_mesh["weights"] = [float(w) for w in morphs.weights]
        gltf_mesh["extras"] = {"targetNames": list(morphs.names)}

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
        "meshes": [gltf_mesh],
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
