"""The installed package (issue 15, "Installed as a wheel"): the wheel ships the report
viewer's copy of three.js with its licence, declares the extras, and an unpacked wheel finds
three.js without a checkout's node_modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from facetex.report.viewer_bundle import VENDORED_THREE, viewer_module_files

REPO = Path(__file__).resolve().parents[1]
THREE_FILES = sorted(viewer_module_files(VENDORED_THREE)) + ["LICENSE", "package.json"]


def test_vendored_three_is_complete_and_matches_the_pinned_version():
    for name in THREE_FILES:
        assert (VENDORED_THREE / name).is_file(), name
    assert "MIT" in (VENDORED_THREE / "LICENSE").read_text(encoding="utf-8")
    lock = json.loads((REPO / "package-lock.json").read_text(encoding="utf-8"))
    pinned = lock["packages"]["node_modules/three"]["version"]
    assert json.loads((VENDORED_THREE / "package.json").read_text(encoding="utf-8"))["version"] == pinned


def test_vendored_three_equals_node_modules():
    if not (REPO / "node_modules" / "three" / "package.json").is_file():
        pytest.skip("node_modules/three is not installed (npm ci); nothing to compare with")
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "vendor_three.py"), "--check"],
                         capture_output=True, text=True, check=False, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr + " (run scripts/vendor_three.py)"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        capture_output=True, text=True, check=False, timeout=300,
    )
    if run.returncode != 0:
        pytest.fail(f"pip wheel failed: {run.stderr[-2000:]}")
    (path,) = out.glob("facetex-*.whl")
    return path


def test_wheel_ships_three_and_its_licence_and_declares_the_extras(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = next(z.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    for name in THREE_FILES:
        assert f"facetex/report/assets/three/{name}" in names, name
    assert {"facetex/report/assets/viewer.js", "facetex/geometry/data/face_mesh.json"} <= names
    assert all(f"Provides-Extra: {extra}" in metadata for extra in ("render", "eval", "ray"))
    assert "mitsuba==3.9.1; extra == \"render\"" in metadata.replace("'", '"')
    assert "ray==2.60.0; extra == \"ray\"" in metadata.replace("'", '"')


def test_unpacked_wheel_finds_its_own_three(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    code = (
        "import facetex.report.html as h; path, reason = h.find_three(); "
        "print(h.__file__); print(path); print(reason)"
    )
    env = {k: v for k, v in os.environ.items() if k != "FACETEX_THREE_DIR"}
    env["PYTHONPATH"] = str(site)
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=False, timeout=120)
    assert run.returncode == 0, run.stderr
    module, found, _ = run.stdout.splitlines()[-3:]
    assert Path(module).is_relative_to(site)
    # the checkout's node_modules comes first when facetex runs from a checkout; an installed
    # package has none beside it, so it uses the copy it ships.
    assert Path(found) == site / "facetex" / "report" / "assets" / "three"


def test_report_viewer_from_the_vendored_copy(tmp_path):
    from facetex.report import write_report

    glb = tmp_path / "face.glb"
    glb.write_bytes(b"glTF")  # the report embeds it as given
    page = write_report(tmp_path / "result", glb_path=glb, three_dir=VENDORED_THREE).read_text(encoding="utf-8")
    three = tmp_path / "result" / "report_files" / "three"
    assert (three / "build" / "three.module.js").is_file() and (three / "LICENSE").is_file()
    version = json.loads((VENDORED_THREE / "package.json").read_text(encoding="utf-8"))["version"]
    assert "report_files/three/build/three.core.js" in page and f"three.js {version}" in page
