"""Benchmark of stage 1, fitting (paper §3), on the London and Helen sets.

London neutral photos (their .tem files give the pupils as points 0 and 1):
  * pupil error of the fitted mesh's eye centres — the centroid of each eye's contour
    vertices, projected (the mesh has no eyeball, so this is the centre of the eye opening,
    not a modelled pupil) — in % of the inter-pupil distance; target: median ≤ 3 %;
  * the same for mediapipe's own iris-centre landmarks, for reference;
  * landmark RMSE and photometric RMS on the visible skin (fit diagnostics).
Helen in-the-wild crops:
  * fraction detected and fitted without error (target ≥ 95 %), failure reasons;
  * a contact sheet of 24 random overlays, written OUTSIDE the repository.
Both: seconds per photo for load, detection, fit and unwrap (target ≤ 5 s per photo), wall
and CPU time (the CPU time does not grow when other processes share the machine).
Shape stability (``--stability``, issue 18): for each London person of the neutral photos
fitted, the smiling photo is fitted too; the identity-only meshes (mean + identity modes, no
expression, no pose) of the two fits differ by a vertex RMS in mm (the ICT model: over all its
face-region vertices, and over those of the triangles the photometric term samples, the region
mediapipe's mesh covers).

``--model ict`` fits the ICT Face Model (docs/ict-model.md) instead of the generic model on
mediapipe's mesh.

Writes benchmarks/results/fitting-<timestamp>.json.

    .venv/bin/python benchmarks/bench_fitting.py --limit 30 --helen-limit 60
    .venv/bin/python benchmarks/bench_fitting.py --model ict --limit 20 --stability --helen-limit 100
    .venv/bin/python benchmarks/bench_fitting.py            # all 102 + 348 photos
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import cv2
import numpy as np
import torch
from _stats import describe

from facetex.detect import Detector, pupils_from_tem
from facetex.errors import FacetexError
from facetex.fitting import FitConfig, UnwrapConfig, draw_overlay, fitted_eye_centres, load_face_model
from facetex.io.atomic import write_image, write_json
from facetex.io.images import load_photo
from facetex.paths import data_dir
from facetex.stages import PreparedFace, StageClock, prepare_face
from facetex.types import FaceModel, MeshTopology, MorphableModel

RESULTS = Path(__file__).resolve().parent / "results"

#: The upper percentile of every summary (key ``p90`` in the JSON).
PERCENTILE = 90


def _stats(values: list[float]) -> dict[str, float]:
    return describe(values, percentile=PERCENTILE)


def _timing(rows: list[dict]) -> dict:
    stages = ("load", "detect", "fit", "unwrap", "total")
    return {
        "wall": {k: _stats([r["seconds"][k] for r in rows]) for k in stages},
        "cpu": {k: _stats([r["cpu_seconds"][k] for r in rows]) for k in stages},
    }


@dataclass(frozen=True)
class Run:
    """One photo through the stages: the prepared face and the seconds of each stage
    (``load``, ``detect``, ``fit``, ``unwrap``, ``total``), wall and CPU."""

    face: PreparedFace
    seconds: dict[str, float]
    cpu_seconds: dict[str, float]


class _CpuSplits:
    """A :class:`~facetex.stages.StageClock` ``on_stage`` hook: the process's CPU seconds
    (all threads) since the previous stage ended, per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._mark = time.process_time()

    def __call__(self, name: str, wall_seconds: float) -> None:
        now = time.process_time()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._mark
        self._mark = now


def _run_one(
    path: Path, detector: Detector, model: MorphableModel, fit_config: FitConfig, unwrap_config: UnwrapConfig
) -> Run:
    """Load, detect, fit and unwrap one photo (:func:`facetex.stages.prepare_face`); wall and
    CPU seconds of each stage.

    CPU seconds (this process, all threads) are reported beside wall time because the
    workstation is shared: under load the wall time of a stage grows, its CPU time does not.
    """
    cpu = _CpuSplits()
    clock = StageClock(on_stage=cpu)
    with clock.stage("load"):
        photo = load_photo(path)
    face = prepare_face(photo, model, fit_config, unwrap_config, detector=detector, clock=clock)
    seconds, cpu_seconds = dict(clock.timings), dict(cpu.seconds)
    seconds["total"], cpu_seconds["total"] = sum(seconds.values()), sum(cpu_seconds.values())
    return Run(face=face, seconds=seconds, cpu_seconds=cpu_seconds)


def _face_thumbnail(face: PreparedFace, topology: MeshTopology, size: int = 256) -> np.ndarray:
    """The overlay cropped to a square around the face, size × size."""
    detection, fit = face.detection, face.fit
    overlay = draw_overlay(face.photo.rgb, fit, topology, detection, max_side=4096, min_side=0,
                           eye_centres=fitted_eye_centres(fit))
    x0, y0, x1, y1 = detection.box
    half = 0.8 * max(x1 - x0, y1 - y0)
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    h, w = overlay.shape[:2]
    pad = int(np.ceil(half)) + 1
    padded = cv2.copyMakeBorder(overlay, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    top, left = int(round(cy - half)) + pad, int(round(cx - half)) + pad
    side = int(round(2 * half))
    crop = padded[top : top + side, left : left + side]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def _identity_mesh(model: MorphableModel, shape_coeffs: np.ndarray) -> np.ndarray:
    """(V, 3) cm: the model's mean shape moved by the identity coefficients only."""
    return model.topology.vertices + np.einsum("k,kvc->vc", shape_coeffs, model.shape_basis)


def bench_stability(neutral_rows: list[dict], london_dir: Path, detector, model, fit_config) -> dict:
    """Identity-only meshes of each person's neutral vs smiling photo: vertex RMS in mm."""
    region = None
    if model.topology.fit_faces is not None:
        region = np.unique(model.topology.faces[model.topology.fit_faces])
    rows = []
    for row in neutral_rows:
        if not row.get("ok"):
            continue
        person = row["photo"].split("_")[0]
        smiling = sorted((london_dir / "smiling").glob(f"{person}_*.jpg"))
        if not smiling:
            continue
        try:
            face = prepare_face(load_photo(smiling[0]), model, fit_config, None, detector=detector)
        except FacetexError as exc:
            rows.append({"person": person, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
            continue
        diff = _identity_mesh(model, np.asarray(row["shape_coeffs"])) - _identity_mesh(model, face.fit.shape_coeffs)
        out = {"person": person, "ok": True, "rms_mm": float(10 * np.sqrt((diff**2).sum(axis=1).mean()))}
        if region is not None:
            out["rms_mm_face_region"] = float(10 * np.sqrt((diff[region] ** 2).sum(axis=1).mean()))
        rows.append(out)
        print(f"stability {person}: identity-only RMS {out['rms_mm']:.2f} mm", flush=True)
    ok = [r for r in rows if r["ok"]]
    summary = {"persons": len(rows), "fitted": len(ok), "rms_mm": _stats([r["rms_mm"] for r in ok]), "per_person": rows}
    if region is not None:
        summary["rms_mm_face_region"] = _stats([r["rms_mm_face_region"] for r in ok])
        summary["face_region_vertices"] = int(region.shape[0])
    return summary


def bench_london(paths, detector, model, fit_config, unwrap_config) -> dict:
    rows = []
    for i, path in enumerate(paths):
        try:
            result = _run_one(path, detector, model, fit_config, unwrap_config)
        except FacetexError as exc:
            rows.append({"photo": path.name, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
            print(f"london {i + 1}/{len(paths)} {path.name}: FAILED {exc}", flush=True)
            continue
        pupils = pupils_from_tem(path.with_suffix(".tem"))
        ipd = float(np.linalg.norm(pupils[0] - pupils[1]))
        fitted = fitted_eye_centres(result.face.fit)
        iris = result.face.detection.landmarks[[468, 473], :2]
        d = result.face.fit.diagnostics
        row = {
            "photo": path.name,
            "ok": True,
            "pupil_error_pct": float(100 * np.linalg.norm(fitted - pupils, axis=1).mean() / ipd),
            "mediapipe_iris_error_pct": float(100 * np.linalg.norm(iris - pupils, axis=1).mean() / ipd),
            "landmark_rmse_iod_pct": 100 * d.landmark_rmse_iod,
            "landmark_rmse_px": d.landmark_rmse_px,
            "photometric_rms": d.photometric_rms,
            "observed_fraction": float(result.face.partial.mask.sum() / result.face.partial.chart.sum()),
            "shape_coeffs": result.face.fit.shape_coeffs.tolist(),
            "seconds": result.seconds,
            "cpu_seconds": result.cpu_seconds,
        }
        rows.append(row)
        print(f"london {i + 1}/{len(paths)} {path.name}: pupil {row['pupil_error_pct']:.2f}% "
              f"(mediapipe iris {row['mediapipe_iris_error_pct']:.2f}%), photometric RMS "
              f"{row['photometric_rms']:.3f}, {row['seconds']['total']:.2f} s "
              f"({row['cpu_seconds']['total']:.2f} s CPU)", flush=True)
    ok = [r for r in rows if r["ok"]]
    return {
        "photos": len(rows),
        "fitted": len(ok),
        "pupil_error_pct": _stats([r["pupil_error_pct"] for r in ok]),
        "mediapipe_iris_error_pct": _stats([r["mediapipe_iris_error_pct"] for r in ok]),
        "landmark_rmse_iod_pct": _stats([r["landmark_rmse_iod_pct"] for r in ok]),
        "landmark_rmse_px": _stats([r["landmark_rmse_px"] for r in ok]),
        "photometric_rms": _stats([r["photometric_rms"] for r in ok]),
        "observed_fraction": _stats([r["observed_fraction"] for r in ok]),
        "seconds": _timing(ok),
        "per_photo": rows,
    }


def bench_helen(paths, detector, model, fit_config, unwrap_config, sheet_count: int, seed: int):
    rows, thumbs = [], {}
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(len(paths), size=min(sheet_count, len(paths)), replace=False).tolist())
    for i, path in enumerate(paths):
        try:
            result = _run_one(path, detector, model, fit_config, unwrap_config)
        except FacetexError as exc:
            rows.append({"photo": path.name, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
            print(f"helen {i + 1}/{len(paths)} {path.name}: FAILED {type(exc).__name__}: {exc}", flush=True)
            continue
        except Exception:  # a bug: record it, keep going, and report it
            rows.append({"photo": path.name, "ok": False, "error": "BUG: " + traceback.format_exc(limit=3)})
            print(f"helen {i + 1}/{len(paths)} {path.name}: BUG\n{traceback.format_exc()}", flush=True)
            continue
        d = result.face.fit.diagnostics
        rows.append({
            "photo": path.name,
            "ok": True,
            "landmark_rmse_iod_pct": 100 * d.landmark_rmse_iod,
            "photometric_rms": d.photometric_rms,
            "seconds": result.seconds,
            "cpu_seconds": result.cpu_seconds,
        })
        if i in chosen:
            thumbs[i] = _face_thumbnail(result.face, model.topology)
        if (i + 1) % 20 == 0:
            print(f"helen {i + 1}/{len(paths)}: {sum(r['ok'] for r in rows)} fitted", flush=True)
    ok = [r for r in rows if r["ok"]]
    failures: dict[str, int] = {}
    for r in rows:
        if not r["ok"]:
            kind = r["error"].split(":")[0]
            failures[kind] = failures.get(kind, 0) + 1
    summary = {
        "photos": len(rows),
        "fitted": len(ok),
        "fraction_fitted": len(ok) / max(len(rows), 1),
        "failures": failures,
        "failed_photos": [{"photo": r["photo"], "error": r["error"]} for r in rows if not r["ok"]],
        "landmark_rmse_iod_pct": _stats([r["landmark_rmse_iod_pct"] for r in ok]),
        "photometric_rms": _stats([r["photometric_rms"] for r in ok]),
        "seconds": _timing(ok),
    }
    return summary, [thumbs[i] for i in sorted(thumbs)]


def contact_sheet(thumbs: list[np.ndarray], columns: int = 6) -> np.ndarray:
    size = thumbs[0].shape[0]
    rows = -(-len(thumbs) // columns)
    sheet = np.zeros((rows * size, columns * size, 3), dtype=np.float32)
    for k, t in enumerate(thumbs):
        r, c = divmod(k, columns)
        sheet[r * size : (r + 1) * size, c * size : (c + 1) * size] = t
    return sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="first N London neutral photos (default: all 102)")
    parser.add_argument("--helen-limit", type=int, default=None, help="first N Helen photos (default: all 348)")
    parser.add_argument("--uv-size", type=int, default=512)
    parser.add_argument("--model", choices=get_args(FaceModel), default="mediapipe",
                        help="the generic model on mediapipe's mesh, or the ICT Face Model (docs/ict-model.md)")
    parser.add_argument("--stability", action="store_true",
                        help="also fit each fitted neutral person's smiling photo: identity-only mesh RMS")
    parser.add_argument("--sheet", type=Path, default=Path(tempfile.gettempdir()) / "facetex_bench_fitting_sheet.png",
                        help="contact sheet PNG (outside the repository)")
    parser.add_argument("--sheet-count", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="default benchmarks/results/fitting-<timestamp>.json")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    model = load_face_model(args.model)
    fit_config, unwrap_config = FitConfig(), UnwrapConfig(resolution=args.uv_size)
    london = sorted((data_dir() / "london" / "neutral").glob("*.jpg"))[: args.limit]
    helen = sorted((data_dir() / "helen").glob("*.jpg"))[: args.helen_limit]
    started = time.time()
    with Detector() as detector:
        london_summary = bench_london(london, detector, model, fit_config, unwrap_config)
        stability = None
        if args.stability:
            stability = bench_stability(london_summary["per_photo"], data_dir() / "london", detector, model, fit_config)
        helen_summary, thumbs = bench_helen(helen, detector, model, fit_config, unwrap_config, args.sheet_count, args.seed)
    if thumbs:
        write_image(args.sheet, contact_sheet(thumbs))
    record = {
        "benchmark": "fitting",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "load_average_at_end": list(os.getloadavg()),
            "torch_threads": 1,
        },
        "settings": {"fit": "FitConfig() defaults", "uv_size": args.uv_size, "model": model.name},
        "targets": {"london_median_pupil_error_pct": 3.0, "helen_fraction_fitted": 0.95, "seconds_per_photo": 5.0},
        "london_neutral": london_summary,
        "helen": helen_summary,
        "shape_stability": stability,
        "contact_sheet": str(args.sheet) if thumbs else None,
        "wall_seconds": time.time() - started,
    }
    out = args.json or RESULTS / f"fitting-{time.strftime('%Y%m%d-%H%M%S')}.json"
    write_json(out, record)
    lp, hs = london_summary["pupil_error_pct"], helen_summary
    print(f"London: median pupil error {lp.get('median', float('nan')):.2f}% of the inter-pupil distance "
          f"(mediapipe iris {london_summary['mediapipe_iris_error_pct'].get('median', float('nan')):.2f}%), "
          f"median photometric RMS {london_summary['photometric_rms'].get('median', float('nan')):.3f}, "
          f"median {london_summary['seconds']['wall']['total'].get('median', float('nan')):.2f} s per photo "
          f"({london_summary['seconds']['cpu']['total'].get('median', float('nan')):.2f} s CPU)")
    print(f"Helen: {hs['fitted']}/{hs['photos']} fitted ({100 * hs['fraction_fitted']:.1f}%), "
          f"median {hs['seconds']['wall']['total'].get('median', float('nan')):.2f} s per photo "
          f"({hs['seconds']['cpu']['total'].get('median', float('nan')):.2f} s CPU); sheet {args.sheet}")
    if stability is not None:
        region = stability.get("rms_mm_face_region", {}).get("median", float("nan"))
        print(f"Stability: {stability['fitted']} persons, identity-only neutral vs smiling RMS median "
              f"{stability['rms_mm'].get('median', float('nan')):.2f} mm (face region {region:.2f} mm)")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
