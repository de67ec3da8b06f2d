"""What a report is given: the blend weights of the database subjects, the texture-map panels,
and the checks of its images and figures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from facetex.errors import InputImageError
from facetex.types import PartialAlbedo

__all__ = ["SubjectWeight", "map_panels", "check_image", "check_numbers"]


@dataclass(frozen=True)
class SubjectWeight:
    """A database subject and its blend weight (paper §4, convex weights).

    Attributes
    ----------
    name : subject id or name as stored in the database.
    weight : its weight w_k (≥ 0 and summing to 1 for the convex solver).
    thumbnail : optional (H, W, 3) float32 RGB in [0, 1], e.g. the subject's albedo.
    """

    name: str
    weight: float
    thumbnail: np.ndarray | None = field(default=None, repr=False)


def map_panels(
    partial: PartialAlbedo, final_albedo: np.ndarray, normal_map: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The report's texture maps, captioned, in the order the pipeline makes them.

    Parameters
    ----------
    partial : the unwrapped maps of the photo (partial albedo, visibility, low-frequency albedo).
    final_albedo : (R, R, 3) float32 in [0, 1], e.g. ``SynthesisResult.rgb``.
    normal_map : (R, R, 3) float32 in [0, 1] from :func:`facetex.render.maps.detail_maps`, or None.

    Returns
    -------
    caption → image, for ``write_report(maps=...)``.
    """
    panels = {
        "partial albedo (photo / shading)": partial.albedo,
        "visibility": partial.mask,
        "low-frequency albedo I(α_al)": partial.lowfreq,
        "final albedo": final_albedo,
    }
    if normal_map is not None:
        panels["normal map"] = normal_map
    return panels


def check_image(name: str, image: np.ndarray) -> np.ndarray:
    """Validate a report image: (H, W) or (H, W, 3) float in [0, 1] or bool → (H, W, 3) float32."""
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputImageError(f"report image {name!r} must be (H, W) or (H, W, 3), got shape {arr.shape}")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)) or arr.min() < 0.0 or arr.max() > 1.0:
        raise InputImageError(f"report image {name!r} must hold finite values in [0, 1]")
    return arr


def check_numbers(name: str, values: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for key, value in values.items():
        number = float(value)
        if not np.isfinite(number) or number < 0:
            raise ValueError(f"{name}[{key!r}] must be a finite number >= 0, got {value!r}")
        out[str(key)] = number
    return out
