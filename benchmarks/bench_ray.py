"""Batch inference on a local Ray instance against the sequential run (issue 21's targets).

Runs ``facetex infer`` on the same photos twice, each as a user would (a subprocess, the default
settings unless ``--size`` is given):

* ``sequential``: one process, one photo after another, torch on every core (the default);
* ``ray``: ``--ray auto``: a local Ray instance, one worker per core, one thread each;
* with ``--identity``, also ``sequential --threads 1``, the reference the Ray run must equal
  bit for bit (the same arithmetic, one thread); the default sequential run may differ by float
  noise (torch's multi-threaded reductions), reported as the largest 8-bit albedo difference.

Reports wall seconds, photos per hour, the overhead of Ray against the sequential run
(``ray wall / sequential wall − 1``), the per-photo seconds of each (from ``summary.json``), one
worker's setup time (database, model, VGG-19, detector), and the size of a result folder (what
storage takes per photo). Writes ``benchmarks/results/ray-<date>.json`` and prints a table.

Usage::

    .venv/bin/python benchmarks/bench_ray.py --photos 6 --folder london/neutral --size 256
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FACETEX = [sys.executable, "-c", "import sys; from facetex.cli import main; sys.exit(main())"]


def _photos(count: int, folder: str) -> list[Path]:
    """The first ``count`` photos of a shared data folder (``helen``: photos in the wild;
    ``london/neutral``: studio photos)."""
    from facetex.paths import data_dir

    return sorted((data_dir() / folder).glob("*.jpg"))[:count]


def _run(name: str, photos: list[Path], out: Path, extra: list[str]) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    run = subprocess.run([*FACETEX, "infer", *map(str, photos), "-o", str(out), "-q", *extra],
                         capture_output=True, text=True)
    wall = time.perf_counter() - started
    if run.returncode not in (0, 1):
        raise SystemExit(f"{name} failed ({run.returncode}): {run.stderr.strip()[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    print(f"{name}: {wall:.1f} s, {summary['done']} of {summary['photos']} done", flush=True)
    return {"wall_seconds": wall, "summary": summary}


def _albedo_difference(a: Path, b: Path, names: list[str]) -> dict:
    """Largest 8-bit difference and share of differing texels between two runs' albedos."""
    worst, differing, total, identical = 0, 0, 0, 0
    for name in names:
        x = np.asarray(Image.open(a / name / "albedo.png"), np.int16)
        y = np.asarray(Image.open(b / name / "albedo.png"), np.int16)
        d = np.abs(x - y).max(axis=-1)
        worst = max(worst, int(d.max()))
        differing += int((d > 0).sum())
        total += d.size
        identical += (a / name / "albedo.png").read_bytes() == (b / name / "albedo.png").read_bytes()
    return {"max_abs_8bit": worst, "differing_texels": differing / max(total, 1), "identical_files": identical,
            "photos": len(names)}


def _setup_seconds() -> float:
    """One worker's setup (database, model, VGG-19, detector), in a fresh process."""
    code = ("import time, torch; torch.set_num_threads(1); t = time.perf_counter();"
            "from facetex.batch import BatchSettings, PhotoWorker; from facetex.config import InferConfig;"
            "from facetex.database.default import ensure_default_database;"
            "w = PhotoWorker(BatchSettings(ensure_default_database(progress=False), InferConfig(), threads=1));"
            "print(time.perf_counter() - t)")
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def _folder_megabytes(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--folder", default="helen", help="photos from this folder of the shared data")
    parser.add_argument("--size", type=int, default=None, help="albedo size (default: facetex's default)")
    parser.add_argument("--identity", action="store_true", help="also run sequentially with one thread")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-ray"))
    args = parser.parse_args()

    photos = _photos(args.photos, args.folder)
    extra = [] if args.size is None else ["--size", str(args.size)]
    runs = {
        "sequential": _run("sequential", photos, args.work / "sequential", extra),
        "ray": _run("ray", photos, args.work / "ray", [*extra, "--ray", "auto"]),
    }
    if args.identity:
        runs["sequential_1_thread"] = _run("sequential 1 thread", photos, args.work / "sequential1",
                                           [*extra, "--threads", "1"])
    done = [j["name"] for j in runs["ray"]["summary"]["jobs"] if j["status"] == "done"]
    seq, ray = runs["sequential"]["wall_seconds"], runs["ray"]["wall_seconds"]
    record = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "photos": [str(p.relative_to(p.parents[1])) for p in photos],
        "size": args.size,
        "runs": runs,
        "ray_overhead": ray / seq - 1.0,
        "per_photo_seconds": {k: float(np.median([j["seconds"] for j in r["summary"]["jobs"] if j["status"] == "done"]))
                              for k, r in runs.items()},
        "ray_vs_sequential": _albedo_difference(args.work / "ray", args.work / "sequential", done),
        "worker_setup_seconds": _setup_seconds(),
        "result_megabytes": float(np.median([_folder_megabytes(args.work / "ray" / n) for n in done])),
    }
    if args.identity:
        record["ray_vs_sequential_1_thread"] = _albedo_difference(args.work / "ray", args.work / "sequential1", done)
    out = ROOT / "benchmarks" / "results" / f"ray-{datetime.datetime.now():%Y%m%d-%H%M}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\n{'run':22s} {'wall s':>8s} {'photos/h':>9s} {'s/photo':>8s}")
    for name, r in runs.items():
        s = r["summary"]
        print(f"{name:22s} {r['wall_seconds']:8.1f} {3600 * s['done'] / r['wall_seconds']:9.1f} "
              f"{record['per_photo_seconds'][name]:8.1f}")
    print(f"Ray overhead vs sequential: {100 * record['ray_overhead']:+.1f} %")
    print(f"albedo ray vs sequential: {record['ray_vs_sequential']}")
    if args.identity:
        print(f"albedo ray vs sequential 1 thread: {record['ray_vs_sequential_1_thread']}")
    print(f"worker setup {record['worker_setup_seconds']:.1f} s, result folder {record['result_megabytes']:.1f} MB")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
