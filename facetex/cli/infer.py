"""``facetex infer``: photos → complete albedo, textured meshes, maps and an HTML report."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
import time
from pathlib import Path

from facetex.cli.arguments import ranged
from facetex.cli.fit import _face_index
from facetex.cli.progress import add_progress_flags, show_progress
from facetex.errors import FacetexError, InputImageError

log = logging.getLogger(__name__)

#: facetex.texture.config.MIN_SIZE, repeated so that parsing does not import torch.
_MIN_SIZE = 32

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < 0:
            raise argparse.ArgumentTypeError(f"must be a finite number ≥ 0, got {text}")
        return value

    return parse


def _schedule(text: str):
    """--schedule: '256x100bf16,512x30' → stages (:func:`facetex.texture.config.parse_schedule`)."""
    from facetex.texture.config import parse_schedule

    try:
        return parse_schedule(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "infer",
        help="photo(s) → complete albedo, textured mesh (OBJ/GLB), maps and an HTML report",
        description="Detect, fit the morphable model (§3), unwrap the partial albedo, blend the "
        "database's Gram matrices (§4) and synthesise the complete albedo (§5). With no PHOTO "
        "the built-in demo photo (skimage's astronaut, public domain) is used. Several photos or "
        "folders: one output folder each under -o; a failure does not stop the others.",
    )
    p.add_argument("photos", nargs="*", type=Path, metavar="PHOTO", help="photo files or folders of photos")
    p.add_argument("-o", "--output", type=Path, default=Path("out"), help="output folder (default ./out)")
    p.add_argument("--db", type=Path, default=None, help="texture database (default: the London database, built on first use)")
    p.add_argument("--config", type=Path, default=None, help="TOML settings file (see facetex/config.py)")
    p.add_argument("--preset", choices=("fast", "paper"), default="fast",
                   help="fast (default) or the paper's recipe: exact masked Grams, 1000 L-BFGS iterations at full size")
    p.add_argument("--size", type=ranged(int, _MIN_SIZE, 2048), default=None, help="albedo resolution R, 32–2048 (default 512)")
    p.add_argument("--iterations", type=_positive(int), default=None, help="L-BFGS iterations of the last stage")
    p.add_argument("--schedule", type=_schedule, default=None,
                   help="coarse-to-fine stages, SIZExITERATIONS with 'bf16' for a bf16 network, "
                   "e.g. 256x100bf16,512x30bf16 (the default)")
    p.add_argument("--start", choices=("lowfreq", "exemplar_detail"), default=None,
                   help="where synthesis starts: the low-frequency albedo (the paper's) or that plus the "
                   "weighted exemplars' detail (the fast preset's)")
    p.add_argument("--detail", type=_positive(float), default=None, metavar="S",
                   help="scale of the invented detail, 0–2: 0 = none (hidden skin stays smooth), 1 = the "
                   "database-matched amount (default); the photo's own detail is always kept as it is")
    p.add_argument("--detail-map", type=Path, default=None, metavar="UV.png",
                   help="per-texel scale of the invented detail: a greyscale UV image, black 0, mid-grey 1, "
                   "white 2 (multiplies --detail)")
    p.add_argument("--keep-observed", dest="keep_observed", action=argparse.BooleanOptionalAction, default=None,
                   help="keep the photo's own detail where it sees skin (default; --no-keep-observed "
                   "re-synthesises every texel as the paper's §5)")
    p.add_argument("--alpha", type=_positive(float), default=None, help="Gram weight α (normalised units)")
    p.add_argument("--layers", default=None, help="Gram layers, comma-separated (default relu1_1..relu5_1)")
    p.add_argument("--solver", choices=("convex", "linear", "closest"), default=None, help="blend-weight solver")
    p.add_argument("--device", default=None, help="torch device: cpu (default) or cuda")
    p.add_argument("--exclude-person", action="append", default=[], metavar="ID",
                   help="leave a database person (e.g. 012) out of the blend and of the morphable model: "
                   "run a database photo as if it were new (repeatable)")
    p.add_argument("--face", type=_face_index, default=0, help="which face when there are several (0 = largest)")
    p.add_argument("--render", action="store_true", help="also render front/three-quarter/profile views with Mitsuba")
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.add_argument("--overwrite", action="store_true",
                   help="replace earlier facetex results in the output folder(s); a folder facetex "
                   "did not write is never replaced")
    add_progress_flags(p)
    p.set_defaults(handler=run)


def resolve_config(args: argparse.Namespace):
    """The InferConfig of a command line: preset, then --config, then flags."""
    from facetex.config import InferConfig, load_config

    base = InferConfig.paper() if args.preset == "paper" else InferConfig()
    config = load_config(args.config, base=base)
    texture = config.texture
    changes: dict[str, object] = {}
    if args.schedule is not None:
        changes["schedule"] = args.schedule
    if args.iterations is not None:
        stages = changes.get("schedule", texture.schedule)
        try:
            last = dataclasses.replace(stages[-1], iterations=args.iterations)
        except ValueError as exc:
            raise FacetexError(f"invalid settings: --iterations: {exc}") from exc
        changes["schedule"] = stages[:-1] + (last,)
    for name in ("start", "alpha", "solver", "device", "detail", "keep_observed"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.detail_map is not None:
        changes["detail_map"] = str(args.detail_map)
    if args.layers is not None:
        changes["gram_layers"] = tuple(s.strip() for s in args.layers.split(",") if s.strip())
    try:
        config = dataclasses.replace(config, texture=dataclasses.replace(texture, **changes))
        if args.size is not None:
            config = config.with_resolution(args.size)
        elif config.unwrap.resolution != config.resolution:
            config = config.with_resolution(config.resolution)
    except ValueError as exc:
        raise FacetexError(f"invalid settings: {exc}") from exc
    return dataclasses.replace(config, render_views=args.render, report=not args.no_report)


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
