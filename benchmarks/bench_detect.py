"""Face detection benchmark: time per photo, pupil accuracy on London, detection rate on Helen.

Writes ``benchmarks/results/bench_detect.json``. Run from the repository root::

    .venv/bin/python benchmarks/bench_detect.py [--london N] [--helen N]

Numbers reported:

* London neutral photos (1350², their .tem files give the pupils): faces found, iris-centre
  error per eye as a fraction of the .tem inter-pupil distance (median, 95th percentile, max),
  and seconds per photo for ``Detector.detect_faces`` (image already loaded) and for loading.
* Helen crops: the fraction with at least one face, with the default detector and with
  FaceMesh on the whole image only (no MTCNN, full-range detector or small-face search), and
  seconds per photo. Composed in-the-wild scenes: ``bench_detect_wild.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time
from pathlib import Path

import numpy as np
import torch

from facetex.detect import DetectConfig, Detector, eye_centers, pupils_from_tem
from facetex.io.atomic import write_json
from facetex.io.images import load_photo
from facetex.paths import data_dir

RESULTS = Path(__file__).resolve().parent / "results" / "bench_detect.json"


def _stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {}
    return {
        "median": float(np.median(arr)),
        "mean": float(arr.mean()),
        "p95": float(np.percentile(arr, 95)),
        "max": float(arr.max()),
    }


def bench_london(paths: list[Path], config: DetectConfig) -> dict:
    errors, det_s, load_s, misses = [], [], [], []
    with Detector(config) as detector:
        for path in paths:
            t0 = time.perf_counter()
            photo = load_photo(path)
            t1 = time.perf_counter()
            faces = detector.detect_faces(photo)
            t2 = time.perf_counter()
            load_s.append(t1 - t0)
            det_s.append(t2 - t1)
            if not faces:
                misses.append(path.name)
                continue
            pupils = pupils_from_tem(path.with_suffix(".tem"))
            ipd = float(np.linalg.norm(pupils[1] - pupils[0]))
            err = np.linalg.norm(eye_centers(faces[0].landmarks) - pupils, axis=1) / ipd
            errors.extend(err.tolist())
    return {
        "photos": len(paths),
        "found": len(paths) - len(misses),
        "missed": misses,
        "iris_error_over_ipd": _stats(errors),
        "detect_seconds": _stats(det_s),
        "load_seconds": _stats(load_s),
    }


def bench_helen(paths: list[Path], config: DetectConfig) -> dict:
    out = {}
    for label, cfg in (
        ("with_small_face_search", config),
        ("whole_image_only", dataclasses.replace(config, search_levels=0, mtcnn=False, full_range=False)),
    ):
        found, det_s, misses = 0, [], []
        with Detector(cfg) as detector:
            for path in paths:
                photo = load_photo(path)
                t0 = time.perf_counter()
                faces = detector.detect_faces(photo)
                det_s.append(time.perf_counter() - t0)
                if faces:
                    found += 1
                else:
                    misses.append(path.name)
        out[label] = {
            "photos": len(paths),
            "found": found,
            "fraction_found": found / max(len(paths), 1),
            "missed": misses,
            "detect_seconds": _stats(det_s),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--london", type=int, default=102, help="number of London photos")
    parser.add_argument("--helen", type=int, default=348, help="number of Helen crops")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (not mediapipe's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = DetectConfig()
    root = data_dir()
    london = sorted((root / "london" / "neutral").glob("*.jpg"))[: args.london]
    helen = sorted((root / "helen").glob("*.jpg"))[: args.helen]
    result = {
        "config": dataclasses.asdict(config),
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "london_neutral": bench_london(london, config),
        "helen": bench_helen(helen, config),
    }
    write_json(RESULTS, result)
    print(f"wrote {RESULTS}")
    lon = result["london_neutral"]
    print(
        f"London: {lon['found']}/{lon['photos']} found, iris error / IPD median "
        f"{lon['iris_error_over_ipd'].get('median', float('nan')):.4f}, detect "
        f"{lon['detect_seconds'].get('median', float('nan')):.3f} s/photo (median)"
    )
    for label, res in result["helen"].items():
        print(f"Helen ({label}): {res['found']}/{res['photos']} = {res['fraction_found']:.3f}")


if __name__ == "__main__":
    main()
