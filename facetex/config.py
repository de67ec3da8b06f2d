"""The composed settings of ``facetex infer``: one dataclass per stage, loaded from TOML + flags.

Every stage keeps its own config dataclass next to its code (``DetectConfig``, ``FitConfig``,
``UnwrapConfig``, ``TextureConfig``, ``DetailMapConfig``, ``ExportConfig``, ``RenderConfig``);
:class:`InferConfig` composes them and is passed explicitly down the pipeline. The resolved
config is written beside every result (``config.json``), and a TOML or JSON file of the same
shape (any subset of the fields; ``config.json`` itself) can be given with ``--config``::

    [texture]
    alpha = 100.0
    schedule = [[512, 60, true]]     # [size, iterations, bf16] per synthesis stage

    [fit]
    steps = [30, 10, 3]
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facetex.checks import SettingValueError, setting
from facetex.detect import DetectConfig
from facetex.errors import FacetexError
from facetex.fitting.config import FitConfig, UnwrapConfig
from facetex.render.export_config import ExportConfig
from facetex.render.maps import DetailMapConfig
from facetex.render.mitsuba_render import RenderConfig
from facetex.texture.config import Stage, TextureConfig

__all__ = [
    "ConfigError",
    "InferConfig",
    "PrepareConfig",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "read_settings",
]


class ConfigError(FacetexError, ValueError):
    """A settings file or flag is malformed."""


@dataclass(frozen=True)
class InferConfig:
    """Every setting of one ``facetex infer`` run (paper defaults where the paper gives one).

    Attributes
    ----------
    detect, fit, unwrap, texture, maps, export, render : the stages' settings. The UV resolution
        is one value, the texture's output size (:attr:`resolution`): ``unwrap.resolution``
        must equal it (:meth:`with_resolution` moves both; a settings file that sets one moves
        the other).
    render_views : render the result with Mitsuba (``--render``); off by default as it needs
        Mitsuba and takes tens of seconds.
    report : write ``report.html`` with the 3D viewer.
    """

    detect: DetectConfig = field(default_factory=DetectConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    unwrap: UnwrapConfig = field(default_factory=UnwrapConfig)
    texture: TextureConfig = field(default_factory=TextureConfig)
    maps: DetailMapConfig = field(default_factory=DetailMapConfig)
    # No subdivision: the ICT face tile (9,547 vertices, 18,460 triangles) is already finer than
    # the texture shows; one Loop level would quadruple face.obj/face.glb (7 MB OBJ) and round off
    # the ears. mediapipe's 468-vertex mask needs one: with a face_model = "mediapipe" database,
    # set `[export] subdivisions = 1` in a --config file.
    export: ExportConfig = field(default_factory=ExportConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    render_views: bool = setting(False, help="also render front/three-quarter/profile views with Mitsuba")
    report: bool = setting(True, help="write report.html with the 3D viewer")

    def __post_init__(self) -> None:
        # The UV resolution is one value, the texture's output size: the unwrap follows it.
        if self.unwrap.resolution != self.texture.size:
            raise SettingValueError(
                "unwrap.resolution",
                f"must equal the texture's output size (texture.schedule's last stage), "
                f"{self.unwrap.resolution} ≠ {self.texture.size}: set both with with_resolution()",
            )

    def _settle(self, changes: dict[str, Any]) -> dict[str, Any]:
        """``changes`` (of :func:`config_from_dict`) with the UV resolution derived: a new
        texture size moves the unwrap, a new unwrap resolution alone moves the texture
        (:meth:`TextureConfig.with_size`); both, disagreeing, is an error."""
        texture, unwrap = changes.get("texture", self.texture), changes.get("unwrap", self.unwrap)
        if texture.size == unwrap.resolution:
            return changes
        if unwrap.resolution == self.unwrap.resolution:
            return {**changes, "unwrap": dataclasses.replace(unwrap, resolution=texture.size)}
        if texture.size != self.texture.size:
            raise ConfigError(
                f"unwrap.resolution {unwrap.resolution} and the texture's output size {texture.size} "
                "(texture.schedule's last stage) disagree; give one of them"
            )
        try:
            return {**changes, "texture": texture.with_size(unwrap.resolution)}
        except SettingValueError as exc:
            raise ConfigError(f"unwrap.resolution: the texture cannot follow it: {exc}") from exc

    @property
    def resolution(self) -> int:
        """Side R of the output albedo: the last synthesis stage's size."""
        return self.texture.schedule[-1].size

    @classmethod
    def paper(cls, resolution: int = 640, *, device: str = "cpu") -> InferConfig:
        """The paper's recipe: exact masked Grams of the whole database at full resolution and
        1000 L-BFGS iterations at full resolution in fp32 (§4–5), everything else at its
        default. ``InferConfig()`` is the fast default (``facetex.texture.config`` documents
        what it changes and the measurements behind it)."""
        return cls(
            unwrap=UnwrapConfig(resolution=resolution, deblur=False),
            texture=TextureConfig.paper(resolution, device=device),
        )

    def with_resolution(self, resolution: int) -> InferConfig:
        """The same settings with the UV maps and the last synthesis stage at ``resolution``²
        (its iterations and precision kept) and earlier, coarser stages scaled with it
        (:meth:`TextureConfig.with_size`)."""
        texture = self.texture.with_size(resolution)
        return dataclasses.replace(
            self, unwrap=dataclasses.replace(self.unwrap, resolution=resolution), texture=texture
        )


@dataclass(frozen=True)
class PrepareConfig:
    """Settings of the detect → fit (§3) → unwrap stages alone (``facetex fit``,
    :func:`facetex.stages.prepare_face`): the ``detect``, ``fit`` and ``unwrap`` tables of
    an :class:`InferConfig` file."""

    detect: DetectConfig = field(default_factory=DetectConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    unwrap: UnwrapConfig = field(default_factory=UnwrapConfig)


#: Names the settings' string annotations may use (some modules import them only for typing).
_HINT_NAMES = {
    c.__name__: c
    for c in (DetectConfig, FitConfig, UnwrapConfig, TextureConfig, Stage, InferConfig, PrepareConfig)
}


def config_to_dict(config: Any) -> Any:
    """A nested dataclass as plain JSON/TOML-ready values (tuples become lists)."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (tuple, list)):
        return [config_to_dict(v) for v in config]
    return config


def config_from_dict(cls: type, data: dict[str, Any], *, base: Any = None, where: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, starting from ``base`` (default: ``cls()``).

    Unknown keys and values of the wrong type raise :class:`ConfigError` naming the key.
    Nested dataclasses, tuples of dataclasses (e.g. the synthesis schedule) and optional fields
    are converted from their plain forms.
    """
    base = cls() if base is None else base
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls, localns=_HINT_NAMES)
    known = {f.name for f in dataclasses.fields(cls)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{where}.{key}" if where else key
        if key not in known:
            raise ConfigError(f"unknown setting {name!r}; known: {', '.join(sorted(known))}")
        changes[key] = _convert(hints[key], value, getattr(base, key), name)
    try:
        if hasattr(base, "_settle"):  # values derived from others (InferConfig's UV resolution)
            changes = base._settle(changes)
        return dataclasses.replace(base, **changes)
    except ConfigError:
        raise
    except SettingValueError as exc:  # names its field: report it with the full path
        field_name = f"{where}.{exc.field}" if where else exc.field
        raise ConfigError(f"{field_name} {exc.reason}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def _convert(hint: Any, value: Any, current: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return config_from_dict(hint, value, base=current, where=name)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{name}: expected one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, current, name) if len(inner) == 1 else value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name}: expected a list, got {value!r}")
        homogeneous = len(args) == 2 and args[1] is Ellipsis
        if args and not homogeneous and len(args) != len(value):
            raise ConfigError(f"{name}: expected a list of {len(args)} values, got {value!r}")
        items = [args[0] if homogeneous or not args else args[i] for i in range(len(value))] if args else []
        item = args[0] if args else Any
        if dataclasses.is_dataclass(item):
            try:
                return tuple(
                    item(**v) if isinstance(v, dict) else item(*v) if isinstance(v, (list, tuple)) else v
                    for v in value
                )
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{name}: {exc}") from exc
        if not args:
            return tuple(value)
        return tuple(_convert(h, v, None, f"{name}[{i}]") for i, (h, v) in enumerate(zip(items, value)))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):  # TOML true is not the number 1
        raise ConfigError(f"{name}: expected {hint.__name__}, got {value!r}")
    if hint in (int, float, str, bool) and not isinstance(value, hint):
        raise ConfigError(f"{name}: expected {hint.__name__}, got {value!r}")
    return value


def read_settings(path: str | Path) -> dict[str, Any]:
    """The table of a settings file: JSON for a ``.json`` file, else TOML; a file that cannot be
    read or parsed is a :class:`ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"settings file {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
            "settings files must be UTF-8"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"settings file {path}: expected a table of settings, got {type(data).__name__}")
    return data


def load_config(path: str | Path | None, *, base: Any = None, cls: type | None = None) -> Any:
    """Read a settings file onto ``base`` (default: ``cls()``, ``cls`` default
    :class:`InferConfig`); None → ``base``. A ``.json`` file is JSON (e.g. the ``config.json``
    written beside a result), anything else TOML; either holds any subset of the fields of
    ``cls``, nested dataclasses as tables. Unknown keys and bad values raise
    :class:`ConfigError` naming the setting."""
    cls = cls or (type(base) if base is not None else InferConfig)
    base = base if base is not None else cls()
    if path is None:
        return base
    data = read_settings(path)
    return config_from_dict(cls, data, base=base)
