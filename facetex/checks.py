"""Range checks of settings, shared by every config dataclass's ``__post_init__``.

A setting is checked where it is defined, so the library and the CLI (flags and ``--config``
files) reject the same values, up front, before any slow work. Each check raises
:class:`SettingValueError` (a ``ValueError``) whose ``field`` names the setting, so
:func:`facetex.config.config_from_dict` can report it with its full path (``fit.steps``).

A field the ``facetex`` command exposes is declared with :func:`setting`: its help, and its
range or choices, are written once, in the dataclass; :func:`check_declared` checks them in
``__post_init__`` and :mod:`facetex.cli.options` makes the flag, its help and its parse-time
check from them.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable
from typing import Any

__all__ = [
    "SettingValueError",
    "check_choice",
    "check_declared",
    "check_integer",
    "check_integers",
    "check_number",
    "setting",
    "setting_kind",
]


class SettingValueError(ValueError):
    """A setting holds a value of the wrong type or out of its range.

    Attributes
    ----------
    field : the setting's name in its dataclass (e.g. ``"steps"``).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.reason = message


def _span(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if high is None:
        return f"{'>' if low_open else '≥'} {low:g}"
    if low is None:
        return f"{'<' if high_open else '≤'} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_number(
    field: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """A finite real number (not a bool) in the range; raises :class:`SettingValueError`."""
    span = _span(low, high, low_open, high_open) if (low is not None or high is not None) else ""
    what = f"a finite number {span}".rstrip()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise SettingValueError(field, f"must be {what}, got {value!r}")
    v = float(value)
    if low is not None and (v < low or (low_open and v == low)):
        raise SettingValueError(field, f"must be {what}, got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise SettingValueError(field, f"must be {what}, got {value!r}")


def check_integer(field: str, value: Any, low: int | None = None, high: int | None = None) -> None:
    """An integer (not a bool, not a float such as 1e9) in [low, high]."""
    span = _span(low, high, False, False) if (low is not None or high is not None) else ""
    what = f"an integer {span}".rstrip()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SettingValueError(field, f"must be {what}, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise SettingValueError(field, f"must be {what}, got {value!r}")


def check_integers(
    field: str, values: Any, low: int, high: int, *, min_count: int = 1, max_count: int | None = None
) -> None:
    """A list of min_count … max_count integers, each in [low, high]."""
    count = f"{min_count}–{max_count}" if max_count is not None else f"at least {min_count}"
    what = f"a list of {count} integers in [{low}, {high}]"
    if not isinstance(values, (tuple, list)):
        raise SettingValueError(field, f"must be {what}, got {values!r}")
    ok = min_count <= len(values) and (max_count is None or len(values) <= max_count)
    for v in values:
        ok = ok and not isinstance(v, bool) and isinstance(v, numbers.Integral) and low <= v <= high
    if not ok:
        raise SettingValueError(field, f"must be {what}, got {list(values)!r}")


def check_choice(field: str, value: Any, choices: Iterable[Any]) -> None:
    """One of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise SettingValueError(field, f"must be one of {', '.join(map(str, choices))}, got {value!r}")


def setting(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    range: tuple[float, float] | None = None,
    choices: Iterable[Any] | None = None,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field whose help, and range or choices, are declared once (issue 17).

    ``range`` is closed, [low, high]; an ``int`` field is checked as an integer, a ``float``
    field as a finite number (:func:`check_declared`). ``choices`` of a tuple field apply to
    each item.

    >>> from dataclasses import dataclass, fields
    >>> @dataclass(frozen=True)
    ... class Example:
    ...     size: int = setting(64, help="side of the image", range=(16, 1024))
    ...     def __post_init__(self) -> None:
    ...         check_declared(self)
    >>> fields(Example)[0].metadata["help"], Example().size
    ('side of the image', 64)
    >>> try:
    ...     Example(8)
    ... except SettingValueError as exc:
    ...     print(exc)
    size must be an integer in [16, 1024], got 8
    """
    metadata: dict[str, Any] = {"help": help}
    if range is not None:
        metadata["range"] = tuple(range)
    if choices is not None:
        metadata["choices"] = tuple(choices)
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


_KINDS = {"int": int, "float": float, "str": str, "bool": bool}


def setting_kind(f: dataclasses.Field) -> type | None:
    """``int``, ``float``, ``str`` or ``bool`` for a field annotated so (``| None`` allowed),
    else None. Works on string annotations (``from __future__ import annotations``)."""
    hint = f.type
    if isinstance(hint, str):
        parts = [p.strip() for p in hint.split("|") if p.strip() != "None"]
        kind = _KINDS.get(parts[0]) if len(parts) == 1 else None
    else:
        kind = hint if hint in _KINDS.values() else None
    choices = f.metadata.get("choices")
    if kind is None and choices and all(isinstance(c, str) for c in choices):  # a Literal of strings
        return str
    return kind


def check_declared(config: Any, *, prefix: str = "") -> None:
    """Check every field of dataclass ``config`` declared with a range or choices
    (:func:`setting`); None passes for an optional field. ``prefix`` is put before the
    field's name in errors (``"stage "`` → "stage size must be …")."""
    for f in dataclasses.fields(config):
        span, choices = f.metadata.get("range"), f.metadata.get("choices")
        if span is None and choices is None:
            continue
        value = getattr(config, f.name)
        if value is None and isinstance(f.type, str) and "None" in f.type:
            continue
        name = prefix + f.name
        if choices is not None:
            for item in value if isinstance(value, tuple) else (value,):
                check_choice(name, item, choices)
        if span is not None:
            if setting_kind(f) is int:
                check_integer(name, value, *span)
            else:
                check_number(name, value, *span)
