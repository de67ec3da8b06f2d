"""In-the-wild detection benchmark: recall by face width and yaw on composed scenes (issue 22).

Writes ``benchmarks/results/bench_detect_wild[_LABEL].json``. Run from the repository root::

    nice .venv/bin/python benchmarks/bench_detect_wild.py [--scenes 160] [--label after]
        [--set mtcnn=false ...]

Against the detector before issue 22 (its package from git, this script from the tree)::

    git archive b059227 facetex | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before nice .venv/bin/python benchmarks/bench_detect_wild.py --label before

What it does:

1. Source faces: Helen crops (in-the-wild, varied pose, mirrored at random) and London photos
   (neutral and smiling; all frontal: the set holds no turned photos). Each source is labelled
   once, on its own, by mediapipe FaceMesh (the largest face of the image): its 468 mesh points
   (the box a detection is compared to is theirs, the same definition as ``Detection.box``)
   and its yaw (:func:`facetex.detect.faces.yaw_estimate`). Sources FaceMesh cannot mesh even
   alone are left out and counted (``unlabelled_sources``): the benchmark measures finding
   faces in scenes, not meshing faces FaceMesh cannot mesh at all.
2. Scenes (seeded, the same for every run): 1000–2000 px on the long side, 1–4 faces each,
   on a cluttered background (crops of scikit-image's non-face photos, 1/f noise, random
   shapes). Each face is a feathered ellipse around the source face (1.8× its box) pasted at a
   width drawn from the bins below, mirrored half the time, rolled in-plane by up to ±25°, at a
   free position. Faces are drawn so that each yaw bin is about equally represented.
3. Scoring: a ground-truth face is found when a detection's box has IoU ≥ 0.3 with its box
   (greedy, best IoU first). A detection that matches nothing is a false detection when its
   centre lies outside every pasted patch; inside a patch it is ignored (a Helen crop may hold
   part of a second, unlabelled person). Faces narrower than 64 px count as "reported too
   small" when matched by a detection the detector flags too small (or, for a detector
   without that flag, matched at all).

Nothing here is committed but this script; photos are read from the shared data at run time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from facetex.detect import DetectConfig, Detector
from facetex.detect.landmarks import NUM_MESH_LANDMARKS
from facetex.detect.mediapipe_backend import MediapipeBackend
from facetex.io.atomic import write_json
from facetex.io.images import load_photo
from facetex.paths import data_dir
from facetex.types import Photo

RESULTS = Path(__file__).resolve().parent / "results"
WIDTH_BINS = ((40, 64), (64, 100), (100, 150), (150, 250), (250, 400))
YAW_BINS = ((0, 15), (15, 45), (45, 90))
MATCH_IOU = 0.3
TOO_SMALL_PX = 64


def yaw_of(mesh_xyz: np.ndarray) -> float:
    """:func:`facetex.detect.faces.yaw_estimate`, copied so that the benchmark's labels (and so
    its scenes) are the same when it runs against the detector before issue 22."""
    p = np.asarray(mesh_xyz, dtype=np.float64)
    half = np.linalg.norm(p[454, :3] - p[234, :3]) / 2.0
    mid = (p[234, 0] + p[454, 0]) / 2.0
    return float(np.degrees(np.arcsin(np.clip((p[1, 0] - mid) / max(half, 1e-9), -1.0, 1.0))))


# ------------------------------------------------------------------------ sources
def label_sources(paths: list[Path]) -> tuple[list[dict], list[str]]:
    """FaceMesh on each source image alone: mesh points (pixels) and yaw of its largest face."""
    sources, unlabelled = [], []
    with MediapipeBackend(max_faces=4, min_confidence=0.5) as backend:
        for path in paths:
            rgb = load_photo(path).rgb
            h, w = rgb.shape[:2]
            faces = backend.face_landmarks(rgb)
            if not faces:
                unlabelled.append(path.name)
                continue
            pts = [f * [w, h, w] for f in faces]
            areas = [np.prod(np.ptp(p[:NUM_MESH_LANDMARKS, :2], axis=0)) for p in pts]
            best = pts[int(np.argmax(areas))]
            sources.append({
                "path": path, "mesh": best[:NUM_MESH_LANDMARKS, :2].astype(np.float32),
                "yaw": abs(yaw_of(best)), "set": path.parent.parent.name if "london" in str(path) else "helen",
            })
    return sources, unlabelled


# ------------------------------------------------------------------------ backgrounds
def _texture_pool() -> list[np.ndarray]:
    from skimage import data

    pool = []
    for name in ("coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
                 "brick", "grass", "gravel", "coins", "moon", "colorwheel"):
        try:
            img = np.asarray(getattr(data, name)(), dtype=np.float32) / 255.0
        except Exception:  # noqa: BLE001 - a data file scikit-image would have to download
            continue
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        pool.append(np.ascontiguousarray(img[..., :3]))
    return pool


def _pink_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    small = rng.normal(size=(h // 8 + 1, w // 8 + 1, 3)).astype(np.float32)
    f = np.fft.fft2(small, axes=(0, 1))
    fy = np.fft.fftfreq(small.shape[0])[:, None]
    fx = np.fft.fftfreq(small.shape[1])[None, :]
    f /= np.maximum(np.hypot(fy, fx), 1.0 / max(small.shape))[..., None]
    out = np.real(np.fft.ifft2(f, axes=(0, 1)))
    out = (out - out.mean()) / (out.std() + 1e-9) * 0.15 + rng.uniform(0.3, 0.7, size=3)
    return cv2.resize(out.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def background(rng: np.random.Generator, h: int, w: int, pool: list[np.ndarray]) -> np.ndarray:
    if rng.random() < 0.6:
        src = pool[rng.integers(len(pool))]
        sh, sw = src.shape[:2]
        ch, cw = int(sh * rng.uniform(0.5, 1.0)), int(sw * rng.uniform(0.5, 1.0))
        y0, x0 = rng.integers(0, sh - ch + 1), rng.integers(0, sw - cw + 1)
        img = cv2.resize(src[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)
        img = img * rng.uniform(0.6, 1.2, size=3).astype(np.float32)
    else:
        img = _pink_noise(rng, h, w)
    img = np.ascontiguousarray(img, dtype=np.float32)
    for _ in range(rng.integers(5, 25)):  # clutter
        colour = tuple(float(c) for c in rng.uniform(0, 1, size=3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        size = int(rng.integers(10, max(w, h) // 6))
        kind = rng.integers(3)
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + size, y + int(size * rng.uniform(0.3, 2))), colour, -1)
        elif kind == 1:
            cv2.ellipse(img, (x, y), (size, int(size * rng.uniform(0.3, 1))), float(rng.uniform(0, 180)), 0, 360, colour, -1)
        else:
            cv2.line(img, (x, y), (int(rng.integers(0, w)), int(rng.integers(0, h))), colour, int(rng.integers(2, 12)))
    return np.clip(img, 0.0, 1.0)


# ------------------------------------------------------------------------ scenes
def _pick_source(rng: np.random.Generator, by_bin: list[list[dict]]) -> dict:
    bins = [b for b in by_bin if b]
    group = bins[rng.integers(len(bins))]
    return group[rng.integers(len(group))]


def compose_scene(rng: np.random.Generator, by_bin: list[list[dict]], pool: list[np.ndarray], cache: dict) -> tuple[np.ndarray, list[dict], list[np.ndarray]]:
    """One scene: image, its faces (box, width, yaw, source) and the pasted patches' boxes."""
    long_side = int(rng.integers(1000, 2001))
    aspect = float(rng.choice([1.0, 4 / 3, 3 / 2, 3 / 4, 2 / 3]))
    w, h = (long_side, int(long_side / aspect)) if aspect >= 1 else (int(long_side * aspect), long_side)
    scene = background(rng, h, w, pool)
    faces, patches = [], []
    for _ in range(int(rng.integers(1, 5))):
        src = _pick_source(rng, by_bin)
        lo, hi = WIDTH_BINS[rng.integers(len(WIDTH_BINS))]
        target = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        target = min(target, 0.4 * min(w, h))
        if src["path"] not in cache:
            cache[src["path"]] = load_photo(src["path"]).rgb
        img = cache[src["path"]]
        mesh = src["mesh"].astype(np.float64)
        box_lo, box_hi = mesh.min(0), mesh.max(0)
        centre = (box_lo + box_hi) / 2
        scale = target / (box_hi[0] - box_lo[0])
        roll = float(np.clip(rng.normal(0.0, 10.0), -25.0, 25.0))
        mirror = bool(rng.random() < 0.5)
        radius = 0.9 * float(np.max(box_hi - box_lo))  # the patch: 1.8× the box
        # the patch's bounding box in the scene, then a free position for it
        extent = radius * scale * 2
        if extent >= min(w, h) - 2:
            continue
        for _try in range(60):
            cx = rng.uniform(extent / 2, w - extent / 2)
            cy = rng.uniform(extent / 2, h - extent / 2)
            patch = np.array([cx - extent / 2, cy - extent / 2, cx + extent / 2, cy + extent / 2])
            if all(_iou_or_overlap(patch, p) == 0 for p in patches):
                break
        else:
            continue
        # source → scene: translate the face centre to the origin, mirror, roll, scale, move
        a = math.radians(roll)
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * scale
        if mirror:
            rot = rot @ np.diag([-1.0, 1.0])
        affine = np.hstack([rot, (np.array([cx, cy]) - rot @ centre)[:, None]])
        warped = cv2.warpAffine(img, affine, (w, h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT)
        alpha_src = np.zeros(img.shape[:2], np.float32)
        cv2.ellipse(alpha_src, (int(centre[0]), int(centre[1])), (int(radius * 0.85), int(radius)), 0, 0, 360, 1.0, -1)
        feather = max(int(radius * 0.15) | 1, 3)
        alpha_src = cv2.GaussianBlur(alpha_src, (feather * 2 + 1, feather * 2 + 1), 0)
        alpha = cv2.warpAffine(alpha_src, affine, (w, h), flags=cv2.INTER_LINEAR)[..., None]
        scene = scene * (1 - alpha) + warped * alpha
        pts = mesh @ affine[:, :2].T + affine[:, 2]
        box = np.concatenate([np.clip(pts.min(0), 0, [w, h]), np.clip(pts.max(0), 0, [w, h])])
        patches.append(patch)
        faces.append({"box": box, "width": float(box[2] - box[0]), "yaw": src["yaw"],
                      "source": src["path"].name, "roll": roll, "mirror": mirror})
    return np.clip(scene, 0, 1).astype(np.float32), faces, patches


def _iou_or_overlap(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy


def iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = _iou_or_overlap(a, b)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


# ------------------------------------------------------------------------ scoring
def detect(detector: Detector, photo: Photo) -> list[dict]:
    """The detector's faces as dicts: box, too_small, sources (where the detector says)."""
    if hasattr(detector, "find_faces"):
        return [{"box": np.asarray(f.box), "too_small": bool(f.too_small), "sources": list(f.sources),
                 "meshed": f.detection is not None} for f in detector.find_faces(photo)]
    return [{"box": np.asarray(d.box), "too_small": None, "sources": [], "meshed": True}
            for d in detector.detect_faces(photo)]


def score_scene(found: list[dict], faces: list[dict], patches: list[np.ndarray]) -> tuple[list[dict | None], list[dict], int]:
    """Greedy IoU matching: per ground-truth face its detection (or None); the false
    detections; the number ignored."""
    found = [f for f in found if f["meshed"]]
    pairs = sorted(((iou(f["box"], g["box"]), i, j) for i, f in enumerate(found) for j, g in enumerate(faces)), reverse=True)
    match: list[dict | None] = [None] * len(faces)
    used = set()
    for value, i, j in pairs:
        if value < MATCH_IOU or i in used or match[j] is not None:
            continue
        used.add(i)
        match[j] = found[i]
    false, ignored = [], 0
    for i, f in enumerate(found):
        if i in used:
            continue
        cx, cy = (f["box"][0] + f["box"][2]) / 2, (f["box"][1] + f["box"][3]) / 2
        if any(p[0] <= cx <= p[2] and p[1] <= cy <= p[3] for p in patches):
            ignored += 1
        else:
            false.append(f)
    return match, false, ignored


def _rate(hits: list[bool]) -> dict:
    return {"faces": len(hits), "found": int(sum(hits)), "recall": float(np.mean(hits)) if hits else None}


def summarise(records: list[dict], seconds: list[float], false: int, ignored: int, scenes: int) -> dict:
    by_width = {}
    for lo, hi in WIDTH_BINS:
        sel = [r for r in records if lo <= r["width"] < hi]
        by_width[f"{lo}-{hi}"] = _rate([r["found"] for r in sel])
    by_yaw = {}
    cross = {}
    for ylo, yhi in YAW_BINS:
        sel = [r for r in records if ylo <= r["yaw"] < yhi and r["width"] >= TOO_SMALL_PX]
        by_yaw[f"{ylo}-{yhi}"] = _rate([r["found"] for r in sel])
        for lo, hi in WIDTH_BINS[1:]:
            sub = [r for r in sel if lo <= r["width"] < hi]
            cross[f"yaw {ylo}-{yhi}, width {lo}-{hi}"] = _rate([r["found"] for r in sub])
    frontal100 = [r["found"] for r in records if r["yaw"] < 15 and r["width"] >= 100]
    small = [r for r in records if r["width"] < TOO_SMALL_PX]
    sources: dict[str, int] = {}
    for r in records:
        for s in r.get("sources") or []:
            sources[s] = sources.get(s, 0) + 1
    only: dict[str, int] = {}
    for r in records:
        if r.get("sources") and len(r["sources"]) == 1:
            only[r["sources"][0]] = only.get(r["sources"][0], 0) + 1
    return {
        "scenes": scenes,
        "faces": len(records),
        "recall_by_width": by_width,
        "recall_by_yaw_width_ge_64": by_yaw,
        "recall_by_yaw_and_width": cross,
        "frontal_ge_100": _rate(frontal100),
        "too_small_reported": {"faces": len(small), "reported_too_small": int(sum(r["too_small_reported"] for r in small))},
        "false_detections": false,
        "false_per_photo": false / max(scenes, 1),
        "ignored_detections": ignored,
        "seconds_per_photo": {"median": float(np.median(seconds)), "mean": float(np.mean(seconds)),
                              "max": float(np.max(seconds))},
        "found_faces_by_source": sources,
        "found_faces_by_one_source_only": only,
    }


def _parse_value(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=160)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--label", default="", help="suffix of the result file")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="DetectConfig field to change (repeatable)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (MTCNN)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = dict(item.split("=", 1) for item in args.set)
    config = DetectConfig(max_faces=10, **{k: _parse_value(v) for k, v in overrides.items()})

    root = data_dir()
    paths = (sorted((root / "helen").glob("*.jpg")) + sorted((root / "london" / "neutral").glob("*.jpg"))[::4]
             + sorted((root / "london" / "smiling").glob("*.jpg"))[1::4])
    t0 = time.perf_counter()
    sources, unlabelled = label_sources(paths)
    by_bin = [[s for s in sources if lo <= s["yaw"] < hi] for lo, hi in YAW_BINS]
    print(f"labelled {len(sources)} sources in {time.perf_counter() - t0:.0f} s "
          f"({', '.join(f'{lo}-{hi}°: {len(b)}' for (lo, hi), b in zip(YAW_BINS, by_bin, strict=True))}); "
          f"{len(unlabelled)} left out")

    rng = np.random.default_rng(args.seed)
    pool = _texture_pool()
    cache: dict = {}
    records, seconds = [], []
    false = ignored = 0
    misses, false_list = [], []
    with Detector(config) as detector:
        for k in range(args.scenes):
            scene, faces, patches = compose_scene(rng, by_bin, pool, cache)
            photo = Photo(scene, f"scene-{k}")
            t = time.perf_counter()
            found = detect(detector, photo)
            seconds.append(time.perf_counter() - t)
            match, false_found, i_count = score_scene(found, faces, patches)
            false += len(false_found)
            ignored += i_count
            false_list += [{"scene": k, "box": [round(float(v)) for v in f["box"]], "sources": f["sources"]}
                           for f in false_found]
            for face, m in zip(faces, match, strict=True):
                rec = {"width": face["width"], "yaw": face["yaw"], "found": m is not None,
                       "too_small_reported": m is not None and (m["too_small"] is None or m["too_small"]),
                       "sources": m["sources"] if m else []}
                records.append(rec)
                if m is None and face["width"] >= 100:
                    misses.append({"scene": k, "source": face["source"], "width": round(face["width"]),
                                   "yaw": round(face["yaw"]), "roll": round(face["roll"])})
            if (k + 1) % 20 == 0:
                print(f"{k + 1} scenes, {np.mean([r['found'] for r in records]):.3f} found, {false} false, "
                      f"{np.mean(seconds):.2f} s/photo", flush=True)
    result = {
        "config": dataclasses.asdict(config),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "torch_threads": args.threads},
        "seed": args.seed,
        "sources": len(sources),
        "unlabelled_sources": len(unlabelled),
        **summarise(records, seconds, false, ignored, args.scenes),
        "missed_faces_ge_100px": misses,
        "false_detection_list": false_list,
    }
    out = RESULTS / f"bench_detect_wild{'_' + args.label if args.label else ''}.json"
    write_json(out, result)
    print(json.dumps({k: result[k] for k in ("recall_by_width", "recall_by_yaw_width_ge_64", "frontal_ge_100",
                                             "too_small_reported", "false_detections", "false_per_photo",
                                             "seconds_per_photo", "found_faces_by_source",
                                             "found_faces_by_one_source_only")}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
