"""``facetex build-db``: build a texture database from studio photos (paper §6)."""

from __future__ import annotations

import argparse
import logging

from facetex.cli.progress import add_progress_flags, show_progress

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from facetex.database.config import DatabaseConfig

    defaults = DatabaseConfig()
    p = subparsers.add_parser(
        "build-db",
        help="build a face-texture database (+ morphable models) from studio photos",
        description="Detect, de-light (one global lighting, SUV specular removal), unwrap and "
        "complete the albedo of every photo, store its Grams, and learn PCA morphable models "
        "(paper §6). Without PHOTOS, the London set is used.",
    )
    p.add_argument("photos", nargs="*", metavar="PHOTOS", help="image files or folders (default: the London set)")
    p.add_argument("-o", "--output", required=True, metavar="DB", help="database file to write (.h5)")
    p.add_argument("--resolution", type=int, default=defaults.resolution,
                   help=f"UV texture resolution (default {defaults.resolution})")
    p.add_argument("--gram-resolutions", type=int, nargs="+", default=None, metavar="R",
                   help="sizes at which Grams are stored (default: those of "
                   f"{list(defaults.gram_resolutions)} up to --resolution)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="use only the first N photos")
    p.add_argument("--jobs", type=int, default=defaults.jobs, help=f"worker processes (default {defaults.jobs})")
    p.add_argument("--bootstrap-rounds", type=int, default=defaults.bootstrap_rounds,
                   help=f"refits with the learned model (default {defaults.bootstrap_rounds})")
    p.add_argument("--work-dir", default=None, help="per-photo cache (default: in the facetex cache)")
    add_progress_flags(p)
    p.set_defaults(handler=run, parser=p)


def run(args: argparse.Namespace) -> int:
    from facetex.database.build import build_database, collect_photos, london_photos
    from facetex.database.config import DatabaseConfig

    grams = args.gram_resolutions or [r for r in DatabaseConfig().gram_resolutions if r <= args.resolution]
    try:
        config = DatabaseConfig(
            resolution=args.resolution,
            gram_resolutions=tuple(grams or [args.resolution]),
            jobs=args.jobs,
            bootstrap_rounds=args.bootstrap_rounds,
        )
    except ValueError as exc:
        args.parser.error(str(exc))
    sources = collect_photos(args.photos or london_photos(), limit=args.limit)
    summary = build_database(sources, args.output, config, work_dir=args.work_dir, progress=show_progress(args))
    print(f"wrote {summary.path}: {summary.accepted}/{summary.photos} photos ({summary.success_rate:.1%}), "
          f"{summary.seconds:.0f} s ({summary.seconds / summary.photos:.1f} s per photo, {summary.jobs} jobs)")
    for r in summary.rounds:
        change = "-" if r.vertex_change_cm is None else f"{r.vertex_change_cm:.3f} cm"
        print(f"  round {r.index} ({r.model}): landmark RMSE {r.landmark_rmse_iod:.4f} IOD, vertex change {change}")
    for subject, reason in sorted(summary.rejected.items()):
        print(f"  rejected {subject}: {reason}")
    print(f"build log: {summary.log_path}")
    return 0
