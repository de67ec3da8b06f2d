"""Several photos of one person against one (issue 20's targets), on held-out London persons.

For each person (left out of the exemplars, the Grams and the morphable model, as protocol A
does), scored against the person's area-averaged database texture (the neutral photo's) on the
regions of the neutral photo alone (so "hidden" is what the neutral photo does not see):

* ``neutral``: ``facetex infer`` on the sharp neutral photo alone;
* ``neutral+smiling``: with the person's smiling photo (`--same-person`);
* ``turn right`` / ``turn both``: the neutral photo with 40 % of the face on the subject's right
  hidden (protocol A's simulated turn), alone, and merged with a second copy hidden on the left
  instead, scored on the turned photo's regions: the gap closed is how much of the hidden-region
  loss (against the unturned photo) the second view wins back;
* shape: vertex RMS (cm, model frame, neutral expression) between the neutral and the smiling
  photo's single fits, and from each to the two-photo identity;
* seconds of the single and the two-photo run.

Writes ``benchmarks/results/same_person-<date>.json`` and prints a table.

Usage::

    .venv/bin/python benchmarks/bench_same_person.py --persons 5 --size 256
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import time
from pathlib import Path

import numpy as np

from facetex.api import open_database
from facetex.detect import Detector
from facetex.evaluation.config import ProtocolConfig
from facetex.evaluation.degrade import DegradeConfig, hide_turn
from facetex.evaluation.metrics import face_width_texels
from facetex.evaluation.prepare import SubjectRegions, prepare_subject
from facetex.evaluation.scoring import ground_truth_reference, score_texture
from facetex.evaluation.subjects import load_arrays, select_persons
from facetex.evaluation.onet import ONetGrams
from facetex.io.images import load_photo
from facetex import multiview
from facetex.multiview import infer_same_person
from facetex.pipeline import complete_partial, infer
from facetex.texture.vgg import load_vgg19

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("ssim_lowpass", "rmse_observed", "rmse_hidden", "spectrum_error", "onet_gram_observed",
           "onet_gram_hidden", "corr_observed_16-32", "corr_observed_32-64", "corr_hidden_16-32")


def _vertex_rms(model, a: np.ndarray, b: np.ndarray) -> float:
    """RMS distance (cm) between the neutral-expression shapes of two identity vectors."""
    basis = np.asarray(model.shape_basis, np.float64)
    diff = np.tensordot(np.asarray(a) - np.asarray(b), basis, axes=1)
    return float(np.sqrt((diff.reshape(-1, 3) ** 2).sum(axis=1).mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=5)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--merge-primary-weight", type=float, default=None,
                        help="study: set facetex.multiview.MERGE_PRIMARY_WEIGHT (default: the library's)")
    parser.add_argument("--shared-identity", choices=("joint", "first"), default=None,
                        help="FitConfig.shared_identity of the two-photo runs (default: the library's)")
    args = parser.parse_args()
    if args.merge_primary_weight is not None:
        multiview.MERGE_PRIMARY_WEIGHT = args.merge_primary_weight

    database = open_database(progress=False)
    config = ProtocolConfig(size=args.size, identity=False, degrade=DegradeConfig(detail="none"))
    infer_config = config.infer.with_resolution(args.size)
    if args.shared_identity is not None:
        infer_config = dataclasses.replace(infer_config, fit=dataclasses.replace(infer_config.fit,
                                                                                 shared_identity=args.shared_identity))
    vgg = load_vgg19(infer_config.texture.device, channels_last=infer_config.texture.channels_last)
    onet = ONetGrams(infer_config.texture.device)
    arrays = load_arrays(database, args.size, vgg, infer_config.texture)
    config = dataclasses.replace(config, face_width=face_width_texels(database.morphable_model().topology, args.size))
    rows = []
    with Detector(infer_config.detect) as detector:
        for person in select_persons(database, args.persons):
            prepared, _ = prepare_subject(database, arrays, person, config, detector)
            neutral_path = Path(prepared.sharp.source)
            smiling_path = neutral_path.parent.parent / "smiling" / f"{person}_08.jpg"
            if not smiling_path.exists():
                print(f"{person}: no smiling photo at {smiling_path}; skipped")
                continue
            exclude = (person,)
            model = prepared.model
            reference = ground_truth_reference(prepared, config, None, onet)
            start = time.perf_counter()
            single = infer(prepared.sharp, database, infer_config, vgg=vgg, detector=detector,
                           exclude_persons=exclude, model=model, progress=False)
            single_seconds = time.perf_counter() - start
            start = time.perf_counter()
            pair = infer_same_person([prepared.sharp, load_photo(smiling_path)], database, infer_config, vgg=vgg,
                                     detector=detector, exclude_persons=exclude, model=model, progress=False)
            pair_seconds = time.perf_counter() - start
            smiling_single = infer(load_photo(smiling_path), database, infer_config, vgg=vgg, detector=detector,
                                   exclude_persons=exclude, model=model, progress=False)
            # the turn: hide the subject's right in the neutral photo, and its left in a copy
            turned = hide_turn(single.partial)
            turned_regions = SubjectRegions.of(prepared.regions.truth, turned.mask)
            turned_prepared = dataclasses.replace(prepared, regions=turned_regions, partial=turned)
            turned_reference = ground_truth_reference(turned_prepared, config, None, onet)
            turn_right = complete_partial(turned, database, infer_config, photo=single.photo,
                                          detection=single.detection, fit=single.fit, vgg=vgg,
                                          exclude_persons=exclude, progress=False)
            turn_both = infer_same_person(
                [prepared.sharp, prepared.sharp], database, infer_config, vgg=vgg, detector=detector,
                exclude_persons=exclude, model=model, progress=False,
                partial_filter=lambda i, p: hide_turn(p, side="right" if i == 0 else "left"))
            scores = {
                "neutral": score_texture(single.albedo, prepared, config, reference, None, onet),
                "neutral+smiling": score_texture(pair.albedo, prepared, config, reference, None, onet),
                "unturned (turn regions)": score_texture(single.albedo, turned_prepared, config, turned_reference,
                                                         None, onet),
                "turn right": score_texture(turn_right.albedo, turned_prepared, config, turned_reference, None, onet),
                "turn both": score_texture(turn_both.albedo, turned_prepared, config, turned_reference, None, onet),
            }
            chart = max(int(single.partial.chart.sum()), 1)
            identity = pair.views[0].fit.shape_coeffs
            row = {
                "person": person,
                "observed_fraction": {"neutral": float(single.partial.mask.sum() / chart),
                                      "neutral+smiling": float(pair.partial.mask.sum() / chart),
                                      "turn right": float(turned.mask.sum() / chart),
                                      "turn both": float(turn_both.partial.mask.sum() / chart)},
                "shares": [view.share for view in pair.views],
                "embedding_distance": pair.views[1].embedding_distance,
                "shape_rms_cm": {
                    "neutral_vs_smiling": _vertex_rms(model, single.fit.shape_coeffs, smiling_single.fit.shape_coeffs),
                    "neutral_vs_shared": _vertex_rms(model, single.fit.shape_coeffs, identity),
                    "smiling_vs_shared": _vertex_rms(model, smiling_single.fit.shape_coeffs, identity),
                },
                "seconds": {"single": single_seconds, "pair": pair_seconds},
                "scores": {name: {m: s.get(m, math.nan) for m in METRICS} for name, s in scores.items()},
            }
            rows.append(row)
            print(f"{person}: observed {row['observed_fraction']}, shares {row['shares']}, "
                  f"seconds {row['seconds']}")

    def mean(f):
        values = [f(r) for r in rows]
        values = [v for v in values if v is not None and not math.isnan(v)]
        return float(np.mean(values)) if values else math.nan

    summary = {
        "observed_fraction": {k: mean(lambda r, k=k: r["observed_fraction"][k]) for k in rows[0]["observed_fraction"]},
        "shape_rms_cm": {k: mean(lambda r, k=k: r["shape_rms_cm"][k]) for k in rows[0]["shape_rms_cm"]},
        "seconds": {k: mean(lambda r, k=k: r["seconds"][k]) for k in ("single", "pair")},
        "scores": {name: {m: mean(lambda r, n=name, m=m: r["scores"][n][m]) for m in METRICS}
                   for name in rows[0]["scores"]},
    }
    gap = {}
    for m in ("rmse_hidden", "onet_gram_hidden", "spectrum_error"):
        s = summary["scores"]
        lost = s["turn right"][m] - s["unturned (turn regions)"][m]
        gap[m] = (s["turn right"][m] - s["turn both"][m]) / lost if lost else math.nan
    summary["turn_gap_closed"] = gap
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.merge_primary_weight is None else f"-primary{args.merge_primary_weight:g}"
    suffix += "" if args.shared_identity is None else f"-{args.shared_identity}"
    path = args.out / f"same_person-{datetime.date.today():%Y%m%d}{suffix}.json"
    path.write_text(json.dumps({"command": "benchmarks/bench_same_person.py", "size": args.size,
                                "merge_primary_weight": multiview.MERGE_PRIMARY_WEIGHT,
                                "shared_identity": infer_config.fit.shared_identity,
                                "persons": [r["person"] for r in rows], "summary": summary, "rows": rows},
                               indent=2, default=float) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2, default=float))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
