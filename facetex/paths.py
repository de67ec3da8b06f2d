"""Where facetex finds shared data, third-party model files and its caches (never inside the
repository)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from facetex.errors import DatabaseError, MissingDependencyError

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


def package_file(module: str, relative: str, *, distribution: str, purpose: str, install: str) -> Path:
    """A data file shipped inside an installed package, found without importing the package
    (``find_spec`` does not run its ``__init__``, which may pull heavy or deprecated imports).

    Parameters
    ----------
    module : the package's import name, e.g. ``"facenet_pytorch"``.
    relative : the file's path inside the package, e.g. ``"data/onet.pt"``.
    distribution : the name pip knows it by, for the messages.
    purpose : what needs it, for the messages ("the ONet Gram distance").
    install : how to install it.

    Raises
    ------
    MissingDependencyError
        If the package or the file is missing (a one-line message with ``install``).
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(f"{purpose} needs the {distribution} package: {install}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise MissingDependencyError(f"{path} is missing; reinstall {distribution}: {install}")
    return path
