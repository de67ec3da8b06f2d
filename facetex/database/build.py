"""Build a texture database from studio photos (paper §6) and the morphable models learned
from it: :func:`build_database` runs the rounds (:mod:`facetex.database.rounds`), learns the
final model (:mod:`facetex.database.learn`) and writes the file
(:mod:`facetex.database.write`) and its build log.

Failed photos are rejected with a reason in the build log (JSON lines beside the database).
Per-photo results are cached under the work folder (:mod:`facetex.database.cache`), so a rerun
(after a crash or Ctrl-C) reuses finished photos.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facetex.database.cache import PhotoResult, config_record
from facetex.database.config import DatabaseConfig
from facetex.database.learn import final_coefficients, learn_model
from facetex.database.packing import PackedGrams
from facetex.database.photos import PhotoSource, attribution_text, collect_photos, file_sha256
from facetex.database.rounds import RoundReport, run_rounds, worker_pool
from facetex.database.schema import SCHEMA_VERSION, SourceFile, SubjectRecord
from facetex.database.write import DatabaseContents, write_database
from facetex.errors import DatabaseError, OutputError
from facetex.io.atomic import check_output_file, write_text
from facetex.paths import cache_dir

__all__ = [
    "BuildSummary",
    "build_database",
]


@dataclass(frozen=True)
class BuildSummary:
    """Result of :func:`build_database`.

    Attributes
    ----------
    path : the database written.
    log_path : the build log (JSON lines).
    photos : photos given.
    accepted : photos in the database.
    rejected : subject id → reason, for the others.
    rounds : one report per round.
    lighting : (9, 3) global SH lighting.
    lighting_spread : relative robust spread (1.4826·MAD / median) over the photos of the
        albedo-normalised DC lighting term, mean over channels: how consistent the per-photo
        lightings were before they were replaced by the global one.
    seconds : total wall time; ``seconds / photos`` is the cost per photo.
    jobs : worker processes used (with Ray: the cluster's CPUs).
    """

    path: Path
    log_path: Path
    photos: int
    accepted: int
    rejected: dict[str, str]
    rounds: tuple[RoundReport, ...]
    lighting: np.ndarray
    lighting_spread: float
    seconds: float
    jobs: int

    @property
    def success_rate(self) -> float:
        return self.accepted / self.photos if self.photos else 0.0



def build_database(
    photos: Sequence[PhotoSource | str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    config: DatabaseConfig,
    *,
    work_dir: str | os.PathLike[str] | None = None,
    attribution: str | None = None,
    progress: bool = True,
    ray: str | None = None,
) -> BuildSummary:
    """Build a texture database file from photos (paper §6; see the module doc).

    Parameters
    ----------
    photos : PhotoSource records, or image paths (read with :func:`collect_photos`).
    out_path : the database file to write (``.h5``); its build log goes beside it as
        ``<stem>.build.jsonl``.
    config : settings (resolution, rounds, jobs, ...).
    work_dir : per-photo result cache; default ``cache_dir()/database-work/<out stem>``.
    attribution : licence / citation text stored in the file; None → the London set's text
        when every photo comes from it, else a note that the photos are the user's.
    progress : show tqdm progress bars on stderr.
    ray : spread the photos over Ray instead of ``config.jobs`` local processes: ``auto`` (a
        local Ray instance) or a running cluster's address (:mod:`facetex.distributed`; the
        work folder and the photos must be readable at the same paths on every machine). The
        file written is the same.

    Returns
    -------
    BuildSummary

    Raises
    ------
    DatabaseError
        If fewer than two photos survive (a model needs variation) or the inputs are bad.
    """
    started = time.perf_counter()
    if all(isinstance(p, PhotoSource) for p in photos):
        sources = tuple(photos)
    else:
        sources = collect_photos([p.path if isinstance(p, PhotoSource) else p for p in photos])
    if not sources:
        raise DatabaseError("no photos to build a database from")
    if len(sources) < 2:  # as after the fits (run_rounds), but before any work
        raise DatabaseError(f"a database needs at least 2 photos, got {len(sources)}")
    out_path = Path(out_path)
    check_output_file(out_path)  # a folder, or an unwritable place, fails before minutes of fitting
    log_path = out_path.with_name(out_path.stem + ".build.jsonl")
    work = Path(work_dir) if work_dir is not None else cache_dir() / "database-work" / out_path.stem
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the work folder {work}: {exc.strerror or exc}") from exc
    by_id = {s.subject_id: s for s in sources}
    hashes = {s.subject_id: file_sha256(s.path) for s in sources}
    events: list[dict[str, Any]] = [{"event": "start", "photos": len(sources), "config": config_record(config),
                                     "schema_version": SCHEMA_VERSION}]
    jobs = min(config.jobs, len(sources))
    try:
        with contextlib.ExitStack() as stack:
            if ray is None:
                pool = stack.enter_context(worker_pool(jobs))
            else:
                from facetex.distributed import RayPhotoPool, ray_session

                pool = RayPhotoPool(stack.enter_context(ray_session(ray)))
                jobs = pool.workers
            events.append({"event": "workers", "engine": "sequential" if pool is None else
                           "ray" if ray is not None else "processes", "workers": jobs})
            rounds = run_rounds(sources, hashes, config, pool, work, progress, events)
        final_model = learn_model(config.name, rounds.results, by_id, rounds.base, rounds.chart, config)
        vertices, shape, expression, albedo_coeffs = final_coefficients(
            rounds.results, by_id, final_model, rounds.chart, config)
        results = rounds.results
        contents = DatabaseContents(
            name=config.name,
            subjects=tuple(_record(by_id[r.subject_id], r) for r in results),
            albedo=np.stack([r.albedo for r in results]),
            fill_map=np.stack([r.fill_map for r in results]),
            chart=rounds.chart,
            vertices=vertices, shape_coeffs=shape, expression_coeffs=expression, albedo_coeffs=albedo_coeffs,
            sh_coeffs=np.stack([r.sh_coeffs for r in results]),
            lighting=rounds.lighting,
            grams={res: {layer: PackedGrams.concatenate(r.grams[res][layer] for r in results)
                         for layer in config.gram_layers} for res in config.gram_resolutions},
            model=final_model,
            build_params=config_record(config),
            sources=tuple(SourceFile(str(s.path), hashes[s.subject_id], s.path.stat().st_size) for s in sources),
            attribution=_attribution(attribution if attribution is not None else attribution_text(sources), config),
            build_report={"rounds": [dataclasses.asdict(r) for r in rounds.reports], "rejected": rounds.rejected,
                          "lighting_spread": rounds.lighting_spread},
        )
        write_database(out_path, contents)
        seconds = time.perf_counter() - started
        events.append({"event": "done", "accepted": len(results), "rejected": len(rounds.rejected),
                       "seconds": seconds})
    except BaseException as exc:
        events.append({"event": "failed", "error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        write_text(log_path, "".join(json.dumps(e, default=_jsonable) + "\n" for e in events))
    return BuildSummary(
        path=out_path, log_path=log_path, photos=len(sources), accepted=len(results), rejected=rounds.rejected,
        rounds=rounds.reports, lighting=rounds.lighting, lighting_spread=rounds.lighting_spread,
        seconds=seconds, jobs=jobs,
    )


def _attribution(photos: str, config: DatabaseConfig) -> str:
    """The photos' attribution, and the ICT Face Model's notice when its geometry is stored."""
    if config.face_model != "ict":
        return photos
    from facetex.geometry.ict_files import ICT_ATTRIBUTION

    return f"{photos}; face model: {ICT_ATTRIBUTION}"


def _record(source: PhotoSource, result: PhotoResult) -> SubjectRecord:
    return SubjectRecord(
        subject_id=source.subject_id, person_id=source.person_id, expression=source.expression,
        source=source.path.name, age=source.age, gender=source.gender, ethnicity=source.ethnicity,
        diagnostics={k: float(v) for k, v in result.diagnostics.items()},
    )


def _jsonable(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return str(value)
