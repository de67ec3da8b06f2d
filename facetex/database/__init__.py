"""The face-texture database (paper §6) and the morphable models learned from it.

* :mod:`~facetex.database.build` — :func:`build_database` from studio photos: the rounds
  (:mod:`~facetex.database.rounds`: worker pool, global lighting from
  :mod:`~facetex.database.lighting`, models from :mod:`~facetex.database.learn`), each photo
  through :mod:`~facetex.database.photo_stage` (detect, SUV specular removal, fit, unwrap,
  fill, Grams) with its results cached by :mod:`~facetex.database.cache`.
* :mod:`~facetex.database.photos` — photo discovery, London names and demographics.
* :mod:`~facetex.database.default` — :func:`ensure_default_database` builds the London
  database on first use.
* :mod:`~facetex.database.store` — :func:`load_database` gives a read-only
  :class:`TextureDatabase` with leave-one-out queries; the file's layout is in
  :mod:`~facetex.database.schema`, its writer in :mod:`~facetex.database.write`, the Gram
  packing in :mod:`~facetex.database.packing`.
* :mod:`~facetex.database.specular` — SUV specular removal (Mallick et al. 2005).
* :mod:`~facetex.database.fill` — mirror + membrane completion of unseen texels.
* :mod:`~facetex.database.pca` — PCA models, leave-one-out reconstruction error.
* :mod:`~facetex.database.info` — text summary and contact sheet of a database.
"""

from facetex.database.build import BuildSummary, build_database
from facetex.database.config import DatabaseConfig, FillConfig, PCAConfig, SpecularConfig
from facetex.database.default import default_database_path, ensure_default_database
from facetex.database.photos import PhotoSource, collect_photos, london_photos
from facetex.database.schema import SCHEMA_VERSION, SubjectRecord
from facetex.database.store import TextureDatabase, load_database

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
