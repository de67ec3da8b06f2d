"""Fixtures of the evaluation tests: face crops of real photos, and a small built database."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facetex.database.build import build_database
from facetex.database.photos import collect_photos
from facetex.database.config import DatabaseConfig


def load_crop(path, box=(425, 425, 925, 925), size=256) -> np.ndarray:
    """(size, size, 3) float32 crop of a London photo (the centre of the face at 1350²)."""
    with Image.open(path) as im:
        crop = im.convert("RGB").crop(box).resize((size, size), Image.Resampling.BOX)
    return np.asarray(crop, dtype=np.float32) / 255.0


@pytest.fixture(scope="session")
def face_crops(london_neutral) -> list[np.ndarray]:
    """Four 256² crops (cheeks, nose, mouth) of different London persons."""
    return [load_crop(p) for p in london_neutral[:4]]


@pytest.fixture(scope="session")
def eval_db(shared_data, tmp_path_factory):
    """A database of 3 London persons × (neutral, smiling), 128² textures, Grams at 64²."""
    from facetex.fitting import FitConfig

    fast_fit = FitConfig(steps=(5, 2, 1), landmark_steps=3, alternations=1, max_size=128)
    config = DatabaseConfig(resolution=128, gram_resolutions=(64,), jobs=1, fit=fast_fit)
    london = shared_data / "london"
    photos = [london / folder / f"{person}_{code}.jpg"
              for person in ("001", "002", "003") for folder, code in (("neutral", "03"), ("smiling", "08"))]
    root = tmp_path_factory.mktemp("evaluation-db")
    build_database(collect_photos(photos), root / "db.h5", config, work_dir=root / "work", progress=False)
    return root / "db.h5"
