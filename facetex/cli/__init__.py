"""The ``facetex`` command. It parses arguments, calls the library and reports; no logic here.

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` (which registers
the parser and sets ``handler``) so stages can be added without touching the others.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import signal
import sys

from facetex import __version__
from facetex.errors import FacetexError

# Modules of facetex.cli that define a subcommand, in the order `facetex --help` lists them.
SUBCOMMANDS: tuple[str, ...] = ("infer", "faces", "fit", "synthesize", "build_db", "db_info", "evaluate")


class _Parser(argparse.ArgumentParser):
    """argparse with the command's one-line error form: ``facetex: error: …`` and status 2
    (argparse prints its usage block and the error on two lines)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"facetex: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="facetex",
        description="Photorealistic facial texture inference from a single photo "
        "(Saito et al., CVPR 2017).",
    )
    parser.add_argument("--version", action="version", version=f"facetex {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"facetex.cli.{name}").add_parser(sub)
    for command in sub.choices.values():  # `facetex infer -v photo.jpg` as well as `facetex -v infer`
        if "-v" not in command._option_string_actions:
            command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                                 help="log debug messages")
    return parser


# OSErrors that say something about the machine (disk full, quota, read-only, I/O error,
# permissions) rather than a bug: reported on one line like a FacetexError. The writers
# clean up their temporary files before the error reaches here (facetex.io.atomic).
_ENVIRONMENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM}
)


def _os_error_line(exc: OSError, output: object) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) and output is not None:
        return f"cannot write output {output}: {reason}; nothing was written"
    return f"{exc.filename}: {reason}" if exc.filename else reason


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every ``finally``/cleanup (temporary folders) runs."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``facetex`` command; returns the process exit status."""
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_DFL:  # leave a host program's own handler alone
        with contextlib.suppress(ValueError):  # only the main thread may set handlers
            signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _run(argv)
    finally:
        if signal.getsignal(signal.SIGTERM) is _raise_terminated:
            signal.signal(signal.SIGTERM, previous)


def _run(argv: list[str] | None) -> int:
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
    except OSError as exc:  # the machine, not facetex: a full disk, a read-only or failing one
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        print(f"facetex: error: {_os_error_line(exc, getattr(args, 'output', None))}", file=sys.stderr)
        return 2
    except Terminated:
        print("facetex: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("facetex: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
