"""``facetex infer``: photos → complete albedo, textured meshes, maps and an HTML report."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path

from facetex.cli.fit import face_index
from facetex.cli.options import Option, add_config_flag, add_options, resolve
from facetex.cli.progress import add_progress_flags, show_progress
from facetex.config import InferConfig
from facetex.errors import FacetexError, InputImageError
from facetex.fitting.config import UnwrapConfig
from facetex.texture.config import MIN_SIZE, Stage, format_schedule, parse_schedule

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")


def _schedule(text: str) -> tuple[Stage, ...]:
    """--schedule: '256x100bf16,512x30' → stages (:func:`facetex.texture.config.parse_schedule`)."""
    try:
        return parse_schedule(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    from facetex.api import open_database
    from facetex.detect import Detector
    from facetex.io.images import demo_photo, load_photo
    from facetex.outputs import check_result_folders, result_folder_names, write_result
    from facetex.pipeline import infer
    from facetex.texture.vgg import load_vgg19

    config = resolve_config(args)
    if config.texture.detail_map is not None:  # a bad map fails before any work
        from facetex.io.images import load_detail_map

        load_detail_map(config.texture.detail_map)
    files = _photo_files(args.photos)
    output: Path = args.output
    if args.same_person:
        return _run_same_person(args, config, files)
    names = result_folder_names(files or [None])
    jobs: list[tuple[str, Path | None]] = list(zip(names, files or [None]))
    single = len(jobs) == 1
    targets = [output] if single else [output / name for name in names]
    check_result_folders(targets, config, overwrite=args.overwrite)

    start = time.perf_counter()
    progress = show_progress(args)
    database = open_database(args.db, progress=progress)
    vgg = load_vgg19(config.texture.device, channels_last=config.texture.channels_last)
    exclude = tuple(args.exclude_person)
    if exclude:
        from facetex.database.holdout import model_without

        model = model_without(database, exclude)
    else:
        model = database.morphable_model()
    setup_seconds = time.perf_counter() - start

    failures: list[tuple[str, str]] = []
    with Detector(config.detect) as detector:
        for name, path in jobs:
            target = output if single else output / name
            clock = time.perf_counter()
            try:
                photo = demo_photo() if path is None else load_photo(path)
                result = infer(photo, database, config, vgg=vgg, detector=detector, face_index=args.face,
                               exclude_persons=exclude, model=model, progress=progress)
                write_result(
                    result, target, config, model, database=database,
                    extra_timings={"setup": setup_seconds} if single else None, overwrite=args.overwrite,
                )
            except FacetexError as exc:
                if single:
                    raise
                failures.append((name, str(exc)))
                print(f"facetex: error: {name}: {exc}", file=sys.stderr)
                continue
            print(f"{name}: {time.perf_counter() - clock:.1f} s → {target / 'report.html' if config.report else target}")
    if not single:
        done = len(jobs) - len(failures)
        print(f"{done} of {len(jobs)} photos done in {time.perf_counter() - start:.0f} s; results in {output}")
        for (name, path), target in zip(jobs, targets):
            if path is not None and name != path.stem:
                print(f"  {path} → {target} (another photo is also named {path.stem})")
        for name, reason in failures:
            print(f"  failed: {name}: {reason}", file=sys.stderr)
    return 0 if not failures else 1


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
