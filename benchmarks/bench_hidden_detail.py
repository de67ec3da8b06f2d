"""Detail beyond the face: is the skin facetex invents where the photo shows nothing as detailed
as the skin the photo shows?

For each held-out London person (left out of the blend and the morphable model, as ``facetex
infer --exclude-person``), runs the default inference on the neutral photo and measures the
output albedo's luminance power per octave band (:func:`facetex.texture.bands.band_split`,
cycles per UV width R) on two sets of texels:

* **observed face skin**: texels the photo observed (the unwrap's skin mask) on the face proper
  (:func:`facetex.geometry.uv.face_region_mask`);
* **hidden beyond the face**: chart texels outside the face proper that the photo did not
  observe — the sides of the head, most of the ears, under the jaw.

The gap (hidden − observed, decades of power) is 0 when invented skin carries as much detail as
observed skin; the database's membrane fill is 0.7–0.9 decades below its observed skin at
64–256 c/R. Run it on two databases (e.g. before and after a change of their stored Grams) to
compare. Writes ``benchmarks/results/hidden-detail-<stamp>.json`` and prints a table::

    .venv/bin/python benchmarks/bench_hidden_detail.py --persons 090 001 029 173 [--db PATH]

Not a test: each person is a full inference (~100 s on 2 cores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np

from facetex.api import open_database
from facetex.config import InferConfig
from facetex.database.holdout import model_without
from facetex.database.store import load_database
from facetex.detect import Detector
from facetex.evaluation.subjects import neutral_subject, photo_path
from facetex.geometry.uv import face_region_mask, resized_chart
from facetex.io.images import load_photo
from facetex.pipeline import infer
from facetex.texture.bands import band_edges, band_split
from facetex.texture.color import luminance
from facetex.texture.vgg import load_vgg19

RESULTS = Path(__file__).resolve().parent / "results"


def band_log_power(y: np.ndarray, region: np.ndarray) -> dict[str, float]:
    """log10 of the mean squared band-pass luminance over ``region``, per octave band above the
    low-pass ("16-32", … cycles per R)."""
    edges = band_edges(y.shape[0])
    bands = band_split(y.astype(np.float64), edges)[1:]
    names = [f"{a:g}-{b:g}" for a, b in zip(edges, edges[1:])] + [f"{edges[-1]:g}+"]
    return {name: float(np.log10(np.mean(b[region] ** 2))) for name, b in zip(names, bands)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", nargs="+", default=["090", "001", "029", "173"])
    ap.add_argument("--db", type=Path, default=None, help="database (default: the London one)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    database = load_database(args.db) if args.db else open_database(None, progress=False)
    config = InferConfig()
    vgg = load_vgg19(config.texture.device, channels_last=config.texture.channels_last)
    face = face_region_mask(database.morphable_model().topology, config.resolution)
    record: dict = {"database": str(database.path), "gram_region": database.gram_region, "persons": {}}
    with Detector(config.detect) as detector:
        for person in args.persons:
            photo = load_photo(photo_path(database, neutral_subject(database, person)))
            clock = time.perf_counter()
            result = infer(photo, database, config, vgg=vgg, detector=detector, exclude_persons=(person,),
                           model=model_without(database, (person,)), progress=False)
            seconds = time.perf_counter() - clock
            y = luminance(result.albedo)
            size = y.shape[0]
            chart = resized_chart(result.partial.chart, size)
            seen = resized_chart(result.partial.mask, size)
            regions = {"observed face": seen & face, "hidden beyond face": chart & ~seen & ~face}
            power = {name: band_log_power(y, region) for name, region in regions.items()}
            gap = {band: power["hidden beyond face"][band] - power["observed face"][band]
                   for band in power["observed face"]}
            record["persons"][person] = {"seconds": round(seconds, 1), "log_power": power, "gap": gap,
                                         "texels": {k: int(v.sum()) for k, v in regions.items()}}
            print(person, " ".join(f"{b} {g:+.2f}" for b, g in gap.items()), f"({seconds:.0f} s)", flush=True)
    bands = next(iter(record["persons"].values()))["gap"].keys()
    record["mean_gap"] = {b: float(np.mean([p["gap"][b] for p in record["persons"].values()])) for b in bands}
    print("mean gap (decades, hidden beyond face − observed face):",
          " ".join(f"{b} {g:+.2f}" for b, g in record["mean_gap"].items()))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"hidden-detail-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(record, indent=2))
    print(path)


if __name__ == "__main__":
    main()
