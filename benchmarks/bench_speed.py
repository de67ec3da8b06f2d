"""Speed benchmark of ``facetex infer`` (issue 7): the default settings against the paper's recipe.

Runs :func:`facetex.pipeline.infer` on held-out London subjects, leave-one-out (the person's
photos are excluded from the exemplars with ``exclude_persons`` and the morphable model is
rebuilt without them, ``facetex.database.holdout.model_without``), once per setting:

* ``default``: ``InferConfig()`` (candidate preselection, exact convex fit at the analysis
  resolution, Ĝ from the database's cached Grams, the default synthesis schedule);
* ``paper``: ``InferConfig.paper()`` — exact masked Grams of every database texture at full
  resolution and 1000 L-BFGS iterations at full resolution — *shortened* to
  ``--paper-iterations`` iterations. Its total time is extrapolated to 1000 iterations as
  ``total − synthesis + synthesis × 1000 / iterations run`` (L-BFGS iterations cost about the
  same after the first few, whose line searches take more evaluations, so this slightly
  over-estimates); its quality figures are those of the shortened run;
* variants (``--variant NAME:FIELD=VALUE,...``, then NAME in ``--settings``): the default with
  some ``TextureConfig`` fields changed, to measure a candidate change against the paper's
  recipe; ``--include`` adds an earlier result's runs (e.g. its paper runs) to the summary::

    .venv/bin/python benchmarks/bench_speed.py --settings c2f50 \
        --variant c2f50:schedule=256x100bf16,512x50bf16 --include benchmarks/results/speed-….json

Each run is a fresh child process (its peak RSS is its own; the network, the database handle
and the face detector are loaded before the clock starts, as ``facetex infer`` does before its
first photo). Per run it records the pipeline's per-stage seconds (``InferenceResult.timings``),
the time of writing the outputs (``facetex.outputs.write_result``: meshes, maps, report),
peak memory, the 1-minute load average before and after, and quality figures of the albedo
against the subject's own database texture (``facetex.evaluation.scoring.score_texture``:
mesoscopic power-spectrum error, SSIM of the low-pass, RMSE and high-pass RMSE on observed /
hidden texels, detail ratios, the ONet Gram distance of the detail per region
(``facetex.evaluation.onet``), and dlib identity similarity of renders when dlib is installed).
The input is the subject's sharp neutral photo (not degraded): this measures speed at equal
input, and how far the fast settings move the result from the paper recipe's.

Threads: torch's default (the physical cores, 2 here). On a shared machine GNU OpenMP's
spinning workers collapse under oversubscription (``docs/design.md#speed-on-a-cpu``), so the
runs get ``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets it
(``--omp-wait-policy ''`` to leave it unset); it must be set before torch is imported.

Comparisons with the paper recipe are paired: means over the persons both settings ran. A
detail ratio is ideally 1 and can be missed on either side, so the comparison also reports
``detail_error_*`` = |1 − ratio|. ``--settings`` with no names and some ``--include`` results
runs nothing and only summarises those (e.g. full 1000-iteration paper runs made one person at
a time, with the default's runs).

Writes ``benchmarks/results/speed-<timestamp>.json`` and prints a table; ``--save-albedo DIR``
also keeps each run's albedo (16-bit PNG) to look at or to analyse further (keep it outside
the repository: it is derived from the London photos). Run from the repository
root, on an otherwise idle machine (it records the load)::

    .venv/bin/python benchmarks/bench_speed.py
    .venv/bin/python benchmarks/bench_speed.py --settings default --size 1024 --count 1

``--study`` instead runs the schedule study behind the default synthesis schedule: the §4
weights of the default pipeline once per subject, then each synthesis schedule from the same
start, scoring iterates on the full-size fp32 objective, its Gram distance and the high-pass
energy relative to the subject's own texture (a schedule ending in ``+detail`` starts from the
exemplars' detail, the default's ``TextureConfig.start``; otherwise from the low-frequency
albedo, the paper's start). Each scored iterate records the synthesis wall
time so far (the scoring itself excluded) and its idle-machine estimate (evaluations ×
:data:`EVALUATION_SECONDS_512`, for comparing runs made on a loaded machine by the work done).
JSON to ``benchmarks/results/schedules-<timestamp>.json``; ``--plot`` draws the measured times,
so run it on a quiet machine::

    .venv/bin/python benchmarks/bench_speed.py --study 512x100 512x150bf16 256x100,512x50 \
        --count 2 --plot benchmarks/results/quality_vs_time.png

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
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facetex.api import open_database
from facetex.config import InferConfig
from facetex.database.fill import OBSERVED
from facetex.database.holdout import model_without
from facetex.database.store import TextureDatabase, load_database
from facetex.detect import Detector
from facetex.errors import MissingDependencyError
from facetex.evaluation.config import ProtocolConfig
from facetex.evaluation.prepare import PreparedSubject
from facetex.evaluation.scoring import ground_truth_reference, score_texture
from facetex.evaluation.subjects import neutral_subject, photo_path, select_persons
from facetex.evaluation.identity import IdentityEmbedder
from facetex.evaluation.metrics import face_width_texels, lowpass, lowpass_sigma
from facetex.evaluation.onet import ONetGrams
from facetex.geometry.uv import resized_chart
from facetex.io.atomic import write_image, write_json
from facetex.io.images import load_photo
from facetex.outputs import write_result
from facetex.pipeline import infer
from facetex.stages import peak_rss_mib
from facetex.texture import config as texture_config
from facetex.texture.analysis import blend_grams, compute_grams
from facetex.texture.color import luminance
from facetex.texture.config import Stage
from facetex.texture.gram import gram
from facetex.texture.starts import exemplar_detail, stage_start
from facetex.texture.resample import resize
from facetex.texture.synthesis import make_targets, synthesize_texture
from facetex.texture.vgg import load_vgg19
from facetex.types import InferenceResult, MorphableModel

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
    "detail_error_observed",
    "detail_error_hidden",
    "onet_gram_observed",
    "onet_gram_hidden",
    "identity",
)


def _quality(run: dict[str, Any]) -> dict[str, float]:
    """A run's protocol metrics plus |1 − detail ratio| per region (``detail_error_*``): a ratio
    is ideally 1, and a setting can miss it on either side (the full paper recipe reached 1.09
    on one face), so its relative difference alone does not say which setting is nearer."""
    metrics = dict(run["metrics"])
    for region in ("observed", "hidden"):
        metrics[f"detail_error_{region}"] = abs(1.0 - metrics.get(f"detail_{region}", math.nan))
    return metrics


def parse_schedule(text: str) -> tuple[Stage, ...]:
    """'512x30bf16,512x70' → (Stage(512, 30, bf16=True), Stage(512, 70)): the CLI's form."""
    return texture_config.parse_schedule(text)


def _study_schedule(text: str) -> tuple[tuple[Stage, ...], bool]:
    """A study schedule: stages as --schedule takes them, '+detail' at the end to start from
    the exemplars' detail (TextureConfig.start = "exemplar_detail") instead of the low-frequency
    albedo: '256x100bf16,512x30bf16+detail' → (stages, True)."""
    stages, plus, start = text.partition("+")
    if plus and start != "detail":
        raise argparse.ArgumentTypeError(f"a study schedule ends in '+detail' or nothing, got {text!r}")
    return parse_schedule(stages), bool(plus)


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """'analysis512:analysis_size=512,preselect_count=48' → ("analysis512", {...}): a named
    copy of the default settings with some ``TextureConfig`` fields changed (values as JSON,
    ``none`` for None; ``schedule`` as in ``--study``, e.g. ``schedule=256x100bf16,512x50bf16``)."""
    name, _, assignments = text.partition(":")
    if not name or name in ("default", "paper") or not assignments:
        raise argparse.ArgumentTypeError(f"--variant wants NAME:FIELD=VALUE[,FIELD=VALUE], got {text!r}")
    changes: dict[str, Any] = {}
    for item in re.split(r",(?=\s*\w+=)", assignments):
        key, _, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if key == "schedule":
            parse_schedule(value)  # fail early on a typo; the worker parses it again
            changes[key] = value
        else:
            changes[key] = None if value.lower() == "none" else json.loads(value)
    return name, changes


def _config(setting: str, size: int, paper_iterations: int, changes: dict[str, Any] | None = None) -> InferConfig:
    if setting != "paper":  # "default" or a named variant of it
        config = InferConfig()
        config = config if config.resolution == size else config.with_resolution(size)
        if not changes:
            return config
        changes = dict(changes)
        if isinstance(changes.get("schedule"), str):
            changes["schedule"] = parse_schedule(changes["schedule"])
        return dataclasses.replace(config, texture=config.texture.replace(**changes))
    config = InferConfig.paper(size)
    texture = config.texture.replace(schedule=(Stage(size, paper_iterations),))
    return dataclasses.replace(config, texture=texture)


def _worker(task: dict[str, Any]) -> dict[str, Any]:
    """One (person, setting) run, in a child process of its own."""
    if task["threads"]:
        torch.set_num_threads(task["threads"])
    config = _config(task["setting"], task["size"], task["paper_iterations"], task.get("changes"))
    database = load_database(task["db"])
    model = model_without(database, (task["person"],))  # no leak through the low-frequency albedo
    record = neutral_subject(database, task["person"])
    photo = load_photo(photo_path(database, record))
    vgg = load_vgg19(config.texture.device, channels_last=config.texture.channels_last)
    out: dict[str, Any] = {"person": task["person"], "subject": record.subject_id, "setting": task["setting"]}
    with Detector(config.detect) as detector:
        out["load_before"] = os.getloadavg()[0]
        clock = time.perf_counter()
        result = infer(photo, database, config, vgg=vgg, detector=detector,
                       exclude_persons=(task["person"],), model=model, progress=False)
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
    if task.get("save_albedo"):
        stem = Path(task["save_albedo"]) / f"{task['person']}-{task['setting']}-{task['size']}"
        write_image(stem.with_suffix(".png"), result.albedo, bits=16)
        out["albedo_png"] = str(stem.with_suffix(".png"))
    return out


def _score(
    result: InferenceResult, database: TextureDatabase, model: MorphableModel, task: dict[str, Any]
) -> dict[str, float]:
    """Protocol metrics of the albedo against the subject's database texture."""
    size = result.albedo.shape[0]
    subjects = database.subjects()
    row = next(i for i, s in enumerate(subjects) if s.person_id == task["person"] and s.expression == "neutral")
    truth = resize(database.subject_textures([subjects[row].subject_id])[0], size)
    fill = database.fill_maps()[row]
    idx = (np.arange(size) * fill.shape[0]) // size
    truth_observed = (fill == OBSERVED)[np.ix_(idx, idx)] & result.partial.chart
    regions = {"truth": truth_observed, "observed": truth_observed & result.partial.mask,
               "hidden": truth_observed & ~result.partial.mask}
    prepared = PreparedSubject(
        person=task["person"], subject_id=subjects[row].subject_id, sharp=result.photo, degraded=result.photo,
        detection=result.detection, fit=result.fit, model=model, partial=result.partial, truth=truth,
        regions=regions, exemplar_ids=result.subject_ids, seconds=0.0,
        face_width=face_width_texels(model.topology, size),
    )
    config = ProtocolConfig(size=size, identity=task["identity"], face_width=prepared.face_width)
    embedder = None
    if task["identity"]:
        try:
            embedder = IdentityEmbedder()
        except MissingDependencyError:
            embedder = None
    try:
        onet = ONetGrams()
    except MissingDependencyError:
        onet = None
    reference = ground_truth_reference(prepared, config, embedder, onet)
    return score_texture(result.albedo, prepared, config, reference, embedder, onet)


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
            "mean_metrics": {m: _mean([_quality(r).get(m, math.nan) for r in mine]) for m in QUALITY},
            "mean_load": _mean([0.5 * (r["load_before"] + r["load_after"]) for r in mine]),
        }
        if setting == "paper":
            summary[setting]["median_total_extrapolated_s"] = _median([r["paper_total_extrapolated_s"] for r in mine])
    for fast_setting in [s for s in settings if s != "paper" and "paper" in settings]:
        pairs = [(d, p) for d in runs for p in runs
                 if d["setting"] == fast_setting and p["setting"] == "paper" and d["person"] == p["person"]]
        if not pairs:
            continue
        speedups = [p["paper_total_extrapolated_s"] / d["total_s"] for d, p in pairs]
        # Means over the persons both settings ran (paired), not over each setting's own runs.
        fast = {m: _mean([_quality(d).get(m, math.nan) for d, _ in pairs]) for m in QUALITY}
        paper = {m: _mean([_quality(p).get(m, math.nan) for _, p in pairs]) for m in QUALITY}
        key = "comparison" if fast_setting == "default" else f"comparison:{fast_setting}"
        summary[key] = {
            "persons": [d["person"] for d, _ in pairs],
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
        if setting.startswith("comparison"):
            continue
        extra = f", extrapolated to {PAPER_ITERATIONS} iterations {s['median_total_extrapolated_s']:.0f} s" if "median_total_extrapolated_s" in s else ""
        lines.append(f"{setting}: median total {s['median_total_s']:.1f} s{extra}; outputs {s['median_outputs_s']:.1f} s; "
                     f"peak RSS {s['max_peak_rss_mib']:.0f} MiB; mean load {s['mean_load']:.1f}")
    for key, c in summary.items():
        if not key.startswith("comparison"):
            continue
        name = key.partition(":")[2] or "default"
        lines.append(f"{name}: speed-up over the paper recipe (extrapolated): median "
                     f"{c['speedup_vs_paper_extrapolated_median']:.1f}×")
        diffs = ", ".join(f"{m} {v:+.1%}" for m, v in c["metric_relative_difference"].items() if math.isfinite(v))
        lines.append(f"{name} vs paper, relative difference of the mean metrics over {len(c['persons'])} persons "
                     f"both ran: {diffs}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# schedule study: quality vs time of synthesis schedules (the plot behind the default)

#: Idle-machine seconds per objective evaluation at 512² (``docs/design.md#speed-on-a-cpu``:
#: fp32 channels_last + symmetric Gram; bf16 autocast), scaled by (R / 512)² for other sizes: the time axis of the
#: study, so that runs on a loaded machine compare by the work they did.
EVALUATION_SECONDS_512 = {False: 2.176, True: 1.164}
#: Iterations (cumulative over the stages) at which the study scores the iterate.
CHECKPOINTS = (5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 100, 125, 150, 200)


def _study_worker(task: dict[str, Any]) -> dict[str, Any]:
    """Quality vs time of each schedule on one held-out subject (weights from the default §4)."""
    if task["threads"]:
        torch.set_num_threads(task["threads"])
    size = task["size"]
    database = load_database(task["db"])
    base = InferConfig().with_resolution(size)
    config = dataclasses.replace(base, texture=base.texture.replace(schedule=(dataclasses.replace(base.texture.schedule[-1], iterations=0),)))
    vgg = load_vgg19(config.texture.device, channels_last=config.texture.channels_last)
    record = neutral_subject(database, task["person"])
    result = infer(load_photo(photo_path(database, record)), database, config, vgg=vgg,
                   exclude_persons=(task["person"],), model=model_without(database, (task["person"],)),
                   progress=False)
    weights = result.blend.weights
    used = np.flatnonzero(weights)
    init = resize(result.partial.lowfreq, size)
    chart = result.partial.chart
    truth = luminance(resize(database.subject_textures([record.subject_id])[0], size))
    complete = database.luminances(exclude_persons=(task["person"],))[used]
    regions = database.gram_regions(exclude_persons=(task["person"],))  # what the stored Grams describe
    targets_by_size = {size: result.blend.target}  # Ĝ at full size, from the database's cache

    def target_at(stage_size: int):
        if stage_size not in targets_by_size:
            grams = compute_grams(np.stack([resize(t, stage_size) for t in complete]), vgg,
                                  layers=config.texture.gram_layers,
                                  regions=None if regions is None else np.stack(
                                      [resized_chart(r, stage_size) for r in regions[used]]))
            targets_by_size[stage_size] = blend_grams(weights[used], grams)
        return targets_by_size[stage_size]

    reference = make_targets(luminance(init), target_at(size), vgg, config.texture)
    sigma = lowpass_sigma(face_width_texels(database.morphable_model().topology, size))

    def high_pass_rms(y):
        return float(np.sqrt(np.mean((y - lowpass(y, sigma))[chart] ** 2)))

    truth_rms = high_pass_rms(truth)

    def score(y: np.ndarray) -> dict[str, float]:
        x = torch.from_numpy(np.array(y, dtype=np.float32))[None, None]
        with torch.inference_mode():
            feats = vgg.features(x, [*reference.content, *reference.grams])
            content = sum(float((feats[l] - t).square().sum()) / reference.content_scale[l]
                          for l, t in reference.content.items())
            grams = sum(float((gram(feats[l]) - t).square().sum()) / reference.gram_scale[l]
                        for l, t in reference.grams.items())
        return {"objective": content + config.texture.alpha * grams, "content": content, "gram_distance": grams,
                "high_pass_ratio": high_pass_rms(y) / truth_rms}

    out = {"person": task["person"], "init": score(luminance(init)), "truth": score(truth), "schedules": {}}
    for text in task["schedules"]:
        rows: list[dict[str, Any]] = []
        done = {"iterations": 0, "evaluations": 0, "seconds": 0.0, "wall": 0.0}
        current = None
        stages, detailed = _study_schedule(text)
        for stage in stages:
            cost = EVALUATION_SECONDS_512[stage.bf16] * (stage.size / 512) ** 2
            start = dict(done)
            scoring = {"seconds": 0.0}  # scoring runs inside the stage's clock: not synthesis time

            def record_step(step, stage=stage, cost=cost, start=start, scoring=scoring):
                row = {"iteration": start["iterations"] + step.iteration,
                       "evaluations": start["evaluations"] + step.evaluations,
                       "idle_seconds": start["seconds"] + step.evaluations * cost,
                       "wall_seconds": start["wall"] + step.seconds - scoring["seconds"], "stage_loss": step.loss}
                if row["iteration"] in CHECKPOINTS:
                    clock = time.perf_counter()
                    row.update(score(np.clip(resize(step.luminance, size), 0.0, 1.0)))
                    scoring["seconds"] += time.perf_counter() - clock
                rows.append(row)

            detail = None
            if detailed:  # outside the clock, as in infer_texture's "synthesis" timing it is not
                detail = exemplar_detail([resize(t, stage.size) for t in complete], weights[used],
                                         config.texture.start_highpass_sigma * stage.size)
            stage_init = resize(init, stage.size)
            synthesis = synthesize_texture(
                stage_init, target_at(stage.size), vgg, config.texture, iterations=stage.iterations,
                bf16=stage.bf16, start_luminance=stage_start(luminance(stage_init), current, detail),
                progress=False, callback=record_step,
            )
            current = synthesis.luminance
            if rows:
                last = rows[-1]
                done = {"iterations": last["iteration"], "evaluations": last["evaluations"],
                        "seconds": last["idle_seconds"], "wall": last["wall_seconds"]}
        if rows and "objective" not in rows[-1]:
            rows[-1].update(score(np.clip(resize(current, size), 0.0, 1.0)))
        out["schedules"][text] = rows
    return out


def merge_studies(studies: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Several studies' results as one: each person's schedules from every study."""
    merged: dict[str, dict[str, Any]] = {}
    for study in studies:
        for subject in study:
            entry = merged.setdefault(subject["person"], {**subject, "schedules": {}})
            entry["schedules"].update(subject["schedules"])
    return list(merged.values())


def full_recipe_objectives(results: list[dict[str, Any]]) -> dict[str, float]:
    """person → the §5 objective the paper recipe's full 1000 iterations ended at, from speed
    results (``--settings paper --paper-iterations 1000``); shorter paper runs are ignored."""
    return {r["person"]: float(r["final_loss"]) for result in results for r in result["runs"]
            if r["setting"] == "paper" and r["synthesis_iterations"] >= PAPER_ITERATIONS}


def plot_study(study: list[dict[str, Any]], path: Path, full_recipe: dict[str, float] | None = None) -> None:
    """Objective, Gram distance and high-pass energy against the synthesis wall time measured in
    the study (so run it on a quiet machine); ``full_recipe`` (person → objective, from
    :func:`full_recipe_objectives`) draws where the paper's 1000 iterations end, ~1300 s in."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    keys = (("objective", "§5 objective at full size (fp32, normalised)", True),
            ("gram_distance", "Gram distance Σ_l ‖G_l − Ĝ_l‖² / ‖Ĝ_l‖²", True),
            ("high_pass_ratio", "high-pass RMS / ground truth's (UV chart)", False))
    schedules = list(dict.fromkeys(text for subject in study for text in subject["schedules"]))
    colours = {text: f"C{i % 10}" for i, text in enumerate(schedules)}  # one colour per schedule
    styles = ("o-", "s--", "^:", "d-.")  # one line style per person
    for p, subject in enumerate(study):
        for text, rows in subject["schedules"].items():
            scored = [r for r in rows if "objective" in r]
            for ax, (key, _, _) in zip(axes, keys):
                ax.plot([r["wall_seconds"] for r in scored], [r[key] for r in scored], styles[p % len(styles)], ms=3,
                        color=colours[text], label=f"{subject['person']} {text}")
    for p, subject in enumerate(study):
        if subject["person"] in (full_recipe or {}):
            axes[0].axhline(full_recipe[subject["person"]], color="grey", lw=1, ls=styles[p % len(styles)][1:],
                            label=f"{subject['person']} paper recipe after 1000 iterations (~1300 s)")
    for ax, (_, title, log) in zip(axes, keys):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("synthesis seconds on this CPU (measured)")
        ax.grid(alpha=0.3)
        if log:
            ax.set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _run_study(args: argparse.Namespace, database, persons: tuple[str, ...], env: dict[str, str], write_json) -> None:
    schedules = args.study or ["512x100", "512x100bf16", "256x100bf16,512x30bf16", "256x100bf16,512x50bf16"]
    for text in schedules:
        _study_schedule(text)  # fail early on a typo
    study = []
    for person in persons:
        task = {"person": person, "size": args.size, "db": str(database.path), "threads": args.threads,
                "schedules": schedules}
        child = subprocess.run([sys.executable, __file__, "--study-worker", json.dumps(task)],
                               check=True, stdout=subprocess.PIPE, text=True, env=env)
        study.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(f"{person}: studied {len(schedules)} schedules", flush=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"schedules-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    write_json(path, {"benchmark": "schedules", "when": dt.datetime.now().isoformat(timespec="seconds"),
                      "settings": {"db": str(database.path), "persons": list(persons), "size": args.size,
                                   "schedules": schedules, "evaluation_seconds_512": EVALUATION_SECONDS_512},
                      "study": study})
    print(f"wrote {path}")
    if args.plot is not None:
        plot_study(study, args.plot, full_recipe_objectives([json.loads(p.read_text()) for p in args.include]))
        print(f"wrote {args.plot}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None, help="texture database (default: the London database)")
    parser.add_argument("--persons", nargs="*", default=(), help="held-out person ids (default: --count evenly spaced)")
    parser.add_argument("--count", type=int, default=5, help="number of held-out persons")
    parser.add_argument("--size", type=int, default=512, help="albedo resolution R")
    parser.add_argument("--settings", nargs="*", default=["default", "paper"],
                        help="'default', 'paper' and/or names given with --variant; none (with --include) "
                        "runs nothing and only summarises the included results, e.g. full paper runs "
                        "made one person at a time")
    parser.add_argument("--variant", action="append", type=parse_variant, default=[], metavar="NAME:FIELD=VALUE,...",
                        help="a named copy of the default with TextureConfig fields changed, "
                        "e.g. analysis512:analysis_size=512 (add NAME to --settings)")
    parser.add_argument("--include", type=Path, action="append", default=[], metavar="RESULT.json",
                        help="add the runs of an earlier result (same machine, same persons) to the summary, "
                        "e.g. its paper runs to compare a new variant against; with --plot, full "
                        "1000-iteration paper runs mark where the recipe ends")
    parser.add_argument("--paper-iterations", type=int, default=100, help="L-BFGS iterations of the shortened paper run")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, the physical cores)")
    parser.add_argument("--save-albedo", type=Path, default=None, metavar="DIR",
                        help="also write each run's albedo as DIR/<person>-<setting>-<size>.png (16-bit)")
    parser.add_argument("--no-identity", action="store_true", help="skip the dlib identity metric")
    parser.add_argument("--omp-wait-policy", default="PASSIVE",
                        help="OMP_WAIT_POLICY of the runs unless already set ('' leaves it unset; module doc)")
    parser.add_argument("--study", nargs="*", default=None, metavar="SCHEDULE",
                        help="instead: quality vs time of synthesis schedules, e.g. 512x100 512x100bf16 "
                        "256x100bf16,512x30bf16 (SIZExITERATIONS[bf16], stages comma-separated, '+detail' at "
                        "the end to start from the exemplars' detail; these and 256x100bf16,512x50bf16 "
                        "when none are given)")
    parser.add_argument("--plot", type=Path, default=None, help="PNG of the schedule study")
    parser.add_argument("--plot-from", type=Path, nargs="+", default=None, metavar="SCHEDULES.json",
                        help="instead: draw --plot from earlier studies (their schedules merged per person)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--study-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:  # child process: one run, JSON on the last stdout line
        print(json.dumps(_worker(json.loads(args.worker))))
        return
    if args.study_worker is not None:
        print(json.dumps(_study_worker(json.loads(args.study_worker))))
        return
    if args.plot_from is not None:
        if args.plot is None:
            parser.error("--plot-from needs --plot")
        plot_study(merge_studies([json.loads(p.read_text())["study"] for p in args.plot_from]), args.plot,
                   full_recipe_objectives([json.loads(p.read_text()) for p in args.include]))
        print(f"wrote {args.plot}")
        return

    database = open_database(args.db)
    persons = select_persons(database, args.count, tuple(args.persons))
    env = dict(os.environ)
    if args.omp_wait_policy:
        env.setdefault("OMP_WAIT_POLICY", args.omp_wait_policy)
    if args.study is not None:
        _run_study(args, database, persons, env, write_json)
        return
    variants = dict(args.variant)
    if not args.settings and not args.include:
        parser.error("--settings without names only summarises --include results; give some")
    unknown = set(args.settings) - {"default", "paper", *variants}
    if unknown:
        parser.error(f"--settings names {sorted(unknown)} that no --variant defines")
    if args.save_albedo:
        args.save_albedo.mkdir(parents=True, exist_ok=True)
    runs = []
    for person in persons:
        for setting in args.settings:
            task = {"person": person, "setting": setting, "changes": variants.get(setting), "size": args.size,
                    "db": str(database.path),
                    "paper_iterations": args.paper_iterations, "threads": args.threads,
                    "identity": not args.no_identity,
                    "save_albedo": str(args.save_albedo.resolve()) if args.save_albedo else None}
            child = subprocess.run([sys.executable, __file__, "--worker", json.dumps(task)],
                                   check=True, stdout=subprocess.PIPE, text=True, env=env)
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
            r = runs[-1]
            print(f"{person} {setting}: {r['total_s']:.1f} s (load {r['load_before']:.1f}→{r['load_after']:.1f})",
                  flush=True)
    earlier = [json.loads(path.read_text()) for path in args.include]
    included = list({(r["person"], r["setting"]): r for result in earlier
                     for r in result["runs"] + result.get("included_runs", [])
                     if r["setting"] not in args.settings and r["person"] in persons}.values())
    summary = summarise(runs + included)
    report = {
        "benchmark": "speed",
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
                    "threads": args.threads or torch.get_num_threads(),
                    "OMP_WAIT_POLICY": env.get("OMP_WAIT_POLICY")},
        "settings": {"db": str(database.path), "subjects": len(database.subjects()), "persons": list(persons),
                     "size": args.size, "paper_iterations": args.paper_iterations, "settings": args.settings,
                     "variants": variants, "included": [str(p) for p in args.include]},
        "runs": runs,  # empty when the result only combines --include ones
        "included_runs": included,
        "summary": summary,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"speed-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    write_json(path, report)
    print(_table(runs + included, summary))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
