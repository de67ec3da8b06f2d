"""``facetex build-db``: build a texture database from studio photos (paper §6)."""

from __future__ import annotations

import argparse
import dataclasses
import logging

from facetex.cli.options import Option, add_config_flag, add_options, resolve
from facetex.cli.progress import add_progress_flags, show_progress
from facetex.database.config import DatabaseConfig

log = logging.getLogger(__name__)


def _resolution(config: DatabaseConfig, resolution: int) -> DatabaseConfig:
    """--resolution: the textures (and a given unwrap) at ``resolution``, keeping the Gram
    sizes up to it (or ``resolution`` alone)."""
    grams = tuple(r for r in config.gram_resolutions if r <= resolution) or (resolution,)
    unwrap = None if config.unwrap is None else dataclasses.replace(config.unwrap, resolution=resolution)
    return dataclasses.replace(config, resolution=resolution, gram_resolutions=grams, unwrap=unwrap)


#: The settings flags of `facetex build-db`, made from DatabaseConfig's fields (facetex.cli.options).
OPTIONS: tuple[Option, ...] = (
    Option("resolution", apply=_resolution),
    Option("gram_resolutions", apply=lambda c, sizes: dataclasses.replace(c, gram_resolutions=tuple(sizes)),
           metavar="R"),
    Option("jobs"),
    Option("bootstrap_rounds"),
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "build-db",
        help="build a face-texture database (+ morphable models) from studio photos",
        description="Detect, de-light (one global lighting, SUV specular removal), unwrap and "
        "complete the albedo of every photo, store its Grams, and learn PCA morphable models "
        "(paper §6). Without PHOTOS, the London set is used.",
    )
    p.add_argument("photos", nargs="*", metavar="PHOTOS", help="image files or folders (default: the London set)")
    p.add_argument("-o", "--output", required=True, metavar="DB", help="database file to write (.h5)")
    add_config_flag(p, DatabaseConfig)
    add_options(p, DatabaseConfig(), OPTIONS)
    p.add_argument("--limit", type=int, default=None, metavar="N", help="use only the first N photos")
    p.add_argument("--work-dir", default=None, help="per-photo cache (default: in the facetex cache)")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="run the photos on Ray instead of --jobs local processes: 'auto' starts a local Ray "
                   "instance, HOST:PORT joins a running cluster (the work folder and photos must be shared)")
    add_progress_flags(p)
    p.set_defaults(handler=run, parser=p)


def run(args: argparse.Namespace) -> int:
    from facetex.database.build import build_database
    from facetex.database.photos import collect_photos, london_photos

    config: DatabaseConfig = resolve(args, DatabaseConfig(), OPTIONS)
    sources = collect_photos(args.photos or london_photos(), limit=args.limit)
    summary = build_database(sources, args.output, config, work_dir=args.work_dir, progress=show_progress(args),
                             ray=args.ray)
    print(f"wrote {summary.path}: {summary.accepted}/{summary.photos} photos ({summary.success_rate:.1%}), "
          f"{summary.seconds:.0f} s ({summary.seconds / summary.photos:.1f} s per photo, {summary.jobs} jobs)")
    for r in summary.rounds:
        change = "-" if r.vertex_change_cm is None else f"{r.vertex_change_cm:.3f} cm"
        print(f"  round {r.index} ({r.model}): landmark RMSE {r.landmark_rmse_iod:.4f} IOD, vertex change {change}")
    for subject, reason in sorted(summary.rejected.items()):
        print(f"  rejected {subject}: {reason}")
    print(f"build log: {summary.log_path}")
    return 0
