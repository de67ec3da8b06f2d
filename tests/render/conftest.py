"""Fixtures of tests/render: a small dome-shaped face patch with exact UVs, and a photo texture."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from skimage import data
from skimage.transform import resize


REPO = Path(__file__).resolve().parents[2]


def khronos_validation(glb: Path) -> dict:
    """The Khronos glTF validator's ``issues`` report of one GLB (npm gltf-validator, pinned in
    package.json; tests/render/validate_gltf.mjs). Skips, or fails under CI, without node."""
    node = shutil.which("node")
    validator = REPO / "node_modules" / "gltf-validator" / "package.json"
    if node is None or not validator.is_file():
        message = "needs node and the npm package gltf-validator (npm ci; `make setup` installs both)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    run = subprocess.run(
        [node, str(Path(__file__).with_name("validate_gltf.mjs")), str(glb)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)["issues"]


def dome_patch(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An n × n vertex grid on a dome facing +z (model frame, cm) whose vertex (i, j) has its UV at
    the centre of texel (i, j) of an n × n texture (row 0 = top = largest v).

    Returns vertices (n², 3), faces (2(n−1)², 3) CCW seen from +z, uvs (n², 2).
    """
    centres = (np.arange(n) + 0.5) / n
    u, v_top = np.meshgrid(centres, centres)  # [i, j]: u = (j + .5)/n, v_top = (i + .5)/n
    v = 1.0 - v_top
    uv = np.stack([u.ravel(), v.ravel()], axis=1)
    x = (uv[:, 0] - 0.5) * 14.0
    y = (uv[:, 1] - 0.5) * 18.0
    z = 6.0 * (1.0 - ((x / 9.0) ** 2 + (y / 11.0) ** 2))
    vertices = np.stack([x, y, z], axis=1)
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b = i * n + j, i * n + j + 1  # top row (larger y)
            c, d = a + n, b + n  # row below
            faces += [[a, c, d], [a, d, b]]  # counter-clockwise seen from +z
    return vertices, np.asarray(faces, dtype=np.int64), uv


@pytest.fixture(scope="session")
def photo_crop() -> np.ndarray:
    """The astronaut's face (public domain, skimage), (140, 130, 3) float32 in [0, 1]."""
    return (data.astronaut()[50:190, 160:290].astype(np.float32) / 255.0).copy()


@pytest.fixture()
def photo_texture(photo_crop):
    """Resize the face crop to an R × R texture."""

    def make(resolution: int) -> np.ndarray:
        return resize(photo_crop, (resolution, resolution), anti_aliasing=True).astype(np.float32)

    return make
