"""Texture-stage benchmark: synthesis iteration and masked-Gram extraction times, peak memory.

Writes ``benchmarks/results/texture-<timestamp>.json`` and prints a table. Run from the
repository root::

    .venv/bin/python benchmarks/bench_texture.py [--sizes 256 512 1024] [--device cpu]

Per texture size R (each measured in a fresh child process, so its peak RSS is its own):

* ``fwd_bwd_s``: one evaluation of the §5 objective (VGG-19 to relu5_1, Grams at relu1_1 …
  relu5_1, content at relu4_2) with its backward pass, median of ``--repeats`` after a
  warm-up; fp32 (what synthesis runs) and bf16 autocast (for comparison).
* ``lbfgs_iteration_s``: wall time per iteration of ``synthesize_texture`` over
  ``--iterations`` L-BFGS iterations (line-search evaluations included; the first iteration's
  search takes ~4 evaluations, later ones ~1), after a warm-up run, fp32.
* ``masked_gram_per_exemplar_s``: ``compute_grams`` of ``--exemplars`` images under a mask in
  one batched call without gradients, divided by the number of images; fp32 and bf16.
* ``peak_rss_gib``: the child process's peak resident memory.

Timings are median and minimum of the repeats; on a shared machine the minimum is the better
estimate of the intrinsic cost (the 1-minute load average before and after is recorded).

Inputs are scikit-image's public-domain textures resized to R (timings do not depend on the
content). Not a test: run it by hand or with ``make bench``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import skimage.data
import torch

from facetex.io.atomic import write_json
from facetex.texture.analysis import compute_grams
from facetex.texture.config import TextureConfig
from facetex.texture.resample import resize
from facetex.texture.synthesis import make_targets, synthesis_loss, synthesize_texture
from facetex.texture.vgg import load_vgg19

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _measure(size: int, device: str, repeats: int, iterations: int, exemplars: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    config = TextureConfig(device=device, early_stop_tolerance=0.0)
    vgg = load_vgg19(device, channels_last=config.channels_last)
    sources = [getattr(skimage.data, n)().astype(np.float32) / 255.0 for n in ("brick", "grass", "gravel")]
    images = np.stack([resize(sources[i % 3], size) for i in range(exemplars)])
    mask = np.zeros((size, size), bool)
    mask[size // 8 : -size // 8, size // 8 : size // 2] = True

    def timed(fn) -> dict[str, float]:
        fn()  # warm-up
        samples = []
        for _ in range(repeats):
            if vgg.device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if vgg.device.type == "cuda":
                torch.cuda.synchronize()
            samples.append(time.perf_counter() - start)
        return {"median": statistics.median(samples), "min": min(samples)}

    target = compute_grams(images[:1], vgg, layers=config.gram_layers)
    init_y = images[1]
    targets = make_targets(init_y, target, vgg, config)
    x = torch.from_numpy(init_y)[None, None].to(vgg.device)

    def fwd_bwd(bf16: bool) -> None:
        y = x.clone().requires_grad_(True)
        autocast = torch.autocast(vgg.device.type, dtype=torch.bfloat16, enabled=bf16)
        with autocast:
            loss = synthesis_loss(y, targets, vgg, config.alpha)
        loss.float().backward()

    record: dict = {"size": size}
    record["fwd_bwd_s"] = {"fp32": timed(lambda: fwd_bwd(False)), "bf16": timed(lambda: fwd_bwd(True))}
    record["masked_gram_per_exemplar_s"] = {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        seconds = timed(
            lambda bf16=bf16: compute_grams(
                images, vgg, layers=config.gram_layers, mask=mask, batch_size=config.batch_size, bf16=bf16
            )
        )
        record["masked_gram_per_exemplar_s"][name] = {k: v / exemplars for k, v in seconds.items()}
    init_rgb = np.repeat(init_y[..., None], 3, axis=2)
    synthesize_texture(init_rgb, target, vgg, config, iterations=1, progress=False)  # warm-up
    result = synthesize_texture(init_rgb, target, vgg, config, iterations=iterations, progress=False)
    done = max(len(result.losses) - 1, 1)
    record["lbfgs_iteration_s"] = result.seconds / done
    record["lbfgs_iterations"] = done
    record["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="texture sizes R")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per measurement (median, min)")
    parser.add_argument("--iterations", type=int, default=5, help="L-BFGS iterations to time")
    parser.add_argument("--exemplars", type=int, default=4, help="images per masked-Gram extraction")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    measure = (args.device, args.repeats, args.iterations, args.exemplars, args.threads)
    if args.worker is not None:  # child process: one size, JSON on stdout
        print(json.dumps(_measure(args.worker, *measure)))
        return

    load_before = os.getloadavg()
    records = []
    for size in args.sizes:
        argv = [sys.executable, __file__, "--worker", str(size), "--device", args.device, "--repeats",
                str(args.repeats), "--iterations", str(args.iterations), "--exemplars", str(args.exemplars),
                "--threads", str(args.threads)]
        child = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True)
        records.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(f"measured {size}²", flush=True)

    report = {
        "benchmark": "texture",
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "torch": torch.__version__,
            "threads": args.threads,
            "device": args.device,
            "cpu_count": os.cpu_count(),
            # Other processes compete for the CPU on shared machines; keep the context.
            "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
        },
        "settings": vars(args),
        "results": records,
    }
    path = RESULTS_DIR / f"texture-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    write_json(path, report)

    print("seconds, median (min) of the repeats")
    header = f"{'size':>6} {'fwd+bwd fp32':>16} {'bf16':>16} {'L-BFGS it':>10} {'Gram/ex fp32':>16} {'bf16':>16} {'peak RSS':>9}"
    print(header)
    for r in records:
        cells = [
            f"{r[key][kind]['median']:.3f} ({r[key][kind]['min']:.3f})"
            for key in ("fwd_bwd_s", "masked_gram_per_exemplar_s")
            for kind in ("fp32", "bf16")
        ]
        print(
            f"{r['size']:>5}² {cells[0]:>16} {cells[1]:>16} {r['lbfgs_iteration_s']:>10.3f} "
            f"{cells[2]:>16} {cells[3]:>16} {r['peak_rss_gib']:>6.2f}GiB"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
