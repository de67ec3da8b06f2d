"""The face-texture database (paper §6) and the morphable models learned from it.

* :mod:`~facetex.database.build` — :func:`build_database` from studio photos (detect, SUV
  specular removal, fit with one global lighting, unwrap, fill, Grams, PCA bootstrap);
  :func:`ensure_default_database` builds the London database on first use.
* :mod:`~facetex.database.store` — the versioned HDF5 file; :func:`load_database` gives a
  read-only :class:`TextureDatabase` with leave-one-out queries.
* :mod:`~facetex.database.specular` — SUV specular removal (Mallick et al. 2005).
* :mod:`~facetex.database.fill` — mirror + membrane completion of unseen texels.
* :mod:`~facetex.database.pca` — PCA models, leave-one-out reconstruction error.
* :mod:`~facetex.database.info` — text summary and contact sheet of a database.
"""

from facetex.database.build import (
    BuildSummary,
    PhotoSource,
    build_database,
    collect_photos,
    default_database_path,
    ensure_default_database,
    london_photos,
)
from facetex.database.config import DatabaseConfig, FillConfig, PCAConfig, SpecularConfig
from facetex.database.store import SCHEMA_VERSION, SubjectRecord, TextureDatabase, load_database

__all__ = [
    "SCHEMA_VERSION",
    "BuildSummary",
    "DatabaseConfig",
    "FillConfig",
    "PCAConfig",
    "PhotoSource",
    "SpecularConfig",
    "SubjectRecord",
    "TextureDatabase",
    "build_database",
    "collect_photos",
    "default_database_path",
    "ensure_default_database",
    "load_database",
    "london_photos",
]
