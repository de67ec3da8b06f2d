"""The complete ICT head around a face tile (issue 19): its parts meet the face exactly, the head
tile continues the face's colour across the border, the eyes are painted and turned."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facetex.geometry.ict_head import HEAD_PARTS, load_ict_head
from facetex.geometry.uv import chart_mask, uv_to_pixel
from facetex.render.head import DEFAULT_IRIS, head_parts, mended_border
from facetex.render.head_texture import head_tile_albedo, scalp_regions
from facetex.types import FaceFit, MeshTopology

R = 128


@pytest.fixture(scope="module")
def head():
    return load_ict_head()


def _fit(head, expression: np.ndarray | None = None, pupils: np.ndarray | None = None) -> FaceFit:
    beta = np.zeros(53) if expression is None else expression
    face = head.vertices(np.zeros(100), beta)[head.face.ict_vertex]
    translation = np.array([0.0, 0.0, 60.0])
    return FaceFit(
        image_size=(800, 800), shape_coeffs=np.zeros(100), expression_coeffs=beta, albedo_coeffs=np.zeros(3),
        rotation=np.eye(3), translation=translation, focal_length=1000.0, principal_point=np.array([400.0, 400.0]),
        sh_coeffs=np.zeros((9, 3)), vertices=face + translation, model_name="ict", pupils=pupils,
    )


def _face_texture(head) -> tuple[np.ndarray, np.ndarray]:
    """A smooth colour ramp over the face tile (red rises with u, blue with v) and its chart."""
    topology = MeshTopology(vertices=head.neutral[head.face.ict_vertex].astype(np.float64), uvs=head.face.uvs,
                            faces=head.face.faces, landmark_weights=np.zeros(len(head.face.ict_vertex)))
    chart = chart_mask(topology, R)
    v, u = np.mgrid[0:R, 0:R] / (R - 1)
    albedo = np.stack([0.3 + 0.5 * u, np.full((R, R), 0.45), 0.2 + 0.5 * (1 - v)], axis=-1).astype(np.float32)
    return np.where(chart[..., None], albedo, 0.5).astype(np.float32), chart


def test_the_parts_are_read_with_their_own_tiles(head):
    assert [part.name for part in head.parts] == [name for name, _ in HEAD_PARTS]
    for part in head.parts:
        assert part.uvs.min() >= 0 and part.uvs.max() <= 1 and part.faces.max() < len(part.ict_vertex)
    assert len(head.face.ict_vertex) == 9547
    assert sum(len(p.ict_vertex) for p in head.parts) + 9547 >= 20_000  # issue 19: a head, not a mask


def test_the_head_tile_continues_the_face_colour_across_the_border(head):
    albedo, chart = _face_texture(head)
    tile, tile_chart = head_tile_albedo(albedo, chart, head.face, head.part("head"), R)
    scalp, mouth, eyes = scalp_regions(head.part("head"), R)
    assert tile_chart[scalp | mouth | eyes].all()
    # along the border the two tiles share, the head tile has the face's colour (the face's
    # detail-free ramp: the head's random-phase detail is 0 for a smooth face)
    face_first = {ict: i for i, ict in reversed(list(enumerate(head.face.ict_vertex)))}
    part = head.part("head")
    border = [(i, face_first[ict]) for i, ict in enumerate(part.ict_vertex) if ict in face_first]
    head_px = np.floor(uv_to_pixel(part.uvs[[b[0] for b in border]], R)).astype(int).clip(2, R - 3)
    face_px = np.floor(uv_to_pixel(head.face.uvs[[b[1] for b in border]], R)).astype(int).clip(2, R - 3)

    def near(image: np.ndarray, mask: np.ndarray, px: np.ndarray) -> np.ndarray:
        """Mean of the on-mask texels within 2 texels of each point (NaN where none)."""
        out = np.full((len(px), 3), np.nan)
        for k, (x, y) in enumerate(px):
            window = mask[y - 2:y + 3, x - 2:x + 3]
            if window.any():
                out[k] = image[y - 2:y + 3, x - 2:x + 3][window].mean(axis=0)
        return out

    head_colour, face_colour = near(tile, scalp, head_px), near(albedo, chart, face_px)
    both = ~np.isnan(head_colour[:, 0]) & ~np.isnan(face_colour[:, 0])
    assert both.sum() > 150  # of the 362 border vertices, those on the scalp (the rest border the sockets)
    assert np.median(np.abs(head_colour[both] - face_colour[both])) < 0.03
    # red (u) differs between the left and right border of the face; the scalp carries it across
    assert np.ptp(tile[scalp][:, 0]) > 0.15
    np.testing.assert_allclose(tile[mouth][0], (0.36, 0.13, 0.13), atol=1e-6)


def test_the_parts_meet_the_face_and_follow_its_expression(head):
    albedo, chart = _face_texture(head)
    jaw = np.zeros(53)
    jaw[26] = 0.8  # jawOpen
    fit = _fit(head, jaw)
    face_vertices = fit.vertices - fit.translation
    parts = {p.name: p for p in head_parts(head, fit, face_vertices, albedo, chart)}
    assert list(parts) == [name for name, _ in HEAD_PARTS]
    scalp = parts["head"]
    shared = np.isin(head.part("head").ict_vertex, head.face.ict_vertex)
    assert shared.sum() > 300
    face_of = {ict: face_vertices[i] for i, ict in enumerate(head.face.ict_vertex)}
    np.testing.assert_array_equal(scalp.vertices[shared],
                                  [face_of[ict] for ict in head.part("head").ict_vertex[shared]])
    # the lower teeth open with the jaw: the teeth's lowest point drops with jawOpen
    closed = {p.name: p for p in head_parts(head, _fit(head), head.neutral[head.face.ict_vertex].astype(float),
                                              albedo, chart)}
    assert parts["teeth"].vertices[:, 1].min() < closed["teeth"].vertices[:, 1].min() - 0.5
    assert parts["teeth"].morph_offsets.shape == (53,) + parts["teeth"].vertices.shape
    with pytest.raises(ValueError, match="cm from the ICT model"):
        head_parts(head, fit, face_vertices + 1.0, albedo, chart)


def test_the_eyes_are_painted_and_turn_with_the_gaze(head):
    albedo, chart = _face_texture(head)
    fit = _fit(head)
    face_vertices = fit.vertices - fit.translation
    ahead = {p.name: p for p in head_parts(head, fit, face_vertices, albedo, chart)}
    eye = ahead["eye_left"]
    centre = eye.vertices.mean(axis=0)
    front = eye.vertices[np.argmax(eye.vertices[:, 2])]
    # the texel under the cornea's apex is the pupil (dark); the iris ring has the default colour
    px = np.floor(uv_to_pixel(eye.uvs[np.argmax(eye.vertices[:, 2])], eye.albedo.shape[0])).astype(int)
    assert eye.albedo[px[1], px[0]].max() < 0.1
    sclera = eye.albedo[eye.chart].max(axis=-1) > 0.8
    assert sclera.mean() > 0.5  # most of the eyeball is white
    iris_like = np.all(np.abs(eye.albedo[eye.chart] - DEFAULT_IRIS) < 0.12, axis=-1)
    assert iris_like.sum() > 100
    # a pupil 1 cm to the subject's left (+x) of straight ahead turns both eyes towards +x
    pupils = np.stack([ahead["eye_right"].vertices.mean(axis=0), centre]) + [0.0, 0.0, 1.5]
    pupils[:, 0] += 1.0
    turned = {p.name: p for p in head_parts(head, dataclasses.replace(fit, pupils=pupils + fit.translation),
                                              face_vertices, albedo, chart)}
    new_front = turned["eye_left"].vertices[np.argmax(ahead["eye_left"].vertices[:, 2])]
    assert new_front[0] > front[0] + 0.2


def test_a_mended_border_takes_the_colour_just_inside():
    chart = np.zeros((32, 32), bool)
    chart[8:24, 8:24] = True
    albedo = np.full((32, 32, 3), 0.5, np.float32)
    albedo[chart] = 0.7
    albedo[8, 8:24] = 0.4  # a greyer border row
    mended = mended_border(albedo, chart, 2)
    np.testing.assert_allclose(mended[8, 10:22], 0.7, atol=1e-6)
    np.testing.assert_array_equal(mended[12:20, 12:20], albedo[12:20, 12:20])
    assert (mended[~chart] == 0.5).all()


def test_the_iris_colour_is_read_from_a_photo_whose_irises_are_large_enough(head, shared_data):
    """London 001's irises span ~15 px: their colour is read (the ring's median over the fitted
    shading); in the photo shrunk 4×, they are too small and the default is used."""
    import cv2

    from facetex.detect import Detector
    from facetex.geometry.sh import sh_from_ambient
    from facetex.io.images import load_photo
    from facetex.render.head import iris_colour
    from facetex.types import Photo

    photo = load_photo(shared_data / "london" / "neutral" / "001_03.jpg")
    small = Photo(rgb=cv2.resize(photo.rgb, None, fx=0.2, fy=0.2, interpolation=cv2.INTER_AREA), source="small")
    with Detector() as detector:
        detection, small_detection = detector.detect_face(photo), detector.detect_face(small)
    lit = dataclasses.replace(_fit(head), sh_coeffs=sh_from_ambient(1.0))
    colour = iris_colour(photo, detection, lit)
    assert colour is not None and all(0.02 <= c <= 0.6 for c in colour)  # an iris is darker than skin
    ring = np.asarray(colour)
    assert np.abs(ring - DEFAULT_IRIS).max() > 0.01  # read, not the default
    half = dataclasses.replace(lit, sh_coeffs=sh_from_ambient(0.5))  # dimmer light, brighter albedo
    np.testing.assert_allclose(np.asarray(iris_colour(photo, detection, half)), np.clip(2 * ring, 0.02, 0.95), atol=1e-6)
    assert iris_colour(small, small_detection, lit) is None
