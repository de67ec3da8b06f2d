"""The report's 3D viewer in a real browser: headless Chromium (Debian) driven by playwright-core.

The page is opened from disk (file://) and from a local http server; both must draw a
textured, correctly oriented face and log no error. Skipped with a reason when Chromium, node
or the npm packages are missing, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facetex.report import write_report

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("viewer_check.mjs")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _require_browser() -> str:
    node = shutil.which("node")
    missing = []
    if node is None:
        missing.append("node (Debian package nodejs)")
    if not Path(CHROMIUM).is_file():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    for package in ("playwright-core", "three"):
        if not (REPO / "node_modules" / package / "package.json").is_file():
            missing.append(f"npm package {package} (npm ci)")
    if missing:
        message = "browser test needs " + ", ".join(missing) + "; `make setup` installs them"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return node


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture()
def served(tmp_path):
    """A static http server on 127.0.0.1 (ephemeral port) serving a folder; yields its base URL."""
    servers = []

    def serve(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def _face_stats(shot: np.ndarray) -> dict[str, float]:
    """Split the screenshot into background (the viewer's flat clear colour) and face pixels."""
    shot = shot[6:-6, 6:-6]  # the element's screenshot may include a sub-pixel page border
    background = shot[0, 0].astype(int)
    face = np.abs(shot.astype(int) - background).sum(axis=-1) > 24
    rows, cols = np.nonzero(face)
    img = shot.astype(np.float64) / 255.0
    r, b = img[..., 0], img[..., 2]
    mid_r, mid_c = (rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2
    left = face & (np.arange(shot.shape[1])[None, :] < cols.min() + 0.2 * (cols.max() - cols.min()))
    right = face & (np.arange(shot.shape[1])[None, :] > cols.max() - 0.2 * (cols.max() - cols.min()))
    top = face & (np.arange(shot.shape[0])[:, None] < rows.min() + 0.12 * (rows.max() - rows.min()))
    bottom = (
        face
        & (np.arange(shot.shape[0])[:, None] > mid_r)
        & (np.abs(np.arange(shot.shape[1]) - mid_c)[None, :] < 0.2 * (cols.max() - cols.min()))
    )
    return {
        "coverage": float(face.mean()),
        "std": float(img[face].mean(axis=-1).std()),
        "colours": float(len(np.unique(shot[face] // 8, axis=0))),
        "red_left": float((r - b)[left].mean()),
        "red_right": float((r - b)[right].mean()),
        "blue_top": float((b - r)[top].mean()),
        "blue_bottom": float((b - r)[bottom].mean()),
        "skin_rg": float((img[..., 0] - img[..., 2])[bottom].mean()),
    }


def test_viewer_draws_the_textured_face_from_disk_and_http(face_result, served, tmp_path):
    node = _require_browser()
    folder, _, _ = face_result
    report = write_report(folder, title="browser test", glb_path=folder / "face.glb")
    base = served(folder)
    urls = [report.as_uri(), f"{base}/{report.name}"]
    shots = tmp_path / "shots"
    shots.mkdir()
    proc = subprocess.run(
        [node, str(SCRIPT), str(shots), *urls],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "CHROMIUM_PATH": CHROMIUM},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(result["pages"]) == 2
    for page in result["pages"]:
        where = page["url"]
        assert page["error"] is None, where
        assert page["ready"] is True, where
        assert page["consoleErrors"] == [] and page["pageErrors"] == [], (where, page)
        assert page["failedRequests"] == [], (where, page["failedRequests"])
        assert page["brokenImages"] == [], where
        assert page["webgl"] and "WebGL 2" in page["webgl"]
        shot = np.asarray(Image.open(page["screenshot"]).convert("RGB"))
        stats = _face_stats(shot)
        assert 0.1 < stats["coverage"] < 0.8, stats  # a face, framed, on the background
        assert stats["std"] > 0.05 and stats["colours"] > 200, stats  # textured, not flat-shaded
        # Orientation: the red-tinted u < 0.25 band shows on the left, the blue forehead on top.
        assert stats["red_left"] > stats["red_right"] + 0.1, stats
        assert stats["blue_top"] > stats["blue_bottom"] + 0.1, stats
        assert stats["skin_rg"] > 0.05, stats  # the untinted lower face is skin-coloured (R > B)


def test_the_jaw_open_slider_moves_the_mouth_and_nothing_far_from_it(rigged_result, tmp_path):
    """Issue 19, step 5: a GLB with the ARKit blendshapes gets expression sliders and a neutral /
    fitted toggle; opening the jaw changes the picture around the mouth, not the brow."""
    node = _require_browser()
    report = write_report(rigged_result, title="rig test", glb_path=rigged_result / "face.glb")
    shots = tmp_path / "shots"
    shots.mkdir()
    proc = subprocess.run(
        [node, str(SCRIPT), str(shots), report.as_uri()],
        cwd=REPO, capture_output=True, text=True, timeout=240,
        env={**os.environ, "CHROMIUM_PATH": CHROMIUM, "SLIDER": "expr-jaw-open"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (page,) = json.loads(proc.stdout.strip().splitlines()[-1])["pages"]
    assert page["error"] is None and page["ready"] is True and page["consoleErrors"] == [], page
    assert page["expressions"] == ["expr-jaw-open", "expr-smile", "expr-blink", "expr-brow-raise",
                                   "expr-neutral", "expr-fitted"]
    before = np.asarray(Image.open(page["screenshot"]).convert("RGB")).astype(int)[6:-6, 6:-6]
    after = np.asarray(Image.open(page["sliderScreenshot"]).convert("RGB")).astype(int)[6:-6, 6:-6]
    face = np.abs(before - before[0, 0]).sum(axis=-1) > 24
    rows, cols = np.nonzero(face)
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    changed = np.abs(after - before).sum(axis=-1) > 40
    y, x = np.nonzero(changed)
    assert changed.sum() > 0.01 * face.sum()  # the mouth opens
    height, width = bottom - top, right - left
    # the change is centred low on the face (the mouth and chin lie 55–90 % down the tile's height)
    assert top + 0.5 * height < np.median(y) < bottom, (np.median(y), top, bottom)
    assert abs(np.median(x) - (left + right) / 2) < 0.15 * width
    assert (y < top + 0.35 * height).mean() < 0.01  # nothing moves at the forehead and brows
