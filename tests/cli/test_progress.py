"""--quiet / --no-progress and progress bars only on a terminal (issue 15, "Logs")."""

from __future__ import annotations

import io
import logging

import pytest

from facetex.cli import build_parser
from facetex.cli.progress import show_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("command", [["infer"], ["fit", "-o", "x"], ["build-db", "-o", "x.h5"], ["evaluate", "-o", "x"]])
def test_bars_only_on_a_terminal_without_flags(command):
    args = build_parser().parse_args(command)
    assert show_progress(args, _Terminal()) is True
    assert show_progress(args, io.StringIO()) is False  # a file or a pipe: no \r frames
    assert show_progress(build_parser().parse_args([*command, "--no-progress"]), _Terminal()) is False


def test_quiet_drops_bars_and_info_lines():
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.INFO)
        assert show_progress(build_parser().parse_args(["infer", "--quiet"]), _Terminal()) is False
        assert root.level == logging.WARNING
    finally:
        root.setLevel(level)
