"""Issue 17: every subcommand takes --config FILE (TOML or JSON of its config dataclass); the
flags given override the file; an unknown key is one `facetex: error:` line, status 2."""

from __future__ import annotations

import json

import pytest

from facetex.cli import build_parser, main
from facetex.config import InferConfig, PrepareConfig, config_to_dict
from facetex.database.config import DatabaseConfig
from facetex.fitting.config import UnwrapConfig
from facetex.texture.config import Stage, TextureConfig

#: command → (arguments that get it to its settings, a file key it does not know)
COMMANDS = {
    "infer": ([], "[texture]\nalpah = 5\n", "texture.alpah"),
    "fit": ([], "[texture]\nalpha = 5\n", "'texture'"),
    "synthesize": (["--init", "i.png", "--partial", "p.png", "--mask", "m.png", "--exemplars", "e"],
                   "alpah = 5\n", "'alpah'"),
    "build-db": ([], "[fill]\nmirror = 1\n", "fill.mirror"),
    "evaluate": ([], "[degrade]\nblurr = 0.1\n", "degrade.blurr"),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_unknown_keys_in_a_settings_file_are_one_line(command, tmp_path, capsys):
    args, text, key = COMMANDS[command]
    path = tmp_path / "settings.toml"
    path.write_text(text)
    out = tmp_path / "out"
    assert main([command, *args, "--config", str(path), "-o", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facetex: error: unknown setting") and key in lines[0], lines
    assert not out.exists()


def _resolve(command: str, argv: list[str]):
    import importlib

    from facetex.cli.options import resolve

    module = importlib.import_module(f"facetex.cli.{command.replace('-', '_')}")
    required = {"infer": [], "synthesize": COMMANDS["synthesize"][0]}.get(command, [])
    args = build_parser().parse_args([command, *argv, *required, *([] if command == "infer" else ["-o", "x"])])
    if command == "infer":
        return module.resolve_config(args)
    if command == "synthesize":
        return module._resolve_config(args)
    if command == "evaluate":
        return resolve(args, module._settings_file(args.config), module.OPTIONS, read_file=False)
    return resolve(args, {"fit": PrepareConfig(), "build-db": DatabaseConfig()}[command], module.OPTIONS)


def test_flags_override_the_file(tmp_path):
    path = tmp_path / "infer.toml"
    path.write_text("[texture]\nalpha = 7\nsolver = 'linear'\n[fit]\nsteps = [5, 2, 1]\n")
    config = _resolve("infer", ["--config", str(path)])
    assert (config.texture.alpha, config.texture.solver, config.fit.steps) == (7.0, "linear", (5, 2, 1))
    config = _resolve("infer", ["--config", str(path), "--alpha", "5"])
    assert (config.texture.alpha, config.texture.solver) == (5.0, "linear")

    fit = tmp_path / "fit.toml"
    fit.write_text("[unwrap]\nresolution = 64\n[fit]\nsteps = [3, 1]\n")
    assert _resolve("fit", ["--config", str(fit)]).unwrap.resolution == 64
    config = _resolve("fit", ["--config", str(fit), "--uv-size", "128"])
    assert (config.unwrap.resolution, config.fit.steps) == (128, (3, 1))

    db = tmp_path / "db.toml"
    db.write_text("resolution = 256\ngram_resolutions = [128, 256]\njobs = 3\n[pca]\nalbedo_components = 5\n")
    config = _resolve("build-db", ["--config", str(db), "--jobs", "1"])
    assert (config.resolution, config.gram_resolutions, config.jobs, config.pca.albedo_components) == (
        256, (128, 256), 1, 5)
    assert _resolve("build-db", ["--resolution", "256"]).gram_resolutions == (256,)

    synth = tmp_path / "texture.toml"
    synth.write_text("alpha = 3\nschedule = [[64, 5]]\n")
    config = _resolve("synthesize", ["--config", str(synth), "--iterations", "2"])
    assert (config.alpha, config.schedule) == (3.0, (Stage(64, 2),))


def test_evaluate_reads_a_protocol_file_or_an_infer_file(tmp_path):
    protocol = tmp_path / "protocol.toml"
    protocol.write_text("size = 128\nvariants = ['pca']\n[degrade]\nhide = 'turn'\n[infer.texture]\nalpha = 9\n")
    config = _resolve("evaluate", ["--config", str(protocol), "--subjects", "3"])
    assert (config.size, config.variants, config.degrade.hide, config.infer.texture.alpha, config.subjects) == (
        128, ("pca",), "turn", 9.0, 3)
    legacy = tmp_path / "infer.toml"  # the form `evaluate --config` read before: the pipeline's tables
    legacy.write_text("[texture]\nalpha = 9\n")
    assert _resolve("evaluate", ["--config", str(legacy)]).infer.texture.alpha == 9.0


def test_a_results_config_json_is_a_settings_file(tmp_path):
    """config.json, written beside every result, gives back the same settings."""
    config = InferConfig().with_resolution(64)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config_to_dict(config)))
    assert _resolve("infer", ["--config", str(path)]) == config
    path.write_text("[1, 2]")
    with pytest.raises(Exception, match="expected a table"):
        _resolve("infer", ["--config", str(path)])


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], InferConfig()),
        (["--size", "64", "--iterations", "3"],
         InferConfig(texture=TextureConfig(schedule=(Stage(32, 100, True), Stage(64, 3, True))),
                     unwrap=UnwrapConfig(resolution=64))),
        (["--preset", "paper", "--size", "256"], InferConfig.paper(256)),
        (["--schedule", "128x50bf16,256x20"],
         InferConfig(texture=TextureConfig(schedule=(Stage(128, 50, True), Stage(256, 20))),
                     unwrap=UnwrapConfig(resolution=256))),
        (["--render", "--no-report", "--alpha", "30", "--no-keep-observed"],
         InferConfig(texture=TextureConfig(alpha=30.0, keep_observed=False), render_views=True, report=False)),
        (["--no-deblur"], InferConfig(unwrap=UnwrapConfig(deblur=False))),
    ],
)
def test_infer_flags_give_the_settings_they_gave_before(argv, expected):
    """The flags resolve to the same InferConfig as before issue 17, so `facetex infer` runs the
    same pipeline on the same settings (the UV maps follow the texture size)."""
    assert _resolve("infer", argv) == expected
