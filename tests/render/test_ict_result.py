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
def result_folder(small_database, shared_data, tmp_path_factory):
    photo = shared_data / "london" / "neutral" / "003_03.jpg"  # not in the small database
    config = InferConfig().with_resolution(SIZE)
    config = dataclasses.replace(config, texture=config.texture.replace(schedule=(Stage(SIZE, 3),)))
    result = facetex.infer(photo, database=small_database, config=config, progress=False)
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
    (prim,) = mesh["primitives"]
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


def test_the_obj_is_the_same_mesh_with_its_maps(result_folder):
    lines = (result_folder / "face.obj").read_text().splitlines()
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
