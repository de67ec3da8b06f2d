"""Exports: OBJ/MTL/PNG and GLB round-trips, frames, UV conventions, brightness, atomicity."""

from __future__ import annotations

import dataclasses
import json
import struct
from io import BytesIO

import numpy as np
import pytest
import trimesh
from PIL import Image

from facetex.errors import InputImageError, OutputError, ShapeMismatchError
from facetex.geometry.topology import load_face_mesh
from facetex.geometry.uv import chart_mask, uv_to_pixel
from facetex.render.export import export_mesh
from facetex.render.export_config import ExportConfig
from facetex.render.gltf_writer import MORPH_EPSILON_M, export_glb
from facetex.render.surface_frames import vertex_tangents
from facetex.render.textured_mesh import (
    make_mesh_part,
    make_morph_targets,
    make_textured_mesh,
    model_frame_vertices,
    uv_to_gltf,
    with_expression,
)
from facetex.types import FaceFit

from .conftest import dome_patch, khronos_validation

N = 12  # vertices per side = texture side: vertex (i, j) sits on texel (i, j)


def _quantised(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def _sample_facetex(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Nearest texel of an (R, R, C) image at facetex UVs (v = 1 top)."""
    xy = uv_to_pixel(uv, image.shape[0])
    cols = np.clip(np.floor(xy[:, 0]).astype(int), 0, image.shape[1] - 1)
    rows = np.clip(np.floor(xy[:, 1]).astype(int), 0, image.shape[0] - 1)
    return image[rows, cols]


@pytest.fixture()
def patch_mesh(photo_texture):
    vertices, faces, uvs = dome_patch(N)
    albedo = photo_texture(N)
    normal = np.dstack(
        [np.linspace(0.3, 0.7, N)[None, :].repeat(N, 0), np.full((N, N), 0.6), np.full((N, N), 0.9)]
    )
    # Every texel holds a vertex's colour (the grid's last row and column lie on the chart's
    # edge, which the UV rasterizer leaves out): the whole square is the chart, nothing is padded.
    chart = np.ones((N, N), dtype=bool)
    return make_textured_mesh(vertices, faces, uvs, albedo, normal.astype(np.float32), chart=chart)


def _glb_chunks(path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    magic, version, _ = struct.unpack_from("<4sII", raw, 0)
    assert magic == b"glTF" and version == 2
    json_len, json_type = struct.unpack_from("<II", raw, 12)
    assert json_type == 0x4E4F534A
    doc = json.loads(raw[20 : 20 + json_len])
    bin_off = 20 + json_len
    bin_len, bin_type = struct.unpack_from("<II", raw, bin_off)
    assert bin_type == 0x004E4942
    return doc, raw[bin_off + 8 : bin_off + 8 + bin_len]


def _accessor(doc: dict, blob: bytes, index: int) -> np.ndarray:
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    assert acc["componentType"] == 5126  # float32
    width = {"VEC2": 2, "VEC3": 3}[acc["type"]]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    return np.frombuffer(blob, dtype="<f4", count=acc["count"] * width, offset=start).reshape(-1, width)


def _image(doc: dict, blob: bytes, texture_index: int) -> np.ndarray:
    image = doc["images"][doc["textures"][texture_index]["source"]]
    view = doc["bufferViews"][image["bufferView"]]
    start = view.get("byteOffset", 0)
    return np.asarray(Image.open(BytesIO(blob[start : start + view["byteLength"]])).convert("RGB"))


def test_glb_raw_accessors_follow_gltf_conventions(patch_mesh, tmp_path):
    path = export_glb(patch_mesh, tmp_path / "face.glb")
    doc, blob = _glb_chunks(path)
    prim = doc["meshes"][0]["primitives"][0]
    positions = _accessor(doc, blob, prim["attributes"]["POSITION"])
    texcoords = _accessor(doc, blob, prim["attributes"]["TEXCOORD_0"])
    # Metres, y up, z towards the viewer: the model frame / 100.
    np.testing.assert_allclose(positions, patch_mesh.vertices / 100.0, atol=1e-6)
    # glTF t = 0 at the top row: t = 1 − v.
    np.testing.assert_allclose(texcoords, uv_to_gltf(patch_mesh.uvs), atol=1e-6)
    assert np.all(texcoords[:N, 1] < 0.5)  # first grid row is the texture's top row
    # The embedded PNG read at (s, t) with glTF's convention gives each vertex its texel colour.
    material = doc["materials"][prim["material"]]
    pbr = material["pbrMetallicRoughness"]
    base = _image(doc, blob, pbr["baseColorTexture"]["index"])
    rows = np.floor(texcoords[:, 1] * N).astype(int)
    cols = np.floor(texcoords[:, 0] * N).astype(int)
    expected = _quantised(patch_mesh.albedo).reshape(-1, 3)
    np.testing.assert_array_equal(base[rows, cols], expected)
    assert pbr.get("metallicFactor", 1.0) == 0.0
    assert pbr["roughnessFactor"] == pytest.approx(0.6)
    normal_png = _image(doc, blob, material["normalTexture"]["index"])
    np.testing.assert_array_equal(normal_png, _quantised(patch_mesh.normal_map))


def test_glb_roundtrip_through_trimesh(patch_mesh, tmp_path):
    path = export_glb(patch_mesh, tmp_path / "face.glb")
    geometry = next(iter(trimesh.load(path, process=False).geometry.values()))
    np.testing.assert_allclose(geometry.vertices, patch_mesh.vertices / 100.0, atol=1e-6)
    np.testing.assert_array_equal(geometry.faces, patch_mesh.faces)
    texture = np.asarray(geometry.visual.material.baseColorTexture.convert("RGB"))
    # Colour at each vertex = the PNG's colour at the vertex's UV (trimesh UVs are OBJ-style).
    np.testing.assert_array_equal(
        _sample_facetex(texture, geometry.visual.uv), _quantised(patch_mesh.albedo).reshape(-1, 3)
    )
    # Normals point out of the dome (+z at its apex).
    assert np.all(geometry.vertex_normals[:, 2] > 0)


def test_obj_roundtrip_and_white_diffuse(patch_mesh, tmp_path):
    files = export_mesh(patch_mesh, tmp_path)
    mtl = files.mtl.read_text().split("\n")
    assert "Kd 1 1 1" in mtl and "map_Kd albedo.png" in mtl and "map_Bump -bm 1 normal.png" in mtl
    assert "newmtl skin" in mtl
    assert "mtllib face.mtl" in files.obj.read_text()
    loaded = trimesh.load(files.obj, process=False)
    np.testing.assert_allclose(loaded.vertices, patch_mesh.vertices / 100.0, atol=1e-6)
    np.testing.assert_allclose(loaded.visual.uv, patch_mesh.uvs, atol=1e-6)
    material = loaded.visual.material
    np.testing.assert_array_equal(np.asarray(material.diffuse)[:3], [255, 255, 255])
    image = np.asarray(material.image.convert("RGB"))
    np.testing.assert_array_equal(image, np.asarray(Image.open(files.albedo)))
    np.testing.assert_array_equal(
        _sample_facetex(image, loaded.visual.uv), _quantised(patch_mesh.albedo).reshape(-1, 3)
    )
    assert files.normal is not None and files.normal.is_file()
    assert {p.name for p in tmp_path.iterdir()} == {
        "face.obj",
        "face.mtl",
        "face.glb",
        "albedo.png",
        "normal.png",
    }


def test_export_subdivides_the_canonical_mesh(photo_texture, tmp_path):
    topo = load_face_mesh()
    mesh = make_textured_mesh(topo.vertices, topo.faces, topo.uvs, photo_texture(32))
    files = export_mesh(mesh, tmp_path, ExportConfig(subdivisions=1))
    geometry = next(iter(trimesh.load(files.glb, process=False).geometry.values()))
    assert geometry.faces.shape == (4 * topo.faces.shape[0], 3)
    assert files.normal is None and not (tmp_path / "normal.png").exists()
    # Loop subdivision moves the old vertices a little, never far; the UVs of old vertices stay.
    assert np.abs(geometry.vertices[: topo.vertices.shape[0]] - topo.vertices / 100.0).max() < 0.01
    np.testing.assert_allclose(geometry.visual.uv[: topo.vertices.shape[0]], topo.uvs, atol=1e-6)


def test_model_frame_vertices_undoes_the_pose():
    vertices, _, _ = dome_patch(4)
    angle = np.radians(30.0)
    yaw = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    rotation = yaw @ np.diag([1.0, -1.0, -1.0])  # model (y up, z to viewer) → camera (y down, z forward)
    translation = np.array([1.0, -2.0, 60.0])
    fit = FaceFit(
        image_size=(100, 100),
        shape_coeffs=np.zeros(0),
        expression_coeffs=np.zeros(0),
        albedo_coeffs=np.zeros(0),
        rotation=rotation,
        translation=translation,
        focal_length=500.0,
        principal_point=np.array([50.0, 50.0]),
        sh_coeffs=np.zeros((9, 3)),
        vertices=vertices @ rotation.T + translation,
        model_name="test",
    )
    np.testing.assert_allclose(model_frame_vertices(fit), vertices, atol=1e-9)


def test_failed_export_leaves_no_file(patch_mesh, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        export_mesh(patch_mesh, blocker / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_folder"]


def test_export_rejects_bad_settings(patch_mesh, tmp_path):
    with pytest.raises(ValueError, match="subdivisions"):
        export_mesh(patch_mesh, tmp_path, ExportConfig(subdivisions=-1))
    with pytest.raises(ValueError, match="roughness"):
        export_mesh(patch_mesh, tmp_path, ExportConfig(roughness=1.5))
    assert list(tmp_path.iterdir()) == []


def test_make_textured_mesh_rejects_bad_input(patch_mesh):
    v, f, uv, tex = patch_mesh.vertices, patch_mesh.faces, patch_mesh.uvs, patch_mesh.albedo
    with pytest.raises(ShapeMismatchError, match="uvs must have shape"):
        make_textured_mesh(v, f, uv[:-1], tex)
    with pytest.raises(ShapeMismatchError, match="outside"):
        make_textured_mesh(v, f + v.shape[0], uv, tex)
    with pytest.raises(ShapeMismatchError, match=r"\[0, 1\]"):
        make_textured_mesh(v, f, uv + 1.0, tex)
    with pytest.raises(ShapeMismatchError, match="integer"):
        make_textured_mesh(v, f.astype(float), uv, tex)
    with pytest.raises(InputImageError, match="albedo"):
        make_textured_mesh(v, f, uv, tex[..., 0])
    with pytest.raises(InputImageError, match=r"\[0, 1\]"):
        make_textured_mesh(v, f, uv, tex * 2.0 + 0.1)
    with pytest.raises(ShapeMismatchError, match="normal_map shape"):
        make_textured_mesh(v, f, uv, tex, tex[:-1])


# --------------------------------------------------------------------------- issue 15: real tools

# MTL texture statements and how many arguments each option takes (the MTL spec; Blender's
# importer parses the same table, obj_import_mtl / mtl parser).
_MTL_OPTION_ARGS = {"-bm": 1, "-blendu": 1, "-blendv": 1, "-boost": 1, "-cc": 1, "-clamp": 1, "-imfchan": 1,
                    "-mm": 2, "-o": 3, "-s": 3, "-t": 3, "-texres": 1, "-type": 1}


def _parse_mtl(text: str) -> dict[str, dict[str, tuple[str, dict[str, list[str]]]]]:
    """material → lower-case keyword → (file name, options), as OBJ importers read an MTL:
    keywords case-insensitive, options with their argument counts, the rest is the file name."""
    materials: dict[str, dict[str, tuple[str, dict[str, list[str]]]]] = {}
    current = None
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        key = words[0].lower()
        if key == "newmtl":
            current = materials.setdefault(" ".join(words[1:]), {})
            continue
        if not (key.startswith("map_") or key in ("bump", "norm", "disp", "refl")):
            continue
        options, rest = {}, words[1:]
        while rest and rest[0] in _MTL_OPTION_ARGS:
            count = _MTL_OPTION_ARGS[rest[0]]
            options[rest[0]] = rest[1 : 1 + count]
            rest = rest[1 + count :]
        current[key] = (" ".join(rest), options)
    return materials


@pytest.fixture()
def bumped_patch(patch_mesh):
    bump = np.clip(0.5 + 0.3 * (patch_mesh.albedo.mean(axis=2) - 0.5), 0, 1).astype(np.float32)
    return make_textured_mesh(
        patch_mesh.vertices, patch_mesh.faces, patch_mesh.uvs, patch_mesh.albedo, patch_mesh.normal_map,
        bump=bump, chart=patch_mesh.chart,
    )


def test_mtl_textures_as_blender_three_and_trimesh_read_them(bumped_patch, tmp_path):
    files = export_mesh(bumped_patch, tmp_path)
    assert files.bump == tmp_path / "bump.png" and files.bump.is_file()
    skin = _parse_mtl(files.mtl.read_text())["skin"]
    # Blender (3.x importer and exporter): map_Bump / bump → Normal Map node, strength -bm.
    blender = skin.get("map_bump") or skin.get("bump")
    assert blender == ("normal.png", {"-bm": ["1"]})
    # three.js MTLLoader, tinyobjloader: norm → normal map; disp → displacement (bump.png).
    assert skin["norm"] == ("normal.png", {})
    name, options = skin["disp"]
    assert name == "bump.png"
    base, gain = map(float, options["-mm"])
    assert gain == pytest.approx(0.5e-3) and base == pytest.approx(-0.5 * gain)  # ±0.25 mm, 0.5 = surface
    assert skin["map_kd"] == ("albedo.png", {})
    for name, _ in skin.values():
        assert (tmp_path / name).is_file(), name
    with Image.open(files.bump) as image:
        assert image.mode.startswith("I")  # 16-bit height
    # trimesh reads map_Kd (and only it): the OBJ loads with its texture.
    loaded = trimesh.load(files.obj, process=False)
    np.testing.assert_array_equal(
        np.asarray(loaded.visual.material.image.convert("RGB")), np.asarray(Image.open(files.albedo))
    )


def test_glb_has_tangents_targets_names_and_two_sides(patch_mesh, tmp_path):
    path = export_glb(patch_mesh, tmp_path / "face.glb")
    doc, blob = _glb_chunks(path)
    prim = doc["meshes"][0]["primitives"][0]
    for semantic, index in prim["attributes"].items():
        assert doc["bufferViews"][doc["accessors"][index]["bufferView"]]["target"] == 34962, semantic
    assert doc["bufferViews"][doc["accessors"][prim["indices"]]["bufferView"]]["target"] == 34963
    for image in doc["images"]:
        assert "target" not in doc["bufferViews"][image["bufferView"]]
    assert [image["name"] for image in doc["images"]] == ["albedo", "normal"]
    assert [texture["name"] for texture in doc["textures"]] == ["albedo", "normal"]
    material = doc["materials"][prim["material"]]
    assert material["name"] == "skin" and material["doubleSided"] is True
    # TANGENT: unit xyz ⟂ NORMAL, w = ±1; on the dome u runs along +x and v along +y, so the
    # tangent points along +x and cross(N, T)·w along +y (up, where the normal map's green is).
    acc = doc["accessors"][prim["attributes"]["TANGENT"]]
    assert acc["type"] == "VEC4" and acc["componentType"] == 5126
    view = doc["bufferViews"][acc["bufferView"]]
    tangents = np.frombuffer(blob, "<f4", acc["count"] * 4, view["byteOffset"]).reshape(-1, 4)
    normals = _accessor(doc, blob, prim["attributes"]["NORMAL"])
    np.testing.assert_allclose(np.linalg.norm(tangents[:, :3], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.einsum("ij,ij->i", tangents[:, :3], normals), 0.0, atol=1e-5)
    np.testing.assert_array_equal(tangents[:, 3], 1.0)
    assert np.all(tangents[:, 0] > 0.7)
    bitangents = np.cross(normals, tangents[:, :3]) * tangents[:, 3:]
    assert np.all(bitangents[:, 1] > 0.7)


def test_tangent_handedness_flips_with_mirrored_uvs():
    vertices, faces, uvs = dome_patch(6)
    normals = np.tile([0.0, 0.0, 1.0], (len(vertices), 1))
    flat = vertices * [1, 1, 0]
    frames = vertex_tangents(flat, faces, uvs, normals)
    np.testing.assert_allclose(frames, np.tile([1.0, 0, 0, 1.0], (len(vertices), 1)), atol=1e-9)
    mirrored = vertex_tangents(flat, faces, uvs * [1, -1] + [0, 1], normals)  # v flipped
    np.testing.assert_allclose(mirrored, np.tile([1.0, 0, 0, -1.0], (len(vertices), 1)), atol=1e-9)


def test_glb_passes_the_khronos_validator(tmp_path):
    """The exported GLB of the canonical face has no validator error and none of the issue-15
    warnings (missing tangents, missing bufferView targets)."""
    topo = load_face_mesh()
    side = 64
    albedo = np.full((side, side, 3), 0.5, np.float32)
    albedo[..., 0] = 0.7
    normal = np.tile(np.array([0.5, 0.55, 0.95], np.float32), (side, side, 1))
    mesh = make_textured_mesh(topo.vertices, topo.faces, topo.uvs, albedo, normal)
    files = export_mesh(mesh, tmp_path, ExportConfig(subdivisions=1))
    issues = khronos_validation(files.glb)
    codes = [m["code"] for m in issues["messages"]]
    assert issues["numErrors"] == 0, issues["messages"]
    assert issues["numWarnings"] == 0, issues["messages"]
    assert "MESH_PRIMITIVE_GENERATED_TANGENT_SPACE" not in codes
    assert "BUFFER_VIEW_TARGET_MISSING" not in codes


def _bilinear(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear sample of an (R, R, C) image at facetex UVs, as a GPU samples (clamp to edge)."""
    r = image.shape[0]
    xy = uv_to_pixel(uv, r) - 0.5  # texel centres at integers
    x0 = np.clip(np.floor(xy[:, 0]).astype(int), 0, r - 1)
    y0 = np.clip(np.floor(xy[:, 1]).astype(int), 0, r - 1)
    x1, y1 = np.clip(x0 + 1, 0, r - 1), np.clip(y0 + 1, 0, r - 1)
    fx = np.clip(xy[:, 0] - x0, 0, 1)[:, None]
    fy = np.clip(xy[:, 1] - y0, 0, 1)[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def test_exported_albedo_carries_no_grey_fill_to_any_vertex(tmp_path):
    """Edge padding: bilinear samples at every UV vertex (the chart's boundary included) of the
    albedo.png and the GLB's texture stay skin-coloured; texels on the chart are unchanged."""
    topo = load_face_mesh()
    side = 128
    chart = chart_mask(topo, side)
    skin = np.array([0.8, 0.55, 0.45], np.float32)
    albedo = np.where(chart[..., None], skin, np.float32(0.5)).astype(np.float32)
    mesh = make_textured_mesh(topo.vertices, topo.faces, topo.uvs, albedo, chart=chart)
    unpadded = _bilinear(albedo, topo.uvs)
    assert (np.abs(unpadded - skin).max(axis=1) > 0.02).sum() > 20  # without padding: grey at the border
    files = export_mesh(mesh, tmp_path)
    written = np.asarray(Image.open(files.albedo).convert("RGB"), np.float32) / 255
    np.testing.assert_allclose(written[chart], albedo[chart], atol=1 / 255)
    doc, blob = _glb_chunks(files.glb)
    embedded = _image(doc, blob, 0).astype(np.float32) / 255
    np.testing.assert_array_equal(embedded, written)
    samples = _bilinear(written, topo.uvs)
    assert np.abs(samples - skin).max() < 2 / 255
    assert np.allclose(written[0, 0], 0.5, atol=1 / 255)  # far from the chart: the fill stays


def _morph_offsets(doc: dict, blob: bytes, index: int) -> np.ndarray:
    accessor = doc["accessors"][index]
    sparse, views = accessor["sparse"], doc["bufferViews"]
    rows = np.frombuffer(blob, "<u4", sparse["count"], views[sparse["indices"]["bufferView"]]["byteOffset"])
    out = np.zeros((accessor["count"], 3))
    out[rows] = np.frombuffer(blob, "<f4", 3 * sparse["count"],
                              views[sparse["values"]["bufferView"]]["byteOffset"]).reshape(-1, 3)
    return out


@pytest.mark.parametrize("subdivisions", [0, 1])
def test_morph_targets_over_the_neutral_shape_give_the_exported_mesh(patch_mesh, tmp_path, subdivisions):
    """A mesh with blendshapes: the GLB holds the neutral shape and one sparse target per shape
    (subdivided like the positions), its weights the mesh's, and neutral + Σ w·target is the
    shape the OBJ holds."""
    v = patch_mesh.vertices
    bump = np.exp(-((v[:, 0] - 2.0) ** 2 + v[:, 1] ** 2) / 8.0)[:, None] * [0.0, 0.0, 1.0]  # a cheek puff, cm
    lift = np.where(v[:, 1:2] > 5.0, 1.0, 0.0) * [0.0, 0.5, 0.0]  # the top rows rise 5 mm
    weights = np.array([0.4, 0.0])
    morphs = make_morph_targets(("puff", "lift"), np.stack([bump, lift]), weights, len(v))
    mesh = dataclasses.replace(patch_mesh, vertices=v + 0.4 * bump, morphs=morphs)
    files = export_mesh(mesh, tmp_path, ExportConfig(subdivisions=subdivisions))
    doc, blob = _glb_chunks(files.glb)
    (gltf_mesh,) = doc["meshes"]
    prim = gltf_mesh["primitives"][0]
    assert gltf_mesh["extras"]["targetNames"] == ["puff", "lift"] and gltf_mesh["weights"] == [0.4, 0.0]
    neutral = _accessor(doc, blob, prim["attributes"]["POSITION"])
    offsets = [_morph_offsets(doc, blob, target["POSITION"]) for target in prim["targets"]]
    obj = np.array([[float(x) for x in line.split()[1:4]]
                    for line in files.obj.read_text().splitlines() if line.startswith("v ")])
    # offsets ≤ MORPH_EPSILON_M (10 µm) are not stored: the posed GLB is the OBJ within 0.4 × that
    np.testing.assert_allclose(neutral + 0.4 * offsets[0], obj, atol=0.4 * MORPH_EPSILON_M + 1e-6)
    assert len(neutral) == (len(v) if subdivisions == 0 else len(obj)) and len(obj) > (subdivisions * len(v))
    assert np.allclose(offsets[1][:, [0, 2]], 0.0) and 0.0049 < offsets[1][:, 1].max() <= 0.005  # metres
    moved = np.abs(offsets[1]).max(axis=1) > 0
    assert 0 < moved.sum() < len(neutral)  # sparse: only the vertices that move are stored
    assert doc["accessors"][prim["targets"][1]["POSITION"]]["sparse"]["count"] == moved.sum()
    with pytest.raises(ShapeMismatchError, match="distinct"):
        make_morph_targets(("a", "a"), np.stack([bump, lift]), weights, len(v))
    with pytest.raises(ShapeMismatchError, match="weights"):
        make_morph_targets(("a", "b"), np.stack([bump, lift]), [0.1], len(v))
    with pytest.raises(ShapeMismatchError, match="shape"):
        make_morph_targets(("a", "b"), np.stack([bump, lift])[:, :-1], weights, len(v))


def test_driving_the_rig_moves_the_face_and_its_parts_as_a_viewer_would(patch_mesh):
    """with_expression: the named targets go to their weights, every other one to neutral, for
    the face and for a part that carries the same targets."""
    v = patch_mesh.vertices
    lift = np.where(v[:, 1:2] > 5.0, 1.0, 0.0) * [0.0, 0.5, 0.0]
    puff = np.ones_like(v) * [0.0, 0.0, 0.2]
    morphs = make_morph_targets(("lift", "puff"), np.stack([lift, puff]), np.array([0.0, 0.5]), len(v))
    part = make_mesh_part("cap", v + [0.0, 0.0, 1.0], patch_mesh.faces, patch_mesh.uvs,
                          morph_offsets=np.stack([lift, puff]))
    mesh = dataclasses.replace(patch_mesh, vertices=v + 0.5 * puff, morphs=morphs, parts=(part,))
    lifted = with_expression(mesh, {"lift": 1.0})
    np.testing.assert_allclose(lifted.vertices, v + lift)  # lift on, the fitted puff gone
    np.testing.assert_allclose(lifted.parts[0].vertices, part.vertices + lift - 0.5 * puff)
    np.testing.assert_array_equal(lifted.morphs.weights, [1.0, 0.0])
    np.testing.assert_allclose(with_expression(lifted, {"puff": 0.5}).vertices, mesh.vertices)  # back again
    with pytest.raises(ShapeMismatchError, match="jawOpen"):
        with_expression(mesh, {"jawOpen": 1.0})
    with pytest.raises(ShapeMismatchError, match="no morph targets"):
        with_expression(patch_mesh, {"lift": 1.0})


def test_welded_normals_agree_where_meshes_share_a_vertex():
    """Two halves of a folded sheet meet along an edge: each half alone gives that edge its own
    normal (a crease in the shading), welded they share one, the mean of both sides."""
    from facetex.render.surface_frames import vertex_normals, welded_vertex_normals

    left = (np.array([[-1.0, 0, 0], [0, 0, 0], [0, 1, 0], [-1, 1, 0]]), np.array([[0, 1, 2], [0, 2, 3]]))
    right = (np.array([[0.0, 0, 0], [1, 0, 1], [1, 1, 1], [0, 1, 0]]), np.array([[0, 1, 2], [0, 2, 3]]))
    alone = [vertex_normals(*left), vertex_normals(*right)]
    welded = welded_vertex_normals([left, right])
    assert not np.allclose(alone[0][1], alone[1][0])  # the crease
    np.testing.assert_allclose(welded[0][1], welded[1][0])
    np.testing.assert_allclose(welded[0][2], welded[1][3])
    np.testing.assert_allclose(np.linalg.norm(welded[0], axis=1), 1.0)
    np.testing.assert_allclose(welded[0][0], alone[0][0])  # a vertex of one mesh only keeps its normal
