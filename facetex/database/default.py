"""The default texture database: built from the London set on first use, kept in the cache."""

from __future__ import annotations

import logging
from pathlib import Path

from facetex.database.build import build_database
from facetex.database.config import DatabaseConfig
from facetex.database.photos import collect_photos, london_photos
from facetex.database.schema import SCHEMA_VERSION
from facetex.database.store import load_database
from facetex.errors import DatabaseError
from facetex.paths import cache_dir

__all__ = ["BUILD_REVISION", "default_database_path", "ensure_default_database"]

log = logging.getLogger(__name__)


#: Revision of what the default build produces, in the default database's file name: bumped
#: whenever a change to the build (fitting, unwrap, fill, PCA) changes its contents, so that a
#: cached database from an older facetex is not reused silently (history: docs/database.md).
BUILD_REVISION = 4


def default_database_path() -> Path:
    """Where the default (London) database lives: the cache folder, named by schema version and
    :data:`BUILD_REVISION`."""
    return cache_dir() / "databases" / f"london-v{SCHEMA_VERSION}-b{BUILD_REVISION}.h5"


def ensure_default_database(config: DatabaseConfig | None = None, *, progress: bool = True) -> Path:
    """The default database, built from the London set on first use.

    An existing file is reused when it loads (same schema version, intact); otherwise it is
    rebuilt (a long build: see docs/database.md for its cost).

    Returns
    -------
    Path of the database file.
    """
    path = default_database_path()
    if path.is_file():
        try:
            load_database(path)
            return path
        except DatabaseError as exc:
            log.info("rebuilding the default database: %s", exc)
    log.info("building the default texture database from the London set into %s", path)
    build_database(collect_photos(london_photos()), path, config or DatabaseConfig(), progress=progress)
    return path
