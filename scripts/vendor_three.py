"""Regenerate ``facetex/report/assets/three/`` (the report viewer's copy of three.js) from
``node_modules/three``.

The report's 3D viewer needs three.js. A source checkout has it in ``node_modules`` (``npm ci``,
version pinned in ``package.json``/``package-lock.json``), but an installed wheel has no
``node_modules``, so the package ships a copy of exactly the modules the viewer loads —
``facetex.report.html.VIEWER_MODULES`` and everything they import — byte for byte, at their
paths inside the npm package, with three.js's MIT ``LICENSE`` and its ``package.json`` (which
names the version) beside them. ``facetex.report.viewer_bundle.find_three`` falls back to this copy.

Usage (after ``npm ci``; run again whenever the pinned three version changes)::

    .venv/bin/python scripts/vendor_three.py            # write the copy
    .venv/bin/python scripts/vendor_three.py --check    # exit 1 if the copy is stale
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "node_modules" / "three"
TARGET = REPO / "facetex" / "report" / "assets" / "three"


def wanted_files(three: Path) -> list[str]:
    """Paths inside the npm package that the vendored copy holds."""
    from facetex.report.viewer_bundle import viewer_module_files

    return sorted(viewer_module_files(three)) + ["LICENSE", "package.json"]


def stale(three: Path, target: Path) -> list[str]:
    """Files of the copy that are missing, differ from ``three`` or are not needed."""
    wanted = wanted_files(three)
    problems = [name for name in wanted
                if not (target / name).is_file() or (target / name).read_bytes() != (three / name).read_bytes()]
    if target.is_dir():
        present = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
        problems += sorted(present - set(wanted))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="the npm package three (default node_modules/three)")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if the copy is stale")
    args = parser.parse_args(argv)
    if not (args.source / "package.json").is_file():
        print(f"vendor_three: no npm package three at {args.source}; run `npm ci` first", file=sys.stderr)
        return 2
    version = json.loads((args.source / "package.json").read_text(encoding="utf-8"))["version"]
    if args.check:
        problems = stale(args.source, TARGET)
        for name in problems:
            print(f"stale: {name}")
        print(f"three {version}: copy is {'stale' if problems else 'up to date'}")
        return 1 if problems else 0
    if TARGET.exists():
        shutil.rmtree(TARGET)
    for name in wanted_files(args.source):
        (TARGET / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.source / name, TARGET / name)
    print(f"wrote three {version} ({len(wanted_files(args.source))} files) to {TARGET.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
