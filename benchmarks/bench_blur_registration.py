"""Registration under blur: how far a blurred photo's fit lies from the sharp photo's, with and
without detecting and fitting again on the photo the deblur step restored.

For each held-out London person (the protocol's selection), the neutral photo is blurred as
protocol A blurs it (σ = 0.04 × the inter-ocular distance, 8-bit), and

* the sharp photo is detected and fitted (the reference),
* the blurred photo is detected, fitted and its blur measured and undone
  (``facetex.fitting.deblur``, as ``facetex infer`` does before the unwrap),
* the restored photo is detected and fitted again (``UnwrapConfig.deblur_refit``).

Reports, in % of the sharp photo's inter-pupil distance: the mean distance of mediapipe's 478
landmarks from the sharp photo's, and of the fitted mesh's projected vertices from the sharp
fit's, for the blurred and the restored photo. The morphable model is the database's (the
registration, not the held-out texture, is measured). Writes
``benchmarks/results/blur-registration-<stamp>.json`` and prints a table::

    .venv/bin/python benchmarks/bench_blur_registration.py [--persons 8]

Not a test: about 35 s per person on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import numpy as np

from facetex.api import open_database
from facetex.config import InferConfig
from facetex.detect import Detector
from facetex.evaluation.degrade import DegradeConfig, degrade_photo
from facetex.evaluation.subjects import neutral_subject, photo_path, select_persons
from facetex.fitting.deblur import restore_photo
from facetex.io.images import load_photo
from facetex.stages import prepare_face, unwrap_face

RESULTS = Path(__file__).resolve().parent / "results"


def projected(fit) -> np.ndarray:
    """(V, 2) pixel positions of the fitted mesh's vertices."""
    v = fit.vertices
    return fit.focal_length * v[:, :2] / v[:, 2:3] + fit.principal_point


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=8, help="held-out persons (protocol A's order)")
    args = parser.parse_args()
    database = open_database()
    model = database.morphable_model()
    config = InferConfig().with_resolution(256)
    references = database.reference_luminances()
    rows = []
    with Detector() as detector:
        for person in select_persons(database, args.persons):
            sharp = load_photo(photo_path(database, neutral_subject(database, person)))
            landmarks = detector.detect_face(sharp).landmarks[:, :2]
            iod = float(np.linalg.norm(landmarks[468] - landmarks[473]))
            blurred = degrade_photo(sharp, detector.detect_face(sharp), DegradeConfig(detail="blur"))
            reference = prepare_face(sharp, model, config.fit, None, detector=detector, light_prior=database.lighting)
            once = unwrap_face(
                prepare_face(blurred, model, config.fit, None, detector=detector, light_prior=database.lighting),
                model, config.unwrap, blur_references=references,
            )
            restored = restore_photo(blurred, once.blur, once.visibility[1].bounds,
                                     max_gain=config.unwrap.deblur_max_gain)
            again = prepare_face(restored, model, config.fit, None, detector=detector, light_prior=database.lighting)

            def landmark_error(face) -> float:
                return float(np.linalg.norm(face.detection.landmarks[:, :2] - landmarks, axis=1).mean() / iod)

            def mesh_error(face) -> float:
                return float(np.linalg.norm(projected(face.fit) - projected(reference.fit), axis=1).mean() / iod)

            row = {
                "person": person,
                "blur_sigma_iod": once.blur.sigma_iod,
                "landmarks_blurred": landmark_error(once), "landmarks_restored": landmark_error(again),
                "mesh_blurred": mesh_error(once), "mesh_restored": mesh_error(again),
            }
            rows.append(row)
            print(f"{person}: σ {row['blur_sigma_iod']:.4f} IOD; landmarks {100 * row['landmarks_blurred']:.2f} → "
                  f"{100 * row['landmarks_restored']:.2f} %, mesh {100 * row['mesh_blurred']:.2f} → "
                  f"{100 * row['mesh_restored']:.2f} % of the inter-pupil distance", flush=True)
    keys = ("landmarks_blurred", "landmarks_restored", "mesh_blurred", "mesh_restored")
    summary = {key: float(np.mean([row[key] for row in rows])) for key in keys}
    summary["mesh_improved"] = int(sum(row["mesh_restored"] < row["mesh_blurred"] for row in rows))
    print("| | blurred photo | restored photo |\n|---|---|---|")
    print(f"| landmarks | {100 * summary['landmarks_blurred']:.2f} % | {100 * summary['landmarks_restored']:.2f} % |")
    print(f"| fitted mesh | {100 * summary['mesh_blurred']:.2f} % | {100 * summary['mesh_restored']:.2f} % |")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"blur-registration-{stamp}.json"
    out.write_text(json.dumps({"database": str(database.path), "persons": rows, "summary": summary}, indent=1))
    print(out)


if __name__ == "__main__":
    main()
