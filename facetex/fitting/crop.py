"""A shrunk crop of the photo around one face, and the map between its pixels and the photo's."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from facetex.errors import FittingError
from facetex.types import Photo

__all__ = ["FaceCrop", "face_crop"]


@dataclass(frozen=True)
class FaceCrop:
    """A region of a photo, possibly shrunk.

    Attributes
    ----------
    rgb : (h, w, 3) float32 in [0, 1].
    offset : (2,) float64, photo pixel (x, y) of the crop's top-left corner.
    scale : (2,) float64, crop pixels per photo pixel along x and y (≤ 1).
    bounds : (left, top, right, bottom) integer photo pixels of the region.

    A photo point p (continuous pixel coordinates) is at ``(p − offset) · scale`` in the crop.
    """

    rgb: np.ndarray
    offset: np.ndarray
    scale: np.ndarray
    bounds: tuple[int, int, int, int]

    def to_crop(self, xy: np.ndarray) -> np.ndarray:
        """Photo pixel positions (..., 2) → crop pixel positions (..., 2)."""
        return (np.asarray(xy, dtype=np.float64) - self.offset) * self.scale

    def cut(self, image: np.ndarray) -> np.ndarray:
        """The same region of another photo-sized array (H, W, ...), shrunk alike (area)."""
        left, top, right, bottom = self.bounds
        part = np.ascontiguousarray(image[top:bottom, left:right], dtype=np.float32)
        h, w = self.rgb.shape[:2]
        if part.shape[:2] == (h, w):
            return part
        return cv2.resize(part, (w, h), interpolation=cv2.INTER_AREA)


def face_crop(photo: Photo, box: np.ndarray, crop_scale: float, max_side: int) -> FaceCrop:
    """Crop a square ``crop_scale`` × the box's long side around its centre, clipped to the
    photo, and shrink it (area averaging) so its long side is at most ``max_side``.

    Raises
    ------
    FittingError
        If the region left inside the photo is smaller than 8 × 8 pixels.
    """
    height, width = photo.size
    x0, y0, x1, y1 = np.asarray(box, dtype=np.float64)
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    half = 0.5 * crop_scale * max(x1 - x0, y1 - y0, 8.0)
    left, top = int(max(0, math.floor(cx - half))), int(max(0, math.floor(cy - half)))
    right, bottom = int(min(width, math.ceil(cx + half))), int(min(height, math.ceil(cy + half)))
    if right - left < 8 or bottom - top < 8:
        raise FittingError("the detected face lies outside the photo")
    region = np.ascontiguousarray(photo.rgb[top:bottom, left:right], dtype=np.float32)
    s = min(1.0, max_side / max(region.shape[:2]))
    size = (max(1, round(region.shape[1] * s)), max(1, round(region.shape[0] * s)))
    same = size == (region.shape[1], region.shape[0])
    rgb = region if same else cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    return FaceCrop(
        rgb=rgb,
        offset=np.array([left, top], dtype=np.float64),
        scale=np.array([rgb.shape[1] / region.shape[1], rgb.shape[0] / region.shape[0]]),
        bounds=(left, top, right, bottom),
    )
