"""The complete head around a fitted ICT face: scalp and neck, mouth interior, teeth, eyeballs
(issue 19), as :class:`~facetex.render.textured_mesh.MeshPart` records for the export.

Shape
    Every part is posed with the fit's identity and expression coefficients on the kit's
    whole-head model (:meth:`facetex.geometry.ict_head.IctHead.vertices`), the same sum as the
    face tile, so the parts meet the face vertex for vertex. Their morph targets are the same 53
    expressions (the jaw carries the lower teeth and gums).
Eyes
    Each eyeball (the kit's sclera surface, cornea bulge included) is painted by angle θ from
    its cornea's axis: pupil (θ < :data:`PUPIL_ANGLE`), iris (θ < :data:`IRIS_ANGLE`, with a
    darker limbal ring and radial streaks), sclera. The iris colour is the photo's
    (:func:`iris_colour`) where mediapipe's iris landmarks span at least
    :data:`MIN_IRIS_RADIUS_PX` pixels, else :data:`DEFAULT_IRIS`. The eyeball turns about the
    centre of the sphere fitted to its vertices, from looking along +z (the kit's neutral) to
    the fitted pupil's direction (``FaceFit.pupils``), at most :data:`MAX_GAZE_DEG`.
Materials
    Scalp and neck: the head tile's albedo (:mod:`facetex.render.head_texture`) and its detail
    normal map, the skin's roughness. Gums, tongue and teeth: flat colours
    (:data:`GUMS_COLOUR`, :data:`TEETH_COLOUR`), smoother than skin; eyes: wet (roughness 0.15).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import binary_erosion
from scipy.spatial.transform import Rotation

from facetex.geometry.ict_head import IctHead
from facetex.geometry.rasterize import interpolate
from facetex.geometry.sh import sh_shading
from facetex.geometry.uv import rasterize_uv
from facetex.render.head_texture import head_tile_albedo, scalp_regions
from facetex.render.maps import DetailMapConfig, detail_maps, pad_chart
from facetex.render.textured_mesh import MeshPart, make_mesh_part
from facetex.types import Detection, FaceFit, MeshTopology, Photo

__all__ = [
    "DEFAULT_IRIS", "GUMS_COLOUR", "IRIS_ANGLE", "MAX_BORDER_GAP_CM", "MAX_GAZE_DEG", "MIN_IRIS_RADIUS_PX", "PUPIL_ANGLE",
    "TEETH_COLOUR", "eye_albedo", "head_parts", "iris_colour", "mended_border",
]

GUMS_COLOUR = (0.62, 0.30, 0.31)
TEETH_COLOUR = (0.86, 0.83, 0.76)
SCLERA_COLOUR = (0.90, 0.86, 0.82)
#: A mid brown, sRGB albedo, for photos whose irises are too small to read.
DEFAULT_IRIS = (0.34, 0.21, 0.12)
#: Angles (radians) from the cornea's axis, about the eyeball's centre: pupil edge, limbus.
PUPIL_ANGLE = 0.2
IRIS_ANGLE = 0.58
MIN_IRIS_RADIUS_PX = 6.0
MAX_GAZE_DEG = 35.0
#: The most the fitted face tile may differ from the kit's model posed by the fit (cm).
MAX_BORDER_GAP_CM = 0.05
EYE_RESOLUTION = 256
_RIGHT_IRIS, _LEFT_IRIS = (468, 469, 470, 471, 472), (473, 474, 475, 476, 477)


def _sphere_centre(points: np.ndarray) -> np.ndarray:
    """Least-squares sphere through (N, 3) points: its centre (3,)."""
    a = np.c_[2.0 * points, np.ones(len(points))]
    solution = np.linalg.lstsq(a, (points**2).sum(axis=1), rcond=None)[0]
    return solution[:3]


def iris_colour(photo: Photo, detection: Detection, fit: FaceFit) -> tuple[float, float, float] | None:
    """The irises' albedo read from the photo, sRGB (3,), or None when they are too small.

    Pixels between 0.45 and 0.85 of the iris radius (mediapipe's iris centre and contour
    landmarks) of both eyes, the brightest 15 % (highlights) and darkest 15 % (lashes, lid
    shadow) left out, their median divided by the fitted SH shading of a surface facing the
    camera (the unwrap's model: photo = albedo × shading).
    """
    landmarks = np.asarray(detection.landmarks)[:, :2]
    height, width = photo.rgb.shape[:2]
    samples = []
    for ids in (_RIGHT_IRIS, _LEFT_IRIS):
        centre = landmarks[ids[0]]
        radius = float(np.linalg.norm(landmarks[list(ids[1:])] - centre, axis=1).mean())
        if radius < MIN_IRIS_RADIUS_PX:
            return None
        x0, y0 = (max(0, int(np.floor(c - radius))) for c in centre)
        x1, y1 = min(width, int(np.ceil(centre[0] + radius)) + 1), min(height, int(np.ceil(centre[1] + radius)) + 1)
        y, x = np.mgrid[y0:y1, x0:x1]  # the iris's bounding box
        distance = np.hypot(x - centre[0], y - centre[1]) / radius
        ring = (distance > 0.45) & (distance < 0.85)
        samples.append(photo.rgb[y0:y1, x0:x1][ring])
    pixels = np.concatenate(samples)
    brightness = pixels.mean(axis=1)
    low, high = np.percentile(brightness, [15, 85])
    kept = pixels[(brightness >= low) & (brightness <= high)]
    if len(kept) < 20:
        return None
    shading = sh_shading(np.array([0.0, 0.0, -1.0]), np.asarray(fit.sh_coeffs, dtype=np.float64))
    albedo = np.median(kept, axis=0) / np.maximum(shading, 0.05)
    return tuple(float(c) for c in np.clip(albedo, 0.02, 0.95))


def eye_albedo(neutral: np.ndarray, part_uvs: np.ndarray, faces: np.ndarray, centre: np.ndarray,
               axis: np.ndarray, iris: tuple[float, float, float], *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The eyeball's texture (EYE_RESOLUTION², 3) float32 and its chart: sclera, iris and pupil
    painted by angle from ``axis`` (unit, model frame) about ``centre`` (module doc, "Eyes")."""
    topology = MeshTopology(vertices=neutral, uvs=part_uvs, faces=faces, landmark_weights=np.zeros(len(neutral)))
    raster = rasterize_uv(topology, EYE_RESOLUTION)
    direction = neutral - centre
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    texel = interpolate(torch.tensor(direction, dtype=torch.float32), raster, faces).cpu().numpy()
    chart = raster.mask.cpu().numpy()
    texel /= np.maximum(np.linalg.norm(texel, axis=-1, keepdims=True), 1e-9)
    up = np.array([0.0, 1.0, 0.0]) - axis[1] * axis
    up /= np.linalg.norm(up)
    side = np.cross(up, axis)
    theta = np.arccos(np.clip(texel @ axis, -1.0, 1.0))
    phi = np.arctan2(texel @ up, texel @ side)
    rng = np.random.default_rng(seed)
    streaks = sum(rng.uniform(0.03, 0.08) * np.cos(k * phi + rng.uniform(0, 2 * np.pi)) for k in (23, 37, 61, 89))
    radial = np.clip((theta - PUPIL_ANGLE) / (IRIS_ANGLE - PUPIL_ANGLE), 0.0, 1.0)
    iris_shade = (1.0 + streaks) * (1.15 - 0.45 * radial**4)  # lighter inner iris, dark limbal ring

    def step(edge: float, width: float = 0.02) -> np.ndarray:
        return np.clip((theta - edge) / width + 0.5, 0.0, 1.0)[..., None]

    sclera = np.asarray(SCLERA_COLOUR) * (1.0 - 0.08 * np.clip((theta - 1.2) / 1.5, 0.0, 1.0))[..., None]
    iris_rgb = np.asarray(iris)[None, None, :] * iris_shade[..., None]
    pupil = np.full(3, 0.02)
    rgb = pupil * (1 - step(PUPIL_ANGLE)) + step(PUPIL_ANGLE) * (
        iris_rgb * (1 - step(IRIS_ANGLE)) + step(IRIS_ANGLE) * sclera)
    albedo = np.where(chart[..., None], np.clip(rgb, 0.0, 1.0), 0.5).astype(np.float32)
    return albedo, chart


def _gaze_rotation(centre: np.ndarray, fit: FaceFit, eye: int) -> np.ndarray:
    """(3, 3) model-frame rotation turning +z towards the fitted pupil of ``eye`` (0 the
    subject's right, 1 the left), limited to MAX_GAZE_DEG; identity without fitted pupils."""
    if fit.pupils is None:
        return np.eye(3)
    pupil = (np.asarray(fit.pupils[eye], dtype=np.float64) - np.asarray(fit.translation)) @ np.asarray(fit.rotation)
    gaze = pupil - centre
    gaze /= np.linalg.norm(gaze)
    forward = np.array([0.0, 0.0, 1.0])
    angle = np.arccos(np.clip(gaze @ forward, -1.0, 1.0))
    axis = np.cross(forward, gaze)
    if np.linalg.norm(axis) < 1e-9:
        return np.eye(3)
    angle = min(angle, np.radians(MAX_GAZE_DEG))
    return Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle).as_matrix()


def _scalp_normal_map(albedo: np.ndarray, chart: np.ndarray, part, maps: DetailMapConfig) -> np.ndarray:
    """The head tile's detail normal map from its skin alone: the dark sockets would read as pits
    next to the scalp's border (a shaded line), so they are given the skin's mean colour for the
    height and a flat normal."""
    scalp = scalp_regions(part, albedo.shape[0])[0]
    skin = np.where(scalp[..., None], albedo, albedo[scalp].mean(axis=0)).astype(np.float32)
    normal = detail_maps(skin, chart, maps).normal
    return np.where((chart & ~scalp)[..., None], np.array([0.5, 0.5, 1.0], np.float32), normal)


def mended_border(albedo: np.ndarray, chart: np.ndarray, texels: int) -> np.ndarray:
    """``albedo`` (R, R, 3) with its chart's outermost ``texels`` rings replaced by the colour of
    the texels just inside (edge padding from the chart eroded by ``texels``): the synthesis
    leaves the chart's border greyer than the skin next to it (ring 0.647 / 0.563 / 0.510 against
    0.703 / 0.579 / 0.509 three texels in, London 090 at 256²), which the head tile would
    otherwise meet as a line."""
    inner = binary_erosion(chart, iterations=texels)
    padded = pad_chart(albedo, inner, texels + 1)
    return np.where((chart & ~inner)[..., None], padded, albedo).astype(np.float32)


def head_parts(
    head: IctHead,
    fit: FaceFit,
    face_vertices: np.ndarray,
    face_albedo: np.ndarray,
    face_chart: np.ndarray,
    *,
    photo: Photo | None = None,
    detection: Detection | None = None,
    with_morphs: bool = True,
    roughness: float = 0.6,
    maps: DetailMapConfig = DetailMapConfig(),
) -> tuple[MeshPart, ...]:
    """The head's parts for one fit (module doc).

    Parameters
    ----------
    head : the kit's head (:func:`facetex.geometry.ict_head.load_ict_head`).
    fit : a fit with the ICT face model (100 identity, 53 expression coefficients).
    face_vertices : (9547, 3) the fitted face tile, model frame, cm
        (:func:`~facetex.render.textured_mesh.model_frame_vertices`); the parts' vertices on its
        border are set to its, so head and face meet exactly.
    face_albedo : (R, R, 3) float32 in [0, 1], the completed face-tile albedo; face_chart : (R, R) bool.
    photo, detection : the fitted photo and face, for the iris colour (None: the default iris).
    with_morphs : give each part its offsets of the 53 expression morph targets.
    roughness : of the scalp's material (the face's skin roughness).
    maps : settings of the scalp's normal map (the face's).

    Returns
    -------
    The parts ``head``, ``gums``, ``teeth``, ``eye_right``, ``eye_left``.

    Raises
    ------
    ValueError
        If the fit's face is not the kit's model posed by the fit's coefficients (more than
        :data:`MAX_BORDER_GAP_CM` apart anywhere), e.g. a fit with another face model.
    """
    shown = head.vertices(fit.shape_coeffs, fit.expression_coeffs)
    face_vertices = np.asarray(face_vertices, dtype=np.float64)
    if face_vertices.shape != (len(head.face.ict_vertex), 3):
        raise ValueError(f"the face tile has {len(head.face.ict_vertex)} vertices, got {face_vertices.shape}")
    gap = np.abs(shown[head.face.ict_vertex] - face_vertices).max()
    if gap > MAX_BORDER_GAP_CM:
        raise ValueError(f"the fitted face lies up to {gap:.2f} cm from the ICT model posed by its coefficients")
    shown[head.face.ict_vertex] = face_vertices
    iris = None if photo is None or detection is None else iris_colour(photo, detection, fit)
    iris = DEFAULT_IRIS if iris is None else iris
    parts = []
    for part in head.parts:
        vertices = shown[part.ict_vertex]
        offsets = head.expression[:, part.ict_vertex] if with_morphs else None
        if part.name == "head":
            albedo, chart = head_tile_albedo(face_albedo, face_chart, head.face, part, face_albedo.shape[0])
            normal = _scalp_normal_map(albedo, chart, part, maps)
            parts.append(make_mesh_part(part.name, vertices, part.faces, part.uvs, albedo=albedo, normal_map=normal,
                                        chart=chart, roughness=roughness, morph_offsets=offsets, skin=True))
        elif part.name in ("gums", "teeth"):
            colour = GUMS_COLOUR if part.name == "gums" else TEETH_COLOUR
            parts.append(make_mesh_part(part.name, vertices, part.faces, part.uvs, colour=colour,
                                        roughness=0.35 if part.name == "gums" else 0.3, morph_offsets=offsets))
        else:
            neutral = head.neutral[part.ict_vertex].astype(np.float64)
            centre = _sphere_centre(neutral)
            apex = neutral[np.argmax(np.linalg.norm(neutral - centre, axis=1))] - centre
            albedo, chart = eye_albedo(neutral, part.uvs, part.faces, centre, apex / np.linalg.norm(apex), iris)
            posed_centre = _sphere_centre(vertices)
            turn = _gaze_rotation(posed_centre, fit, 0 if part.name == "eye_right" else 1)
            vertices = (vertices - posed_centre) @ turn.T + posed_centre
            parts.append(make_mesh_part(part.name, vertices, part.faces, part.uvs, albedo=albedo, chart=chart,
                                        roughness=0.15, morph_offsets=offsets))
    return tuple(parts)
