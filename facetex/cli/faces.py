"""``facetex faces``: list every face of a photo (index, box, size, yaw, confidence), so that
``--face N`` is chosen knowingly; optionally an overlay image numbering them."""

from __future__ import annotations

import argparse

import numpy as np

from facetex.cli.options import add_config_flag, resolve
from facetex.detect.config import DetectConfig

# Overlay colours (RGB in [0, 1]): a face that can be textured, one too small, one without
# landmarks.
_USABLE, _SMALL, _NO_MESH = (0.1, 0.9, 0.2), (1.0, 0.6, 0.0), (0.6, 0.6, 0.6)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "faces",
        help="list the faces of a photo (index, box, size, yaw, confidence); optionally an overlay",
        description="Find every face of PHOTO and print one line per face: its index (the N of "
        "`infer --face N`, largest first), box, size in pixels, estimated yaw (head turn, "
        "degrees; + when the nose points to the image's right), detection confidence, and "
        "whether it is too small to texture. Faces a detector saw but no landmarks could be put "
        "on are listed without an index. With -o, write a PNG of the photo with the faces boxed "
        "and numbered.",
    )
    p.add_argument("photo", metavar="PHOTO", help="photo (any format Pillow reads)")
    p.add_argument("-o", "--output", default=None, metavar="OVERLAY.png", help="overlay image to write")
    add_config_flag(p, DetectConfig, "DetectConfig (top-level keys, e.g. `mtcnn = false`)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from facetex.detect import Detector
    from facetex.errors import NoFaceError
    from facetex.io.atomic import check_output_file, write_image
    from facetex.io.images import load_photo

    config: DetectConfig = resolve(args, DetectConfig(), ())
    if args.output:  # before any work: -o names a file we can write
        check_output_file(args.output)
    photo = load_photo(args.photo)
    with Detector(config) as detector:
        faces = detector.find_faces(photo)
        minimum = detector.config.min_face_px
    if not faces:
        raise NoFaceError(f"no face found in {photo.source}")
    print(format_faces(faces, photo.source, photo.rgb.shape[1], photo.rgb.shape[0], minimum))
    if args.output:
        write_image(args.output, overlay(photo.rgb, faces))
        print(f"overlay: {args.output}")
    return 0


def format_faces(faces: list, source: str, width: int, height: int, minimum: float) -> str:
    """The listing printed by ``facetex faces``: a header line, then one line per face."""
    usable = [f for f in faces if f.index is not None and not f.too_small]
    small = [f for f in faces if f.index is not None and f.too_small]
    unmeshed = [f for f in faces if f.index is None]
    parts = [f"{len(usable)} usable"]
    if small:
        parts.append(f"{len(small)} too small (< {minimum:g} px)")
    if unmeshed:
        parts.append(f"{len(unmeshed)} without landmarks")
    lines = [f"{source} ({width}x{height} px): {len(faces)} face{'s' if len(faces) != 1 else ''}, {', '.join(parts)}"]
    lines.append(f"{'face':>4}  {'box x0,y0,x1,y1':<22} {'size px':>9} {'yaw':>5}  {'conf':>4}  note")
    for f in faces:
        x0, y0, x1, y1 = (int(round(v)) for v in f.box)
        size = f"{round(f.width)}x{round(f.height)}"
        yaw = f"{f.yaw:+.0f}" if f.yaw is not None else "-"
        index = str(f.index) if f.index is not None else "-"
        if f.index is None:
            note = "no landmarks: cannot be fitted"
        elif f.too_small:
            note = f"too small to texture ({round(f.width)} px < {minimum:g})"
        else:
            note = ""
        box = f"{x0},{y0},{x1},{y1}"
        lines.append(f"{index:>4}  {box:<22} {size:>9} {yaw:>5}  {f.confidence:4.2f}  {note}".rstrip())
    return "\n".join(lines)


def overlay(rgb: np.ndarray, faces: list) -> np.ndarray:
    """The photo with each face's box drawn and its index (or "-") written above it."""
    import cv2

    img = np.ascontiguousarray(np.clip(rgb, 0.0, 1.0), dtype=np.float32).copy()
    height, width = img.shape[:2]
    thick = max(2, int(round(max(height, width) / 500)))
    for f in faces:
        colour = _NO_MESH if f.index is None else _SMALL if f.too_small else _USABLE
        x0, y0, x1, y1 = (int(round(v)) for v in f.box)
        cv2.rectangle(img, (x0, y0), (x1, y1), colour, thick)
        label = str(f.index) if f.index is not None else "-"
        scale = max(0.6, min(3.0, (x1 - x0) / 80))
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = y0 - base - thick if y0 - th - base - thick > 0 else min(y1 + th + thick, height - base)
        cv2.rectangle(img, (x0, ty - th - thick), (x0 + tw + 2 * thick, ty + base), (0.0, 0.0, 0.0), -1)
        cv2.putText(img, label, (x0 + thick, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
    return img
