"""Controlled degradations of protocol A: remove detail from a photo, hide part of the face.

Applied to the **photo** (before the pipeline runs):

* :func:`blur_photo` — Gaussian blur "until the detail is gone" (paper Appendix II). σ is a
  fraction of the inter-ocular distance (:data:`BLUR_FRACTION` = 0.04), which leaves ~5e-4 of
  the power at the lower edge of the mesoscopic band (:mod:`facetex.evaluation.spectra`;
  the figures: ``docs/evaluation.md``, "Blur of the input").
* :func:`downsample_photo` — 4× area downsampling, then bicubic upsampling back to the original
  size (paper Fig. 15: the method on low-resolution input).
* :func:`occlude_photo` — an opaque ellipse over one cheek, in a flat non-skin colour (a hand
  or an object in front of the face): the pipeline's skin visibility must leave those texels
  out of the partial albedo.

Applied to the **partial albedo** (after unwrapping):

* :func:`hide_turn` — a simulated head turn: the texels of one side of the UV chart are marked
  unobserved, as if turned away from the camera (the photo and the fit stay frontal, so only
  the visibility changes; the fitted geometry and lighting are those of the frontal view).
"""

from __future__ import annotations

import dataclasses
from typing import Literal, get_args
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter

from facetex.detect.landmarks import eye_centers
from facetex.errors import ShapeMismatchError
from facetex.texture.color import MASK_VALUE
from facetex.types import Detection, PartialAlbedo, Photo

__all__ = [
    "BLUR_FRACTION",
    "DOWNSAMPLE_FACTOR",
    "OCCLUDER_COLOUR",
    "PHOTO_DEGRADATIONS",
    "HIDINGS",
    "DegradeConfig",
    "degrade_photo",
    "blur_sigma",
    "blur_photo",
    "downsample_photo",
    "occluder_mask",
    "occlude_photo",
    "turn_mask",
    "hide_turn",
]

#: Blur σ as a fraction of the inter-ocular distance (module doc).
BLUR_FRACTION = 0.04
#: Downsampling factor of paper Fig. 15.
DOWNSAMPLE_FACTOR = 4
#: Flat colour of the simulated occluder: a dark blue-grey, far from any skin tone.
OCCLUDER_COLOUR: tuple[float, float, float] = (0.15, 0.2, 0.35)
#: Degradations of the photo's detail, and ways to hide part of the face.
Degradation = Literal["none", "blur", "downsample"]
Hiding = Literal["none", "turn", "occluder"]
Side = Literal["right", "left"]
PHOTO_DEGRADATIONS: tuple[Degradation, ...] = get_args(Degradation)
HIDINGS: tuple[Hiding, ...] = get_args(Hiding)
_SIDES: tuple[Side, ...] = get_args(Side)


@dataclass(frozen=True)
class DegradeConfig:
    """How protocol A degrades its input.

    Attributes
    ----------
    detail : "none", "blur" (Appendix II) or "downsample" (Fig. 15).
    hide : "none", "turn" (hide one side of the UV chart) or "occluder" (ellipse over a cheek).
    blur_fraction : blur σ over the inter-ocular distance.
    downsample_factor : integer factor ≥ 2.
    side : the subject's side that is hidden ("right": image left in a frontal photo).
    turn_fraction : part of the UV chart's width hidden by the turn, from the hidden side's
        edge (0.4: the outer cheek up to the side of the nose, roughly a 45° turn).
    occluder_colour : RGB in [0, 1] of the occluder (:data:`OCCLUDER_COLOUR`).
    """

    detail: Degradation = "blur"
    hide: Hiding = "none"
    blur_fraction: float = BLUR_FRACTION
    downsample_factor: int = DOWNSAMPLE_FACTOR
    side: Side = "right"
    turn_fraction: float = 0.4
    occluder_colour: tuple[float, float, float] = OCCLUDER_COLOUR

    def __post_init__(self) -> None:
        if self.detail not in PHOTO_DEGRADATIONS:
            raise ValueError(f"detail must be one of {', '.join(PHOTO_DEGRADATIONS)}, got {self.detail!r}")
        if self.hide not in HIDINGS:
            raise ValueError(f"hide must be one of {', '.join(HIDINGS)}, got {self.hide!r}")
        if self.side not in _SIDES:
            raise ValueError(f"side must be 'right' or 'left', got {self.side!r}")
        if not self.blur_fraction > 0:
            raise ValueError(f"blur_fraction must be > 0, got {self.blur_fraction}")
        if int(self.downsample_factor) != self.downsample_factor or self.downsample_factor < 2:
            raise ValueError(f"downsample_factor must be an integer ≥ 2, got {self.downsample_factor}")
        if not 0.0 < self.turn_fraction < 1.0:
            raise ValueError(f"turn_fraction must be in (0, 1), got {self.turn_fraction}")
        colour = tuple(float(c) for c in self.occluder_colour)
        if len(colour) != 3 or not all(0.0 <= c <= 1.0 for c in colour):
            raise ValueError(f"occluder_colour must be 3 values in [0, 1], got {self.occluder_colour}")
        object.__setattr__(self, "occluder_colour", colour)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    arr = np.asarray(rgb, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ShapeMismatchError(f"expected an (H, W, 3) RGB image, got shape {arr.shape}")
    return arr


def blur_sigma(eye_distance: float, fraction: float = BLUR_FRACTION) -> float:
    """σ in pixels of the detail-removing blur: ``fraction`` × the inter-ocular distance.

    Parameters
    ----------
    eye_distance : distance between the pupils, pixels (> 0).
    fraction : see :data:`BLUR_FRACTION`.
    """
    if not eye_distance > 0 or not fraction > 0:
        raise ValueError(f"need eye_distance > 0 and fraction > 0, got {eye_distance} and {fraction}")
    return float(eye_distance) * float(fraction)


def blur_photo(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of an RGB photo (reflecting borders), per channel.

    Parameters
    ----------
    rgb : (H, W, 3) float in [0, 1].
    sigma : pixels (≥ 0; 0 returns a copy).

    Returns
    -------
    (H, W, 3) float32 in [0, 1].
    """
    arr = _check_rgb(rgb)
    if sigma < 0:
        raise ValueError(f"sigma must be ≥ 0, got {sigma}")
    if sigma == 0:
        return arr.copy()
    return gaussian_filter(arr, sigma=(sigma, sigma, 0.0), mode="reflect").astype(np.float32)


def downsample_photo(rgb: np.ndarray, factor: int = DOWNSAMPLE_FACTOR) -> np.ndarray:
    """Downsample by ``factor`` (area average) and upsample back (bicubic) to the same size.

    Parameters
    ----------
    rgb : (H, W, 3) float in [0, 1], H and W ≥ ``factor``.
    factor : integer ≥ 2.

    Returns
    -------
    (H, W, 3) float32 in [0, 1] holding only the detail of an (H/factor, W/factor) image.
    """
    arr = _check_rgb(rgb)
    if int(factor) != factor or factor < 2:
        raise ValueError(f"factor must be an integer ≥ 2, got {factor}")
    h, w = arr.shape[:2]
    small_size = (max(1, round(w / factor)), max(1, round(h / factor)))
    small = cv2.resize(arr, small_size, interpolation=cv2.INTER_AREA)
    back = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(back, 0.0, 1.0).astype(np.float32)


def occluder_mask(size: tuple[int, int], box: np.ndarray, side: Side = "right") -> np.ndarray:
    """Pixels of an elliptical occluder over one cheek of a face.

    The ellipse is placed relative to the face box (a facetex ``Detection.box``, tight around
    the 478 landmarks): centre at 27 % of the box width from the hidden side and 60 % of its
    height from the top, semi-axes 22 % of the width and 20 % of the height. For a frontal
    face this covers the cheek from the lower eyelid to the mouth corner, and not the nose.

    Parameters
    ----------
    size : (H, W) of the photo.
    box : (4,) [x0, y0, x1, y1] pixels.
    side : the subject's side ("right" = image left in a frontal photo).

    Returns
    -------
    (H, W) bool.
    """
    if side not in _SIDES:
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box, dtype=np.float64).ravel()[:4])
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"the face box {box} is empty")
    width, height = x1 - x0, y1 - y0
    cx = x0 + 0.27 * width if side == "right" else x1 - 0.27 * width
    cy = y0 + 0.60 * height
    ax, ay = 0.22 * width, 0.20 * height
    rows = np.arange(size[0], dtype=np.float64)[:, None] + 0.5
    cols = np.arange(size[1], dtype=np.float64)[None, :] + 0.5
    return ((cols - cx) / ax) ** 2 + ((rows - cy) / ay) ** 2 <= 1.0


def occlude_photo(
    rgb: np.ndarray,
    box: np.ndarray,
    *,
    side: Side = "right",
    colour: tuple[float, float, float] = OCCLUDER_COLOUR,
) -> np.ndarray:
    """Paint an opaque :func:`occluder_mask` ellipse of flat ``colour`` over one cheek.

    Parameters
    ----------
    rgb : (H, W, 3) float in [0, 1].
    box : (4,) face box [x0, y0, x1, y1], pixels.
    side : the subject's side to cover.
    colour : RGB in [0, 1].

    Returns
    -------
    (H, W, 3) float32, a new image.
    """
    arr = _check_rgb(rgb).copy()
    arr[occluder_mask(arr.shape[:2], box, side)] = np.asarray(colour, dtype=np.float32)
    return arr


def turn_mask(resolution: int, fraction: float = 0.4, side: Side = "right") -> np.ndarray:
    """Texels of a UV map hidden by a simulated head turn.

    In the facetex UV chart u grows towards the subject's left (the model's +x; correlation of
    u with x over the mesh vertices is 0.99), so the subject's right side is u < ``fraction``
    and the left side u > 1 − ``fraction`` (u of a texel centre: (j + 0.5) / R).

    Parameters
    ----------
    resolution : R.
    fraction : part of the chart width to hide, in (0, 1).
    side : "right" or "left" (the subject's).

    Returns
    -------
    (R, R) bool, True on hidden texels (whole columns).
    """
    if side not in _SIDES:
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    u = (np.arange(resolution, dtype=np.float64) + 0.5) / resolution
    columns = u < fraction if side == "right" else u > 1.0 - fraction
    return np.broadcast_to(columns[None, :], (resolution, resolution)).copy()


def hide_turn(partial: PartialAlbedo, fraction: float = 0.4, side: Side = "right") -> PartialAlbedo:
    """Hide one side of a partial albedo, as if the head were turned away (module doc).

    Parameters
    ----------
    partial : the unwrapped partial albedo.
    fraction, side : see :func:`turn_mask`.

    Returns
    -------
    A new PartialAlbedo: ``mask`` without the hidden texels, ``albedo`` 0.5 and ``shading`` 0
    there, the photo's sampling density (``pixels_per_texel``, when measured) 0 there and
    no feature texels (brows, lids, lips) there;
    ``lowfreq`` and ``chart`` unchanged.
    """
    hidden = turn_mask(partial.resolution, fraction, side)
    albedo = partial.albedo.copy()
    albedo[hidden] = MASK_VALUE
    shading = partial.shading.copy()
    shading[hidden] = 0.0
    changes = dict(albedo=albedo, mask=partial.mask & ~hidden, shading=shading)
    density = getattr(partial, "pixels_per_texel", None)
    if density is not None:
        density = np.array(density, copy=True)
        density[hidden] = 0.0
        changes["pixels_per_texel"] = density
    if partial.feature_mask is not None and partial.features is not None:
        features = partial.features.copy()
        features[hidden] = MASK_VALUE
        changes.update(features=features, feature_mask=partial.feature_mask & ~hidden)
    return dataclasses.replace(partial, **changes)


def degrade_photo(photo: Photo, detection: Detection, config: DegradeConfig) -> Photo:
    """Apply the photo degradations of ``config`` (detail, then occluder) to a sharp photo.

    Parameters
    ----------
    photo : the sharp photo.
    detection : its face (eye centres for the blur σ, box for the occluder).
    config : what to do; the "turn" hiding is applied later, to the partial albedo.

    Returns
    -------
    A new Photo, ``source`` tagged with the degradation, quantised to 8 bits as a saved photo
    is (without it a blur would be invertible: its attenuated bands would keep their detail
    below the quantisation step that any real blurred photo loses).
    """
    rgb = photo.rgb
    tags = []
    if config.detail == "blur":
        eyes = eye_centers(detection.landmarks)
        sigma = blur_sigma(float(np.linalg.norm(eyes[1] - eyes[0])), config.blur_fraction)
        rgb = blur_photo(rgb, sigma)
        tags.append(f"blur σ={sigma:.1f}px")
    elif config.detail == "downsample":
        rgb = downsample_photo(rgb, config.downsample_factor)
        tags.append(f"downsample ×{config.downsample_factor}")
    if config.hide == "occluder":
        rgb = occlude_photo(rgb, detection.box, side=config.side, colour=config.occluder_colour)
        tags.append(f"occluder {config.side}")
    if not tags:
        return photo
    rgb = np.round(np.clip(rgb, 0.0, 1.0) * 255.0) / 255.0
    return Photo(rgb=np.asarray(rgb, dtype=np.float32), source=f"{photo.source} [{', '.join(tags)}]")
