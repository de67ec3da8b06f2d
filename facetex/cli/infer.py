"""``facetex infer``: photos → complete albedo, textured meshes, maps and an HTML report."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from facetex.cli.fit import face_index
from facetex.cli.options import Option, add_config_flag, add_options, resolve
from facetex.cli.progress import add_progress_flags, show_progress
from facetex.config import InferConfig
from facetex.errors import FacetexError, InputImageError
from facetex.fitting.config import UnwrapConfig
from facetex.texture.config import MIN_SIZE, Stage, format_schedule, parse_schedule

if TYPE_CHECKING:
    from facetex.batch import BatchSettings, JobOutcome, PhotoJob

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")


def _schedule(text: str) -> tuple[Stage, ...]:
    """--schedule: '256x100bf16,512x30' → stages (:func:`facetex.texture.config.parse_schedule`)."""
    try:
        return parse_schedule(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _threads(text: str) -> int:
    """--threads: a whole number from 1 to 256."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"must be between 1 and 256, got {value}")
    return value


def _last_iterations(config: InferConfig, iterations: int) -> InferConfig:
    stages = config.texture.schedule
    last = dataclasses.replace(stages[-1], iterations=iterations)
    return dataclasses.replace(config, texture=config.texture.replace(schedule=stages[:-1] + (last,)))


#: The resolution R: the texture's output size, which the UV maps follow (InferConfig). Its
#: range: the texture stages' smallest to the unwrap's largest.
_SIZE_RANGE = (MIN_SIZE, next(f for f in dataclasses.fields(UnwrapConfig) if f.name == "resolution").metadata["range"][1])

#: The settings flags of `facetex infer`, made from InferConfig's fields (facetex.cli.options).
OPTIONS: tuple[Option, ...] = (
    Option("resolution", flag="--size", kind=int, range=_SIZE_RANGE, get=lambda c: c.resolution,
           apply=lambda c, size: c.with_resolution(size),
           help="albedo resolution R: the UV maps and the last synthesis stage (earlier stages scale with it)"),
    Option("iterations", field=(Stage, "iterations"), get=lambda c: c.texture.schedule[-1].iterations,
           apply=_last_iterations, help="L-BFGS iterations of the last synthesis stage"),
    Option("texture.schedule", parse=_schedule, show=format_schedule, metavar="STAGES"),
    Option("texture.start"),
    Option("texture.detail", metavar="S"),
    Option("texture.detail_map", metavar="UV.png"),
    Option("texture.keep_observed"),
    Option("texture.carry_tone"),
    Option("unwrap.deblur"),
    Option("fit.shared_identity"),
    Option("texture.alpha"),
    Option("texture.gram_layers", flag="--layers", metavar="LAYERS"),
    Option("texture.solver"),
    Option("texture.device"),
    Option("export.morph_targets"),
    Option("export.head"),
    Option("render_views", flag="--render"),
    Option("report"),
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "infer",
        help="photo(s) → complete albedo, textured mesh (OBJ/GLB), maps and an HTML report",
        description="Detect, fit the morphable model (§3), unwrap the partial albedo, blend the "
        "database's Gram matrices (§4) and synthesise the complete albedo (§5). With no PHOTO "
        "the built-in demo photo (skimage's astronaut, public domain) is used. Several photos or "
        "folders: one output folder each under -o; a failure does not stop the others. "
        "Settings: the preset, then --config, then the flags given.",
    )
    p.add_argument("photos", nargs="*", type=Path, metavar="PHOTO", help="photo files or folders of photos")
    p.add_argument("-o", "--output", type=Path, default=Path("out"), help="output folder (default: out)")
    p.add_argument("--db", type=Path, default=None, help="texture database (default: the London database, built on first use)")
    add_config_flag(p, InferConfig, "InferConfig (e.g. a result's config.json)")
    p.add_argument("--preset", choices=("fast", "paper"), default="fast",
                   help="fast or the paper's recipe: exact masked Grams, 1000 L-BFGS iterations at full size "
                   "(default: fast)")
    add_options(p, InferConfig(), OPTIONS)
    p.add_argument("--exclude-person", action="append", default=[], metavar="ID",
                   help="leave a database person (e.g. 012) out of the blend and of the morphable model: "
                   "run a database photo as if it were new (repeatable)")
    p.add_argument("--face", type=face_index, default=0, help="which face when there are several (0 = largest)")
    p.add_argument("--same-person", action="store_true",
                   help="the photos show one person: fit one identity to all of them and make one texture "
                   "from everything they show, into -o (the first photo poses the mesh)")
    p.add_argument("--force", action="store_true",
                   help="with --same-person: combine the photos even when their faces look like different people")
    p.add_argument("--overwrite", action="store_true",
                   help="replace earlier facetex results in the output folder(s); a folder facetex "
                   "did not write is never replaced")
    p.add_argument("--resume", action="store_true",
                   help="skip photos whose folder already holds a complete result made with the same settings")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="run the photos on Ray workers: 'auto' starts a local Ray instance on this machine, "
                   "HOST:PORT joins a running cluster (README: Many photos on Ray)")
    p.add_argument("--threads", type=_threads, default=None, metavar="N",
                   help="torch threads per worker (with --ray, also the CPUs each worker reserves; default 1 "
                   "there, all cores without --ray)")
    add_progress_flags(p)
    p.set_defaults(handler=run)


def resolve_config(args: argparse.Namespace) -> InferConfig:
    """The InferConfig of a command line: preset, then --config, then the flags given."""
    base = InferConfig.paper() if args.preset == "paper" else InferConfig()
    return resolve(args, base, OPTIONS)


def _photo_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and not p.name.startswith("."))
            if not found:
                raise InputImageError(f"no photos ({', '.join(PHOTO_SUFFIXES)}) in folder {path}")
            files.extend(found)
        else:
            files.append(path)
    return files


def run(args: argparse.Namespace) -> int:
    from facetex.api import database_file
    from facetex.batch import (SUMMARY_NAME, BatchSettings, JobOutcome, PhotoJob, PhotoWorker, check_summary_file,
                               completed, write_summary)
    from facetex.outputs import check_result_folders, result_folder_names

    config = resolve_config(args)
    if config.texture.detail_map is not None:  # a bad map fails before any work
        from facetex.io.images import load_detail_map

        load_detail_map(config.texture.detail_map)
    files = _photo_files(args.photos)
    output: Path = args.output
    if args.same_person:
        if args.ray is not None:
            raise InputImageError("--ray spreads separate photos over workers; --same-person makes one texture "
                                  "from all of them in one process: drop one of the two")
        return _run_same_person(args, config, files)
    names = result_folder_names(files or [None], reserved=(SUMMARY_NAME,))
    single = len(names) == 1
    jobs = [PhotoJob(name, path, output if single else output / name) for name, path in zip(names, files or [None])]
    if args.ray is not None:  # workers run in other processes, maybe on other machines, from another folder
        jobs = [dataclasses.replace(job, photo=None if job.photo is None else job.photo.resolve(),
                                    target=job.target.resolve()) for job in jobs]
    done_before = [job for job in jobs if args.resume and completed(job.target, config)]
    todo = [job for job in jobs if job not in done_before]
    check_result_folders([job.target for job in todo], config, overwrite=args.overwrite)
    if not single:
        check_summary_file(output)
    if not todo:
        print(f"all {len(jobs)} photo(s) already done with these settings (--resume); results in {output}")
        return 0

    start = time.perf_counter()
    progress = show_progress(args)
    database = database_file(args.db, progress=progress)  # the driver checks it; each worker loads it
    settings = BatchSettings(database=database.resolve(), config=config, exclude_persons=tuple(args.exclude_person),
                             face_index=args.face, overwrite=args.overwrite, threads=args.threads)
    if single and args.ray is None:
        with PhotoWorker(settings, progress=progress) as worker:
            worker.write(jobs[0], extra_timings={"setup": time.perf_counter() - start})
        print(f"{jobs[0].name}: {time.perf_counter() - start:.1f} s → "
              f"{output / 'report.html' if config.report else output}")
        return 0
    outcomes = [JobOutcome.of(job, "skipped") for job in done_before]
    engine, workers, threads = _run_batch(args, todo, settings, progress, outcomes, total=len(jobs))
    seconds = time.perf_counter() - start
    failures = [o for o in outcomes if o.status == "failed"]
    if single:
        if failures:
            raise FacetexError(failures[0].error)
        return 0
    order = {job.name: i for i, job in enumerate(jobs)}
    summary = write_summary(output, sorted(outcomes, key=lambda o: order[o.name]), engine=engine, workers=workers,
                            threads=threads, seconds=seconds)
    done = sum(o.status == "done" for o in outcomes)
    resumed = f" ({len(done_before)} already done before, skipped)" if done_before else ""
    print(f"{done} of {len(todo)} photos done in {seconds:.0f} s{resumed}; results in {output}, summary in {summary}")
    for job in jobs:
        if job.photo is not None and job.name != job.photo.stem:
            print(f"  {job.photo} → {job.target} (another photo is also named {job.photo.stem})")
    for outcome in failures:
        print(f"  failed: {outcome.name}: {outcome.error}", file=sys.stderr)
    return 0 if not failures else 1


def _run_batch(args: argparse.Namespace, jobs: list[PhotoJob], settings: BatchSettings, progress: bool,
               outcomes: list[JobOutcome], *, total: int) -> tuple[str, int, int | None]:
    """Run ``jobs`` in this process or, with ``--ray``, on Ray workers; appends each outcome to
    ``outcomes`` as it ends, with one progress bar over all photos. Returns (engine, workers,
    threads per worker)."""
    from tqdm import tqdm

    bar = tqdm(total=total, initial=len(outcomes), desc="photos", unit="photo", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)

    def ended(outcome: JobOutcome) -> None:
        outcomes.append(outcome)
        bar.update(1)
        if outcome.status == "done":
            target = Path(outcome.target)
            line = f"{outcome.name}: {outcome.seconds:.1f} s → {target / 'report.html' if settings.config.report else target}"
            tqdm.write(line + (f" (attempt {outcome.attempts})" if outcome.attempts > 1 else ""), file=sys.stdout)
        elif total > 1:  # one photo: its error is the command's one line
            tqdm.write(f"facetex: error: {outcome.name}: {outcome.error}", file=sys.stderr)

    try:
        if args.ray is None:
            from facetex.batch import run_sequential

            for outcome in run_sequential(jobs, settings):
                ended(outcome)
            return "sequential", 1, settings.threads
        from facetex.distributed import cluster_cpus, ray_session, run_on_ray

        settings = dataclasses.replace(settings, threads=settings.threads or 1)
        with ray_session(args.ray) as ray:
            cpus = cluster_cpus(ray)
            if settings.threads > cpus:
                raise FacetexError(f"--threads {settings.threads} is more than the Ray cluster's {cpus} CPUs: "
                                   "no worker could start")
            workers = cpus // settings.threads
            log.info("Ray: %d worker(s) × %d thread(s) for %d photo(s)", min(workers, len(jobs)), settings.threads,
                     len(jobs))

            def lost(job: PhotoJob, reason: str) -> None:
                tqdm.write(f"facetex: a worker died on {job.name} ({reason})", file=sys.stderr)

            for outcome in run_on_ray(ray, jobs, settings, workers=workers, on_worker_lost=lost):
                ended(outcome)
        return "ray", min(workers, len(jobs)), settings.threads
    finally:
        bar.close()


def _run_same_person(args: argparse.Namespace, config, files: list[Path]) -> int:
    """``--same-person``: every photo → one result in ``-o`` (:mod:`facetex.multiview`)."""
    from facetex.api import open_database
    from facetex.database.holdout import model_without
    from facetex.detect import Detector
    from facetex.io.images import load_photo
    from facetex.multiview import infer_same_person
    from facetex.outputs import check_result_folders, write_result
    from facetex.texture.vgg import load_vgg19

    if not files:
        raise InputImageError("--same-person needs the photos of the person (two or more)")
    check_result_folders([args.output], config, overwrite=args.overwrite)
    start = time.perf_counter()
    progress = show_progress(args)
    photos, skipped = [], []
    for path in files:
        try:
            photos.append(load_photo(path))
        except FacetexError as exc:
            skipped.append(f"{path.name}: {exc}")
            print(f"facetex: error: {path.name}: {exc} (skipped)", file=sys.stderr)
    if not photos:
        raise InputImageError(f"none of the {len(files)} photos could be read")
    database = open_database(args.db, progress=progress)
    exclude = tuple(args.exclude_person)
    model = model_without(database, exclude) if exclude else database.morphable_model()
    vgg = load_vgg19(config.texture.device, channels_last=config.texture.channels_last)
    with Detector(config.detect) as detector:
        result = infer_same_person(photos, database, config, vgg=vgg, detector=detector, force=args.force,
                                   exclude_persons=exclude, model=model, skipped=skipped, progress=progress)
    for line in result.skipped[len(skipped):]:
        print(f"facetex: error: {line} (skipped)", file=sys.stderr)
    write_result(result, args.output, config, model, database=database, overwrite=args.overwrite)
    used = ", ".join(Path(view.photo.source).name for view in result.views)
    print(f"{used}: {time.perf_counter() - start:.1f} s → "
          f"{args.output / 'report.html' if config.report else args.output}")
    return 0 if not result.skipped else 1
