"""The Python API in a few calls (also exported from ``facetex``)::

    import facetex
    result = facetex.infer("photo.jpg")            # InferenceResult, default database
    facetex.write_result(result, "out/photo")      # the same files as `facetex infer`
    fit = facetex.fit("photo.jpg")                 # FaceFit only (the ICT Face Model by default)
    db = facetex.load_database("my.h5")            # TextureDatabase

These are the convenience entry points: they take paths or loaded objects and fill in
defaults (the demo photo, the default database, ``InferConfig()``). They share names with
the lower-level functions they call, whose signatures differ: :func:`infer` calls
:func:`facetex.pipeline.infer` (a loaded photo, database and config, all required, plus a
reusable VGG and detector), :func:`write_result` calls :func:`facetex.outputs.write_result`
(config and morphable model required). Use those when running many photos with shared state,
as ``facetex infer`` does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from facetex import outputs
from facetex.config import InferConfig
from facetex.database.default import ensure_default_database
from facetex.database.store import TextureDatabase, load_database
from facetex.detect.detector import detect_face
from facetex.errors import DatabaseError
from facetex.fitting import fit_face
from facetex.io.images import demo_photo, load_photo
from facetex.pipeline import infer as run_pipeline
from facetex.types import FaceFit, InferenceResult, MorphableModel, Photo

__all__ = ["fit", "infer", "open_database", "write_result"]


def database_file(path: str | os.PathLike[str] | None = None, *, progress: bool = True) -> Path:
    """The database file at ``path``, checked to exist; None → the default London database
    (built on first use, with progress bars on stderr unless ``progress`` is False).

    Raises
    ------
    DatabaseError
        If ``path`` does not exist.
    """
    if path is None:
        return ensure_default_database(progress=progress)
    path = Path(path)
    if not path.exists():
        raise DatabaseError(f"texture database {path} does not exist (build one with `facetex build-db`)")
    return path


def open_database(path: str | os.PathLike[str] | None = None, *, progress: bool = True) -> TextureDatabase:
    """Load the database at ``path``; None → the default London database (:func:`database_file`).

    Raises
    ------
    DatabaseError
        If the file is missing, damaged, truncated or of another schema version.
    """
    return load_database(database_file(path, progress=progress))


def _photo(photo: str | os.PathLike[str] | Photo | None) -> Photo:
    if photo is None:
        return demo_photo()
    if isinstance(photo, Photo):
        return photo
    return load_photo(photo)


def infer(
    photo: str | os.PathLike[str] | Photo | Sequence[str | os.PathLike[str] | Photo] | None = None,
    *,
    database: TextureDatabase | str | os.PathLike[str] | None = None,
    config: InferConfig | None = None,
    face_index: int = 0,
    same_person: bool = False,
    force: bool = False,
    progress: bool = True,
) -> InferenceResult:
    """Infer the complete albedo of a photo (a path, a loaded Photo, or None for the demo), or
    with ``same_person`` of several photos of one person (a sequence of them) into one texture.

    The convenience form of :func:`facetex.pipeline.infer` and, for ``same_person``, of
    :func:`facetex.multiview.infer_same_person` (``force``: combine faces that look like
    different people): ``database`` may be a path or None (the default London database),
    ``config`` None (``InferConfig()``: its UV maps always follow its texture size, see
    :class:`~facetex.config.InferConfig`); the network and the detector are made for this call.
    For many photos call :func:`facetex.pipeline.infer` with one loaded database, VGG and
    :class:`~facetex.detect.Detector`.
    """
    db = database if isinstance(database, TextureDatabase) else open_database(database)
    config = config or InferConfig()
    if same_person:
        from facetex.multiview import infer_same_person

        photos = [photo] if photo is None or isinstance(photo, (str, os.PathLike, Photo)) else list(photo)
        return infer_same_person([_photo(p) for p in photos], db, config, force=force, progress=progress)
    if not (photo is None or isinstance(photo, (str, os.PathLike, Photo))):
        raise TypeError("several photos need same_person=True (or one infer call per photo)")
    return run_pipeline(_photo(photo), db, config, face_index=face_index, progress=progress)


def fit(
    photo: str | os.PathLike[str] | Photo | None = None,
    *,
    model: MorphableModel | None = None,
    config: InferConfig | None = None,
    face_index: int = 0,
) -> FaceFit:
    """Detect and fit the face model (§3); ``model`` defaults to the ICT Face Model's face region
    with its flat placeholder albedo (:func:`facetex.geometry.ict.ict_morphable_model`; a
    database's model, ``load_database(...).morphable_model()``, has the learned albedo)."""
    from facetex.geometry.ict import ict_morphable_model

    config = config or InferConfig()
    loaded = _photo(photo)
    detection = detect_face(loaded, config.detect, face_index)
    return fit_face(loaded, detection, model or ict_morphable_model(), config.fit)


def write_result(
    result: InferenceResult,
    out_dir: str | os.PathLike[str],
    *,
    config: InferConfig | None = None,
    database: TextureDatabase | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the files of ``facetex infer`` for ``result`` into ``out_dir``.

    The convenience form of :func:`facetex.outputs.write_result`, which takes the config and
    the morphable model as required arguments: here ``config`` defaults to ``InferConfig()``
    (pass the one the result was made with, so ``config.json`` records it) and the model is the
    database's.

    ``out_dir`` must be absent or empty, or with ``overwrite`` an earlier facetex result; a
    folder facetex did not write is never replaced (:class:`~facetex.errors.OutputError`).
    ``database`` (its mesh, thumbnails, path and attribution) defaults to the one the result was
    made with (``result.database``), else the default London database.
    """
    db = database if database is not None else open_database(result.database)
    return outputs.write_result(result, out_dir, config or InferConfig(), db.morphable_model(), database=db, overwrite=overwrite)
