"""Keep the person (issue 16): sharp held-out London photos → truth / paper-style / kept, with
per-band fidelity, cross-person sameness and a --detail strip.

Each person is left out of the blend and of the morphable model (as ``facetex infer
--exclude-person``). The truth is the partial albedo unwrapped from the same sharp photo with the
same fit (what ``../shared/tools/fidelity.py`` compares with). Writes, under ``--out`` (default
``benchmarks/results/``; the figure is derived from the photos, so it stays out of git):

* ``keep_person-STAMP.png``: a row per person — truth (the photo's own skin and features,
  grey where it shows nothing), ``keep_observed=False`` (the output
  before issue 16), ``keep_observed=True`` (now) — then a strip of ``--detail 0, 0.5, 1, 2``
  for the first person;
* ``keep_person-STAMP.json``: per person and setting, band correlation / power log-ratio on the
  observed texels and seconds; per setting, the sameness across the persons.

Usage::

    .venv/bin/python benchmarks/fig_keep_person.py --persons 090 001 173
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from facetex.config import InferConfig
from facetex.database.holdout import model_without
from facetex.database.store import load_database
from facetex.api import open_database
from facetex.detect import Detector
from facetex.evaluation.subjects import neutral_subject, photo_path
from facetex.evaluation.fidelity import band_fidelity, sameness
from facetex.evaluation.metrics import face_width_texels
from facetex.io.images import load_photo
from facetex.pipeline import infer
from facetex.texture.color import luminance
from facetex.texture.vgg import load_vgg19

RESULTS = Path(__file__).resolve().parent / "results"


def _tile(rgb: np.ndarray, side: int = 256) -> np.ndarray:
    img = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8)).resize((side, side), Image.LANCZOS)
    return np.asarray(img)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", nargs="+", default=["090", "001", "173"])
    ap.add_argument("--db", type=Path, default=None, help="database (default: the London one)")
    ap.add_argument("--details", nargs="*", type=float, default=[0.0, 0.5, 1.0, 2.0])
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    database = load_database(args.db) if args.db else open_database(None, progress=False)
    base = InferConfig()
    vgg = load_vgg19(base.texture.device, channels_last=base.texture.channels_last)
    width = face_width_texels(database.morphable_model().topology, base.resolution)  # bands per face width
    settings = {
        "paste (before)": dataclasses.replace(base, texture=base.texture.replace(keep_observed=False)),
        "kept (now)": base,
    }
    rows, record_out = [], {"persons": {}, "sameness": {}}
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in settings}
    truths, masks, strip = [], [], []
    with Detector(base.detect) as detector:
        for n, person in enumerate(args.persons):
            model = model_without(database, (person,))
            photo = load_photo(photo_path(database, neutral_subject(database, person)))
            row, scores = [], {}
            for name, config in settings.items():
                clock = time.perf_counter()
                result = infer(photo, database, config, vgg=vgg, detector=detector, exclude_persons=(person,),
                               model=model, progress=False)
                seconds = time.perf_counter() - clock
                if not row:
                    truth = result.partial.albedo.copy()  # the photo's own texels, grey elsewhere
                    if result.partial.feature_mask is not None:
                        truth[result.partial.feature_mask] = result.partial.features[result.partial.feature_mask]
                    truths.append(luminance(result.partial.albedo))
                    masks.append(result.partial.mask)
                    row.append(_tile(truth))
                fid = band_fidelity(result.albedo, result.partial.albedo, result.partial.mask, resolution=width)
                scores[name] = {
                    "seconds": round(seconds, 1),
                    "photo_bands": result.photo_bands,
                    "bands": {b: [round(f.correlation, 3), round(f.log_ratio, 3)] for b, f in fid.items()},
                }
                outputs[name].append(luminance(result.albedo))
                row.append(_tile(result.albedo))
                print(person, name, json.dumps(scores[name]["bands"]), f"{seconds:.0f} s", flush=True)
            rows.append(np.concatenate(row, axis=1))
            record_out["persons"][person] = scores
            if n == 0:
                for detail in args.details:
                    config = dataclasses.replace(base, texture=base.texture.replace(detail=detail))
                    result = infer(photo, database, config, vgg=vgg, detector=detector, exclude_persons=(person,),
                                   model=model, progress=False)
                    strip.append(_tile(result.albedo))
    for name in settings:
        same = sameness(outputs[name], truths, masks, resolution=width)
        record_out["sameness"][name] = {b: round(s.difference, 3) for b, s in same.items()}
        print("sameness", name, record_out["sameness"][name])
    figure = np.concatenate(rows, axis=0)
    if strip:
        strip_row = np.concatenate(strip, axis=1)
        pad = np.full((strip_row.shape[0], max(0, figure.shape[1] - strip_row.shape[1]), 3), 255, np.uint8)
        strip_row = np.concatenate([strip_row, pad], axis=1)[:, : figure.shape[1]]
        figure = np.concatenate([figure, np.full((16, figure.shape[1], 3), 255, np.uint8), strip_row], axis=0)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    Image.fromarray(figure).save(args.out / f"keep_person-{stamp}.png")
    record_out["columns"] = ["truth (partial albedo)", *settings]
    record_out["details"] = args.details
    (args.out / f"keep_person-{stamp}.json").write_text(json.dumps(record_out, indent=1))
    print(args.out / f"keep_person-{stamp}.png")


if __name__ == "__main__":
    main()
