"""Speed benchmark of ``facetex infer`` (issue 7): the default settings against the paper's recipe.

Runs :func:`facetex.pipeline.infer` on held-out London subjects, leave-one-out (the person's
photos are excluded from the exemplars with ``exclude_persons``), once per setting:

* ``default``: ``InferConfig()`` (candidate preselection, exact convex fit at the analysis
  resolution, Ĝ from the database's cached Grams, the default synthesis schedule);
* ``paper``: ``InferConfig.paper()`` — exact masked Grams of every database texture at full
  resolution and 1000 L-BFGS iterations at full resolution — *shortened* to
  ``--paper-iterations`` iterations. Its total time is extrapolated to 1000 iterations as
  ``total − synthesis + synthesis × 1000 / iterations run`` (L-BFGS iterations cost about the
  same after the first few, whose line searches take more evaluations, so this slightly
  over-estimates); its quality figures are those of the shortened run.

Each run is a fresh child process (its peak RSS is its own; the network, the database handle
and the face detector are loaded before the clock starts, as ``facetex infer`` does before its
first photo). Per run it records the pipeline's per-stage seconds (``InferenceResult.timings``),
the time of writing the outputs (``facetex.outputs.write_result``: meshes, maps, report),
peak memory, the 1-minute load average before and after, and quality figures of the albedo
against the subject's own database texture (``facetex.evaluation.protocol.score_texture``:
mesoscopic power-spectrum error, SSIM of the low-pass, RMSE and high-pass RMSE on observed /
hidden texels, detail ratios, and dlib identity similarity of renders when dlib is installed).
The input is the subject's sharp neutral photo (not degraded): this measures speed at equal
input, and how far the fast settings move the result from the paper recipe's.

Writes ``benchmarks/results/speed-<timestamp>.json`` and prints a table. Run from the repository
root, on an otherwise idle machine (it records the load)::

    .venv/bin/python benchmarks/bench_speed.py --db ~/.cache/facetex/databases/london-v1.h5
    .venv/bin/python benchmarks/bench_speed.py --settings default --size 1024 --count 1

Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PAPER_ITERATIONS = 1000
#: Quality figures compared between the settings (protocol metric names).
QUALITY = (
    "spectrum_error",
    "ssim_lowpass",
    "rmse_observed",
    "rmse_hidden",
    "hp_rmse_observed",
    "hp_rmse_hidden",
    "detail_observed",
    "detail_hidden",
    "identity",
)


def _config(setting: str, size: int, paper_iterations: int):
    from facetex.config import InferConfig
    from facetex.texture.config import Stage

    if setting == "default":
        config = InferConfig()
        return config if config.resolution == size else config.with_resolution(size)
    config = InferConfig.paper(size)
    texture = config.texture.replace(schedule=(Stage(size, paper_iterations),))
    return dataclasses.replace(config, texture=texture)


def _worker(task: dict[str, Any]) -> dict[str, Any]:
    """One (person, setting) run; everything heavy is imported here, in the child."""
    import numpy as np
    import torch

    if task["threads"]:
        torch.set_num_threads(task["threads"])
    from facetex.database.store import load_database
    from facetex.detect import Detector
    from facetex.evaluation import protocol as P
    from facetex.io.images import load_photo
    from facetex.outputs import write_result
    from facetex.pipeline import infer, peak_rss_mib
    from facetex.texture.vgg import load_vgg19

    config = _config(task["setting"], task["size"], task["paper_iterations"])
    database = load_database(task["db"])
    model = database.morphable_model()
    record = P.neutral_subject(database, task["person"])
    photo = load_photo(P.photo_path(database, record))
    vgg = load_vgg19(config.texture.device, channels_last=config.texture.channels_last)
    out: dict[str, Any] = {"person": task["person"], "subject": record.subject_id, "setting": task["setting"]}
    with Detector(config.detect) as detector:
        out["load_before"] = os.getloadavg()[0]
        clock = time.perf_counter()
        result = infer(photo, database, config, vgg=vgg, detector=detector,
                       exclude_persons=(task["person"],), progress=False)
        out["infer_s"] = time.perf_counter() - clock
    with tempfile.TemporaryDirectory() as tmp:
        clock = time.perf_counter()
        write_result(result, Path(tmp) / "out", config, model, database=database)
        out["outputs_s"] = time.perf_counter() - clock
    out["load_after"] = os.getloadavg()[0]
    out["peak_rss_mib"] = peak_rss_mib()
    out["timings"] = result.timings
    out["peak_memory_mib"] = result.peak_memory_mib
    iterations = len(result.synthesis.losses) - len(config.texture.schedule)
    out["synthesis_iterations"] = iterations
    out["final_loss"] = result.synthesis.losses[-1]
    out["blend_objective"] = result.blend.objective
    weights = result.blend.weights
    out["weights"] = {result.subject_ids[i]: float(weights[i]) for i in np.flatnonzero(weights)}
    out["total_s"] = sum(v for k, v in result.timings.items() if "." not in k)
    if task["setting"] == "paper":
        synthesis = result.timings["texture.synthesis"]
        out["paper_total_extrapolated_s"] = (
            out["total_s"] - synthesis + synthesis * PAPER_ITERATIONS / max(iterations, 1)
        )
    out["metrics"] = _score(result, database, model, task)
    return out


def _score(result, database, model, task: dict[str, Any]) -> dict[str, float]:
    """Protocol metrics of the albedo against the subject's database texture."""
    import numpy as np

    from facetex.database.fill import OBSERVED
    from facetex.errors import MissingDependencyError
    from facetex.evaluation import protocol as P
    from facetex.texture.synthesis import resize

    size = result.albedo.shape[0]
    subjects = database.subjects()
    row = next(i for i, s in enumerate(subjects) if s.person_id == task["person"] and s.expression == "neutral")
    truth = resize(database.textures()[row], size)
    fill = database.fill_maps()[row]
    idx = (np.arange(size) * fill.shape[0]) // size
    truth_observed = (fill == OBSERVED)[np.ix_(idx, idx)] & result.partial.chart
    regions = {"truth": truth_observed, "observed": truth_observed & result.partial.mask,
               "hidden": truth_observed & ~result.partial.mask}
    prepared = P.PreparedSubject(
        person=task["person"], subject_id=subjects[row].subject_id, sharp=result.photo, degraded=result.photo,
        detection=result.detection, fit=result.fit, model=model, partial=result.partial, truth=truth,
        regions=regions, exemplar_ids=result.subject_ids, seconds=0.0,
    )
    config = P.ProtocolConfig(size=size, identity=task["identity"])
    embedder = None
    if task["identity"]:
        try:
            from facetex.evaluation.metrics import IdentityEmbedder

            embedder = IdentityEmbedder()
        except MissingDependencyError:
            embedder = None
    reference = P.ground_truth_reference(prepared, config, embedder)
    return P.score_texture(result.albedo, prepared, config, reference, embedder)


def _median(values: list[float]) -> float:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(values) if values else math.nan


def _mean(values: list[float]) -> float:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.fmean(values) if values else math.nan


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per setting, the speed-up over the extrapolated paper recipe, metric differences."""
    settings = sorted({r["setting"] for r in runs})
    summary: dict[str, Any] = {}
    for setting in settings:
        mine = [r for r in runs if r["setting"] == setting]
        stages = sorted({k for r in mine for k in r["timings"]})
        summary[setting] = {
            "runs": len(mine),
            "median_total_s": _median([r["total_s"] for r in mine]),
            "median_infer_s": _median([r["infer_s"] for r in mine]),
            "median_outputs_s": _median([r["outputs_s"] for r in mine]),
            "median_stage_s": {k: _median([r["timings"].get(k, math.nan) for r in mine]) for k in stages},
            "max_peak_rss_mib": max(r["peak_rss_mib"] for r in mine),
            "mean_metrics": {m: _mean([r["metrics"].get(m, math.nan) for r in mine]) for m in QUALITY},
            "mean_load": _mean([0.5 * (r["load_before"] + r["load_after"]) for r in mine]),
        }
        if setting == "paper":
            summary[setting]["median_total_extrapolated_s"] = _median([r["paper_total_extrapolated_s"] for r in mine])
    if {"default", "paper"} <= set(settings):
        pairs = [(d, p) for d in runs for p in runs
                 if d["setting"] == "default" and p["setting"] == "paper" and d["person"] == p["person"]]
        speedups = [p["paper_total_extrapolated_s"] / d["total_s"] for d, p in pairs]
        fast, paper = summary["default"]["mean_metrics"], summary["paper"]["mean_metrics"]
        summary["comparison"] = {
            "speedup_vs_paper_extrapolated_median": _median(speedups),
            "speedups": speedups,
            "metric_relative_difference": {
                m: (fast[m] - paper[m]) / abs(paper[m]) if paper[m] else math.nan for m in QUALITY
            },
            "weights_l1": [
                sum(abs(d["weights"].get(k, 0.0) - p["weights"].get(k, 0.0)) for k in set(d["weights"]) | set(p["weights"]))
                for d, p in pairs
            ],
        }
    return summary


def _table(runs: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    head = ("person", "setting", "detect", "fit", "unwrap", "db", "presel", "analysis", "targets",
            "synth (it)", "maps", "total", "paper×1000", "outputs", "peak MiB", "load", "spec err", "SSIM lp",
            "RMSE hid", "detail hid", "identity")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in runs:
        t, m = r["timings"], r["metrics"]
        cells = (
            r["person"], r["setting"], f"{t.get('detect', 0):.1f}", f"{t.get('fit', 0):.1f}", f"{t.get('unwrap', 0):.1f}",
            f"{t.get('load_database', 0):.1f}", f"{t.get('texture.preselection', 0):.1f}",
            f"{t.get('texture.analysis', 0):.1f}", f"{t.get('texture.targets', 0):.1f}",
            f"{t.get('texture.synthesis', 0):.1f} ({r['synthesis_iterations']})", f"{t.get('maps', 0):.1f}",
            f"{r['total_s']:.1f}", f"{r.get('paper_total_extrapolated_s', math.nan):.0f}", f"{r['outputs_s']:.1f}",
            f"{r['peak_rss_mib']:.0f}", f"{r['load_before']:.1f}→{r['load_after']:.1f}",
            f"{m.get('spectrum_error', math.nan):.3f}", f"{m.get('ssim_lowpass', math.nan):.4f}",
            f"{m.get('rmse_hidden', math.nan):.4f}", f"{m.get('detail_hidden', math.nan):.3f}",
            f"{m.get('identity', math.nan):.4f}",
        )
        lines.append(" | ".join(cells))
    lines.append("")
    for setting, s in summary.items():
        if setting == "comparison":
            continue
        extra = f", extrapolated to {PAPER_ITERATIONS} iterations {s['median_total_extrapolated_s']:.0f} s" if "median_total_extrapolated_s" in s else ""
        lines.append(f"{setting}: median total {s['median_total_s']:.1f} s{extra}; outputs {s['median_outputs_s']:.1f} s; "
                     f"peak RSS {s['max_peak_rss_mib']:.0f} MiB; mean load {s['mean_load']:.1f}")
    if "comparison" in summary:
        c = summary["comparison"]
        lines.append(f"speed-up over the paper recipe (extrapolated): median {c['speedup_vs_paper_extrapolated_median']:.1f}×")
        diffs = ", ".join(f"{m} {v:+.1%}" for m, v in c["metric_relative_difference"].items() if math.isfinite(v))
        lines.append(f"default vs paper, relative difference of the mean metrics: {diffs}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None, help="texture database (default: the London database)")
    parser.add_argument("--persons", nargs="*", default=(), help="held-out person ids (default: --count evenly spaced)")
    parser.add_argument("--count", type=int, default=5, help="number of held-out persons")
    parser.add_argument("--size", type=int, default=512, help="albedo resolution R")
    parser.add_argument("--settings", nargs="+", choices=("default", "paper"), default=["default", "paper"])
    parser.add_argument("--paper-iterations", type=int, default=30, help="L-BFGS iterations of the shortened paper run")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, the physical cores)")
    parser.add_argument("--no-identity", action="store_true", help="skip the dlib identity metric")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:  # child process: one run, JSON on the last stdout line
        print(json.dumps(_worker(json.loads(args.worker))))
        return

    from facetex.api import open_database
    from facetex.evaluation.protocol import select_persons
    from facetex.io.atomic import write_json

    database = open_database(args.db)
    persons = select_persons(database, args.count, tuple(args.persons))
    runs = []
    for person in persons:
        for setting in args.settings:
            task = {"person": person, "setting": setting, "size": args.size, "db": str(database.path),
                    "paper_iterations": args.paper_iterations, "threads": args.threads,
                    "identity": not args.no_identity}
            child = subprocess.run([sys.executable, __file__, "--worker", json.dumps(task)],
                                   check=True, stdout=subprocess.PIPE, text=True)
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
            r = runs[-1]
            print(f"{person} {setting}: {r['total_s']:.1f} s (load {r['load_before']:.1f}→{r['load_after']:.1f})",
                  flush=True)
    import torch

    summary = summarise(runs)
    report = {
        "benchmark": "speed",
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
                    "threads": args.threads or torch.get_num_threads()},
        "settings": {"db": str(database.path), "subjects": len(database.subjects()), "persons": list(persons),
                     "size": args.size, "paper_iterations": args.paper_iterations, "settings": args.settings},
        "runs": runs,
        "summary": summary,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"speed-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    write_json(path, report)
    print(_table(runs, summary))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
