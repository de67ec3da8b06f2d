"""``facetex db-info``: summary and contact sheet of a texture database."""

from __future__ import annotations

import argparse


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
    p.add_argument("--thumb", type=int, default=128, help="tile size of the contact sheet (default 128)")
    p.add_argument("--modes", type=int, default=3, help="PCA albedo modes shown (default 3)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from facetex.database.info import contact_sheet, summarize
    from facetex.database.store import load_database
    from facetex.io.atomic import write_image

    db = load_database(args.database)
    print(summarize(db))
    if args.output:
        write_image(args.output, contact_sheet(db, thumb=args.thumb, modes=args.modes))
        print(f"contact sheet: {args.output}")
    return 0
