"""Where facetex finds shared data and keeps its caches (never inside the repository)."""

from __future__ import annotations

import os
from pathlib import Path

from facetex.errors import DatabaseError

LONDON_SOURCE = (
    "Face Research Lab London Set (DeBruine & Jones 2017, CC BY 4.0), "
    "figshare doi:10.6084/m9.figshare.5047666.v5"
)


def data_dir() -> Path:
    """The shared data folder: ``$FACETEX_DATA``, else ``../shared/data`` beside the checkout."""
    env = os.environ.get("FACETEX_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def london_dir() -> Path:
    """The London face set, or a :class:`DatabaseError` that says where to get it."""
    path = data_dir() / "london"
    if not (path / "neutral").is_dir():
        raise DatabaseError(
            f"the London face set is not at {path}; download the {LONDON_SOURCE} and point "
            "FACETEX_DATA at the folder that contains london/"
        )
    return path


def cache_dir() -> Path:
    """Cache folder for built databases: ``$FACETEX_CACHE``, else ``~/.cache/facetex``."""
    env = os.environ.get("FACETEX_CACHE")
    path = Path(env) if env else Path.home() / ".cache" / "facetex"
    return path
