"""Benchmark of the database build (paper §6) on the London set.

Builds (or resumes) the London database, then reports: success rate (target ≥ 98 %), seconds
per photo, the bootstrap rounds (landmark error, vertex change), and the leave-one-person-out
reconstruction error of the PCA albedo and identity shape models against the number of
components. Writes JSON to benchmarks/results/database.json and a plot PNG outside the
repository.

    .venv/bin/python benchmarks/bench_database.py --limit 20
    .venv/bin/python benchmarks/bench_database.py                      # all 204 photos
    .venv/bin/python benchmarks/bench_database.py --limit 20 --compare-jobs 6   # + 1 vs 2 workers
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from facetex.database.build import build_database
from facetex.database.config import DatabaseConfig
from facetex.database.pca import align_rigid, leave_one_out_error
from facetex.database.photos import collect_photos, london_photos
from facetex.database.store import load_database
from facetex.io.atomic import write_json
from facetex.paths import cache_dir

RESULTS = Path(__file__).resolve().parent / "results"
COMPONENTS = (0, 1, 2, 3, 5, 8, 10, 15, 20, 30, 40, 60, 80)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="first N London photos (default: all)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--database", type=Path, default=None, help="database path (default: in the cache)")
    parser.add_argument("--plot", type=Path, default=Path(tempfile.gettempdir()) / "facetex_bench_database_loo.png")
    parser.add_argument("--json", type=Path, default=RESULTS / "database.json")
    parser.add_argument("--compare-jobs", type=int, default=0, metavar="N",
                        help="also time a fresh build of the first N photos with 1 and with 2 workers")
    args = parser.parse_args(argv)

    sources = collect_photos(london_photos(), limit=args.limit)
    config = DatabaseConfig(resolution=args.resolution, jobs=args.jobs)
    name = f"bench-london-{len(sources)}-r{args.resolution}"
    db_path = args.database or cache_dir() / "bench" / f"{name}.h5"
    summary = build_database(sources, db_path, config)
    db = load_database(db_path)
    print(f"{summary.accepted}/{summary.photos} photos accepted ({summary.success_rate:.1%}), "
          f"{summary.seconds:.0f} s, {summary.seconds / summary.photos:.2f} s per photo "
          "(includes cached photos of earlier runs; see rounds)")

    persons = [s.person_id for s in db.subjects()]
    r = config.pca.albedo_resolution
    textures = db.textures(resolution=r)
    chart = cv2.resize(db.chart.astype(np.float32), (r, r), interpolation=cv2.INTER_AREA) > 0.5
    albedo_data = textures[:, chart].reshape(len(textures), -1)
    ks = [k for k in COMPONENTS if k <= max(len(set(persons)) - 2, 0)] or [0]
    albedo_loo = leave_one_out_error(albedo_data, ks, groups=persons)
    neutral = [i for i, s in enumerate(db.subjects()) if s.expression != "smiling"]
    model = db.morphable_model()
    meshes = align_rigid(db.vertices()[neutral], model.topology.vertices, model.topology.landmark_weights)
    shape_ks = [k for k in ks if k <= max(len(neutral) - 2, 0)] or [0]
    shape_loo = (leave_one_out_error(meshes.reshape(len(neutral), -1), shape_ks)
                 if len(neutral) >= 2 else np.zeros(len(shape_ks)))
    for k, e in zip(ks, albedo_loo):
        print(f"albedo PCA, {k:3d} components: held-out RMSE {e:.4f} ({e * 255:.2f} / 255)")
    for k, e in zip(shape_ks, shape_loo):
        print(f"shape PCA,  {k:3d} components: held-out RMSE {e * 10:.3f} mm per coordinate")

    jobs_timing = _compare_jobs(sources[: args.compare_jobs], args.resolution) if args.compare_jobs else None
    _plot(args.plot, ks, albedo_loo, shape_ks, shape_loo)
    write_json(args.json, {
        "photos": summary.photos,
        "accepted": summary.accepted,
        "success_rate": summary.success_rate,
        "rejected": summary.rejected,
        "seconds_total": summary.seconds,
        "seconds_per_photo": summary.seconds / summary.photos,
        "jobs": summary.jobs,
        "resolution": args.resolution,
        "rounds": [dataclasses.asdict(r) for r in summary.rounds],
        "lighting_spread": summary.lighting_spread,
        "albedo_loo": {"components": ks, "rmse": albedo_loo.tolist(), "resolution": config.pca.albedo_resolution},
        "shape_loo": {"components": shape_ks, "rmse_cm": shape_loo.tolist()},
        "jobs_timing": jobs_timing,
        "database": str(db_path),
        "plot": str(args.plot),
    })
    print(f"plot: {args.plot}\nresults: {args.json}")
    return 0


def _compare_jobs(sources, resolution: int) -> dict[str, float]:
    """Seconds per photo of a fresh build (no cache) with 1 and 2 workers, 0 bootstrap rounds."""
    out = {}
    for jobs in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            config = DatabaseConfig(resolution=resolution, jobs=jobs, bootstrap_rounds=0, gram_resolutions=(256,))
            started = time.perf_counter()
            build_database(sources, Path(tmp) / "db.h5", config, work_dir=Path(tmp) / "work", progress=False)
            out[f"jobs_{jobs}_seconds_per_photo"] = (time.perf_counter() - started) / len(sources)
            print(f"jobs={jobs}: {out[f'jobs_{jobs}_seconds_per_photo']:.2f} s per photo "
                  f"({len(sources)} photos, 2 rounds, fresh cache)")
    return out


def _plot(path: Path, ks, albedo, shape_ks, shape) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(ks, np.asarray(albedo) * 255, "o-")
    axes[0].set(xlabel="components", ylabel="held-out RMSE (8-bit levels)",
                title="PCA albedo, leave one person out")
    axes[1].plot(shape_ks, np.asarray(shape) * 10, "o-", color="C1")
    axes[1].set(xlabel="components", ylabel="held-out RMSE (mm)", title="PCA identity shape, leave one out")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
