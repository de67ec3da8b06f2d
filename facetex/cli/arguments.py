"""Argument types shared by the subcommands: numbers checked against a range at parse time."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["ranged"]


def ranged(kind: type, low: float, high: float) -> Callable[[str], float]:
    """An argparse ``type``: a ``kind`` (int or float) in [low, high], else a one-line usage error.

    >>> ranged(int, 16, 1024)("64")
    64
    >>> ranged(float, 0, 1)("nan")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: must lie in [0, 1], got nan
    """

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must lie in [{low:g}, {high:g}], got {text}")
        return value

    return parse
