"""Skin tone: does the fitted albedo keep how bright the person's skin is?

Albedo brightness trades against light intensity at no change of the render, so a fit must
be told one of them. For each photo, fits the database's morphable model twice — with the
generic ambient lighting prior (``light_prior=None``) and with the database's studio lighting
as the prior (what ``facetex infer`` does) — unwraps at 256² and reports:

* **London persons** (held out of the morphable model, as ``facetex infer --exclude-person``):
  the partial albedo's mean luminance over the person's database texture's on the observed
  texels (|log ratio|, 0 best: the database textures are de-lit with the studio's one lighting,
  paper §6, so they carry each person's real brightness) and the luminance RMSE between the two;
* **Helen photos** (other cameras and lights): the fit's photometric RMS error and the spread
  of the albedo's mean luminance, to see what the studio prior costs on photos from elsewhere.

Writes ``benchmarks/results/skin-tone-<stamp>.json`` and prints a table::

    .venv/bin/python benchmarks/bench_skin_tone.py [--persons 096 001 ...] [--helen 8]

Not a test: about 20 s per photo and prior on 2 cores. The first JSON
(`benchmarks/reference/skin-tone-coefficient-prior-20261206.json`) was made with a prior on every coefficient's
channel mean (σ 0.1), the second (`skin-tone-face-irradiance-20261206.json`) with the default
prior on the face's mean irradiance.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import numpy as np

from facetex.api import open_database
from facetex.config import InferConfig
from facetex.database.holdout import model_without
from facetex.detect import Detector
from facetex.evaluation.subjects import neutral_subject, photo_path
from facetex.fitting.config import UnwrapConfig
from facetex.io.images import load_photo
from facetex.paths import data_dir
from facetex.stages import prepare_face
from facetex.texture.color import luminance
from facetex.texture.resample import resize

RESULTS = Path(__file__).resolve().parent / "results"
RESOLUTION = 256


def fit_both(photo, model, database, config, detector) -> dict[str, dict]:
    """The two fits of one photo: prior name → (partial albedo (R, R, 3), mask, diagnostics)."""
    detection = detector.detect_face(photo)
    unwrap = UnwrapConfig(resolution=RESOLUTION)
    out = {}
    for name, prior in (("ambient", None), ("studio", database.lighting)):
        face = prepare_face(photo, model, config.fit, unwrap, detection=detection, light_prior=prior)
        out[name] = {"partial": face.partial, "diagnostics": face.fit.diagnostics.as_dict()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", nargs="+", default=["096", "001", "090", "064", "173", "029", "112"])
    ap.add_argument("--helen", type=int, default=8, help="Helen photos (every 40th of the sorted set)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    database = open_database(None, progress=False)
    config = InferConfig()
    record: dict = {"database": str(database.path), "resolution": RESOLUTION, "london": {}, "helen": {}}
    with Detector(config.detect) as detector:
        for person in args.persons:
            subject = neutral_subject(database, person)
            truth = luminance(resize(database.subject_textures([subject.subject_id])[0], RESOLUTION))
            fits = fit_both(load_photo(photo_path(database, subject)), model_without(database, (person,)),
                            database, config, detector)
            row = {}
            for name, fit in fits.items():
                mask = fit["partial"].mask
                y, t = luminance(fit["partial"].albedo)[mask], truth[mask]
                row[name] = {
                    "abs_log_brightness_ratio": float(abs(np.log(y.mean() / t.mean()))),
                    "rmse": float(np.sqrt(np.mean((y - t) ** 2))),
                    "mean_luminance": float(y.mean()),
                    "truth_mean_luminance": float(t.mean()),
                    "photometric_rms": fit["diagnostics"]["photometric_rms"],
                }
            record["london"][person] = row
            print(person, {k: {m: round(v, 4) for m, v in r.items()} for k, r in row.items()}, flush=True)
        photos = sorted((data_dir() / "helen").glob("*.jpg"))[::40][: args.helen]
        for path in photos:
            fits = fit_both(load_photo(path), database.morphable_model(), database, config, detector)
            row = {name: {"mean_luminance": float(luminance(f["partial"].albedo)[f["partial"].mask].mean()),
                          "photometric_rms": f["diagnostics"]["photometric_rms"]} for name, f in fits.items()}
            record["helen"][path.name] = row
            print(path.name, row, flush=True)

    summary = {}
    for prior in ("ambient", "studio"):
        london = [r[prior] for r in record["london"].values()]
        helen = [r[prior] for r in record["helen"].values()]
        summary[prior] = {
            "london_abs_log_brightness_ratio": float(np.mean([r["abs_log_brightness_ratio"] for r in london])),
            "london_rmse": float(np.mean([r["rmse"] for r in london])),
            "london_photometric_rms": float(np.mean([r["photometric_rms"] for r in london])),
            "helen_photometric_rms": float(np.mean([r["photometric_rms"] for r in helen])) if helen else None,
            "helen_mean_luminance_sd": float(np.std([r["mean_luminance"] for r in helen])) if helen else None,
        }
    record["summary"] = summary
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"skin-tone-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(record, indent=2))
    print("| prior | London |log brightness ratio| | London RMSE | London photometric | Helen photometric | Helen mean-Y sd |")
    print("|---|---|---|---|---|---|")
    for prior, s in summary.items():
        print(f"| {prior} | " + " | ".join("–" if v is None else f"{v:.4f}" for v in s.values()) + " |")
    print(f"→ {path}")


if __name__ == "__main__":
    main()
