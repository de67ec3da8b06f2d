"""Many photos → one result folder each: the jobs of a batch, the worker that runs them, and the
batch's summary.

A :class:`PhotoWorker` sets itself up once (database, morphable model, VGG-19, detector) and
then runs one :class:`PhotoJob` after another, each written atomically into its own folder
(:func:`facetex.outputs.write_result`). :func:`run_sequential` runs a batch in this process;
:func:`facetex.distributed.run_on_ray` runs the same workers as Ray actors on many cores or
machines. Either way each job ends as a :class:`JobOutcome`, and :func:`write_summary` writes
them all into ``summary.json`` beside the result folders.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from facetex import __version__
from facetex.config import InferConfig, config_to_dict
from facetex.errors import FacetexError, OutputError
from facetex.io.atomic import is_facetex_result, write_json

__all__ = [
    "SUMMARY_NAME",
    "BatchSettings",
    "JobOutcome",
    "PhotoJob",
    "PhotoWorker",
    "check_summary_file",
    "completed",
    "run_sequential",
    "write_summary",
]

#: The batch summary's file name, in the batch's output folder.
SUMMARY_NAME = "summary.json"

Status = Literal["done", "failed", "skipped"]


@dataclass(frozen=True)
class BatchSettings:
    """What every worker of a batch needs to set itself up; the same for every photo.

    Attributes
    ----------
    database : the texture database file (it must exist where the worker runs).
    config : the inference settings.
    exclude_persons : database persons left out of the blend and of the morphable model.
    face_index : which face of a photo with several (0 = largest).
    overwrite : replace earlier facetex results in the output folders.
    threads : torch / OpenCV threads of each worker; None = the libraries' defaults (all cores).
    """

    database: Path
    config: InferConfig
    exclude_persons: tuple[str, ...] = ()
    face_index: int = 0
    overwrite: bool = False
    threads: int | None = None


@dataclass(frozen=True)
class PhotoJob:
    """One photo of a batch: its folder name, the photo (None = the demo photo) and the
    folder its result goes to."""

    name: str
    photo: Path | None
    target: Path


@dataclass(frozen=True)
class JobOutcome:
    """How one job ended.

    Attributes
    ----------
    name, photo, target : as in the job (paths as text; photo "" for the demo photo).
    status : ``done`` (result written), ``failed`` (``error`` says why; nothing written) or
        ``skipped`` (``--resume``: a complete result with the same settings was there).
    seconds : wall time of the last attempt (0 for skipped).
    worker : ``host:pid`` of the process that ran the last attempt ("" for skipped).
    attempts : how many workers started the photo (more than 1 after a worker died on it).
    error : the one-line reason of a failure.
    """

    name: str
    photo: str
    target: str
    status: Status
    seconds: float = 0.0
    worker: str = ""
    attempts: int = 0
    error: str = ""

    @classmethod
    def of(cls, job: PhotoJob, status: Status, **fields: object) -> JobOutcome:
        return cls(name=job.name, photo="" if job.photo is None else str(job.photo), target=str(job.target),
                   status=status, **fields)


def worker_name() -> str:
    """This process as ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def limit_threads(threads: int | None) -> None:
    """Use at most ``threads`` threads in torch and OpenCV in this process (None: leave as is)."""
    if threads is None:
        return
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


class PhotoWorker:
    """Runs photos one after another with one database, model, VGG-19 and detector, loaded
    once in :meth:`__init__` (seconds) and kept for every photo.

    Raises (on construction)
    ------------------------
    DatabaseError
        If the database is missing or damaged, or an excluded person is not in it.
    """

    def __init__(self, settings: BatchSettings, *, progress: bool = False) -> None:
        from facetex.api import open_database
        from facetex.database.holdout import model_without
        from facetex.detect import Detector
        from facetex.texture.vgg import load_vgg19

        limit_threads(settings.threads)
        started = time.perf_counter()
        self.settings = settings
        self.progress = progress
        self.database = open_database(settings.database)
        self.model = (model_without(self.database, settings.exclude_persons) if settings.exclude_persons
                      else self.database.morphable_model())
        texture = settings.config.texture
        self.vgg = load_vgg19(texture.device, channels_last=texture.channels_last)
        self.detector = Detector(settings.config.detect)
        #: seconds spent loading the database, the model and the network
        self.setup_seconds = time.perf_counter() - started

    def close(self) -> None:
        """Release the detector's native resources."""
        self.detector.close()

    def __enter__(self) -> PhotoWorker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def write(self, job: PhotoJob, *, extra_timings: dict[str, float] | None = None) -> None:
        """Infer ``job``'s photo and write its result folder (atomically).

        Raises
        ------
        FacetexError
            Any failure of the photo (unreadable, no face, failed fit, unwritable folder); no
            folder is left behind.
        """
        from facetex.io.images import demo_photo, load_photo
        from facetex.outputs import write_result
        from facetex.pipeline import infer

        s = self.settings
        photo = demo_photo() if job.photo is None else load_photo(job.photo)
        result = infer(photo, self.database, s.config, vgg=self.vgg, detector=self.detector,
                       face_index=s.face_index, exclude_persons=s.exclude_persons, model=self.model,
                       progress=self.progress)
        write_result(result, job.target, s.config, self.model, database=self.database,
                     extra_timings=extra_timings, overwrite=s.overwrite)

    def run(self, job: PhotoJob, attempt: int = 1) -> JobOutcome:
        """:meth:`write` ``job``; a :class:`~facetex.errors.FacetexError` becomes a ``failed``
        outcome (other exceptions propagate: they are bugs)."""
        started = time.perf_counter()
        try:
            self.write(job)
        except FacetexError as exc:
            return JobOutcome.of(job, "failed", seconds=time.perf_counter() - started, worker=worker_name(),
                                 attempts=attempt, error=str(exc))
        return JobOutcome.of(job, "done", seconds=time.perf_counter() - started, worker=worker_name(),
                             attempts=attempt)


def run_sequential(jobs: Sequence[PhotoJob], settings: BatchSettings) -> Iterator[JobOutcome]:
    """Run ``jobs`` one after another in this process with one :class:`PhotoWorker`; yields
    each outcome as it ends."""
    with PhotoWorker(settings) as worker:
        for job in jobs:
            yield worker.run(job)


def completed(target: Path, config: InferConfig) -> bool:
    """Whether ``target`` holds a complete facetex result made with ``config``.

    A result folder is renamed into place only when every file is written, so a facetex folder
    there is complete; its ``config.json`` must equal ``config`` (a result made with other
    settings is not this batch's result).
    """
    if not is_facetex_result(target):
        return False
    try:
        recorded = json.loads((target / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return recorded == json.loads(json.dumps(config_to_dict(config)))


def check_summary_file(output: Path) -> None:
    """Fail now unless ``output/summary.json`` is absent or a summary facetex wrote: a user's
    file of that name is never replaced.

    Raises
    ------
    OutputError
    """
    path = output / SUMMARY_NAME
    if not os.path.lexists(path):
        return
    try:
        ours = path.is_file() and not path.is_symlink() and \
            json.loads(path.read_text(encoding="utf-8")).get("written_by") == "facetex"
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        raise OutputError(f"{path} exists and facetex did not write it; facetex never replaces it: "
                          "give a new folder with -o")


def write_summary(output: Path, outcomes: Sequence[JobOutcome], *, engine: str, workers: int,
                  threads: int | None, seconds: float) -> Path:
    """Write ``output/summary.json`` (atomically): the batch (engine ``sequential`` or ``ray``,
    workers, threads per worker, wall seconds, photos per hour) and one record per job
    (:class:`JobOutcome`'s fields). Returns its path."""
    counts = {status: sum(o.status == status for o in outcomes) for status in ("done", "failed", "skipped")}
    record = {
        "written_by": "facetex",
        "version": __version__,
        "engine": engine,
        "workers": workers,
        "threads_per_worker": threads,
        "photos": len(outcomes),
        **counts,
        "seconds": round(seconds, 3),
        "photos_per_hour": round(3600.0 * counts["done"] / seconds, 1) if seconds > 0 else None,
        "jobs": [dataclasses.asdict(o) for o in outcomes],
    }
    path = output / SUMMARY_NAME
    write_json(path, record)
    return path
