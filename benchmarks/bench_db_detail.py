"""How much fine detail a texture database carries: its albedo's power spectrum per band.

Compares two builds of the same photos at different resolutions (e.g. the default 512² London
database and a 1024² build, ``facetex build-db --resolution 1024``) on the same texels: the
lower-resolution maps are upsampled (bilinear) to the higher resolution, and the radially
averaged power spectrum of luminance (``facetex.evaluation.metrics.radial_power_spectrum``,
64² Hann-windowed patches lying entirely on texels both builds observed) is summed over bands
of cycles per face width (UV width = one face width). Above the lower build's Nyquist
frequency (R/2 c/fw) an upsampled map holds almost nothing, so the higher build's power there
is the detail that only it carries; how far it goes is limited by the photos (London: a face
~650 px wide, so ~325 c/fw at most).

Writes ``benchmarks/results/db-detail-<timestamp>.json`` and prints a table::

    .venv/bin/python benchmarks/bench_db_detail.py LOW.h5 HIGH.h5 [--subjects 40]

Not a test: it reads two databases from the cache (the 1024² build takes ~40 min).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PATCH = 64


def band_powers(spectrum, edges: list[float]) -> list[float]:
    """Power summed over the radial bins in each [edges[i], edges[i+1]) band (c/fw)."""
    f, p = spectrum.frequencies, spectrum.power
    return [float(p[(f >= lo) & (f < hi)].sum()) for lo, hi in zip(edges[:-1], edges[1:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("low", type=Path, help="the lower-resolution database")
    parser.add_argument("high", type=Path, help="the higher-resolution database (same photos)")
    parser.add_argument("--subjects", type=int, default=40, help="subjects compared (evenly spaced)")
    args = parser.parse_args()

    from facetex.database.fill import OBSERVED
    from facetex.database.store import load_database
    from facetex.evaluation.spectra import radial_power_spectrum, skin_patches
    from facetex.texture.color import luminance
    from facetex.texture.resample import resize

    low, high = load_database(args.low), load_database(args.high)
    ids_low = [s.subject_id for s in low.subjects()]
    ids_high = [s.subject_id for s in high.subjects()]
    shared = [s for s in ids_high if s in ids_low]
    if not shared:
        raise SystemExit("the two databases share no subject")
    pick = [shared[i] for i in np.linspace(0, len(shared) - 1, min(args.subjects, len(shared))).round().astype(int)]
    size = high.resolution
    edges = [16.0, 64.0, low.resolution / 4, low.resolution / 2, size / 2 + 1]
    textures_low, textures_high = low.subject_textures(pick), high.subject_textures(pick)
    fill_low, fill_high = low.fill_maps(), high.fill_maps()
    totals = {"low_upsampled": np.zeros(len(edges) - 1), "high": np.zeros(len(edges) - 1)}
    patches = 0
    for k, subject in enumerate(pick):
        i, j = ids_low.index(subject), ids_high.index(subject)
        both = (fill_high[j] == OBSERVED) & (resize((fill_low[i] == OBSERVED).astype(np.float32), size) > 0.999)
        corners = skin_patches(both, PATCH)
        if not corners:
            continue
        y_low = resize(luminance(textures_low[k]), size)
        y_high = luminance(textures_high[k])
        totals["low_upsampled"] += band_powers(radial_power_spectrum(y_low, corners, PATCH), edges)
        totals["high"] += band_powers(radial_power_spectrum(y_high, corners, PATCH), edges)
        patches += len(corners)
    bands = [f"{lo:g}–{hi - 1 if k == len(edges) - 2 else hi:g}" for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))]
    result = {
        "low": str(args.low), "high": str(args.high), "low_resolution": low.resolution, "high_resolution": size,
        "subjects": pick, "patches": patches, "patch": PATCH, "bands_cycles_per_face_width": bands,
        "power_low_upsampled": (totals["low_upsampled"] / len(pick)).tolist(),
        "power_high": (totals["high"] / len(pick)).tolist(),
        "ratio_high_over_low": (totals["high"] / np.maximum(totals["low_upsampled"], 1e-30)).tolist(),
    }
    print(f"{len(pick)} subjects, {patches} patches of {PATCH}² at {size}²; luminance power per band (c/fw):")
    print("band | low upsampled | high | high / low")
    for k, band in enumerate(bands):
        print(f"{band} | {result['power_low_upsampled'][k]:.3g} | {result['power_high'][k]:.3g} | "
              f"{result['ratio_high_over_low'][k]:.2f}")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"db-detail-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
