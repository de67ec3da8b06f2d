"""The project's own environment map for image-based lighting: a photo studio made in code.

No HDR file is shipped or downloaded: :func:`studio_environment` builds a latitude-longitude
map of linear radiance from a few soft boxes in a dim room, deterministically, and
:func:`write_environment` saves it as Radiance ``.hdr`` so that a render can be repeated in
another renderer (Blender's world texture reads it).

Frame: the export frame of :mod:`facetex.render.textured_mesh` (y up, +z towards the viewer of
the frontal view, +x to that viewer's right). Layout as Mitsuba's ``envmap`` plugin reads it: row
``i`` holds polar angle θ = (i + ½)/H · π from +y (row 0 straight up), column ``j`` the angle
φ = (j + ½)/W · 2π with direction (sin θ sin φ, cos θ, −sin θ cos φ): the middle column faces
the frontal camera (+z), the first and last face away from it (−z). Checked by
``tests/render/test_mitsuba_render.py`` with a single bright patch.

The lights (azimuth from +z towards +x, elevation above the horizon, both in degrees):

======  ========  =========  ===========  ==================================
light   azimuth   elevation  half size    radiance (linear, before colour)
======  ========  =========  ===========  ==================================
key     −45       30         18 × 24      5.0, warm white
fill    +60        5         25 × 30      1.2, cool white
rim     +150      35         10 × 20      6.0, neutral
======  ========  =========  ===========  ==================================

The key's irradiance on a surface facing it is ≈ 2.6, so a white Lambertian reads ≈ 0.7 before
the room's ambient light (ceiling 0.25, walls 0.12, floor 0.05, warm).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facetex.errors import OutputError
from facetex.io.atomic import atomic_path

__all__ = ["SoftBox", "STUDIO_LIGHTS", "direction_grid", "studio_environment", "write_environment"]


@dataclass(frozen=True)
class SoftBox:
    """A rectangular light in angle: centre (azimuth, elevation) and half extents, in degrees;
    ``radiance`` is linear RGB."""

    name: str
    azimuth_deg: float
    elevation_deg: float
    half_width_deg: float
    half_height_deg: float
    radiance: tuple[float, float, float]


STUDIO_LIGHTS = (
    SoftBox("key", -45.0, 30.0, 18.0, 24.0, (5.0, 4.85, 4.6)),
    SoftBox("fill", 60.0, 5.0, 25.0, 30.0, (1.14, 1.18, 1.2)),
    SoftBox("rim", 150.0, 35.0, 10.0, 20.0, (6.0, 6.0, 6.0)),
)

_EDGE_DEG = 2.0  # soft boxes fade out over this angle, so the map has no aliased edge


def direction_grid(height: int) -> np.ndarray:
    """Unit directions of the texel centres of a (height, 2·height) latitude-longitude map.

    Returns
    -------
    (height, 2·height, 3) float64, export frame (module doc).
    """
    theta = (np.arange(height) + 0.5) / height * np.pi
    phi = (np.arange(2 * height) + 0.5) / (2 * height) * 2 * np.pi
    sin_t = np.sin(theta)[:, None]
    return np.stack(
        [sin_t * np.sin(phi)[None, :], np.repeat(np.cos(theta)[:, None], 2 * height, axis=1),
         -sin_t * np.cos(phi)[None, :]],
        axis=-1,
    )


def _smooth_inside(distance_deg: np.ndarray) -> np.ndarray:
    """1 well inside (negative distance to the edge), 0 outside, a smoothstep across the edge."""
    t = np.clip(0.5 - distance_deg / _EDGE_DEG, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def studio_environment(height: int = 256, lights: tuple[SoftBox, ...] = STUDIO_LIGHTS) -> np.ndarray:
    """The studio map of the module doc.

    Returns
    -------
    (height, 2·height, 3) float32, linear radiance, rows and columns as the module doc says.
    """
    if height < 4:
        raise ValueError(f"environment height must be >= 4, got {height}")
    d = direction_grid(height)
    up = d[..., 1]
    ceiling = np.array([0.25, 0.25, 0.26])
    walls = np.array([0.12, 0.12, 0.12])
    floor = np.array([0.05, 0.045, 0.04])
    w_up = np.clip(up, 0.0, 1.0)[..., None]
    w_down = np.clip(-up, 0.0, 1.0)[..., None] ** 0.5
    env = walls + w_up * (ceiling - walls) + w_down * (floor - walls)
    azimuth = np.degrees(np.arctan2(d[..., 0], d[..., 2]))
    elevation = np.degrees(np.arcsin(np.clip(up, -1.0, 1.0)))
    for light in lights:
        d_az = (azimuth - light.azimuth_deg + 180.0) % 360.0 - 180.0
        d_az = d_az * np.cos(np.radians(elevation))  # angular width, not longitude, across the box
        edge = np.maximum(np.abs(d_az) - light.half_width_deg, np.abs(elevation - light.elevation_deg) - light.half_height_deg)
        env = env + _smooth_inside(edge)[..., None] * np.asarray(light.radiance)
    return env.astype(np.float32)


def write_environment(path: str | Path, env: np.ndarray) -> Path:
    """Write a linear-radiance map as Radiance RGBE ``.hdr`` (atomically); returns the path."""
    import cv2

    path = Path(path)
    if path.suffix.lower() != ".hdr":
        raise ValueError(f"an environment map is written as .hdr, got {path.name}")
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(env[..., ::-1], dtype=np.float32)):
            raise OutputError(f"cannot write {path}")
    return path
