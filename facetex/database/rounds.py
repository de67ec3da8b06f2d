"""The rounds of a database build (paper §6), each over every photo still accepted, run by a
pool of worker processes.

0. **generic fit**: the build's base model (:func:`facetex.fitting.model.load_face_model` of
   ``DatabaseConfig.face_model``: the ICT Face Model, or the generic model on mediapipe's mesh),
   lighting free. Gives each photo's SH lighting, only to find the studio lighting (:func:`facetex.database.lighting.global_lighting`).
1. **global lighting**: every later fit holds that lighting fixed
   (``fit_face(..., sh_coeffs=lighting)``), so differences in skin tone stay in the albedo
   instead of being absorbed by the lighting. Refit with the base model, unwrap, fill →
   textures and meshes; learn PCA models (:mod:`facetex.database.learn`; only the albedo on the
   ICT model).
2. …: **bootstrap**: refit with the learned model (``DatabaseConfig.bootstrap_rounds`` times),
   unwrap, fill, learn again; the change between rounds is reported (mean vertex
   displacement, landmark error).

The last round also computes the luminance Grams of every complete texture. Photos are
processed (:func:`facetex.database.photo_stage.process_photo`) by ``DatabaseConfig.jobs``
spawned worker processes with one torch thread each, or by Ray workers
(:class:`facetex.distributed.RayPhotoPool`); the main process only collects results and learns
the models.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm import tqdm

from facetex.database.cache import PhotoResult, cache_settings, config_record, digest, model_digest
from facetex.database.config import DatabaseConfig
from facetex.database.fill import mirror_texel_map
from facetex.database.learn import aligned_meshes, learn_model
from facetex.database.lighting import global_lighting
from facetex.database.photo_stage import PhotoTask, process_photo
from facetex.database.photos import PhotoSource
from facetex.errors import DatabaseError
from facetex.fitting.model import load_face_model
from facetex.geometry.uv import chart_mask
from facetex.types import MeshTopology, MorphableModel

__all__ = ["PhotoPool", "RoundReport", "Rounds", "run_rounds", "worker_pool"]

log = logging.getLogger(__name__)


class PhotoPool(Protocol):
    """Where a round's photos run: a :class:`~concurrent.futures.ProcessPoolExecutor`
    (:func:`worker_pool`) or Ray (:class:`facetex.distributed.RayPhotoPool`)."""

    def submit(self, fn: Callable[[PhotoTask], PhotoResult], task: PhotoTask, /) -> Future: ...


@dataclass(frozen=True)
class RoundReport:
    """What one round did.

    Attributes
    ----------
    index : 0 (generic fit, free lighting), 1 (generic fit, global lighting), 2… (bootstrap).
    model : name of the morphable model fitted.
    accepted, rejected : photo counts.
    landmark_rmse_iod : mean landmark RMSE over accepted photos, inter-ocular distances.
    landmark_rmse_px : same in photo pixels.
    vertex_change_cm : mean distance between each vertex of this round's fitted mesh and the
        previous round's (model frame, pose removed, rigidly aligned), cm; None in round 0.
    seconds : wall time of the round.
    """

    index: int
    model: str
    accepted: int
    rejected: int
    landmark_rmse_iod: float
    landmark_rmse_px: float
    vertex_change_cm: float | None
    seconds: float


@dataclass(frozen=True)
class Rounds:
    """Outcome of all fitting rounds: the accepted photos' last results and the reports."""

    results: list[PhotoResult]
    reports: tuple[RoundReport, ...]
    rejected: dict[str, str]
    lighting: np.ndarray
    lighting_spread: float
    base: MorphableModel
    template: MeshTopology
    chart: np.ndarray


def run_rounds(
    sources: Sequence[PhotoSource],
    hashes: dict[str, str],
    config: DatabaseConfig,
    pool: PhotoPool | None,
    work: Path,
    progress: bool,
    events: list[dict[str, Any]],
) -> Rounds:
    """Round 0 (generic fit), global lighting, round 1 (generic fit + unwrap), bootstrap rounds
    (see the module doc); appends to ``events``."""
    by_id = {s.subject_id: s for s in sources}
    base = model = load_face_model(config.face_model)
    template = base.topology
    mirror = mirror_texel_map(template, config.resolution)
    record = config_record(config)
    alive = list(sources)
    lighting: np.ndarray | None = None
    spread = float("nan")
    previous: dict[str, np.ndarray] = {}
    rejected: dict[str, str] = {}
    reports: list[RoundReport] = []
    results: list[PhotoResult] = []
    last_round = 1 + config.bootstrap_rounds
    for index in range(last_round + 1):
        unwrap, grams = index >= 1, index == last_round
        round_started = time.perf_counter()
        round_key = digest(cache_settings(record, unwrap, grams), model_digest(model),
                           lighting if lighting is not None else "free")
        tasks = [
            PhotoTask(s, model, lighting, unwrap, grams, config, mirror if unwrap else None,
                      work / f"{s.subject_id}.{digest(hashes[s.subject_id], round_key)[:20]}.npz")
            for s in alive
        ]
        what = "generic fit" if index == 0 else "fit + unwrap" + (" + Grams" if grams else "")
        results = _run_round(tasks, pool, progress, f"round {index}/{last_round} {what}")
        for r in results:
            events.append({"event": "photo", "round": index, "subject": r.subject_id, "ok": r.ok,
                           "reason": r.reason, "cached": r.cached, "seconds": round(r.seconds, 3),
                           "diagnostics": r.diagnostics})
            if not r.ok:
                rejected[r.subject_id] = f"round {index}: {r.reason}"
        results = [r for r in results if r.ok]
        alive = [by_id[r.subject_id] for r in results]
        if len(results) < 2:
            raise DatabaseError(f"only {len(results)} photo(s) fitted in round {index}; a database needs at least 2")
        meshes = aligned_meshes(results, template)
        common = [sid for sid in meshes if sid in previous]
        change = (float(np.mean([np.linalg.norm(meshes[s] - previous[s], axis=1).mean() for s in common]))
                  if common else None)
        previous = meshes
        report = RoundReport(
            index=index, model=model.name, accepted=len(results), rejected=len(tasks) - len(results),
            landmark_rmse_iod=float(np.mean([r.diagnostics["landmark_rmse_iod"] for r in results])),
            landmark_rmse_px=float(np.mean([r.diagnostics.get("landmark_rmse_px", np.nan) for r in results])),
            vertex_change_cm=change, seconds=time.perf_counter() - round_started,
        )
        reports.append(report)
        events.append({"event": "round", **dataclasses.asdict(report)})
        log.info("round %d (%s): %d accepted, landmark RMSE %.4f IOD, vertex change %s cm",
                 index, model.name, report.accepted, report.landmark_rmse_iod,
                 "-" if change is None else f"{change:.3f}")
        if index == 0:
            reference = model.albedo_mean[chart_mask(template, model.albedo_mean.shape[0])].mean(axis=0)
            lighting, spread = global_lighting(np.stack([r.sh_coeffs for r in results]),
                                               np.stack([r.albedo_scale for r in results]), reference)
            events.append({"event": "lighting", "sh_coeffs": lighting, "spread": spread})
        elif index < last_round:
            model = learn_model(f"{config.name}-round{index}", results, by_id, base, mirror.chart, config)
    return Rounds(results=results, reports=tuple(reports), rejected=rejected, lighting=lighting,
                  lighting_spread=spread, base=base, template=template, chart=mirror.chart)


def _init_worker() -> None:
    torch.set_num_threads(1)


def _run_round(
    tasks: list[PhotoTask], pool: PhotoPool | None, progress: bool, description: str
) -> list[PhotoResult]:
    results: dict[str, PhotoResult] = {}
    bar = tqdm(total=len(tasks), desc=description, unit="photo", file=sys.stderr, disable=not progress)
    try:
        if pool is None:
            for task in tasks:
                results[task.source.subject_id] = process_photo(task)
                bar.update(1)
        else:
            futures = {pool.submit(process_photo, task): task for task in tasks}
            for future in as_completed(futures):
                results[futures[future].source.subject_id] = future.result()
                bar.update(1)
    finally:
        bar.close()
    return [results[t.source.subject_id] for t in tasks]


@contextlib.contextmanager
def worker_pool(jobs: int) -> Iterator[ProcessPoolExecutor | None]:
    """``jobs`` spawned worker processes with one torch thread each, or None for jobs = 1."""
    if jobs <= 1:
        yield None
        return
    context = multiprocessing.get_context("spawn")  # mediapipe and torch threads do not fork well
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C or an error: drop queued photos
        raise
    pool.shutdown(wait=True)
