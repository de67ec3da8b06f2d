"""Issue 17: `facetex COMMAND --help` prints the defaults of the config classes, which the
flags are made from (facetex.cli.options), so the help cannot drift from the code."""

from __future__ import annotations

import dataclasses
import importlib
import re

import pytest

from facetex.cli import main
from facetex.cli.options import default_text
from facetex.config import InferConfig, PrepareConfig
from facetex.database.config import DatabaseConfig
from facetex.evaluation import ProtocolConfig
from facetex.fitting.config import UnwrapConfig
from facetex.texture.config import Stage, TextureConfig, format_schedule

#: command → (module of facetex.cli, root config class)
COMMANDS = {
    "infer": ("infer", InferConfig),
    "fit": ("fit", PrepareConfig),
    "synthesize": ("synthesize", TextureConfig),
    "build-db": ("build_db", DatabaseConfig),
    "evaluate": ("evaluate", ProtocolConfig),
}


def _help(command: str, capsys, monkeypatch) -> dict[str, str]:
    """flag → its help text (whitespace collapsed), as `facetex COMMAND --help` prints it."""
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out.split("options:", 1)[1]
    helps: dict[str, str] = {}
    for block in re.split(r"\n(?=  -)", text.strip("\n")):
        first, *rest = block.split("\n")
        invocation, *body = re.split(r"\s{2,}", first.strip(), maxsplit=1)
        for flag in re.findall(r"--[\w-]+", invocation):
            helps[flag] = " ".join(" ".join(body + rest).split())
    return helps


def _printed_default(body: str) -> str:
    match = re.search(r"default: (.*)\)$", body)
    assert match, body
    return match.group(1)


def _declared_default(cls: type, path: str):
    """The default of the field at ``path``, read from the dataclass declarations: the root's
    default instance for nested tables, the leaf field's own default where it has one."""
    *parents, name = path.split(".")
    owner = cls()
    for part in parents:
        owner = getattr(owner, part)
    field = next(f for f in dataclasses.fields(owner) if f.name == name)
    value = getattr(owner, name)
    if field.default is not dataclasses.MISSING:
        assert value == field.default, f"{path}: a containing default overrides the field's"
    elif field.default_factory is not dataclasses.MISSING:
        assert value == field.default_factory()
    return value, field.metadata.get("help")


def _shown(option, value) -> str:
    if option.show is not None:
        return option.show(value)
    if isinstance(value, tuple) and value and all(type(v) is int for v in value):
        return " ".join(map(str, value))  # a list of numbers is given as separate words
    return default_text(value)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_prints_the_config_classes_defaults_and_help(command, capsys, monkeypatch):
    module_name, cls = COMMANDS[command]
    module = importlib.import_module(f"facetex.cli.{module_name}")
    helps = _help(command, capsys, monkeypatch)
    assert "--config" in helps
    for option in module.OPTIONS:
        body = helps[option.option_string]
        if option.apply is not None and option.field is None and "." not in option.path:
            continue  # a derived value (e.g. --size): checked one by one below
        if option.field is not None:
            continue
        value, declared_help = _declared_default(cls, option.path)
        assert _printed_default(body) == _shown(option, value), (option.option_string, body)
        assert body.startswith(" ".join((option.help or declared_help).split())), (option.option_string, body)


def test_derived_defaults_are_the_one_value_they_come_from(capsys, monkeypatch):
    """--size is the texture's output size, which the UV maps follow; --iterations the last
    synthesis stage's."""
    texture, unwrap = TextureConfig(), UnwrapConfig()
    assert texture.size == unwrap.resolution == InferConfig().resolution
    infer = _help("infer", capsys, monkeypatch)
    assert _printed_default(infer["--size"]) == str(texture.size)
    assert _printed_default(infer["--iterations"]) == str(texture.schedule[-1].iterations)
    assert _printed_default(infer["--schedule"]) == format_schedule(texture.schedule)
    assert _printed_default(infer["--no-report"]) == "yes" and _printed_default(infer["--render"]) == "no"
    synthesize = _help("synthesize", capsys, monkeypatch)
    assert _printed_default(synthesize["--size"]) == str(texture.size)
    assert _printed_default(synthesize["--iterations"]) == str(texture.schedule[-1].iterations)
    fit = _help("fit", capsys, monkeypatch)
    assert _printed_default(fit["--uv-size"]) == str(unwrap.resolution)
    db = _help("build-db", capsys, monkeypatch)
    assert _printed_default(db["--resolution"]) == str(DatabaseConfig().resolution)
    assert _printed_default(db["--gram-resolutions"]) == " ".join(map(str, DatabaseConfig().gram_resolutions))


def test_help_prints_the_declared_ranges(capsys, monkeypatch):
    ranges = {f.name: f.metadata.get("range") for f in dataclasses.fields(Stage)}
    infer = _help("infer", capsys, monkeypatch)
    low, high = ranges["iterations"]
    assert f"({low}–{high}, default:" in infer["--iterations"]
    assert "(0–2, default: 1)" in infer["--detail"]
    assert "(16–2048, default: 640)" in _help("fit", capsys, monkeypatch)["--uv-size"]
