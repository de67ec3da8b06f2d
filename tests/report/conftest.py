"""Fixtures of tests/report: a textured canonical face (real mesh, real photo texture) as a GLB."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.transform import resize

from facetex.geometry.topology import load_face_mesh
from facetex.render.export import export_mesh
from facetex.render.export_config import ExportConfig
from facetex.render.maps import detail_maps
from facetex.render.textured_mesh import make_morph_targets, make_textured_mesh

TEXTURE_SIDE = 128


def marked_face_texture(resolution: int) -> np.ndarray:
    """The astronaut's face (public domain) as a UV texture, with two orientation marks.

    The mediapipe chart is close to a frontal projection, so the resized face crop lands
    roughly on the face. Texels with u < 0.25 (the face's image-left side) are tinted red and
    texels with v > 0.8 (the forehead) blue, so a screenshot can tell left from right and up
    from down.
    """
    crop = data.astronaut()[50:190, 160:290].astype(np.float32) / 255.0
    tex = resize(crop, (resolution, resolution), anti_aliasing=True).astype(np.float32)
    tex[:, : resolution // 4] *= np.array([1.0, 0.35, 0.35], dtype=np.float32)
    tex[: int(0.2 * resolution)] *= np.array([0.35, 0.35, 1.0], dtype=np.float32)
    return np.clip(tex, 0.0, 1.0)


@pytest.fixture(scope="session")
def face_result(tmp_path_factory):
    """Export a textured canonical face once; returns (folder, TexturedMesh, DetailMaps)."""
    topo = load_face_mesh()
    albedo = marked_face_texture(TEXTURE_SIDE)
    maps = detail_maps(albedo)
    mesh = make_textured_mesh(topo.vertices, topo.faces, topo.uvs, albedo, maps.normal)
    folder = tmp_path_factory.mktemp("face_result")
    export_mesh(mesh, folder, ExportConfig(subdivisions=1))
    return folder, mesh, maps


@pytest.fixture(scope="session")
def rigged_result(tmp_path_factory):
    """The ICT face tile with its 53 ARKit blendshapes as morph targets, all at weight 0 (the
    neutral face), textured with the marked photo texture; returns the export's folder."""
    from facetex.geometry.ict import ict_morphable_model, load_ict_face

    model = ict_morphable_model(load_ict_face())
    topo = model.topology
    albedo = marked_face_texture(TEXTURE_SIDE)
    morphs = make_morph_targets(model.expression_names, model.expression_basis,
                                np.zeros(len(model.expression_names)), len(topo.vertices))
    mesh = make_textured_mesh(topo.vertices, topo.faces, topo.uvs, albedo, detail_maps(albedo).normal, morphs=morphs)
    folder = tmp_path_factory.mktemp("rigged_result")
    export_mesh(mesh, folder)
    return folder
