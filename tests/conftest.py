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
