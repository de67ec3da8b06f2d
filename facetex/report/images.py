"""Writing a report's images into its assets folder under unique, readable names."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from facetex.report.layout import ASSETS_DIR

__all__ = ["save_image", "slug", "ImageWriter"]


def save_image(image: np.ndarray, path: Path, max_side: int) -> None:
    """Write ``image`` ((H, W, 3) float32 in [0, 1]) as 8-bit PNG, or JPEG (quality 90) when
    ``path`` ends in ``.jpg``, Lanczos-shrunk so that its longest side is at most ``max_side``."""
    pil = Image.fromarray(np.round(image * 255.0).astype(np.uint8))
    scale = max_side / max(pil.size)
    if scale < 1.0:
        pil = pil.resize((max(1, round(pil.width * scale)), max(1, round(pil.height * scale))), Image.LANCZOS)
    if path.suffix == ".jpg":
        pil.save(path, format="JPEG", quality=90)
    else:
        pil.save(path, format="PNG")


def slug(text: str) -> str:
    """``text`` lower-cased, runs of other characters than a–z and 0–9 turned into "-"."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return out or "image"


class ImageWriter:
    """Writes images into the (temporary) assets folder under unique names; returns their URLs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.used: set[str] = set()

    def __call__(
        self, prefix: str, caption: str, image: np.ndarray, *, max_side: int, jpeg: bool = False
    ) -> str:
        stem = f"{prefix}-{slug(caption)}"
        name, n = stem, 1
        while name in self.used:
            n += 1
            name = f"{stem}-{n}"
        self.used.add(name)
        filename = name + (".jpg" if jpeg else ".png")
        save_image(image, self.folder / filename, max_side)
        return f"{ASSETS_DIR}/{filename}"
