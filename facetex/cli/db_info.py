"""``facetex db-info``: summary and contact sheet of a texture database."""

from __future__ import annotations

import argparse
from pathlib import Path

from facetex.cli.options import number_parser


def _check_sheet_path(path: Path) -> None:
    from facetex.errors import OutputError

    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name (e.g. {path / 'sheet.png'})")
    if not path.parent.is_dir():
        raise OutputError(f"cannot write output {path}: folder {path.parent} does not exist")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "db-info",
        help="print a texture database's summary; optionally write a contact sheet",
        description="Print subjects, resolution, schema, models, build report, sources and "
        "attribution of a database; with -o, write a PNG of all its textures and the first PCA "
        "albedo modes (mean ± 2σ).",
    )
    p.add_argument("database", metavar="DB", help="database file (.h5)")
    p.add_argument("-o", "--output", default=None, metavar="SHEET.png", help="contact sheet to write")
    p.add_argument("--thumb", type=number_parser(int, "thumb", (16, 1024)), default=128, help="tile size of the contact sheet, 16–1024 (default 128)")
    p.add_argument("--modes", type=number_parser(int, "modes", (0, 20)), default=3, help="PCA albedo modes shown, 0–20 (default 3)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from facetex.database.info import contact_sheet, summarize
    from facetex.database.store import load_database
    from facetex.io.atomic import write_image

    if args.output:  # before any work or output: -o names a file, in a folder that exists
        _check_sheet_path(Path(args.output))
    db = load_database(args.database)
    print(summarize(db))
    if args.output:
        write_image(args.output, contact_sheet(db, thumb=args.thumb, modes=args.modes))
        print(f"contact sheet: {args.output}")
    return 0
