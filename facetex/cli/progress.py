"""Progress output of the ``facetex`` commands: ``--quiet`` / ``--no-progress``, bars only on a
terminal.

tqdm bars redraw with ``\\r``; written to a file or a pipe they pile up as hundreds of frames
per photo. So a command shows bars only when stderr is a terminal and neither flag is given;
otherwise the library runs with ``progress=False`` and the command's plain lines (one per
photo, the log's INFO lines) are the progress report. ``--quiet`` also drops the INFO lines.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TextIO

__all__ = ["add_progress_flags", "show_progress"]


def add_progress_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``-q/--quiet`` and ``--no-progress`` to a subcommand's parser."""
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars and no informational log lines (results and errors are still printed)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (the default when stderr is not a terminal)")


def show_progress(args: argparse.Namespace, stream: TextIO | None = None) -> bool:
    """Whether to draw progress bars: stderr (or ``stream``) is a terminal and neither
    ``--quiet`` nor ``--no-progress`` was given. With ``--quiet`` the root logger is raised to
    WARNING as a side effect (the CLI has already configured logging)."""
    if getattr(args, "quiet", False):
        logging.getLogger().setLevel(logging.WARNING)
        return False
    if getattr(args, "no_progress", False):
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
