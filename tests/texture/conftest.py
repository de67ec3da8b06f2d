"""Fixtures of the texture tests: one VGG-19 per session and small real textures."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from facetex.texture.vgg import VGG19, load_vgg19


@pytest.fixture(scope="session")
def vgg() -> VGG19:
    return load_vgg19("cpu")


@pytest.fixture(scope="session")
def textures() -> dict[str, np.ndarray]:
    """scikit-image's grey natural textures (512², float32 in [0, 1])."""
    return {name: getattr(skimage.data, name)().astype(np.float32) / 255.0 for name in ("brick", "grass", "gravel")}
