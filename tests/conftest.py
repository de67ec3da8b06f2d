"""Shared test fixtures: real data from ../shared/data (or $FACETEX_DATA), small and fast."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from facetex.paths import data_dir

# Keep test runs reproducible and light on a 2-core machine.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never let a test write into the user's real cache."""
    monkeypatch.setenv("FACETEX_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = data_dir()
    if not (path / "london").is_dir():
        pytest.fail(f"shared test data missing at {path} (set FACETEX_DATA)")
    return path


@pytest.fixture(scope="session")
def london_neutral(shared_data) -> list[Path]:
    """Sorted list of the London neutral photos."""
    return sorted((shared_data / "london" / "neutral").glob("*.jpg"))


@pytest.fixture(scope="session")
def helen_photos(shared_data) -> list[Path]:
    return sorted((shared_data / "helen").glob("*.jpg"))


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# -- the session's small database: 2 London persons × neutral + smiling, 128² textures -------


@pytest.fixture(scope="session")
def small_config():
    """Low resolution and few fit iterations, so the 4-photo build takes seconds."""
    from facetex.database.config import DatabaseConfig
    from facetex.fitting import FitConfig

    fast_fit = FitConfig(steps=(5, 2, 1), landmark_steps=3, alternations=1, max_size=128)
    return DatabaseConfig(resolution=128, gram_resolutions=(64, 128), jobs=1, fit=fast_fit)


@pytest.fixture(scope="session")
def built(shared_data, tmp_path_factory, small_config):
    """(summary, database path, work folder, sources) of the session's small database."""
    from facetex.database.build import build_database
    from facetex.database.photos import collect_photos

    london = shared_data / "london"
    photos = [london / folder / f"{person}_{code}.jpg"
              for person in ("001", "002") for folder, code in (("neutral", "03"), ("smiling", "08"))]
    root = tmp_path_factory.mktemp("database")
    sources = collect_photos(photos)
    summary = build_database(sources, root / "small.h5", small_config, work_dir=root / "work", progress=False)
    return summary, root / "small.h5", root / "work", sources


@pytest.fixture(scope="session")
def small_database(built):
    """Path of the session's small database (persons 001 and 002)."""
    return built[1]
