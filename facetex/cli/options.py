"""Command-line flags made from the config dataclasses: one source per value (issue 17).

A subcommand lists its settings flags as :class:`Option`\\ s, each naming a field of its root
config dataclass by a dotted path (``"texture.alpha"``). The field declares its help, and its
range or choices, once (:func:`facetex.checks.setting`); the default is read from the root
config's default instance. From these :func:`add_options` makes the flag: its type and
parse-time check (:mod:`facetex.checks`, the same check ``__post_init__`` runs), its choices
and its help, ending "(default: …)". A flag not given leaves the setting alone, so a
``--config FILE`` (:func:`add_config_flag`) sets the base and the flags given override it
(:func:`resolve`).

>>> import argparse
>>> from dataclasses import dataclass
>>> from facetex.checks import setting
>>> @dataclass(frozen=True)
... class Demo:
...     size: int = setting(64, help="side", range=(16, 1024))
>>> parser = argparse.ArgumentParser(prog="demo")
>>> add_options(parser, Demo(), (Option("size"),))
>>> vars(parser.parse_args(["--size", "128"]))
{'setting:size': 128}
>>> resolve(parser.parse_args(["--size", "32"]), Demo(), (Option("size"),))
Demo(size=32)
>>> resolve(parser.parse_args([]), Demo(), (Option("size"),))
Demo(size=64)
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from facetex.checks import SettingValueError, check_integer, check_number
from facetex.config import ConfigError, config_from_dict, load_config

__all__ = ["Option", "add_config_flag", "add_options", "default_text", "given", "number_parser", "resolve"]


@dataclasses.dataclass(frozen=True)
class Option:
    """One settings flag.

    Attributes
    ----------
    path : the field's dotted path from the root config (``"texture.alpha"``), or, with
        ``apply``, a name for a value that is no single field (``"resolution"``).
    flag : the flag; default ``--`` and the path's last name with ``-`` for ``_``.
    field : ``(dataclass, name)`` of a field whose help, range and type to use when ``path``
        names no field (e.g. ``(Stage, "iterations")`` for ``--iterations``).
    help, range, choices : set only where the field cannot declare them (a value that is no
        field, or a dataclass of a module the CLI does not own); otherwise the field's.
    kind : the value's type when ``path`` names no field and ``field`` is not given.
    get : ``config → value`` for the default shown in the help; default: the field at ``path``.
    apply : ``(config, value) → config``; default: set the field at ``path``. Options with
        ``apply`` run after the plain ones, in their order.
    parse : ``text → value`` instead of the type's parser (e.g. a synthesis schedule).
    show : ``value → text`` of the default in the help.
    metavar : the value's name in the usage.
    """

    path: str
    flag: str | None = None
    field: tuple[type, str] | None = None
    help: str | None = None
    range: tuple[float, float] | None = None
    choices: tuple[Any, ...] | None = None
    kind: type | None = None
    get: Callable[[Any], Any] | None = None
    apply: Callable[[Any, Any], Any] | None = None
    parse: Callable[[str], Any] | None = None
    show: Callable[[Any], str] | None = None
    metavar: str | None = None

    @property
    def option_string(self) -> str:
        return self.flag or "--" + self.path.rsplit(".", 1)[-1].replace("_", "-")

    @property
    def dest(self) -> str:
        return "setting:" + self.path


@dataclasses.dataclass(frozen=True)
class _Spec:
    """What an Option's flag is made from: the field's declarations and type."""

    help: str
    kind: Any  # int, float, str, bool, or tuple[...] / X | None as annotated
    range: tuple[float, float] | None
    choices: tuple[Any, ...] | None
    name: str  # the setting's name in errors


def _field(cls: type, name: str) -> tuple[dataclasses.Field, Any]:
    from facetex.config import _HINT_NAMES

    for f in dataclasses.fields(cls):
        if f.name == name:
            return f, typing.get_type_hints(cls, localns=_HINT_NAMES)[name]
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def _strip_none(hint: Any) -> Any:
    """``X`` for ``X | None``, else ``hint``."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1 else hint


def _spec(root: Any, option: Option) -> _Spec:
    found: tuple[dataclasses.Field, Any] | None = None
    if option.field is not None:
        found = _field(*option.field)
    elif option.apply is None or "." in option.path or any(f.name == option.path for f in dataclasses.fields(root)):
        cls = type(root)
        parts = option.path.split(".")
        for part in parts[:-1]:
            cls = _strip_none(_field(cls, part)[1])
        found = _field(cls, parts[-1])
    meta = found[0].metadata if found else {}
    help_text = option.help or meta.get("help")
    if not help_text:
        raise TypeError(f"setting {option.path!r} declares no help (facetex.checks.setting)")
    kind = option.kind or (_strip_none(found[1]) if found else str)
    return _Spec(
        help=help_text,
        kind=kind,
        range=option.range or meta.get("range"),
        choices=option.choices or meta.get("choices"),
        name=found[0].name if found else option.path,
    )


def number_parser(kind: type, name: str, span: tuple[float | None, float | None] | None) -> Callable[[str], Any]:
    """An argparse ``type``: an int or float in the closed ``span`` (None: unbounded on that
    side), checked as the settings records check theirs (:mod:`facetex.checks`); else a one-line
    usage error naming ``name``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        try:
            if kind is int:
                check_integer(name, value, *(span or (None, None)))
            else:
                check_number(name, value, *(span or (None, None)))
        except SettingValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    return parse


def _items(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _span_text(span: tuple[float, float]) -> str:
    return f"{span[0]:g}–{span[1]:g}"


def default_text(value: Any) -> str:
    """A default as the help prints it: yes/no, none, comma-separated lists, numbers as
    ``%g``.

    >>> default_text(True), default_text(None), default_text(("a", "b")), default_text(2.5e-5)
    ('yes', 'none', 'a,b', '2.5e-05')
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == ():
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ",".join(default_text(v) for v in value)
    return str(value)


def _get(config: Any, path: str) -> Any:
    for part in path.split("."):
        config = getattr(config, part)
    return config


def add_options(parser: argparse.ArgumentParser, defaults: Any, options: Sequence[Option]) -> None:
    """Add the flags of ``options`` to ``parser``; ``defaults`` is the root config whose
    values the help shows (e.g. ``InferConfig()``). A flag not given is absent from the parsed
    namespace (:func:`resolve` leaves its setting alone)."""
    for option in options:
        spec = _spec(defaults, option)
        value = option.get(defaults) if option.get else _get(defaults, option.path)
        shown = option.show(value) if option.show else default_text(value)
        text = spec.help
        metavar = option.metavar or option.option_string.lstrip("-").upper().replace("-", "_")
        kwargs: dict[str, Any] = {"dest": option.dest, "default": argparse.SUPPRESS, "metavar": metavar}
        origin = typing.get_origin(spec.kind)
        if spec.kind is bool:
            kwargs.update(action=argparse.BooleanOptionalAction)
            del kwargs["metavar"]
        elif option.parse is not None:
            kwargs["type"] = option.parse
        elif spec.kind in (int, float):
            kwargs["type"] = number_parser(spec.kind, spec.name, spec.range)
        elif origin is tuple and typing.get_args(spec.kind)[:1] == (int,):
            item = typing.get_args(spec.kind)[0]
            kwargs.update(type=number_parser(item, spec.name, spec.range), nargs="+")
            shown = " ".join(default_text(v) for v in value)
        elif origin is tuple:
            kwargs["type"] = _items  # comma-separated; the dataclass checks the names
            if spec.choices is not None:
                text += f", of {','.join(map(str, spec.choices))}"
        elif spec.choices is not None:
            kwargs.update(choices=spec.choices, metavar=None)
        span = f"{_span_text(spec.range)}, " if spec.range is not None else ""
        text += f" ({span}default: {shown})"
        kwargs["help"] = text.replace("%", "%%")
        parser.add_argument(option.option_string, **kwargs)


def add_config_flag(parser: argparse.ArgumentParser, cls: type, what: str | None = None) -> None:
    """``--config FILE``: settings of ``cls`` (TOML or JSON) that the flags given override."""
    parser.add_argument(
        "--config", type=Path, default=None, metavar="FILE",
        help=f"settings file, TOML or JSON: any subset of the fields of {what or cls.__name__} "
        "(facetex/config.py shows the form); the flags given override it",
    )


def given(args: argparse.Namespace, options: Sequence[Option]) -> list[tuple[Option, Any]]:
    """The options given on the command line, with their values."""
    values = vars(args)
    return [(o, values[o.dest]) for o in options if o.dest in values]


def resolve(args: argparse.Namespace, base: Any, options: Sequence[Option], *, read_file: bool = True) -> Any:
    """The settings of a command line: ``base``, then the ``--config`` file if given (unless
    ``read_file`` is False: ``base`` has it already), then the flags given. A bad value is a
    :class:`ConfigError` naming the setting."""
    config = load_config(getattr(args, "config", None) if read_file else None, base=base)
    flags = given(args, options)
    changes: dict[str, Any] = {}
    for option, value in flags:
        if option.apply is None:
            *parents, name = option.path.split(".")
            table = changes
            for part in parents:
                table = table.setdefault(part, {})
            table[name] = value
    if changes:
        config = config_from_dict(type(config), changes, base=config)
    for option, value in flags:
        if option.apply is not None:
            try:
                config = option.apply(config, value)
            except ValueError as exc:
                raise ConfigError(f"invalid settings: {option.option_string}: {exc}") from exc
    return config
