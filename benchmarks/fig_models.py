"""Old and new face model side by side (issue 18): the same photos' `facetex infer` results made
with mediapipe's canonical mask (the old model, before 6e7a2ea) and with the ICT Face Model's face
tile (now), each textured mesh rendered front, three-quarter and profile.

Rows: one per photo (the photo first). Columns: old front, old 3/4, old profile, new front,
new 3/4, new profile. Every mesh is rendered by facetex's own renderer
(:func:`facetex.render.mitsuba_render.render_views`) from its result folder (``face.obj``,
``albedo.png``, ``normal.png``), under the same lighting, and the old and the new mesh of a photo
share every camera: the old mesh is moved from mediapipe's canonical frame into the ICT frame
(the similarity stored with the correspondence, ``facetex/geometry/data/ict_mediapipe_478.json``)
and the cameras of both are framed on the new mesh, so both faces appear at the same scale.

The figure is made of photos, so it stays out of git: ``benchmarks/results/models_old_new.png``.

Usage (result folders given in the same order for both models; README "Old and new model")::

    .venv/bin/python benchmarks/fig_models.py --old /tmp/figmodels/old/A /tmp/figmodels/old/B \\
        --new /tmp/figmodels/new/A /tmp/figmodels/new/B
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from facetex.render.mitsuba_render import RenderConfig, View, render_views
from facetex.render.textured_mesh import CM_PER_METRE, TexturedMesh, make_textured_mesh

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CORRESPONDENCE = ROOT / "facetex" / "geometry" / "data" / "ict_mediapipe_478.json"
VIEWS = (View("front", 0.0), View("three_quarter", 35.0), View("profile", 80.0))
HEADERS = ("photo", "old · front", "old · 3/4", "old · profile", "new · front", "new · 3/4", "new · profile")


def _image(path: Path) -> np.ndarray:
    """A PNG as float32 RGB in [0, 1] (8- or 16-bit)."""
    arr = np.asarray(Image.open(path))
    scale = 65535.0 if arr.dtype == np.uint16 or arr.max() > 255 else 255.0
    arr = arr.astype(np.float32) / scale
    return arr[..., :3] if arr.ndim == 3 else np.repeat(arr[..., None], 3, axis=2)


def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vertices in the OBJ's unit, uvs, faces) of a facetex ``face.obj`` (one vt per v)."""
    verts, uvs, faces = [], [], []
    with open(path) as f:
        for line in f:
            if line.startswith("v "):
                verts.append(line.split()[1:4])
            elif line.startswith("vt "):
                uvs.append(line.split()[1:3])
            elif line.startswith("f "):
                faces.append([int(c.split("/")[0]) - 1 for c in line.split()[1:4]])
    v, uv, f = np.asarray(verts, float), np.asarray(uvs, float), np.asarray(faces, np.int64)
    if uv.shape[0] != v.shape[0]:
        raise ValueError(f"{path}: {v.shape[0]} v but {uv.shape[0]} vt; facetex writes one vt per v")
    return v, uv, f


def load_result(folder: Path, *, mediapipe_frame: bool = False) -> TexturedMesh:
    """The textured mesh of a `facetex infer` result folder, in the ICT model frame (cm).

    ``mediapipe_frame``: the result was made with mediapipe's canonical mesh (the old model);
    its vertices are moved into the ICT frame by the stored similarity.
    """
    v, uv, f = read_obj(folder / "face.obj")
    v = v * CM_PER_METRE  # export frame (m) → model frame (cm), same axes
    if mediapipe_frame:
        sim = json.loads(CORRESPONDENCE.read_text())["similarity_mediapipe_to_ict"]
        v = sim["scale"] * v @ np.asarray(sim["rotation"]).T + np.asarray(sim["translation"])
    normal = folder / "normal.png"
    return make_textured_mesh(
        v, f, np.clip(uv, 0.0, 1.0), _image(folder / "albedo.png"), _image(normal) if normal.exists() else None
    )


def _photo(folder: Path) -> np.ndarray | None:
    """The input photo of a result (its ``fit.json`` source), or None when it cannot be found."""
    try:
        source = Path(json.loads((folder / "fit.json").read_text())["source"])
    except (OSError, KeyError, ValueError):
        return None
    for candidate in (source, ROOT / source):
        if candidate.is_file():
            return np.asarray(Image.open(candidate).convert("RGB"), dtype=np.float32) / 255.0
    return None


def _tile(rgb: np.ndarray | None, side: int) -> Image.Image:
    if rgb is None:
        return Image.new("RGB", (side, side), (26, 26, 26))
    img = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    return ImageOps.pad(img, (side, side), color=(26, 26, 26))


def render_pair(old: Path, new: Path, config: RenderConfig) -> list[np.ndarray]:
    """Old front/3-4/profile then new front/3-4/profile of one photo, with shared cameras."""
    old_mesh = load_result(old, mediapipe_frame=True)
    new_mesh = load_result(new)
    frame = new_mesh.vertices
    images = []
    for mesh in (old_mesh, new_mesh):
        images += [r.image for r in render_views(mesh, config, frame=frame)]
    return images


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, nargs="+", required=True, help="results of the old model (mediapipe)")
    ap.add_argument("--new", type=Path, nargs="+", required=True, help="results of the new model (ICT), same order")
    ap.add_argument("--lighting", choices=("environment", "studio"), default="environment")
    ap.add_argument("--resolution", type=int, default=384, help="side of each render (px)")
    ap.add_argument("--spp", type=int, default=64)
    ap.add_argument("-o", "--output", type=Path, default=RESULTS / "models_old_new.png")
    args = ap.parse_args(argv)
    if len(args.old) != len(args.new):
        ap.error(f"--old has {len(args.old)} folders, --new {len(args.new)}: give one of each per photo")
    config = RenderConfig(resolution=args.resolution, spp=args.spp, views=VIEWS, lightings=(args.lighting,))

    side, pad, head = args.resolution, 6, 28
    cols, rows = len(HEADERS), len(args.old)
    sheet = Image.new("RGB", (cols * side + (cols + 2) * pad, head + rows * (side + pad) + pad), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    x_of = lambda c: pad + c * (side + pad) + (2 * pad if c >= 4 else 0)  # noqa: E731  (a gap between the models)
    font = ImageFont.load_default(size=18)
    for c, text in enumerate(HEADERS):
        draw.text((x_of(c) + 6, 4), text, fill=(0, 0, 0), font=font)
    for r, (old, new) in enumerate(zip(args.old, args.new)):
        start = time.perf_counter()
        photo = _photo(new)
        tiles = [_tile(photo if photo is not None else _photo(old), side)]
        tiles += [_tile(img, side) for img in render_pair(old, new, config)]
        y = head + r * (side + pad)
        for c, tile in enumerate(tiles):
            sheet.paste(tile, (x_of(c), y))
        print(f"{new.name}: {time.perf_counter() - start:.1f} s", flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
