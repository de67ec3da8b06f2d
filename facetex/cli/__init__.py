"""The ``facetex`` command. It parses arguments, calls the library and reports; no logic here.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` (which registers
the parser and sets ``handler``) so stages can be added without touching the others.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from facetex import __version__
from facetex.errors import FacetexError

# Modules of facetex.cli that define a subcommand, in the order `facetex --help` lists them.
SUBCOMMANDS: tuple[str, ...] = ("infer", "fit", "synthesize", "build_db", "db_info", "evaluate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facetex",
        description="Photorealistic facial texture inference from a single photo "
        "(Saito et al., CVPR 2017).",
    )
    parser.add_argument("--version", action="version", version=f"facetex {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"facetex.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``facetex`` command; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.handler(args) or 0)
    except FacetexError as exc:
        print(f"facetex: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facetex: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
