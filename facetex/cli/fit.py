"""``facetex fit``: one photo → fitted face model, partial albedo in UV, and pictures of the fit."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from facetex.cli.progress import add_progress_flags, show_progress


def _uv_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 16 <= value <= 2048:
        raise argparse.ArgumentTypeError(f"must lie in [16, 2048], got {value}")
    return value


def _face_index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0, got {value}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit",
        help="photo → fitted 3D face, partial albedo in UV, overlay (paper §3)",
        description="Detect the face, fit the generic morphable model (shape, expression, pose, "
        "focal length, SH lighting, albedo; paper §3) and unwrap the visible skin divided by the "
        "fitted shading into UV. Writes fit.json, face.obj (+ face.mtl, albedo.png), face.glb, overlay.png, "
        "albedo_partial.png, visibility.png, albedo_lowfreq.png and shading.png into DIR, all at "
        "once: a failure leaves no folder. With no PHOTO the built-in demo photo (skimage's "
        "astronaut, public domain) is used.",
    )
    p.add_argument("photo", nargs="?", type=Path, default=None, metavar="PHOTO", help="photo file")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--face", type=_face_index, default=0, help="which face when there are several (0 = largest)")
    p.add_argument("--uv-size", type=_uv_size, default=512, help="side of the UV maps, 16–2048 (default 512)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace DIR if it holds an earlier facetex result; a folder facetex did not write "
                   "is never replaced")
    add_progress_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from facetex.detect import detect_face
    from facetex.fitting import (
        FitConfig,
        UnwrapConfig,
        fit_face,
        generic_model,
        photo_visibility,
        unwrap_albedo,
        write_fit_files,
    )
    from facetex.geometry.topology import load_face_mesh
    from facetex.io.atomic import atomic_dir
    from facetex.io.images import demo_photo, load_photo

    fit_config = FitConfig()
    unwrap_config = UnwrapConfig(resolution=args.uv_size)
    timings: dict[str, float] = {}
    stages = ("load", "detect", "fit", "unwrap", "write")
    with (
        atomic_dir(args.output, overwrite=args.overwrite) as tmp,
        tqdm(total=len(stages), desc="fit", unit="stage", file=sys.stderr, disable=not show_progress(args)) as bar,
    ):

        def stage(name: str, started: float) -> None:
            timings[name] = time.perf_counter() - started
            bar.set_postfix_str(f"{name} {timings[name]:.2f}s")
            bar.update(1)

        t = time.perf_counter()
        photo = demo_photo() if args.photo is None else load_photo(args.photo)
        model = generic_model(load_face_mesh())
        stage("load", t)
        t = time.perf_counter()
        detection = detect_face(photo, face_index=args.face)
        stage("detect", t)
        t = time.perf_counter()
        fit = fit_face(photo, detection, model, fit_config)
        stage("fit", t)
        t = time.perf_counter()
        visibility = photo_visibility(
            photo, detection, model.topology, unwrap_config.visibility, max_side=unwrap_config.zbuffer_max_size
        )
        partial = unwrap_albedo(photo, detection, fit, model, unwrap_config, visibility=visibility)
        stage("unwrap", t)
        t = time.perf_counter()
        settings = {"fit": dataclasses.asdict(fit_config), "unwrap": dataclasses.asdict(unwrap_config)}
        write_fit_files(tmp, photo, detection, fit, model, partial, visibility, timings=timings, settings=settings)
        stage("write", t)

    d = fit.diagnostics
    print(
        f"{args.output}: face {detection.face_index + 1} of {detection.num_faces}, "
        f"landmark RMSE {d['landmark_rmse_px']:.2f} px ({100 * d['landmark_rmse_iod']:.1f}% of the "
        f"inter-ocular distance), photometric RMS {d['photometric_rms']:.3f}, "
        f"{int(partial.mask.sum())} of {int(partial.chart.sum())} texels observed; "
        + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items())
    )
    return 0
