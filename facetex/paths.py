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


def data_dir_candidates() -> list[Path]:
    """Where :func:`data_dir` looks, in order.

    ``$FACETEX_DATA`` alone when it is set; else ``../shared/data`` relative to the current
    working directory, then ``../shared/data`` beside the source checkout when facetex runs from
    one (a folder with ``pyproject.toml`` above the package). An installed wheel has no
    checkout, so there it is the working directory or ``FACETEX_DATA``.
    """
    env = os.environ.get("FACETEX_DATA")
    if env:
        return [Path(env).expanduser()]
    candidates = [Path.cwd().parent / "shared" / "data"]
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file():
        beside = checkout.parent / "shared" / "data"
        if beside.resolve() != candidates[0].resolve():
            candidates.append(beside)
    return candidates


def data_dir() -> Path:
    """The shared data folder: the first of :func:`data_dir_candidates` that exists (else the
    first one, so that error messages name it)."""
    candidates = data_dir_candidates()
    return next((path for path in candidates if path.is_dir()), candidates[0])


def london_dir() -> Path:
    """The London face set, or a :class:`DatabaseError` that says where to get it."""
    path = data_dir() / "london"
    if not (path / "neutral").is_dir():
        looked = ", ".join(str(p / "london") for p in data_dir_candidates())
        raise DatabaseError(
            f"the London face set was not found (looked in {looked}); download the {LONDON_SOURCE} "
            "(its neutral/ and smiling/ folders into a folder london/) and set FACETEX_DATA to the "
            "folder that contains london/"
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
