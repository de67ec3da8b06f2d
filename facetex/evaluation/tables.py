"""Tables, CSV / JSON and the figure grid of a protocol-A run, written atomically.

:func:`write_results` writes one folder (replaced only when everything was written)::

    results.json   settings, database, variants, per-subject scores and fit diagnostics,
                   aggregates (mean, bootstrap interval) and paired comparisons (NaN → null)
    results.csv    one row per (subject, variant), one column per metric; plus one "input" row
                   per subject (fidelity of the input's own partial albedo, observed region)
    summary.csv    one row per (variant, metric): mean, interval, count (and "input")
    table.md       the markdown tables (:func:`markdown_report`)
    figure.png     input crop, partial albedo, ground truth and every variant per subject
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

from facetex.evaluation import fidelity as F
from facetex.evaluation.bootstrap import Summary
from facetex.evaluation.config import ProtocolConfig
from facetex.evaluation.metrics import LOWPASS_CUTOFF
from facetex.evaluation.results import ProtocolResult
from facetex.evaluation.scoring import METRICS, fidelity_metric
from facetex.evaluation.spectra import MESOSCOPIC_BAND
from facetex.io.atomic import atomic_dir, write_image, write_json, write_text

__all__ = [
    "DETAIL_METRICS",
    "ERROR_METRICS",
    "INPUT_ROW",
    "format_summary",
    "fidelity_tables",
    "verdict",
    "markdown_report",
    "results_json",
    "results_csv",
    "summary_csv",
    "figure_grid",
    "write_results",
]

#: Metrics of the first markdown table (detail and likeness) and of the second (per texel).
DETAIL_METRICS = (
    "identity", "identity_distance", "spectrum_error", "spectrum_ratio", "spectrum_error_hidden", "ssim_lowpass",
    "onet_gram_observed", "onet_gram_hidden",
)
ERROR_METRICS = (
    "rmse_observed", "rmse_hidden", "hp_rmse_observed", "hp_rmse_hidden", "detail_observed", "detail_hidden"
)
#: Row of the input's own partial albedo in the fidelity tables and CSVs.
INPUT_ROW = "input"


def _hidden_patch_note(result: ProtocolResult, patch: int) -> str:
    """", hidden region on 16²" where the hidden region's spectrum fell back to smaller
    patches (:func:`facetex.evaluation.scoring.spectrum_patches`) for some subject."""
    sizes = sorted({int(s.diagnostics["hidden_patch_size"]) for s in result.subjects
                    if s.diagnostics.get("hidden_patch_size") not in (None, patch)})
    return f", hidden region on {' / '.join(f'{p}²' for p in sizes)}" if sizes else ""


def _recipe_note(result: ProtocolResult) -> str:
    """What the recipe ablation's variants ran instead of the evaluation's iterations."""
    cfg = result.config
    notes = []
    for variant in result.variants:
        if variant.recipe is not None:
            stages = " + ".join(
                f"{s.size}²×{s.iterations}{' bf16' if s.bf16 else ''}" for s in cfg.texture_config(variant).schedule
            )
            notes.append(f'"{variant.name}": {stages}')
    return f" ({'; '.join(notes)})" if notes else ""


def format_summary(s: Summary, digits: int = 3) -> str:
    """"mean [low, high]" with ``digits`` decimals; "–" when undefined."""
    if s.count == 0 or not math.isfinite(s.mean):
        return "–"
    return f"{s.mean:.{digits}f} [{s.low:.{digits}f}, {s.high:.{digits}f}]"


def verdict(s: Summary) -> str:
    """Reading of an oriented paired difference (> 0 favours the better-ranked variant):
    "holds" if its interval lies above 0, "reversed" if below, "n.s." otherwise."""
    if s.count == 0 or not math.isfinite(s.mean):
        return "–"
    if s.low > 0:
        return "holds"
    if s.high < 0:
        return "reversed"
    return "n.s."


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _format_sameness(s: F.Sameness | None) -> str:
    if s is None or s.pairs == 0 or not math.isfinite(s.difference):
        return "–"
    return f"{s.difference:+.3f} ({s.estimates:.3f} − {s.truths:.3f})"


def _face_width(cfg: ProtocolConfig) -> float:
    """Texels per face width of a run: ``cfg.face_width``, or R when it was not measured."""
    return float(cfg.face_width or cfg.size)


def fidelity_tables(result: ProtocolResult) -> list[str]:
    """Markdown lines of the fidelity section: per octave band (columns) and row (the input's
    own partial albedo, then every variant), the band-pass correlation with the truth on the
    observed texels, the band power log-ratio there and on the hidden texels, and the
    cross-person sameness. Bands above R / 2 are left out."""
    cfg = result.config
    width = _face_width(cfg)
    bands = F.bands_at(width)
    if not bands:
        return []
    names = [v.name for v in result.variants]
    header = ["row"] + [f"{F.band_label(b)} c/fw" for b in bands]

    def rows_of(kind: str, region: str, with_input: bool) -> list[list[str]]:
        rows = []
        inputs = ((f"{INPUT_ROW} as given (partial albedo)", result.unrestored_summary),
                  (f"{INPUT_ROW} deblurred (partial albedo)", result.input_summary)) if result.unrestored_summary \
            else ((f"{INPUT_ROW} (partial albedo)", result.input_summary),)
        for label, summary in inputs if with_input else ():
            if summary:
                rows.append([label] + [format_summary(summary.get(fidelity_metric(kind, region, b), Summary(
                    math.nan, math.nan, math.nan, 0, cfg.confidence))) for b in bands])
        rows += [[name] + [format_summary(result.summary[name][fidelity_metric(kind, region, b)]) for b in bands]
                 for name in names]
        return rows

    lines = [
        "## Fidelity: the person's own detail, per octave band",
        "",
        "Band-pass luminance (difference of Gaussians, σ = W / (2π f) at the band's edges; one face "
        f"width W = {width:.1f} texels, mediapipe's chart width through the outer eye corners) of each "
        "texture against the truth's, on the region's "
        f"texels eroded by {F.default_margin(width)} texels. \"input (partial albedo)\" is the "
        "degraded photo's own unwrapped albedo: what the input still holds; where the pipeline "
        "restored the photo's blur first, \"as given\" is that albedo and \"deblurred\" the "
        "restored photo's.",
        "",
        "### Correlation with the truth, observed texels ↑", "",
        _table(header, rows_of("corr", "observed", True)), "",
        "### Band power log-ratio estimate / truth, observed texels (decades, 0 best)", "",
        _table(header, rows_of("logratio", "observed", True)), "",
        "### Band power log-ratio estimate / truth, hidden texels (decades, 0 best)", "",
        _table(header, rows_of("logratio", "hidden", False)), "",
        "### Against the registered truth, observed texels", "",
        "The sharp photo unwrapped as the database unwraps it, but with the input's fit: "
        "the detail the texture stage could keep, without the shift between the two fits' charts.",
        "", "Correlation ↑", "",
        _table(header, rows_of("corr", "registered", True)), "",
        "Band power log-ratio (decades, 0 best)", "",
        _table(header, rows_of("logratio", "registered", True)), "",
    ]
    if result.sameness:
        rows = []
        for row, per_region in result.sameness.items():
            for region, per_band in per_region.items():
                label = f"{INPUT_ROW} (partial albedo)" if row == INPUT_ROW else row
                rows.append([f"{label}, {region}"] + [_format_sameness(per_band.get(F.band_label(b))) for b in bands])
        pairs = max((s.pairs for r in result.sameness.values() for g in r.values() for s in g.values()), default=0)
        lines += [
            "### Sameness across persons (≈ 0 best)", "",
            "Mean pairwise correlation of band-pass luminance between different persons' textures "
            "minus that between their truths, on the texels both persons' regions share "
            f"(up to {pairs} pairs): > 0 means the textures are more alike than the persons.",
            "",
            _table(header, rows), "",
        ]
    return lines


def markdown_report(result: ProtocolResult, *, command: str | None = None) -> str:
    """The run as markdown: settings, two metric tables, the paper-ordering table.

    Parameters
    ----------
    result : a finished run.
    command : the command line that made it (printed for reproduction).
    """
    cfg = result.config
    n = len(result.subjects)
    level = int(round(cfg.confidence * 100))
    lines = [f"# Protocol A — {result.database['name']}", ""]
    if command:
        lines += ["```", command, "```", ""]
    degrade = cfg.degrade
    detail = {
        "blur": f"Gaussian blur σ = {degrade.blur_fraction:g} × inter-ocular distance",
        "downsample": f"{degrade.downsample_factor}× downsampling",
        "none": "none",
    }[degrade.detail]
    hide = {
        "none": "none",
        "turn": f"simulated turn (subject's {degrade.side} {degrade.turn_fraction:.0%} of the UV chart hidden)",
        "occluder": f"occluder over the subject's {degrade.side} cheek",
    }[degrade.hide]
    lines += [
        f"- held-out subjects: {n} evaluated"
        + (f", {len(result.failures)} failed ({', '.join(p for p, _ in result.failures)})" if result.failures else "")
        + f"; database {result.database['persons']} persons / {result.database['subjects']} photos, "
        "each subject's person left out of exemplars, Grams and morphable model",
        f"- input degradation: {detail}; hidden part: {hide}",
        f"- resolution {cfg.size}², {cfg.iterations} L-BFGS iterations per synthesis variant"
        + _recipe_note(result)
        + f", α = {cfg.infer.texture.alpha:g}",
        f"- mean [{level} % bootstrap interval] over subjects; mesoscopic band "
        f"{MESOSCOPIC_BAND[0]:g}–{MESOSCOPIC_BAND[1]:g} cycles per face width "
        f"(patches {cfg.patch_size}²{_hidden_patch_note(result, cfg.patch_size)}), "
        f"low-pass cut-off {LOWPASS_CUTOFF:g} c/fw",
        f"- wall time {result.seconds / 60:.1f} min",
        "",
    ]
    names = [v.name for v in result.variants]
    for title, metrics in (("Detail and likeness", DETAIL_METRICS), ("Per-texel errors (luminance)", ERROR_METRICS)):
        lines += [f"## {title}", ""]
        header = ["variant"] + [METRICS[m][0] for m in metrics]
        rows = [[name] + [format_summary(result.summary[name][m]) for m in metrics] for name in names]
        lines += [_table(header, rows), ""]
    lines += fidelity_tables(result)
    if result.comparisons:
        lines += [
            "## Paper ordering (convex ≥ linear ≥ closest ≥ PCA)",
            "",
            "Paired difference per subject, oriented so that > 0 favours the first variant "
            "(for ratios with an ideal value: closeness to it); \"holds\" / \"reversed\" when the "
            f"{level} % interval excludes 0.",
            "",
        ]
        shown = DETAIL_METRICS + ERROR_METRICS  # the fidelity comparisons are in results.json
        metrics = [m for m in METRICS if m in shown and any(result.comparisons[p][m].count for p in result.comparisons)]
        header = ["metric"] + list(result.comparisons)
        rows = [
            [METRICS[m][0]]
            + [f"{format_summary(per[m], 4)} {verdict(per[m])}" for per in result.comparisons.values()]
            for m in metrics
        ]
        lines += [_table(header, rows), ""]
    lines += [f"Data: {result.database['attribution']}.", ""]
    return "\n".join(lines)


def _finite(value: Any) -> Any:
    """NaN / inf → None, recursively (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def results_json(result: ProtocolResult, *, command: str | None = None) -> dict[str, Any]:
    """Everything of the run except images, JSON-ready (NaN → None)."""
    return _finite(
        {
            "command": command,
            "config": result.config.to_dict(),
            "database": result.database,
            "variants": [dataclasses.asdict(v) for v in result.variants],
            "metrics": {m: {"label": label, "goal": goal} for m, (label, goal) in METRICS.items()},
            "band_cycles_per_face_width": list(MESOSCOPIC_BAND),
            "lowpass_cutoff_cycles_per_face_width": LOWPASS_CUTOFF,
            "fidelity": {
                "bands_cycles_per_face_width": [list(b) for b in F.bands_at(_face_width(result.config))],
                "face_width": "texels per face width: mediapipe's chart width, through the outer eye corners "
                              "(config.face_width; R on mediapipe's chart)",
                "face_width_texels": _face_width(result.config),
                "region_margin_texels": F.default_margin(_face_width(result.config)),
            },
            "subjects": [
                {
                    "person": s.person,
                    "subject_id": s.subject_id,
                    "metrics": s.metrics,
                    "info": {name: info.to_dict() for name, info in s.info.items()},
                    "seconds": s.seconds,
                    "diagnostics": s.diagnostics,
                    "input_metrics": s.input_metrics,
                    "unrestored_metrics": s.unrestored_metrics,
                }
                for s in result.subjects
            ],
            "failures": [list(f) for f in result.failures],
            "summary": {v: {m: s.to_dict() for m, s in per.items()} for v, per in result.summary.items()},
            "comparisons": {p: {m: s.to_dict() for m, s in per.items()} for p, per in result.comparisons.items()},
            "input_summary": {m: s.to_dict() for m, s in result.input_summary.items()},
            "unrestored_summary": {m: s.to_dict() for m, s in result.unrestored_summary.items()},
            "sameness": {
                row: {region: {band: dataclasses.asdict(s) for band, s in per_band.items()}
                      for region, per_band in per_region.items()}
                for row, per_region in result.sameness.items()
            },
            "seconds": result.seconds,
        }
    )


def results_csv(result: ProtocolResult) -> str:
    """One row per (subject, variant): person, subject_id, variant, every metric, seconds; then
    per subject an "input" row (fidelity of the input's partial albedo, observed region)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["person", "subject_id", "variant", *METRICS, "seconds"])
    for s in result.subjects:
        for v in result.variants:
            values = [s.metrics[v.name][m] for m in METRICS]
            writer.writerow(
                [s.person, s.subject_id, v.name, *(f"{x:.6g}" if math.isfinite(x) else "" for x in values),
                 f"{s.info[v.name].seconds:.3f}"]
            )
        if s.input_metrics:
            values = [s.input_metrics.get(m, math.nan) for m in METRICS]
            writer.writerow(
                [s.person, s.subject_id, INPUT_ROW, *(f"{x:.6g}" if math.isfinite(x) else "" for x in values), ""]
            )
    return out.getvalue()


def summary_csv(result: ProtocolResult) -> str:
    """One row per (variant, metric): mean, low, high, count, confidence."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["variant", "metric", "mean", "low", "high", "count", "confidence"])
    for v in result.variants:
        for m in METRICS:
            s = result.summary[v.name][m]
            cells = [f"{x:.6g}" if math.isfinite(x) else "" for x in (s.mean, s.low, s.high)]
            writer.writerow([v.name, m, *cells, s.count, s.confidence])
    for row, summary in ((INPUT_ROW, result.input_summary), (f"{INPUT_ROW} as given", result.unrestored_summary)):
        for m, s in summary.items():
            cells = [f"{x:.6g}" if math.isfinite(x) else "" for x in (s.mean, s.low, s.high)]
            writer.writerow([row, m, *cells, s.count, s.confidence])
    return out.getvalue()


def figure_grid(
    rows: Sequence[Sequence[np.ndarray]],
    column_titles: Sequence[str],
    row_titles: Sequence[str],
    *,
    tile: int = 160,
) -> np.ndarray:
    """A labelled grid of images.

    Parameters
    ----------
    rows : one sequence of (H, W, 3) float RGB images in [0, 1] per row, ``len(column_titles)``
        each; every image is resized to ``tile`` × ``tile``.
    column_titles, row_titles : labels drawn above the columns and left of the rows.
    tile : side of a cell, pixels.

    Returns
    -------
    (H, W, 3) float32 in [0, 1], white background.
    """
    if len(rows) != len(row_titles) or any(len(r) != len(column_titles) for r in rows):
        raise ValueError("figure_grid needs one title per row and one image per column in every row")
    top, left, gap = 18, 64, 2
    height = top + len(rows) * (tile + gap)
    width = left + len(column_titles) * (tile + gap)
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            cell = cv2.resize(np.asarray(image, dtype=np.float32), (tile, tile), interpolation=cv2.INTER_AREA)
            y, x = top + i * (tile + gap), left + j * (tile + gap)
            canvas[y : y + tile, x : x + tile] = np.round(np.clip(cell, 0.0, 1.0) * 255.0).astype(np.uint8)
    pil = Image.fromarray(canvas)
    draw = ImageDraw.Draw(pil)
    for j, title in enumerate(column_titles):
        draw.text((left + j * (tile + gap) + 2, 3), str(title), fill=(0, 0, 0))
    for i, title in enumerate(row_titles):
        draw.text((2, top + i * (tile + gap) + tile // 2 - 5), str(title), fill=(0, 0, 0))
    return np.asarray(pil, dtype=np.float32) / 255.0


def write_results(result: ProtocolResult, out_dir: str | os.PathLike[str], *, command: str | None = None) -> Path:
    """Write the run's folder (module doc) atomically; an existing folder is replaced.

    Returns
    -------
    The folder written.
    """
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        write_json(tmp / "results.json", results_json(result, command=command))
        write_text(tmp / "results.csv", results_csv(result))
        write_text(tmp / "summary.csv", summary_csv(result))
        write_text(tmp / "table.md", markdown_report(result, command=command))
        shown = [s for s in result.subjects if s.images]
        if shown:
            columns = ["input", "partial", "truth", *(v.name for v in result.variants)]
            grid = figure_grid(
                [[s.images[c] for c in columns] for s in shown],
                ["input", "partial", "ground truth", *columns[3:]],
                [s.subject_id for s in shown],
            )
            write_image(tmp / "figure.png", grid)
    return out
