"""``facetex synthesize``: texture analysis (§4) and synthesis (§5) on given UV textures."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from facetex.cli.options import Option, add_config_flag, add_options, resolve
from facetex.cli.progress import add_progress_flags, show_progress
from facetex.errors import InputImageError
from facetex.io.atomic import check_output_file, write_image, write_json
from facetex.io.images import load_image, load_mask
from facetex.texture.config import Stage, TextureConfig
from facetex.texture.inference import infer_texture
from facetex.texture.vgg import load_vgg19

log = logging.getLogger(__name__)

#: Files of an exemplar folder that are read as textures.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def _last_iterations(config: TextureConfig, iterations: int) -> TextureConfig:
    stages = config.schedule
    return config.replace(schedule=stages[:-1] + (dataclasses.replace(stages[-1], iterations=iterations),))


#: The settings flags of `facetex synthesize`, made from TextureConfig's fields (facetex.cli.options).
OPTIONS: tuple[Option, ...] = (
    Option("solver"),
    Option("size", field=(Stage, "size"), get=lambda c: c.size, apply=lambda c, size: c.with_size(size),
           help="texture resolution R (earlier synthesis stages scale with it)"),
    Option("iterations", field=(Stage, "iterations"), get=lambda c: c.schedule[-1].iterations,
           apply=_last_iterations, help="L-BFGS iterations of the last (full-size) stage (1000 with --preset paper)"),
    Option("alpha"),
    Option("device"),
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synthesize",
        help="infer a complete texture from a partial one and exemplar textures (paper §4–5)",
        description="Fit blend weights of the exemplars' Gram matrices to the partial texture "
        "under its mask (§4), then synthesise the texture from the low-frequency one by L-BFGS "
        "(§5). All textures are square UV maps, resized to --size. Writes OUT.png and OUT.json "
        "(weights per exemplar file, losses, timings, resolved settings). Settings: the preset, "
        "then --config, then the flags given.",
    )
    p.add_argument("--init", required=True, type=Path, help="low-frequency albedo texture (the start)")
    p.add_argument("--partial", required=True, type=Path, help="partial high-frequency albedo texture")
    p.add_argument("--mask", required=True, type=Path, help="visibility mask of the partial texture (white = seen)")
    p.add_argument("--exemplars", required=True, type=Path, help="folder of complete exemplar textures")
    p.add_argument("-o", "--output", required=True, type=Path, help="output PNG (a .json is written beside it)")
    add_config_flag(p, TextureConfig, "TextureConfig (the [texture] table of an infer file, at the top level)")
    p.add_argument("--preset", choices=("paper",), default=None, help="the paper's recipe: 1000 iterations, exact")
    add_options(p, TextureConfig(), OPTIONS)
    add_progress_flags(p)
    p.set_defaults(handler=run)


def _resolve_config(args: argparse.Namespace) -> TextureConfig:
    """The settings of a command line: the preset, then --config, then the flags given."""
    return resolve(args, TextureConfig.paper() if args.preset == "paper" else TextureConfig(), OPTIONS)


def _exemplar_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise InputImageError(f"exemplar folder {folder} does not exist or is not a folder")
    files = sorted(
        f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise InputImageError(f"exemplar folder {folder} holds no textures ({', '.join(IMAGE_SUFFIXES)})")
    return files


def run(args: argparse.Namespace) -> int:
    config = _resolve_config(args)
    check_output_file(args.output)
    check_output_file(args.output.with_suffix(".json"))
    files = _exemplar_files(args.exemplars)
    init = load_image(args.init)
    partial = load_image(args.partial)
    mask = load_mask(args.mask)
    exemplars = [load_image(f) for f in files]
    vgg = load_vgg19(config.device, channels_last=config.channels_last)
    result = infer_texture(init, partial, mask, exemplars, config, vgg, progress=show_progress(args))

    output = args.output
    report = {
        "output": str(output),
        "inputs": {"init": str(args.init), "partial": str(args.partial), "mask": str(args.mask)},
        "solver": result.blend.solver,
        "weights": {f.name: float(w) for f, w in zip(files, result.blend.weights)},
        "blend_objective": result.blend.objective,
        "losses": result.synthesis.losses,
        "timings_s": result.timings,
        "config": config.to_dict(),
    }
    write_image(output, result.synthesis.rgb)
    write_json(output.with_suffix(".json"), report)
    top = sorted(report["weights"].items(), key=lambda item: -abs(item[1]))[:5]
    losses = result.synthesis.losses
    print(f"wrote {output} ({config.size}×{config.size}) and {output.with_suffix('.json')}")
    print("weights: " + ", ".join(f"{name} {w:.3f}" for name, w in top) + (" ..." if len(files) > 5 else ""))
    print(f"loss {losses[0]:.4g} → {losses[-1]:.4g}; " + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items()))
    return 0
