"""``facetex fit``: one photo → fitted face model, partial albedo in UV, and pictures of the fit."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import get_args

from facetex.cli.options import Option, add_config_flag, add_options, number_parser, resolve
from facetex.cli.progress import add_progress_flags, show_progress
from facetex.config import PrepareConfig
from facetex.types import FaceModel

#: The settings flags of `facetex fit`, made from PrepareConfig's fields (facetex.cli.options).
OPTIONS: tuple[Option, ...] = (Option("unwrap.resolution", flag="--uv-size"),)

#: The face models `facetex fit --model` can fit.
MODELS = get_args(FaceModel)


#: ``--face N``: which face, largest first.
face_index = number_parser(int, "face", (0, None))

def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit",
        help="photo → fitted 3D face, partial albedo in UV, overlay (paper §3)",
        description="Detect the face, fit the face model (the ICT Face Model's face region by default: shape, expression, pose, "
        "focal length, SH lighting, albedo; paper §3) and unwrap the visible skin divided by the "
        "fitted shading into UV. Writes fit.json, face.obj (+ face.mtl, albedo.png), face.glb, overlay.png, "
        "albedo_partial.png, visibility.png, albedo_lowfreq.png and shading.png into DIR, all at "
        "once: a failure leaves no folder. With no PHOTO the built-in demo photo (skimage's "
        "astronaut, public domain) is used.",
    )
    p.add_argument("photo", nargs="?", type=Path, default=None, metavar="PHOTO", help="photo file")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="output folder")
    add_config_flag(p, PrepareConfig, "PrepareConfig (the [detect], [fit] and [unwrap] tables of an infer file)")
    p.add_argument("--face", type=face_index, default=0, help="which face when there are several (0 = largest)")
    p.add_argument("--model", choices=MODELS, default="ict",
                   help="the face model to fit: the ICT Face Model's face region (default; ears, neck; 100 "
                   "identity modes, 53 named blendshapes; needs ict-facekit/ in the data folder; "
                   "docs/ict-model.md; its albedo is a flat placeholder, the database learns the real one), or "
                   "mediapipe's face mesh with the generic model (the former default)")
    add_options(p, PrepareConfig(), OPTIONS)
    p.add_argument("--overwrite", action="store_true",
                   help="replace DIR if it holds an earlier facetex result; a folder facetex did not write "
                   "is never replaced")
    add_progress_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from facetex.fitting import load_face_model, write_fit_files
    from facetex.io.atomic import atomic_dir
    from facetex.io.images import demo_photo, load_photo
    from facetex.stages import StageClock, prepare_face

    config: PrepareConfig = resolve(args, PrepareConfig(), OPTIONS)
    stages = ("load", "detect", "fit", "unwrap", "write")
    with (
        atomic_dir(args.output, overwrite=args.overwrite) as tmp,
        tqdm(total=len(stages), desc="fit", unit="stage", file=sys.stderr, disable=not show_progress(args)) as bar,
    ):

        def advance(name: str, seconds: float) -> None:
            bar.set_postfix_str(f"{name} {seconds:.2f}s")
            bar.update(1)

        clock = StageClock(on_stage=advance)
        with clock.stage("load"):
            photo = demo_photo() if args.photo is None else load_photo(args.photo)
            model = load_face_model(args.model)
        prepared = prepare_face(
            photo, model, config.fit, config.unwrap, detect_config=config.detect, face_index=args.face, clock=clock
        )
        with clock.stage("write"):
            settings = {"model": args.model, "fit": dataclasses.asdict(config.fit),
                        "unwrap": dataclasses.asdict(config.unwrap)}
            write_fit_files(
                tmp, prepared.photo, prepared.detection, prepared.fit, model, prepared.partial, prepared.visibility,
                timings=clock.timings, settings=settings,
            )

    detection, partial, timings = prepared.detection, prepared.partial, clock.timings
    d = prepared.fit.diagnostics
    print(
        f"{args.output}: face {detection.face_index + 1} of {detection.num_faces}, "
        f"landmark RMSE {d.landmark_rmse_px:.2f} px ({100 * d.landmark_rmse_iod:.1f}% of the "
        f"inter-ocular distance), photometric RMS {d.photometric_rms:.3f}, "
        f"{int(partial.mask.sum())} of {int(partial.chart.sum())} texels observed; "
        + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items())
    )
    return 0
