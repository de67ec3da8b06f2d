"""Complete heads rendered with subsurface scattering, and the rig in motion (issue 19).

For each photo: `facetex.infer` at the default settings, the textured head that `facetex infer`
exports (:func:`facetex.outputs.result_mesh`: face tile, scalp and neck, eyes, teeth, the 53
morph targets), rendered by facetex's renderer front, three-quarter and profile under the
project's studio environment map with the skin's subsurface scattering
(:func:`facetex.render.mitsuba_render.render_views`). Then the first photo's head is driven
through its rig, neutral → smile → jaw open (:func:`facetex.render.textured_mesh.with_expression`),
frame by frame.

Writes (made from photos, so never in git):

* ``benchmarks/results/heads.png``: rows = photos; columns = photo, front, 3/4, profile;
* ``benchmarks/results/heads_rig.gif`` and ``heads_rig_NN.png``: the animated strip;
* ``benchmarks/results/heads.json``: seconds per render and the Mitsuba variant.

Inference results are cached (pickles, outside the repository, keyed by the photo, the settings
and the commit) so that a second run of the same code only renders.

Usage (README "Complete head"; ``make figure-heads``)::

    .venv/bin/python benchmarks/fig_heads.py ../shared/data/helen/1426553012_1.jpg \\
        ../shared/data/helen/103887554_1.jpg ../shared/data/helen/106393487_1.jpg
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

import facetex
from facetex.config import InferConfig, config_to_dict
from facetex.outputs import result_mesh
from facetex.render.mesh_prep import padded_textures
from facetex.render.mitsuba_render import DEFAULT_VIEWS, RenderConfig, View, render_views
from facetex.render.textured_mesh import with_expression

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
HEADERS = ("photo", "front", "three-quarter", "profile")
KEYFRAMES = (
    ("neutral", {}),
    ("smile", {"mouthSmile_L": 1.0, "mouthSmile_R": 1.0, "cheekSquint_L": 0.4, "cheekSquint_R": 0.4}),
    ("jaw open", {"jawOpen": 0.7, "mouthSmile_L": 0.3, "mouthSmile_R": 0.3}),
)


def _keyframe_weights(steps: int) -> list[tuple[str, dict[str, float]]]:
    """``steps`` frames from each keyframe to the next, linearly, ending on the last keyframe."""
    frames = []
    for (name_a, a), (name_b, b) in zip(KEYFRAMES, KEYFRAMES[1:]):
        for i in range(steps):
            t = i / steps
            names = set(a) | set(b)
            frames.append((name_a if t == 0 else f"{name_a} to {name_b}",
                           {n: (1 - t) * a.get(n, 0.0) + t * b.get(n, 0.0) for n in names}))
    frames.append(KEYFRAMES[-1])
    return frames


def _code_version() -> str:
    """The checkout's commit (and "+" when it has uncommitted changes), or facetex's version."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return facetex.__version__


def _inferred(photo: Path, cache: Path, config: InferConfig, database):
    """The photo's result, cached per photo bytes, settings and code version (a cache made by
    other code or settings is not reused)."""
    settings = json.dumps(config_to_dict(config), sort_keys=True, default=str)
    key = hashlib.sha256(photo.read_bytes() + settings.encode() + _code_version().encode()).hexdigest()[:16]
    path = cache / f"{photo.stem}-{key}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    result = facetex.infer(photo, database=database, config=config, progress=True)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(result))
    return result


def _u8(image: np.ndarray) -> Image.Image:
    return Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))


def _grid(rows: list[list[Image.Image]], cell: int) -> Image.Image:
    head = 24
    sheet = Image.new("RGB", (cell * len(HEADERS), head + cell * len(rows)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(HEADERS):
        draw.text((c * cell + 8, 6), title, fill=(0, 0, 0))
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            sheet.paste(ImageOps.fit(image, (cell, cell)) if c == 0 else image.resize((cell, cell)),
                        (c * cell, head + r * cell))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", nargs="+", type=Path)
    parser.add_argument("--resolution", type=int, default=512, help="render side, px")
    parser.add_argument("--spp", type=int, default=128)
    parser.add_argument("--frame-resolution", type=int, default=384, help="side of the rig's frames, px")
    parser.add_argument("--frame-spp", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4, help="frames between keyframes")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/facetex-fig-heads"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    config = InferConfig()
    database = facetex.open_database()
    model = database.morphable_model()
    render_config = RenderConfig(resolution=args.resolution, spp=args.spp, lightings=("environment",))
    record: dict[str, object] = {"photos": [], "machine": platform.processor() or platform.machine()}
    rows, first_mesh = [], None
    for photo in args.photos:
        result = _inferred(photo, args.cache, config, database)
        mesh = padded_textures(result_mesh(result, model, config), config.export)
        first_mesh = first_mesh or mesh
        start = time.perf_counter()
        renders = render_views(mesh, render_config)
        seconds = time.perf_counter() - start
        record["photos"].append({"photo": photo.name, "seconds": round(seconds, 2),
                                 "per_view": {r.view: round(r.seconds, 2) for r in renders}})
        record["variant"] = renders[0].variant
        rows.append([_u8(result.photo.rgb)] + [_u8(r.image) for r in renders])
        print(f"{photo.name}: {seconds:.1f} s for {len(renders)} views ({renders[0].variant})")
    args.out.mkdir(parents=True, exist_ok=True)
    _grid(rows, args.resolution // 2).save(args.out / "heads.png")

    frame_config = RenderConfig(resolution=args.frame_resolution, spp=args.frame_spp,
                                views=(View("front", 15.0, 5.0),), lightings=("environment",))
    frames, start = [], time.perf_counter()
    for i, (name, weights) in enumerate(_keyframe_weights(args.steps)):
        (render,) = render_views(with_expression(first_mesh, weights), frame_config,
                                 frame=first_mesh.vertices)  # one camera for every frame
        frame = _u8(render.image)
        ImageDraw.Draw(frame).text((8, 8), name, fill=(230, 230, 230))
        frame.save(args.out / f"heads_rig_{i:02d}.png")
        frames.append(frame)
    record["rig_frames"] = {"count": len(frames), "seconds": round(time.perf_counter() - start, 2),
                            "resolution": args.frame_resolution, "spp": args.frame_spp}
    frames[0].save(args.out / "heads_rig.gif", save_all=True, append_images=frames[1:] + frames[-2:0:-1],
                   duration=160, loop=0)
    record["settings"] = {"resolution": args.resolution, "spp": args.spp, "subsurface": render_config.subsurface,
                          "views": [v.name for v in DEFAULT_VIEWS]}
    (args.out / "heads.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'heads.png'}, {args.out / 'heads_rig.gif'} ({len(frames)} frames)")


if __name__ == "__main__":
    main()
