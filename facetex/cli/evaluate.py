"""``facetex evaluate``: protocol A over held-out database subjects (DESIGN §6, issue 6)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shlex
import sys
from pathlib import Path

from facetex.cli.arguments import ranged

from facetex.cli.progress import add_progress_flags, show_progress
from facetex.errors import FacetexError

log = logging.getLogger(__name__)


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from facetex.evaluation.degrade import HIDINGS, PHOTO_DEGRADATIONS
    from facetex.evaluation.degrade import BLUR_FRACTION
    from facetex.evaluation.protocol import ABLATIONS, PIPELINE_VARIANTS, VARIANTS

    p = subparsers.add_parser(
        "evaluate",
        help="protocol A: degrade held-out subjects, infer with them left out, score every variant",
        description="For held-out persons of the database (both photos left out of exemplars, "
        "Grams and morphable model), degrade the neutral photo, run the pipeline once up to the "
        "partial albedo, complete it by every variant and score it against the texture unwrapped "
        "from the sharp photo. Writes results.json, results.csv, summary.csv, table.md and "
        "figure.png into the output folder (replaced atomically).",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--db", type=Path, default=None,
                   help="texture database (default: the London database, built on first use)")
    p.add_argument("--config", type=Path, default=None,
                   help="TOML settings file of the pipeline (see facetex/config.py)")
    p.add_argument("--subjects", type=ranged(int, 1, 1000), default=20, help="number of held-out persons (default 20)")
    p.add_argument("--persons", type=_names, default=(),
                   help="explicit person ids, comma-separated (overrides --subjects)")
    p.add_argument("--degrade", choices=PHOTO_DEGRADATIONS, default="blur",
                   help="detail removal of the photo (default blur; none: the sharp photo)")
    p.add_argument("--blur-fraction", type=ranged(float, 0.0, 1.0), default=BLUR_FRACTION,
                   help=f"blur σ over the inter-ocular distance (default {BLUR_FRACTION:g})")
    p.add_argument("--hide", choices=HIDINGS, default="none", help="hide part of the face (default none)")
    p.add_argument("--variants", type=_names, default=VARIANTS,
                   help=f"comma-separated subset of {','.join(VARIANTS + PIPELINE_VARIANTS)} (default "
                   f"{','.join(VARIANTS)}; 'default' and 'default-paste' run the texture stage of "
                   "`facetex infer` with and without keeping the photo's observed detail)")
    p.add_argument("--ablation", choices=ABLATIONS, default="none", help="add the variants of an ablation")
    p.add_argument("--iterations", type=ranged(int, 0, 100000), default=30, help="L-BFGS iterations per synthesis variant (default 30)")
    p.add_argument("--paper-iterations", type=ranged(int, 0, 100000), default=1000,
                   help="iterations of the 'paper' recipe variant (default 1000)")
    p.add_argument("--size", type=ranged(int, 32, 2048), default=256, help="evaluation resolution R (default 256)")
    p.add_argument("--device", default=None, help="torch device: cpu (default) or cuda")
    p.add_argument("--no-identity", action="store_true", help="skip the dlib identity metric")
    add_progress_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from facetex.api import open_database
    from facetex.config import load_config
    from facetex.evaluation.degrade import DegradeConfig
    from facetex.evaluation.protocol import ProtocolConfig, run_protocol
    from facetex.evaluation.tables import write_results
    from facetex.io.atomic import check_output_dir

    infer = load_config(args.config)
    if args.device is not None:
        infer = dataclasses.replace(infer, texture=dataclasses.replace(infer.texture, device=args.device))
    try:
        config = ProtocolConfig(
            subjects=args.subjects,
            persons=args.persons,
            size=args.size,
            iterations=args.iterations,
            paper_iterations=args.paper_iterations,
            variants=args.variants,
            ablation=args.ablation,
            degrade=DegradeConfig(detail=args.degrade, hide=args.hide, blur_fraction=args.blur_fraction),
            infer=infer,
            identity=not args.no_identity,
        )
    except ValueError as exc:
        raise FacetexError(f"invalid settings: {exc}") from exc
    check_output_dir(args.output, overwrite=True)  # before hours of work; replaces only an earlier run
    progress = show_progress(args)
    database = open_database(args.db, progress=progress)
    result = run_protocol(database, config, progress=progress)
    command = "facetex " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None
    out = write_results(result, args.output, command=command)
    for person, reason in result.failures:
        log.warning("subject %s failed: %s", person, reason)
    print(f"evaluated {len(result.subjects)} held-out subjects in {result.seconds / 60:.1f} min → {out}/table.md")
    return 0
