"""Which pixels and texels show skin: a stand-in for the paper's face-parsing network (§3).

The paper restricts E_c and the unwrapped texture to face pixels a segmentation network
labels as skin. No such network is installable (``docs/design.md#dependencies-and-stand-ins``),
so visibility is the product of these parts, each removing something specific:

z-buffer (``solver``, ``unwrap``)
    Surface points hidden behind other parts of the face (the far cheek behind the nose in a
    turned head). Done by the rasterizer.
grazing angle (:func:`view_cosine`)
    Points seen nearly edge-on (cosine between normal and view direction below
    ``VisibilityConfig.min_cos_view``): their colour is smeared over few pixels, mixed with
    the background at the silhouette, and most sensitive to errors in the fitted shape.
person mask (:class:`ImageVisibility.person`)
    Background seen through the mesh where the fitted outline overshoots the real face
    (mediapipe's selfie segmentation).
feature polygons (:class:`ImageVisibility.features`)
    Eyes, eyebrows, lips (and the mouth interior) and nostrils: not skin, and not explained by
    a smooth albedo. Landmark polygons, grown by ``feature_dilation`` × inter-ocular distance
    to cover eyelashes, eyelid shadows and the lip border.
skin colour (:class:`ImageVisibility.skin_colour`)
    Hair (fringes over the forehead), beards and stubble, glasses frames, hats and strongly
    coloured occluders: a colour model fitted robustly to cheek and forehead pixels of *this*
    photo (median / trimmed covariance in YCrCb) rejects pixels whose chroma lies far from it
    (Mahalanobis distance) or whose luma is far darker or brighter. Hands and other occluders
    of skin colour are NOT removed by it.
robust weights (``solver``)
    What is left unexplained (specular highlights, shadows the SH model cannot make, small
    occluders) gets a low IRLS weight (Huber or Tukey) in E_c.

The image-space parts are computed once per photo and resolution (:func:`image_visibility`);
the geometric ones (z-buffer, grazing angle) change with the fit and are applied where the
surface is sampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facetex.detect import landmarks as lm
from facetex.errors import EmptyMaskError, ShapeMismatchError
from facetex.fitting.config import VisibilityConfig
from facetex.fitting.crop import FaceCrop, face_crop
from facetex.geometry.topology import load_face_mesh
from facetex.geometry.uv import landmark_uvs, uv_to_pixel
from facetex.types import Detection, MeshTopology, Photo

__all__ = [
    "SkinColourModel",
    "ImageVisibility",
    "skin_sample_vertices",
    "fit_skin_colour",
    "feature_polygons",
    "feature_texels",
    "image_visibility",
    "photo_visibility",
    "view_cosine",
]

# UV boxes (u0, u1, v0, v1) of the canonical mesh's cheeks and forehead, where skin is least
# likely to be covered (by hair, beard or glasses) and most evenly lit.
_SKIN_UV_BOXES = (
    (0.12, 0.36, 0.36, 0.54),  # subject's right cheek
    (0.64, 0.88, 0.36, 0.54),  # subject's left cheek
    (0.36, 0.64, 0.76, 0.88),  # forehead
)
# Trimming of the robust colour fit: keep samples within this Mahalanobis distance, and the
# factor that makes a 2D Gaussian's covariance consistent after that truncation (χ²₂ ≤ 6).
_TRIM_DISTANCE = 6.0**0.5
_TRIM_CONSISTENCY = 1.186
# Floors on the spread of skin colour so an evenly coloured face does not reject itself.
_MIN_CHROMA_STD = 0.012
_MIN_LOG_LUMA_STD = 0.18


@dataclass(frozen=True)
class SkinColourModel:
    """Skin colour of one photo, in YCrCb with all channels in [0, 1] (ITU-R BT.601, OpenCV).

    Attributes
    ----------
    chroma_mean : (2,) float64, (Cr, Cb).
    chroma_cov : (2, 2) float64 covariance of (Cr, Cb).
    log_luma_median : float, median of log Y.
    log_luma_std : float, robust standard deviation of log Y.
    """

    chroma_mean: np.ndarray
    chroma_cov: np.ndarray
    log_luma_median: float
    log_luma_std: float

    def distances(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Chroma Mahalanobis distance and luma z-score of every pixel of ``rgb`` (..., 3)."""
        ycc = _ycrcb(rgb)
        diff = ycc[..., 1:] - self.chroma_mean
        inv = np.linalg.inv(self.chroma_cov)
        maha = np.sqrt(np.einsum("...i,ij,...j->...", diff, inv, diff))
        luma_z = (np.log(np.maximum(ycc[..., 0], 1e-3)) - self.log_luma_median) / self.log_luma_std
        return maha, luma_z


@dataclass(frozen=True)
class ImageVisibility:
    """Image-space parts of the skin mask, each (H, W) bool, True where a pixel is kept.

    Attributes
    ----------
    person : inside mediapipe's person segmentation.
    features : outside the grown eye, brow, lip and nostril polygons.
    skin_colour : close to this photo's skin colour (see :class:`SkinColourModel`).
    mouth : inside the inner-lip polygon (teeth, tongue, the mouth's darkness: seen through an
        open mouth, never the albedo of the closed mesh's lips); all False if not computed.
    """

    person: np.ndarray
    features: np.ndarray
    skin_colour: np.ndarray
    mouth: np.ndarray | None = None

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool: pixels kept by every part."""
        return self.person & self.features & self.skin_colour


def skin_sample_vertices(topology: MeshTopology) -> np.ndarray:
    """Mesh vertices on the cheeks and forehead (by their UV), where skin colour is sampled.

    Returns
    -------
    (S,) int64 vertex indices (= landmark indices for the mediapipe mesh).
    """
    u, v = topology.uvs[:, 0], topology.uvs[:, 1]
    keep = np.zeros(u.shape[0], dtype=bool)
    for u0, u1, v0, v1 in _SKIN_UV_BOXES:
        keep |= (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
    return np.nonzero(keep)[0].astype(np.int64)


def fit_skin_colour(rgb: np.ndarray, points: np.ndarray) -> SkinColourModel:
    """Fit the skin colour model robustly to the pixels around some skin points.

    Parameters
    ----------
    rgb : (H, W, 3) float32 image in [0, 1].
    points : (S, 2) pixel positions (x, y) on skin (e.g. the cheek / forehead landmarks).

    Returns
    -------
    SkinColourModel
        Chroma: median start, then three rounds of mean / covariance over the samples within
        Mahalanobis distance √6, corrected for the truncation; luma: median and 1.4826·MAD of
        log Y. Spreads are floored (module constants).

    Raises
    ------
    EmptyMaskError
        If fewer than 8 points fall inside the image.
    """
    h, w = rgb.shape[:2]
    pts = np.asarray(points, dtype=np.float64)
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    if inside.sum() < 8:
        raise EmptyMaskError("the face's cheeks and forehead lie outside the image; cannot model skin colour")
    blurred = cv2.blur(np.ascontiguousarray(rgb, dtype=np.float32), (3, 3))
    cols = np.clip(pts[inside, 0].astype(int), 0, w - 1)
    rows = np.clip(pts[inside, 1].astype(int), 0, h - 1)
    ycc = _ycrcb(blurred[rows, cols])
    chroma = ycc[:, 1:]
    mean = np.median(chroma, axis=0)
    mad = 1.4826 * np.median(np.abs(chroma - mean), axis=0)
    cov = np.diag(np.maximum(mad, _MIN_CHROMA_STD) ** 2)
    floor = np.eye(2) * _MIN_CHROMA_STD**2
    for _ in range(3):
        diff = chroma - mean
        d = np.sqrt(np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff))
        kept = chroma[d <= _TRIM_DISTANCE]
        if kept.shape[0] < 4:
            break
        mean = kept.mean(axis=0)
        cov = np.cov(kept.T) * _TRIM_CONSISTENCY + floor
    log_y = np.log(np.maximum(ycc[:, 0], 1e-3))
    median = float(np.median(log_y))
    spread = max(1.4826 * float(np.median(np.abs(log_y - median))), _MIN_LOG_LUMA_STD)
    return SkinColourModel(chroma_mean=mean, chroma_cov=cov, log_luma_median=median, log_luma_std=spread)


def feature_polygons() -> tuple[tuple[int, ...], ...]:
    """Landmark polygons cut out of the skin: both eyes, both brows, outer lips, both nostrils."""
    return (
        lm.RIGHT_EYE,
        lm.LEFT_EYE,
        lm.RIGHT_EYEBROW,
        lm.LEFT_EYEBROW,
        lm.LIPS_OUTER,
        lm.RIGHT_NOSTRIL,
        lm.LEFT_NOSTRIL,
    )


def feature_texels(topology: MeshTopology, resolution: int, dilation: float = 0.06) -> np.ndarray:
    """The facial features of a UV layout: the :func:`feature_polygons` of the mesh's landmarks
    filled in UV, (R, R) bool, grown by ``dilation`` × the UV distance between the eye centres
    (as the input stage grows them in the photo by ``VisibilityConfig.feature_dilation`` × the
    inter-ocular distance).

    The landmarks' UVs are those of their surface points (:func:`facetex.geometry.uv.landmark_uvs`).
    """
    points = landmark_uvs(topology, np.arange(lm.NUM_MESH_LANDMARKS))
    xy = uv_to_pixel(points, resolution) - 0.5  # texel centres at integers, as cv2 draws
    shift = 4  # sub-texel polygon vertices (1/16 texel)
    cut = np.zeros((resolution, resolution), dtype=np.uint8)
    for polygon in feature_polygons():
        cv2.fillPoly(cut, [np.round(xy[list(polygon)] * (1 << shift)).astype(np.int32)], 1,
                     lineType=cv2.LINE_8, shift=shift)
    eyes = np.stack([xy[list(lm.RIGHT_EYE)].mean(axis=0), xy[list(lm.LEFT_EYE)].mean(axis=0)])
    radius = dilation * float(np.linalg.norm(eyes[0] - eyes[1]))
    if radius >= 0.5:
        size = 2 * int(np.ceil(radius)) + 1
        cut = cv2.dilate(cut, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    return cut.astype(bool)


def image_visibility(
    rgb: np.ndarray,
    landmarks: np.ndarray,
    person_mask: np.ndarray,
    skin_points: np.ndarray,
    unit: float,
    config: VisibilityConfig,
) -> ImageVisibility:
    """The image-space parts of the skin mask at the resolution of ``rgb``.

    Parameters
    ----------
    rgb : (H, W, 3) float32 image in [0, 1].
    landmarks : (N ≥ 468, 2) landmark positions (x, y) in pixels of ``rgb``.
    person_mask : (H', W') float in [0, 1], person probability of the same photo at any
        resolution (resized to H × W here).
    skin_points : (S, 2) pixel positions on skin for the colour model (e.g. the landmarks of
        :func:`skin_sample_vertices`).
    unit : the inter-ocular distance in pixels of ``rgb`` (scales the feature dilation).
    config : thresholds.

    Returns
    -------
    ImageVisibility at (H, W).

    Raises
    ------
    ShapeMismatchError
        If the arrays have the wrong shapes.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ShapeMismatchError(f"rgb must have shape (H, W, 3), got {rgb.shape}")
    if landmarks.ndim != 2 or landmarks.shape[0] < 468 or landmarks.shape[1] < 2:
        raise ShapeMismatchError(f"landmarks must have shape (N >= 468, 2), got {landmarks.shape}")
    if person_mask.ndim != 2:
        raise ShapeMismatchError(f"person_mask must have shape (H, W), got {person_mask.shape}")
    h, w = rgb.shape[:2]
    person_small = cv2.resize(np.asarray(person_mask, dtype=np.float32), (w, h), interpolation=cv2.INTER_AREA)
    person = person_small >= config.person_threshold

    shift = 4  # sub-pixel polygon vertices (1/16 pixel)
    cut = np.zeros((h, w), dtype=np.uint8)
    for polygon in feature_polygons():
        pts = np.round(landmarks[list(polygon), :2] * (1 << shift)).astype(np.int32)
        cv2.fillPoly(cut, [pts], 1, lineType=cv2.LINE_8, shift=shift)
    radius = max(config.feature_dilation * unit, 0.0)
    if radius >= 0.5:
        size = 2 * int(np.ceil(radius)) + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        cut = cv2.dilate(cut, kernel)
    features = cut == 0

    mouth = np.zeros((h, w), dtype=np.uint8)
    pts = np.round(landmarks[list(lm.LIPS_INNER), :2] * (1 << shift)).astype(np.int32)
    cv2.fillPoly(mouth, [pts], 1, lineType=cv2.LINE_8, shift=shift)

    if config.use_skin_colour:
        model = fit_skin_colour(rgb, skin_points)
        maha, luma_z = model.distances(rgb)
        skin = (maha <= config.skin_mahalanobis) & (np.abs(luma_z) <= config.skin_luma_sigmas)
    else:
        skin = np.ones((h, w), dtype=bool)
    return ImageVisibility(person=person, features=features, skin_colour=skin, mouth=mouth.astype(bool))


def photo_visibility(
    photo: Photo,
    detection: Detection,
    topology: MeshTopology,
    config: VisibilityConfig,
    *,
    crop_scale: float = 2.0,
    max_side: int = 768,
) -> tuple[ImageVisibility, FaceCrop]:
    """The image-space skin mask of one face, on a shrunk crop of the photo around it.

    Parameters
    ----------
    photo, detection : the photo and the face.
    topology : the mesh whose cheek / forehead vertices sample the skin colour
        (:func:`skin_sample_vertices`) when its vertex i is landmark i; a mesh with a
        ``landmark_map`` (another mesh than mediapipe's) samples at mediapipe's own mesh's
        cheek and forehead landmarks instead.
    config : thresholds.
    crop_scale, max_side : the crop (:func:`facetex.fitting.crop.face_crop`).

    Returns
    -------
    visibility : ImageVisibility at the crop's resolution.
    crop : the crop (its ``to_crop`` maps photo pixels to mask pixels).
    """
    crop = face_crop(photo, detection.box, crop_scale, max_side)
    landmarks = crop.to_crop(np.asarray(detection.landmarks)[:, :2])
    centres = lm.eye_centers(landmarks)
    unit = float(np.linalg.norm(centres[0] - centres[1]))
    if topology.landmark_map is not None:
        topology = load_face_mesh()
    skin = landmarks[skin_sample_vertices(topology)]
    person = crop.cut(np.asarray(detection.person_mask, dtype=np.float32))
    return image_visibility(crop.rgb, landmarks, person, skin, unit, config), crop


def view_cosine(points, normals):
    """Cosine between surface normals and the direction from the surface to the camera.

    Parameters
    ----------
    points : (..., 3) camera-frame positions (the camera is at the origin).
    normals : (..., 3) unit outward normals, camera frame. numpy arrays or torch tensors.

    Returns
    -------
    (...,) cosine in [−1, 1]; 1 facing the camera, ≤ 0 facing away.
    """
    to_camera = -points
    dot = (to_camera * normals).sum(-1)
    length = (to_camera * to_camera).sum(-1) ** 0.5
    return dot / (length + 1e-12)


def _ycrcb(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] (..., 3) → YCrCb in [0, 1] (BT.601, as OpenCV's float conversion)."""
    arr = np.ascontiguousarray(rgb, dtype=np.float32)
    flat = arr.reshape(-1, 1, 3)
    return cv2.cvtColor(flat, cv2.COLOR_RGB2YCrCb).reshape(arr.shape).astype(np.float64)
