"""``facetex evaluate``: protocol A over held-out database subjects (``docs/evaluation.md``)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shlex
import sys
from pathlib import Path

from facetex.cli.options import Option, add_config_flag, add_options, resolve
from facetex.cli.progress import add_progress_flags, show_progress
from facetex.config import InferConfig, config_from_dict, read_settings
from facetex.evaluation import ProtocolConfig
from facetex.evaluation.degrade import HIDINGS, PHOTO_DEGRADATIONS

log = logging.getLogger(__name__)

#: The settings flags of `facetex evaluate`, made from ProtocolConfig's fields (facetex.cli.options).
#: DegradeConfig (facetex.evaluation.degrade) declares no help: its three flags give it here.
OPTIONS: tuple[Option, ...] = (
    Option("subjects"),
    Option("persons"),
    Option("degrade.detail", flag="--degrade", choices=PHOTO_DEGRADATIONS,
           help="detail removal of the photo (none: the sharp photo)"),
    Option("degrade.blur_fraction", range=(0.0, 1.0), help="blur σ over the inter-ocular distance"),
    Option("degrade.hide", choices=HIDINGS, help="hide part of the face"),
    Option("variants"),
    Option("ablation"),
    Option("iterations"),
    Option("paper_iterations"),
    Option("size"),
    Option("infer.texture.device"),
    Option("identity"),
    Option("region"),
    Option("same_person"),
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
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
    add_config_flag(p, ProtocolConfig, "ProtocolConfig (the pipeline's settings in its [infer] table; "
                    "a file of InferConfig tables alone is taken as that table)")
    add_options(p, ProtocolConfig(), OPTIONS)
    add_progress_flags(p)
    p.set_defaults(handler=run)


def _settings_file(path: Path | None) -> ProtocolConfig:
    """ProtocolConfig from a --config file; a file holding only InferConfig tables (the form
    `facetex evaluate --config` read before issue 17) is its ``infer`` table."""
    if path is None:
        return ProtocolConfig()
    data = read_settings(path)
    pipeline = {f.name for f in dataclasses.fields(InferConfig)}
    if data and set(data) <= pipeline:
        data = {"infer": data}
    return config_from_dict(ProtocolConfig, data)


def run(args: argparse.Namespace) -> int:
    from facetex.api import open_database
    from facetex.evaluation import run_protocol
    from facetex.evaluation.tables import write_results
    from facetex.io.atomic import check_output_dir

    config = resolve(args, _settings_file(args.config), OPTIONS, read_file=False)
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
