"""How one identity fitted to two photos of a person relates to each photo's own fit (issue 20's
shape target), on held-out London persons.

For each person (left out of the morphable model, as protocol A does), the neutral and the
smiling photo are fitted alone (:func:`facetex.fitting.fit_face`) and together
(:func:`facetex.fitting.fit_faces`, one shape and albedo for both). Reported per person and on
average, as vertex RMS (cm, model frame, neutral expression) of the shape:

* ``apart``: the two single fits from each other;
* ``joint_to_mean``: the joint identity from the single fits' mean (issue 20: below ``apart``);
* ``joint_to_neutral`` / ``joint_to_smiling``: from each single fit;
* ``first_to_mean``: the same for ``shared_identity = "first"`` (the neutral fit), for scale:
  always ``apart`` / 2;

and the landmark RMSE (inter-ocular distances) of each photo under its single and its joint
fit, with the seconds of each fit.

Writes ``benchmarks/results/shared_identity-<date>.json`` and prints a summary.

Usage::

    .venv/bin/python benchmarks/bench_shared_identity.py --persons 20
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import numpy as np

from facetex.api import open_database
from facetex.detect import Detector
from facetex.evaluation.subjects import exemplar_rows, held_out_model, neutral_subject, photo_path, select_persons
from facetex.fitting import FitConfig, fit_face, fit_faces
from facetex.io.images import load_photo

ROOT = Path(__file__).resolve().parent.parent


def _vertex_rms(model, a: np.ndarray, b: np.ndarray) -> float:
    """RMS distance (cm) between the neutral-expression shapes of two identity vectors."""
    offset = np.tensordot(np.asarray(a) - np.asarray(b), np.asarray(model.shape_basis, np.float64), axes=1)
    return float(np.sqrt((offset.reshape(-1, 3) ** 2).sum(axis=1).mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    database = open_database(progress=False)
    config = FitConfig()
    rows = []
    with Detector() as detector:
        for person in select_persons(database, args.persons):
            record = neutral_subject(database, person)
            neutral_path = photo_path(database, record)
            smiling_path = neutral_path.parent.parent / "smiling" / f"{person}_08.jpg"
            if not smiling_path.exists():
                print(f"{person}: no smiling photo at {smiling_path}; skipped")
                continue
            model = held_out_model(database, exemplar_rows(database, person))
            photos = [load_photo(neutral_path), load_photo(smiling_path)]
            detections = [detector.detect_face(photo) for photo in photos]
            singles, seconds = [], {}
            for name, photo, detection in zip(("neutral", "smiling"), photos, detections):
                start = time.perf_counter()
                singles.append(fit_face(photo, detection, model, config, light_prior=database.lighting))
                seconds[name] = time.perf_counter() - start
            start = time.perf_counter()
            joint = fit_faces(photos, detections, model, config, light_prior=database.lighting)
            seconds["joint"] = time.perf_counter() - start
            shapes = [fit.shape_coeffs for fit in singles]
            mean = (shapes[0] + shapes[1]) / 2
            shared = joint[0].shape_coeffs
            row = {
                "person": person,
                "shape_rms_cm": {
                    "apart": _vertex_rms(model, shapes[0], shapes[1]),
                    "joint_to_mean": _vertex_rms(model, shared, mean),
                    "joint_to_neutral": _vertex_rms(model, shared, shapes[0]),
                    "joint_to_smiling": _vertex_rms(model, shared, shapes[1]),
                    "first_to_mean": _vertex_rms(model, shapes[0], mean),
                },
                "landmark_rmse_iod": {
                    "neutral_single": singles[0].diagnostics.landmark_rmse_iod,
                    "smiling_single": singles[1].diagnostics.landmark_rmse_iod,
                    "neutral_joint": joint[0].diagnostics.landmark_rmse_iod,
                    "smiling_joint": joint[1].diagnostics.landmark_rmse_iod,
                },
                "seconds": seconds,
            }
            rows.append(row)
            print(person, json.dumps(row["shape_rms_cm"]), flush=True)

    summary = {
        group: {key: float(np.mean([r[group][key] for r in rows])) for key in rows[0][group]}
        for group in ("shape_rms_cm", "landmark_rmse_iod", "seconds")
    }
    summary["persons_joint_nearer_mean_than_apart"] = sum(
        r["shape_rms_cm"]["joint_to_mean"] < r["shape_rms_cm"]["apart"] for r in rows)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"shared_identity-{datetime.date.today():%Y%m%d}.json"
    path.write_text(json.dumps({"command": "benchmarks/bench_shared_identity.py", "persons": [r["person"] for r in rows],
                                "summary": summary, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
