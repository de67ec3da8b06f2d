"""The meshes and maps of an ICT result (issue 18, step 5): a real London photo through the
session's 4-photo database at 64², written by :func:`facetex.write_result`.

The GLB and the OBJ are the ICT face tile as fitted (its 9,547 vertices, ears included, no
subdivision), with UVs on the tile and the albedo, normal and bump maps bound; the albedo is
complete (no 0.5-grey texel inside the chart)."""

from __future__ import annotations

import dataclasses
import json
import struct

import numpy as np
import pytest
from PIL import Image

import facetex
from facetex.config import InferConfig
from facetex.geometry.ict import load_ict_face
from facetex.geometry.uv import chart_mask
from facetex.texture.config import Stage

SIZE = 64


@pytest.fixture(scope="module")
def ict_face():
    return load_ict_face()


@pytest.fixture(scope="module")
def inferred(small_database, shared_data):
    """(InferenceResult, InferConfig) of a London photo through the small database at 64²."""
    photo = shared_data / "london" / "neutral" / "003_03.jpg"  # not in the small database
    config = InferConfig().with_resolution(SIZE)
    config = dataclasses.replace(config, texture=config.texture.replace(schedule=(Stage(SIZE, 3),)))
    return facetex.infer(photo, database=small_database, config=config, progress=False), config


@pytest.fixture(scope="module")
def result_folder(inferred, small_database, tmp_path_factory):
    result, config = inferred
    out = tmp_path_factory.mktemp("ict_result") / "result"
    facetex.write_result(result, out, config=config, database=facetex.open_database(small_database))
    return out


def _glb(path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    magic, _, length = struct.unpack("<III", data[:12])
    assert magic == 0x46546C67 and length == len(data)
    json_len, _ = struct.unpack("<II", data[12:20])
    doc = json.loads(data[20 : 20 + json_len])
    return doc, data[20 + json_len + 8 :]


def test_the_glb_is_the_ict_face_tile_textured(result_folder, ict_face):
    doc, _ = _glb(result_folder / "face.glb")
    (mesh,) = doc["meshes"]
    prim = mesh["primitives"][0]  # the face tile; the rest of the head follows (test_the_glb_is_a_complete_head)
    accessors = doc["accessors"]
    topology = ict_face.topology
    assert accessors[prim["attributes"]["POSITION"]]["count"] == len(topology.vertices) == 9547
    assert accessors[prim["attributes"]["TEXCOORD_0"]]["count"] == 9547
    assert accessors[prim["indices"]]["count"] == 3 * len(topology.faces)
    lo, hi = (np.array(accessors[prim["attributes"]["POSITION"]][k]) for k in ("min", "max"))
    # ears and neck: the tile is ~19 cm wide (ear to ear) and ~29 cm tall (forehead to neck), in metres
    assert 0.15 < hi[0] - lo[0] < 0.25 and 0.2 < hi[1] - lo[1] < 0.4
    material = doc["materials"][prim["material"]]
    assert material["doubleSided"] is True  # never vanishes when turned past profile
    names = {doc["textures"][material[key]["index"]]["name"] for key in ("normalTexture",)}
    names.add(doc["textures"][material["pbrMetallicRoughness"]["baseColorTexture"]["index"]]["name"])
    assert names == {"albedo", "normal"}


def _obj_objects(path) -> dict[str, list[str]]:
    """The OBJ's lines per ``o`` object."""
    objects: dict[str, list[str]] = {}
    current = None
    for line in path.read_text().splitlines():
        if line.startswith("o "):
            current = objects.setdefault(line[2:].strip(), [])
        elif current is not None:
            current.append(line)
    return objects


def test_the_obj_is_the_same_mesh_with_its_maps(result_folder):
    objects = _obj_objects(result_folder / "face.obj")
    assert list(objects) == ["face", "head", "gums", "teeth", "eye_right", "eye_left"]
    lines = objects["face"]
    assert sum(line.startswith("v ") for line in lines) == 9547
    assert sum(line.startswith("vt ") for line in lines) == 9547
    mtl = (result_folder / "face.mtl").read_text()
    for name in ("map_Kd albedo.png", "normal.png", "disp", "bump.png"):
        assert name in mtl
    for name in ("albedo.png", "normal.png", "bump.png"):
        with Image.open(result_folder / name) as image:
            assert image.size == (SIZE, SIZE)


def test_the_exported_albedo_is_complete_on_the_chart(result_folder, ict_face):
    with Image.open(result_folder / "albedo.png") as image:
        albedo = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    chart = chart_mask(ict_face.topology, SIZE)
    grey = np.all(np.abs(albedo - 0.5) <= 1.5 / 255, axis=2)
    assert chart.mean() > 0.5
    assert not (grey & chart).any(), f"{(grey & chart).sum()} grey-0.5 texels inside the chart"
    skin = albedo[chart]
    assert (skin[:, 0] > skin[:, 2]).mean() > 0.9  # skin: red above blue


def test_the_overlay_shows_the_fitted_tile(result_folder):
    with Image.open(result_folder / "overlay.png") as overlay:
        assert min(overlay.size) >= 768
    report = (result_folder / "report.html").read_text()
    assert "face model: ICT Face Model Light" in report


def _sparse(doc: dict, blob: bytes, index: int) -> np.ndarray:
    """A VEC3 float accessor written sparse (no bufferView): its (count, 3) values."""
    accessor = doc["accessors"][index]
    assert "bufferView" not in accessor and accessor["type"] == "VEC3"
    sparse = accessor["sparse"]
    views = doc["bufferViews"]
    rows = np.frombuffer(blob, "<u4", sparse["count"], views[sparse["indices"]["bufferView"]]["byteOffset"])
    values = np.frombuffer(blob, "<f4", 3 * sparse["count"], views[sparse["values"]["bufferView"]]["byteOffset"])
    out = np.zeros((accessor["count"], 3))
    out[rows] = values.reshape(-1, 3)
    assert np.all(np.diff(rows.astype(np.int64)) > 0)  # strictly increasing, as the spec requires
    return out


def test_the_glb_is_rigged_with_the_53_arkit_blendshapes(result_folder):
    """Issue 19, step 4: the ICT expressions are morph targets named as ARKit names them, the
    fitted expression their default weights; neutral + Σ weight · target is the fitted mesh
    (the OBJ), and the Khronos validator finds no error."""
    from .conftest import khronos_validation

    doc, blob = _glb(result_folder / "face.glb")
    (mesh,) = doc["meshes"]
    prim = mesh["primitives"][0]
    assert all(len(p["targets"]) == 53 for p in mesh["primitives"])  # glTF: every primitive, the same targets
    names = mesh["extras"]["targetNames"]
    assert len(names) == len(prim["targets"]) == len(mesh["weights"]) == 53
    assert {"jawOpen", "eyeBlink_L", "mouthSmile_R"} <= set(names)
    fitted = json.loads((result_folder / "fit.json").read_text())["expression_coefficients"]
    np.testing.assert_allclose(mesh["weights"], [fitted[name] for name in names], atol=1e-6)
    assert 0.0 <= min(mesh["weights"]) and max(mesh["weights"]) <= 1.0

    position = doc["accessors"][prim["attributes"]["POSITION"]]
    view = doc["bufferViews"][position["bufferView"]]
    neutral = np.frombuffer(blob, "<f4", 3 * position["count"], view["byteOffset"]).reshape(-1, 3)
    offsets = np.stack([_sparse(doc, blob, target["POSITION"]) for target in prim["targets"]])
    posed = neutral + np.einsum("k,kvc->vc", np.asarray(mesh["weights"]), offsets)
    obj = np.array([[float(x) for x in line.split()[1:4]]
                    for line in _obj_objects(result_folder / "face.obj")["face"] if line.startswith("v ")])
    np.testing.assert_allclose(posed, obj, atol=2e-5)  # metres; offsets under 10 µm are not stored
    jaw = offsets[names.index("jawOpen")]
    moved = np.linalg.norm(jaw, axis=1) > 1e-3
    assert 100 < moved.sum() < 0.8 * len(jaw)  # the jaw and chin move, the forehead does not
    assert neutral[moved, 1].mean() < neutral[~moved, 1].mean()  # below the still part
    assert jaw[moved, 1].mean() < 0  # and downwards
    normals = _sparse(doc, blob, prim["targets"][names.index("jawOpen")]["NORMAL"])
    assert np.abs(normals).max() > 0.01

    issues = khronos_validation(result_folder / "face.glb")
    assert issues["numErrors"] == 0, issues["messages"]


def test_the_glb_is_a_complete_head(result_folder):
    """Issue 19: face.glb is the ICT head: face tile, scalp and neck, mouth, teeth and eyes,
    over 20,000 vertices, with named materials and textures; the scalp's texture is complete."""
    doc, _ = _glb(result_folder / "face.glb")
    (mesh,) = doc["meshes"]
    materials = [doc["materials"][p["material"]]["name"] for p in mesh["primitives"]]
    assert materials == ["skin", "head", "gums", "teeth", "eye_right", "eye_left"]
    vertices = sum(doc["accessors"][p["attributes"]["POSITION"]]["count"] for p in mesh["primitives"])
    assert vertices >= 20_000
    assert {t["name"] for t in doc["textures"]} >= {"albedo", "normal", "head_albedo", "head_normal",
                                                    "eye_left_albedo", "eye_right_albedo"}
    lo = np.min([doc["accessors"][p["attributes"]["POSITION"]]["min"] for p in mesh["primitives"]], axis=0)
    hi = np.max([doc["accessors"][p["attributes"]["POSITION"]]["max"] for p in mesh["primitives"]], axis=0)
    assert hi[2] - lo[2] > 0.2  # front of the nose to the back of the head, metres
    with Image.open(result_folder / "head_albedo.png") as image:
        head = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    skin = head[np.abs(head - 0.5).max(axis=-1) > 1.5 / 255]
    assert len(skin) > 0.3 * SIZE * SIZE and (skin[:, 0] > skin[:, 2]).mean() > 0.9
    report = (result_folder / "report.html").read_text()
    assert f"{vertices:,} vertices: face tile, head, gums, teeth, eye_right, eye_left" in report
    assert "53 expression morph targets" in report


def test_the_face_tile_alone_without_head_or_rig(inferred, result_folder, tmp_path):
    """`--no-head --no-morph-targets`: face.glb is the fitted face tile alone, no targets."""
    result, config = inferred
    export = dataclasses.replace(config.export, head=False, morph_targets=False)
    config = dataclasses.replace(config, export=export, report=False)
    out = facetex.write_result(result, tmp_path / "tile", config=config)
    doc, _ = _glb(out / "face.glb")
    (mesh,) = doc["meshes"]
    (prim,) = mesh["primitives"]
    assert "targets" not in prim and "extras" not in mesh
    assert doc["accessors"][prim["attributes"]["POSITION"]]["count"] == 9547
    assert list(_obj_objects(out / "face.obj")) == ["face"] and not (out / "head_albedo.png").exists()
    assert (out / "face.glb").stat().st_size < 0.5 * (result_folder / "face.glb").stat().st_size


def test_an_open_jaw_shows_the_teeth_in_a_dark_mouth(inferred, small_database):
    """Issue 19, step 3: driven to jawOpen, a close-up of the mouth shows the teeth's edges
    behind the lips and a dark opening (tongue and socket), not stretched skin; shut, no teeth
    show."""
    from facetex.outputs import result_mesh
    from facetex.render.mitsuba_render import RenderConfig, View, render_views
    from facetex.render.textured_mesh import with_expression

    result, config = inferred
    mesh = result_mesh(result, facetex.open_database(small_database).morphable_model(), config)
    (teeth_part,) = [p for p in mesh.parts if p.name == "teeth"]
    mouth = mesh.vertices[np.linalg.norm(mesh.vertices - teeth_part.vertices.mean(axis=0), axis=1) < 4.0]
    render = RenderConfig(resolution=192, spp=8, views=(View("front", 0.0),), lightings=("environment",),
                          background=(0.0, 0.0, 0.0), subsurface=False)

    def rendered(weights):
        posed = with_expression(mesh, weights)
        green = tuple(dataclasses.replace(p, colour=(0.0, 1.0, 0.0)) if p.name == "teeth" else p for p in posed.parts)
        (plain,) = render_views(posed, render, frame=mouth)
        (marked,) = render_views(dataclasses.replace(posed, parts=green), render, frame=mouth)
        teeth = (marked.image[..., 1] > 0.2) & (marked.image[..., 1] > 2 * marked.image[..., 0])
        opening = np.abs(marked.image - plain.image).max(axis=-1) < 0.05  # unchanged: not teeth
        return teeth, plain.image.mean(axis=-1), opening

    shut, _, _ = rendered({})
    teeth, lum, unchanged = rendered({"jawOpen": 1.0})
    assert shut.sum() < 3 and teeth.sum() > 15
    # The opening: what the lips frame around the teeth, i.e. the teeth's bounding box.
    rows, cols = np.nonzero(teeth)
    box = np.zeros_like(teeth)
    box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
    inside, skin = box & unchanged & ~teeth, ~box & (lum > 0.02)
    assert inside.sum() > 100 and lum[inside].mean() < 0.6 * lum[skin].mean()


def test_blender_imports_the_rig_with_named_shape_keys_and_textured_materials(result_folder, tmp_path):
    """Issue 19, step 4: Blender's own glTF and OBJ importers (headless), where Blender is installed."""
    import shutil
    import subprocess

    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("Blender is not installed (apt-get install blender)")
    script = tmp_path / "read.py"
    script.write_text(
        # Debian's Blender 3.4 glTF add-on still says np.bool, which numpy >= 1.24 removed.
        "import numpy\n"
        "if not hasattr(numpy, 'bool'):\n"
        "    numpy.bool = bool\n"
        "import bpy, json\n"
        "out = {}\n"
        "bpy.ops.wm.read_factory_settings(use_empty=True)\n"
        f"bpy.ops.import_scene.gltf(filepath={str(result_folder / 'face.glb')!r})\n"
        "meshes = [o for o in bpy.data.objects if o.type == 'MESH']\n"
        "keys = meshes[0].data.shape_keys\n"
        "out['glb_shape_keys'] = {k.name: k.value for k in keys.key_blocks} if keys else {}\n"
        "out['glb_vertices'] = sum(len(o.data.vertices) for o in meshes)\n"
        "out['glb_images'] = sorted(i.name for i in bpy.data.images)\n"
        "bpy.ops.wm.read_factory_settings(use_empty=True)\n"
        f"bpy.ops.wm.obj_import(filepath={str(result_folder / 'face.obj')!r})\n"
        "out['obj_materials'] = {\n"
        "    m.name: {'images': sorted(n.image.name for n in m.node_tree.nodes if n.type == 'TEX_IMAGE' and n.image),\n"
        "             'nodes': sorted(n.type for n in m.node_tree.nodes)}\n"
        "    for m in bpy.data.materials if m.use_nodes}\n"
        f"open({str(tmp_path / 'out.json')!r}, 'w').write(json.dumps(out))\n",
        encoding="utf-8",
    )
    run = subprocess.run([blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python", str(script)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    seen = json.loads((tmp_path / "out.json").read_text())
    keys = seen["glb_shape_keys"]
    assert list(keys)[0] == "Basis" and len(keys) == 54  # Blender's basis and the 53 targets
    assert {"jawOpen", "eyeBlink_L", "mouthSmile_R"} <= set(keys)
    fitted = json.loads((result_folder / "fit.json").read_text())["expression_coefficients"]
    assert all(abs(keys[name] - fitted[name]) < 1e-4 for name in fitted)  # set to the fitted expression
    assert seen["glb_vertices"] >= 20_000
    assert {"albedo", "normal", "head_albedo", "head_normal"} <= set(seen["glb_images"])
    skin, head = seen["obj_materials"]["skin"], seen["obj_materials"]["head"]
    assert skin["images"] == ["albedo.png", "normal.png"] and "NORMAL_MAP" in skin["nodes"]
    assert head["images"] == ["head_albedo.png", "head_normal.png"] and "NORMAL_MAP" in head["nodes"]
