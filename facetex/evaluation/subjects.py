"""Leave-one-out queries of protocol A on a texture database, and the arrays a run reads once.

A held-out person's photos (both of them) are left out of everything the inference uses:
exemplars, Grams and the morphable model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facetex.database import holdout
from facetex.database.fill import OBSERVED
from facetex.database.pca import downsample_textures
from facetex.database.schema import SubjectRecord
from facetex.database.store import TextureDatabase
from facetex.errors import DatabaseError
from facetex.evaluation.variants import GRAM_LAYERS
from facetex.geometry.uv import resized_chart
from facetex.paths import london_dir
from facetex.texture.analysis import compute_grams
from facetex.texture.color import luminance
from facetex.texture.config import TextureConfig
from facetex.texture.resample import resize
from facetex.texture.vgg import VGG19
from facetex.types import GramSet, MorphableModel

__all__ = [
    "DatabaseArrays",
    "exemplar_rows",
    "held_out_model",
    "load_arrays",
    "neutral_subject",
    "photo_path",
    "select_persons",
]

log = logging.getLogger(__name__)


def neutral_subject(database: TextureDatabase, person: str) -> SubjectRecord:
    """The person's neutral photo (else their first photo) in the database.

    Raises
    ------
    DatabaseError
        If the person has no photo in the database.
    """
    records = [s for s in database.subjects() if s.person_id == person]
    if not records:
        raise DatabaseError(f"person {person!r} is not in {database.path.name}")
    neutral = [s for s in records if s.expression == "neutral"]
    return (neutral or records)[0]


def select_persons(database: TextureDatabase, count: int, persons: Sequence[str] = ()) -> tuple[str, ...]:
    """Persons to hold out: ``persons`` if given (checked), else ``count`` evenly spaced ones.

    Candidates are the sorted person ids with a neutral photo; ``count`` of them are taken at
    evenly spaced positions (so the choice is deterministic and spread over the set).

    Raises
    ------
    DatabaseError
        An explicit person is unknown, or the database has fewer than 2 persons (one must
        remain to blend from).
    """
    known = database.persons
    if len(known) < 2:
        raise DatabaseError(f"{database.path.name} holds {len(known)} person(s); leave-one-out needs at least 2")
    if persons:
        missing = [p for p in persons if p not in known]
        if missing:
            raise DatabaseError(f"persons {missing} are not in {database.path.name}")
        return tuple(dict.fromkeys(persons))
    candidates = sorted({s.person_id for s in database.subjects() if s.expression == "neutral"}) or sorted(known)
    if count >= len(candidates):
        return tuple(candidates)
    idx = np.unique(np.round(np.linspace(0, len(candidates) - 1, count)).astype(int))
    return tuple(candidates[i] for i in idx)


def photo_path(database: TextureDatabase, record: SubjectRecord) -> Path:
    """Where the photo of ``record`` is: the database's source list, else the London set.

    Raises
    ------
    DatabaseError
        If the photo cannot be found.
    """
    tried = []
    for source in database.manifest.get("sources", []):
        path = Path(source["path"])
        if path.name == record.source:
            if path.is_file():
                return path
            tried.append(str(path))
    try:
        for folder in ("neutral", "smiling"):
            path = london_dir() / folder / record.source
            if path.is_file():
                return path
            tried.append(str(path))
    except DatabaseError:
        pass
    raise DatabaseError(f"the photo of subject {record.subject_id} ({record.source}) is not found (tried {tried})")


def exemplar_rows(database: TextureDatabase, person: str) -> np.ndarray:
    """Storage rows of the database subjects a held-out ``person`` may use (leave-one-out).

    Uses the database's own query ``subjects(exclude_persons=(person,))`` and checks its
    answer: no photo of ``person`` may remain.

    Returns
    -------
    (K,) int64 row indices into ``database.subjects()`` (storage order).

    Raises
    ------
    DatabaseError
        If the query still returns a photo of the person, or nothing remains.
    """
    kept = database.subjects(exclude_persons=(person,))
    if any(s.person_id == person for s in kept):
        raise DatabaseError(f"leave-one-out query of {database.path.name} still returns photos of {person}")
    if not kept:
        raise DatabaseError(f"no database subject remains once {person} is left out")
    ids = {s.subject_id for s in kept}
    return np.array([i for i, s in enumerate(database.subjects()) if s.subject_id in ids], dtype=np.int64)


@dataclass(frozen=True)
class DatabaseArrays:
    """The database arrays a run needs, read once (storage order).

    textures : (N, S, S, 3) float32 at the evaluation size; textures_pca : (N, r, r, 3) at the
    morphable model's albedo resolution; observed : (N, S, S) bool, fill map == OBSERVED;
    vertices : (N, V, 3); grams : complete Grams at S of every subject, or None to read them
    from the database per query; gram_regions : (N, S, S) bool, the texels the database's
    Grams describe (``TextureDatabase.gram_regions``), or None for whole textures.
    """

    subjects: tuple[SubjectRecord, ...]
    textures: np.ndarray
    textures_pca: np.ndarray
    observed: np.ndarray
    vertices: np.ndarray
    grams: GramSet | None
    gram_regions: np.ndarray | None


def load_arrays(database: TextureDatabase, size: int, vgg: VGG19 | None, config: TextureConfig) -> DatabaseArrays:
    """Read the arrays once; complete Grams are computed only if ``vgg`` is given and the
    database does not store them at ``size``."""
    model = database.morphable_model()
    full = database.textures()
    textures = np.stack([resize(t, size) for t in full])
    textures_pca = downsample_textures(full, model.albedo_mean.shape[0])
    del full
    fill = database.fill_maps()
    idx = (np.arange(size) * fill.shape[1]) // size
    observed = (fill == OBSERVED)[:, idx][:, :, idx]
    regions = database.gram_regions()
    if regions is not None:
        regions = np.stack([resized_chart(r, size) for r in regions])
    stored = size in database.gram_resolutions and set(GRAM_LAYERS) <= set(database.gram_layers)
    grams = None
    if vgg is not None and not stored:
        log.info("computing complete Grams of %d database textures at %d² (not stored)", len(textures), size)
        grams = compute_grams(
            luminance(textures), vgg, layers=GRAM_LAYERS, regions=regions, batch_size=config.batch_size, bf16=False
        )
    return DatabaseArrays(
        subjects=database.subjects(),
        textures=textures,
        textures_pca=textures_pca,
        observed=observed,
        vertices=database.vertices().astype(np.float64),
        grams=grams,
        gram_regions=regions,
    )


def held_out_model(
    database: TextureDatabase,
    rows: np.ndarray,
    *,
    arrays: DatabaseArrays | None = None,
) -> MorphableModel:
    """:func:`facetex.database.holdout.held_out_model` from the protocol's loaded arrays."""
    if arrays is None:
        return holdout.held_out_model(database, rows)
    return holdout.held_out_model(
        database, rows, subjects=arrays.subjects, vertices=arrays.vertices, textures_pca=arrays.textures_pca
    )

