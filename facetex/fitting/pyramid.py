"""The image pyramid of the §3 fit: the face crop, shrunk level by level, with its masks.

The photo is cropped around the detected face (``FitConfig.crop_scale`` × its box), the crop
shrunk to ``max_size`` (never enlarged), and ``len(steps)`` levels built from it (factor 2),
each with the image-space visibility (:mod:`facetex.fitting.visibility`) shrunk to its size.
The camera stays that of the full photo: level pixels = (photo pixels − crop origin) × scale.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch

from facetex.fitting.config import FitConfig
from facetex.fitting.problem import DTYPE, EnergyProblem
from facetex.fitting.visibility import photo_visibility
from facetex.types import Detection, MorphableModel, Photo

__all__ = ["Level", "at_level", "build_pyramid"]


@dataclass(frozen=True)
class Level:
    """One pyramid level: image, visibility mask, and its mapping from photo pixels."""

    image: torch.Tensor  # (h, w, 3)
    mask: torch.Tensor  # (h, w) bool, image-space visibility
    scale: torch.Tensor  # (2,) level pixels per photo pixel (x, y)
    offset: torch.Tensor  # (2,) photo pixel of the level's origin (the crop's corner)
    order: torch.Tensor  # (h·w,) fixed random ranking of the pixels, for subsampling

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])


def build_pyramid(photo: Photo, detection: Detection, model: MorphableModel, config: FitConfig) -> list[Level]:
    """Crop around the face, shrink, and build the levels coarse → fine, with their masks."""
    vis, crop = photo_visibility(
        photo, detection, model.topology, config.visibility, crop_scale=config.crop_scale, max_side=config.max_size
    )
    fine_mask = vis.mask.astype(np.float32)
    rng = np.random.default_rng(config.seed)
    n_levels = len(config.steps)
    levels = []
    for k in range(n_levels):
        factor = 2 ** (n_levels - 1 - k)
        h, w = crop.rgb.shape[:2]
        size = (max(1, round(w / factor)), max(1, round(h / factor)))
        img = crop.rgb if factor == 1 else cv2.resize(crop.rgb, size, interpolation=cv2.INTER_AREA)
        mask = fine_mask if factor == 1 else cv2.resize(fine_mask, size, interpolation=cv2.INTER_AREA)
        lh, lw = img.shape[:2]
        levels.append(
            Level(
                image=torch.tensor(img, dtype=DTYPE),
                mask=torch.tensor(mask > 0.5),
                scale=torch.tensor(crop.scale * [lw / w, lh / h], dtype=DTYPE),
                offset=torch.tensor(crop.offset, dtype=DTYPE),
                order=torch.tensor(rng.permutation(lh * lw)),
            )
        )
    return levels


def at_level(problem: EnergyProblem, level: Level) -> EnergyProblem:
    """``problem`` with the image of ``level`` and its mapping from photo pixels."""
    return replace(problem, image=level.image, image_scale=level.scale, image_offset=level.offset)
