"""Mitsuba renders (tiny: 32–64 px, 4 spp): textured, oriented, lit where the lights are."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from facetex.errors import MissingDependencyError
from facetex.render.textured_mesh import make_textured_mesh
from facetex.render.mitsuba_render import (
    RenderConfig,
    View,
    linear_to_srgb,
    render_views,
    select_variant,
    srgb_to_linear,
)

from facetex.render import mitsuba_render
from facetex.render.environment import SoftBox, studio_environment, write_environment

from .conftest import dome_patch

FRONT = (View("front", 0.0),)
BACKGROUND = (0.0, 0.0, 0.0)


def _patch(albedo: np.ndarray, normal: np.ndarray | None = None):
    vertices, faces, uvs = dome_patch(10)
    return make_textured_mesh(vertices, faces, uvs, albedo, normal)


def _face_pixels(image: np.ndarray) -> np.ndarray:
    return image.sum(axis=-1) > 0.02


def test_front_render_shows_the_texture_upright_and_unmirrored():
    """Texture: left half red, right half blue, top quarter green → same layout on screen."""
    r = 32
    tex = np.zeros((r, r, 3), dtype=np.float32)
    tex[:, : r // 2] = [0.9, 0.1, 0.1]
    tex[:, r // 2 :] = [0.1, 0.1, 0.9]
    tex[: r // 4] = [0.1, 0.9, 0.1]
    config = RenderConfig(
        resolution=48, spp=4, views=FRONT, lightings=("environment",), background=BACKGROUND
    )
    (render,) = render_views(_patch(tex), config)
    img = render.image
    assert img.shape == (48, 48, 3) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0
    face = _face_pixels(img)
    assert 0.3 < face.mean() < 0.95  # the face fills the frame but leaves background around it
    assert np.all(img[0, 0] == 0.0) and np.all(img[-1, -1] == 0.0)
    mid = slice(20, 34)
    left, right = img[mid, 8:20][face[mid, 8:20]], img[mid, 28:40][face[mid, 28:40]]
    assert left[:, 0].mean() > 2 * left[:, 2].mean()  # red on the left
    assert right[:, 2].mean() > 2 * right[:, 0].mean()  # blue on the right
    rows = np.nonzero(face.any(axis=1))[0]
    top = img[rows[0] + 2, 18:30]
    assert top[:, 1].mean() > 2 * max(top[:, 0].mean(), top[:, 2].mean())  # green at the top
    assert render.variant in ("llvm_ad_rgb", "scalar_rgb") and render.seconds > 0


def test_meshes_rendered_with_the_same_frame_share_the_camera():
    """``frame``: the cameras are fitted to those points, not to the mesh, so a small mesh shows
    at the scale (and place) it has beside a larger one (the old and new model figure)."""
    tex = np.full((16, 16, 3), 0.7, dtype=np.float32)
    big = _patch(tex)
    small = make_textured_mesh(big.vertices * 0.5, big.faces, big.uvs, tex)
    config = RenderConfig(resolution=48, spp=1, views=FRONT, lightings=("environment",), background=BACKGROUND)
    own = _face_pixels(render_views(small, config)[0].image).mean()
    big_area = _face_pixels(render_views(big, config, frame=big.vertices)[0].image).mean()
    shared = _face_pixels(render_views(small, config, frame=big.vertices)[0].image).mean()
    assert own == pytest.approx(big_area, rel=0.1)  # each framed alone: the same size on screen
    assert shared == pytest.approx(big_area / 4, rel=0.25)  # framed on the big one: half as wide and tall


def test_studio_key_light_and_environment_key_brighten_their_side():
    white = np.full((16, 16, 3), 0.8, dtype=np.float32)
    config = RenderConfig(resolution=40, spp=4, views=FRONT, background=BACKGROUND)
    env, studio = render_views(_patch(white), config)
    assert (env.lighting, studio.lighting) == ("environment", "studio")
    for render in (env, studio):
        lum = render.image.mean(axis=-1)
        face = _face_pixels(render.image)
        assert lum[face].std() > 0.01  # shaded, not flat
        # Both keys are upper left of the frontal camera: the left and upper halves are brighter
        # (the environment's fill, on the right, is stronger than the studio's).
        ratio = 1.15 if render.lighting == "studio" else 1.05
        assert lum[:, :20][face[:, :20]].mean() > ratio * lum[:, 20:][face[:, 20:]].mean()
        assert lum[:20][face[:20]].mean() > 1.05 * lum[20:][face[20:]].mean()


@pytest.mark.parametrize(
    "light, brighter",
    [(SoftBox("right", 90.0, 0.0, 20.0, 20.0, (8.0, 8.0, 8.0)), "right"),
     (SoftBox("left", -90.0, 0.0, 20.0, 20.0, (8.0, 8.0, 8.0)), "left"),
     (SoftBox("top", 0.0, 70.0, 15.0, 15.0, (8.0, 8.0, 8.0)), "top")],
)
def test_environment_map_lights_the_side_its_soft_box_is_on(monkeypatch, light, brighter):
    """The map's frame (environment module doc): azimuth +90° is +x, the frontal camera's right."""
    monkeypatch.setattr(mitsuba_render, "studio_environment", lambda height: studio_environment(height, (light,)))
    config = RenderConfig(resolution=40, spp=8, views=FRONT, lightings=("environment",), background=BACKGROUND,
                          subsurface=False)
    (render,) = render_views(_patch(np.full((8, 8, 3), 0.8, dtype=np.float32)), config)
    lum = render.image.mean(axis=-1)  # the background is black and symmetric: whole halves compare
    halves = {"left": lum[:, :20], "right": lum[:, 20:], "top": lum[:20], "bottom": lum[20:]}
    other = {"left": "right", "right": "left", "top": "bottom"}[brighter]
    assert halves[brighter].mean() > 1.5 * halves[other].mean()


def test_normal_map_follows_opengl_convention_in_mitsuba():
    """Normals tilted towards the key light (upper left) render brighter than tilted away."""
    white = np.full((8, 8, 3), 0.8, dtype=np.float32)

    def encoded(n):
        n = np.asarray(n, dtype=np.float32) / np.linalg.norm(n)
        return np.tile((n + 1) / 2, (8, 8, 1)).astype(np.float32)

    config = RenderConfig(resolution=32, spp=4, views=FRONT, lightings=("studio",), background=BACKGROUND)
    means = {}
    for name, n in {"-u": [-0.6, 0, 1], "+u": [0.6, 0, 1], "+v": [0, 0.6, 1], "-v": [0, -0.6, 1]}.items():
        (render,) = render_views(_patch(white, encoded(n)), config)
        means[name] = float(render.image[_face_pixels(render.image)].mean())
    assert means["-u"] > 1.1 * means["+u"]  # red channel = +u = screen right
    assert means["+v"] > 1.1 * means["-v"]  # green channel = +v = up


def test_srgb_roundtrip():
    x = np.linspace(0, 1, 101, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-5)
    assert srgb_to_linear(np.float32(0.5)) == pytest.approx(0.2140, abs=1e-3)


def test_studio_environment_is_written_as_radiance_hdr(tmp_path):
    import cv2

    env = studio_environment(32)
    assert env.shape == (32, 64, 3) and env.dtype == np.float32 and env.min() > 0
    assert env[:16].mean() > env[16:].mean()  # lights and ceiling above the horizon
    path = write_environment(tmp_path / "environment.hdr", env)
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]
    np.testing.assert_allclose(back, env, rtol=0.01, atol=1e-3)  # RGBE keeps 8 bits of mantissa
    with pytest.raises(ValueError, match=".hdr"):
        write_environment(tmp_path / "environment.png", env)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["environment.hdr"]


def test_variant_falls_back_to_scalar_with_old_llvm(monkeypatch):
    import drjit

    monkeypatch.setattr(drjit.detail, "llvm_version", lambda: (15, 0, 6))
    assert select_variant() == "scalar_rgb"


def test_scalar_and_llvm_variants_agree():
    mesh = _patch(np.full((8, 8, 3), 0.6, dtype=np.float32))
    images = {}
    for variant in ("scalar_rgb", "llvm_ad_rgb"):
        config = RenderConfig(resolution=24, spp=8, views=FRONT, lightings=("environment",), variant=variant)
        (render,) = render_views(mesh, config)
        assert render.variant == variant
        images[variant] = render.image
    a, b = images["scalar_rgb"], images["llvm_ad_rgb"]
    assert np.mean(_face_pixels(a) != _face_pixels(b)) < 0.02  # same silhouette up to edge noise
    assert abs(a.mean() - b.mean()) < 0.03


def test_missing_mitsuba_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mitsuba", None)  # makes `import mitsuba` raise ImportError
    with pytest.raises(MissingDependencyError, match="pip install mitsuba"):
        select_variant()


def test_render_rejects_bad_settings():
    mesh = _patch(np.full((4, 4, 3), 0.5, dtype=np.float32))
    with pytest.raises(ValueError, match="unknown lighting"):
        render_views(mesh, RenderConfig(lightings=("disco",)))
    with pytest.raises(ValueError, match="resolution"):
        render_views(mesh, RenderConfig(resolution=0))
