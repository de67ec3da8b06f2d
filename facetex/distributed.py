"""Batches and database builds on Ray (``--ray auto|ADDRESS``): the same work as on one machine,
spread over a local Ray instance or a running cluster.

* Inference (:func:`run_on_ray`): one :class:`~facetex.batch.PhotoWorker` per Ray actor, each
  reserving ``threads`` CPUs and running that many torch threads, set up once (database,
  model, VGG-19, detector) and then given one photo after another. A worker that dies (a
  killed process, a lost node) loses only the photo it was running: the driver starts a fresh
  worker and gives the photo to the next free one, up to :data:`MAX_ATTEMPTS` times. Results
  are written by the workers, atomically, so a killed worker leaves no partial folder (its
  temporary one is removed by the next write to that folder).
* Database build (:class:`RayPhotoPool`): the rounds' per-photo fits, unwraps and Grams
  (:func:`facetex.database.photo_stage.process_photo`) as Ray tasks of one CPU each, retried by
  Ray when a worker dies; the PCA models and the global lighting stay on the driver. The
  morphable model and the mirror map of a round are put in Ray's object store once, not sent
  with every photo.

Every worker must be able to import facetex and read the database file and the photos at the
same paths as the driver (a shared file system, or the same copies on every machine).
Ray is imported only here, so without ``--ray`` nothing of it is loaded.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

from facetex.batch import BatchSettings, JobOutcome, PhotoJob, PhotoWorker, limit_threads, worker_name
from facetex.database.cache import PhotoResult
from facetex.database.photo_stage import PhotoTask, process_photo
from facetex.errors import FacetexError, MissingDependencyError

__all__ = ["MAX_ATTEMPTS", "RayPhotoPool", "cluster_cpus", "ray_session", "run_on_ray"]

log = logging.getLogger(__name__)

#: How many workers may start one photo before it is given up (a photo that kills every
#: worker it meets must not loop forever).
MAX_ATTEMPTS = 3


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("--ray needs Ray: pip install 'ray==2.60.0' (or `make setup`)") from exc
    return ray


@contextlib.contextmanager
def ray_session(address: str, *, num_cpus: int | None = None) -> Iterator[Any]:
    """Connect to Ray for the block and yield the ``ray`` module.

    ``address``: ``auto`` starts a local Ray instance on this machine (``num_cpus`` CPUs, None =
    all), shut down after the block; anything else is a running cluster's address
    (``HOST:6379``, ``ray://HOST:10001``), joined and left running. (Ray's own ``address="auto"``
    means "find a running cluster"; here ``auto`` is the one-command local case.) If this process
    already holds a Ray connection it is used as is.

    Raises
    ------
    MissingDependencyError
        Ray is not installed.
    FacetexError
        The cluster cannot be reached.
    """
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    options: dict[str, Any] = {"include_dashboard": False, "configure_logging": False, "log_to_driver": False}
    try:
        if address == "auto":
            ray.init(num_cpus=num_cpus, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise FacetexError(f"cannot connect to Ray at {address}: {exc}".splitlines()[0]) from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray: Any) -> int:
    """The CPUs of the connected Ray cluster (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


class RayPhotoWorker:
    """A :class:`~facetex.batch.PhotoWorker` as a Ray actor: a setup failure (a database missing
    on that machine, say) is kept and reported by :meth:`ready`, instead of killing the actor."""

    def __init__(self, settings: BatchSettings) -> None:
        self.error = ""
        self.worker: PhotoWorker | None = None
        try:
            self.worker = PhotoWorker(settings)
        except FacetexError as exc:
            self.error = str(exc)

    def ready(self) -> tuple[str, str]:
        """(``host:pid``, the setup error or "")."""
        return worker_name(), self.error

    def run(self, job: PhotoJob, attempt: int) -> JobOutcome:
        if self.worker is None:
            return JobOutcome.of(job, "failed", worker=worker_name(), attempts=attempt,
                                 error=f"the worker could not set itself up: {self.error}")
        return self.worker.run(job, attempt)


def run_on_ray(
    ray: Any,
    jobs: Sequence[PhotoJob],
    settings: BatchSettings,
    *,
    workers: int,
    on_worker_lost: Callable[[PhotoJob, str], None] | None = None,
) -> Iterator[JobOutcome]:
    """Run ``jobs`` on ``workers`` Ray actors of ``settings.threads`` CPUs each; yields each
    outcome as it ends (in no particular order).

    A worker that dies mid-photo is replaced and the photo is queued again, first in line, up
    to :data:`MAX_ATTEMPTS` workers; then it is a ``failed`` outcome. ``on_worker_lost(job,
    reason)`` is called each time a worker is lost.

    Raises
    ------
    FacetexError
        A worker could not set itself up (the database or the package missing on its machine):
        every worker would fail the same way, so the batch stops before any photo.
    """
    threads = settings.threads or 1
    actor_class = ray.remote(num_cpus=threads, max_restarts=0)(RayPhotoWorker)

    def start() -> Any:
        return actor_class.remote(settings)

    idle = [start() for _ in range(max(1, min(workers, len(jobs))))]
    for name, error in ray.get([actor.ready.remote() for actor in idle]):
        if error:
            for actor in idle:
                ray.kill(actor)
            raise FacetexError(f"a Ray worker ({name}) could not set itself up: {error}")
    queue = collections.deque((job, 1) for job in jobs)
    running: dict[Any, tuple[Any, PhotoJob, int]] = {}
    try:
        while queue or running:
            while queue and idle:
                actor = idle.pop()
                job, attempt = queue.popleft()
                running[actor.run.remote(job, attempt)] = (actor, job, attempt)
            (ref,), _ = ray.wait(list(running), num_returns=1)
            actor, job, attempt = running.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                log.warning("a Ray worker died on %s (attempt %d): %s", job.name, attempt, reason)
                if on_worker_lost is not None:
                    on_worker_lost(job, reason)
                with contextlib.suppress(Exception):
                    ray.kill(actor)
                idle.append(start())
                if attempt < MAX_ATTEMPTS:
                    queue.appendleft((job, attempt + 1))
                    continue
                outcome = JobOutcome.of(job, "failed", attempts=attempt,
                                        error=f"{attempt} workers died on this photo (last: {reason})")
            except ray.exceptions.RayTaskError as exc:  # a bug in the worker: report, go on
                idle.append(actor)
                cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                outcome = JobOutcome.of(job, "failed", attempts=attempt,
                                        error=f"unexpected {type(cause).__name__}: {cause}".splitlines()[0])
            else:
                idle.append(actor)
            yield outcome
    finally:
        for ref in running:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        for actor in idle + [a for a, _, _ in running.values()]:
            with contextlib.suppress(Exception):
                ray.kill(actor)


def _process_remote(task: PhotoTask, model: Any, mirror: Any) -> PhotoResult:
    """One photo of a database round on a Ray worker, with one torch thread."""
    limit_threads(1)
    return process_photo(dataclasses.replace(task, model=model, mirror=mirror))


class RayPhotoPool:
    """The database build's photo pool on Ray: :meth:`submit` has the shape of
    ``ProcessPoolExecutor.submit`` for :func:`~facetex.database.photo_stage.process_photo`.

    Each photo is a Ray task of one CPU (so ``workers`` = the cluster's CPUs run at once), retried
    up to :data:`MAX_ATTEMPTS` − 1 times if its worker dies; its result is cached in the build's
    work folder, which must be shared by every machine.
    """

    def __init__(self, ray: Any) -> None:
        self._ray = ray
        self._remote = ray.remote(num_cpus=1, max_retries=MAX_ATTEMPTS - 1)(_process_remote)
        self._stored: dict[int, tuple[object, Any]] = {}
        self.workers = cluster_cpus(ray)

    def _stored_ref(self, value: object) -> Any:
        """``value`` put in the object store once (the same model for every photo of a round)."""
        if value is None:
            return None
        key = id(value)
        if key not in self._stored:
            self._stored[key] = (value, self._ray.put(value))  # keep value alive: its id stays unique
        return self._stored[key][1]

    def submit(self, fn: Callable[[PhotoTask], PhotoResult], task: PhotoTask) -> Future:
        if fn is not process_photo:
            raise TypeError("RayPhotoPool runs process_photo only")
        light = dataclasses.replace(task, model=None, mirror=None)
        return self._remote.remote(light, self._stored_ref(task.model), self._stored_ref(task.mirror)).future()
