"""Bump (height) and tangent-space normal maps from the synthesised albedo detail.

The paper renders its results with a bump map derived from the inferred texture (Saito et al.
2017, Figs. 1 and 10: "photorealistic renderings in novel lighting"). The high frequencies of a
skin albedo are mostly mesoscopic geometry seen through shading (pores, fine wrinkles), so the
height is taken as the high-pass of the albedo luminance, darker being deeper:

    Y      = 0.299 R + 0.587 G + 0.114 B                 (Y of YIQ: facetex.texture.color)
    h [mm] = depth_mm_per_unit · (Y − G_σ ∗ Y)            (G_σ: Gaussian low-pass on the chart)

Low-pass is a normalised convolution over the chart only, so the 0.5 fill outside the chart
does not create a false ridge along its border. Maps follow the facetex UV convention (square
R × R, v = 1 at the top row) and hold the neutral value outside the chart.

Edge padding (:func:`pad_chart`) is for files handed to renderers only: bilinear filtering and
mipmaps at the chart's edge mix in texels outside it, so exported maps carry the chart's own
colours a few texels past its edge. Maps facetex computes with keep the neutral fill
(``docs/design.md#conventions``).

Encodings (float32 arrays, as the rest of facetex; write them with facetex.io.atomic):

* bump : (R, R) in [0, 1], ``0.5 + h / bump_range_mm`` clipped, so 0.5 is the surface and the
  range covers ±bump_range_mm / 2 of relief. 0.5 off the chart.
* normal : (R, R, 3) in [0, 1], ``(n + 1) / 2`` with n the unit tangent-space normal in the
  **OpenGL convention**: +X (red) along +u (right), +Y (green) along +v (up in the stored
  image), +Z (blue) out of the surface — glTF's and three.js's convention. Flat (0.5, 0.5, 1)
  off the chart. n ∝ (−∂h/∂x, −∂h/∂y, 1) with x, y in mm on the surface, one texel spanning
  ``uv_extent_mm / R`` mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facetex.checks import check_number
from facetex.errors import InputImageError, ShapeMismatchError
from facetex.texture.color import luminance

__all__ = [
    "DetailMapConfig",
    "DetailMaps",
    "height_from_albedo",
    "bump_from_height",
    "normal_from_height",
    "detail_maps",
    "FLAT_NORMAL",
    "pad_chart",
    "padding_texels",
]

FLAT_NORMAL = np.array([0.5, 0.5, 1.0], dtype=np.float32)
"""Encoded tangent-space normal of an unperturbed surface."""


@dataclass(frozen=True)
class DetailMapConfig:
    """Settings of :func:`detail_maps`.

    Attributes
    ----------
    lowpass_sigma : standard deviation of the Gaussian low-pass as a fraction of the UV side
        (1/128 → 5 texels at 640², about 2.3 mm on the ICT face tile): detail finer than this
        (pores, fine wrinkles) becomes relief.
    depth_mm_per_unit : millimetres of depth per unit of high-pass luminance (Y in [0, 1]); a
        pore 0.1 darker than its surroundings is 0.1 mm deep at the default 1.0.
    bump_range_mm : relief range that the bump map's [0, 1] spans (±0.25 mm at 0.5).
    uv_extent_mm : size on the face of the whole UV square; sets the texel size for gradients.
        The ICT face tile (the default model's chart, ear to ear and forehead to neck) holds
        296 mm of surface per UV unit (the square root of its surface area over its UV area;
        ``tests/render/test_maps.py``); mediapipe's mask chart held 235 mm (set 200 then).
    """

    lowpass_sigma: float = 1.0 / 128.0
    depth_mm_per_unit: float = 1.0
    bump_range_mm: float = 0.5
    uv_extent_mm: float = 300.0

    def __post_init__(self) -> None:
        check_number("lowpass_sigma", self.lowpass_sigma, 0.0, 0.5, low_open=True)
        check_number("depth_mm_per_unit", self.depth_mm_per_unit, -100.0, 100.0)
        check_number("bump_range_mm", self.bump_range_mm, 0.0, 100.0, low_open=True)
        check_number("uv_extent_mm", self.uv_extent_mm, 0.0, 10_000.0, low_open=True)


@dataclass(frozen=True)
class DetailMaps:
    """Relief derived from an albedo (module doc gives encodings and conventions).

    Attributes
    ----------
    height_mm : (R, R) float32, signed height in mm, 0 off the chart.
    bump : (R, R) float32 in [0, 1], 0.5 = no displacement.
    normal : (R, R, 3) float32 in [0, 1], OpenGL tangent-space encoding.
    """

    height_mm: np.ndarray
    bump: np.ndarray
    normal: np.ndarray


def _check_chart(chart: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    if chart is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(chart, dtype=bool)
    if mask.shape != shape:
        raise ShapeMismatchError(f"chart must have shape {shape}, got {mask.shape}")
    return mask


def height_from_albedo(
    albedo: np.ndarray, chart: np.ndarray | None = None, config: DetailMapConfig = DetailMapConfig()
) -> np.ndarray:
    """Height (mm) from the high-pass of the albedo luminance (module doc).

    Parameters
    ----------
    albedo : (R, R, 3) float32 in [0, 1], UV albedo (facetex UV convention).
    chart : (R, R) bool, texels inside the UV chart; None means all texels.
    config : low-pass width and depth scale.

    Returns
    -------
    (R, R) float32, mm; darker than the local mean → negative (deeper); 0 off the chart.

    Raises
    ------
    InputImageError
        If ``albedo`` is not a square RGB image in [0, 1].
    ShapeMismatchError
        If ``chart`` does not match it.
    """
    from scipy.ndimage import gaussian_filter

    arr = np.asarray(albedo, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 2:
        raise InputImageError(f"albedo must be a square (R, R, 3) UV map, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or arr.min() < 0.0 or arr.max() > 1.0:
        raise InputImageError("albedo must hold finite values in [0, 1]")
    if config.lowpass_sigma <= 0.0:
        raise ValueError(f"lowpass_sigma must be > 0, got {config.lowpass_sigma}")
    mask = _check_chart(chart, arr.shape[:2])
    y = luminance(arr).astype(np.float64)
    m = mask.astype(np.float64)
    sigma = config.lowpass_sigma * arr.shape[0]
    num = gaussian_filter(y * m, sigma, mode="nearest")
    den = gaussian_filter(m, sigma, mode="nearest")
    low = np.divide(num, den, out=np.zeros_like(num), where=den > 1e-8)
    height = np.where(mask, (y - low) * config.depth_mm_per_unit, 0.0)
    return height.astype(np.float32)


def bump_from_height(
    height_mm: np.ndarray, chart: np.ndarray | None = None, config: DetailMapConfig = DetailMapConfig()
) -> np.ndarray:
    """Encode a height map (R, R) mm as a bump map (R, R) float32 in [0, 1]; 0.5 off the chart."""
    h = np.asarray(height_mm, dtype=np.float64)
    if h.ndim != 2:
        raise ShapeMismatchError(f"height must have shape (R, R), got {h.shape}")
    if config.bump_range_mm <= 0.0:
        raise ValueError(f"bump_range_mm must be > 0, got {config.bump_range_mm}")
    mask = _check_chart(chart, h.shape)
    bump = np.clip(0.5 + h / config.bump_range_mm, 0.0, 1.0)
    return np.where(mask, bump, 0.5).astype(np.float32)


def normal_from_height(
    height_mm: np.ndarray, chart: np.ndarray | None = None, *, texel_mm: float
) -> np.ndarray:
    """Tangent-space normal map from a height field, OpenGL convention (module doc).

    Parameters
    ----------
    height_mm : (H, W) float, height in mm; row 0 is the top of the map (largest v).
    chart : (H, W) bool or None; texels outside get the flat normal (0.5, 0.5, 1).
    texel_mm : size of one texel on the surface, mm.

    Returns
    -------
    (H, W, 3) float32 in [0, 1], ``(n + 1) / 2`` with n ∝ (−∂h/∂x, −∂h/∂y, 1), x along +u
    (columns), y along +v (up: decreasing rows). Central differences inside, one-sided at the
    border of the array; at the chart's border the height is edge-padded first (a height of 0
    beyond the chart would tilt the border texels' normals into a shaded line where a part of
    the head meets the face).
    """
    h = np.asarray(height_mm, dtype=np.float64)
    if h.ndim != 2 or min(h.shape) < 2:
        raise ShapeMismatchError(f"height must have shape (H, W) with H, W >= 2, got {h.shape}")
    if texel_mm <= 0.0:
        raise ValueError(f"texel_mm must be > 0, got {texel_mm}")
    mask = _check_chart(chart, h.shape)
    if not mask.all():  # slopes at the chart's border from the height edge-padded past it, not from 0
        h = pad_chart(h, mask, 2)
    d_rows, d_cols = np.gradient(h, texel_mm)
    dh_dx = d_cols
    dh_dy = -d_rows  # +y (= +v) points to smaller row indices
    n = np.stack([-dh_dx, -dh_dy, np.ones_like(h)], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    encoded = (n + 1.0) * 0.5
    encoded[~mask] = FLAT_NORMAL
    return encoded.astype(np.float32)


def detail_maps(
    albedo: np.ndarray, chart: np.ndarray | None = None, config: DetailMapConfig = DetailMapConfig()
) -> DetailMaps:
    """Height, bump and normal maps of a UV albedo (module doc).

    Parameters
    ----------
    albedo : (R, R, 3) float32 in [0, 1], e.g. ``SynthesisResult.rgb``.
    chart : (R, R) bool, e.g. ``PartialAlbedo.chart``; None means all texels.
    config : :class:`DetailMapConfig`.
    """
    height = height_from_albedo(albedo, chart, config)
    texel_mm = config.uv_extent_mm / height.shape[0]
    return DetailMaps(
        height_mm=height,
        bump=bump_from_height(height, chart, config),
        normal=normal_from_height(height, chart, texel_mm=texel_mm),
    )


def padding_texels(resolution: int, texels_at_512: int = 8) -> int:
    """Width of the edge padding at R × R: ``texels_at_512`` scaled by R / 512, at least 1 (0 → 0)."""
    if texels_at_512 <= 0:
        return 0
    return max(1, int(round(texels_at_512 * resolution / 512.0)))


def pad_chart(image: np.ndarray, chart: np.ndarray, texels: int) -> np.ndarray:
    """Edge padding (dilation) of a UV map past its chart, for exported textures.

    Standard texture-atlas gutter filling: ``texels`` times, every off-chart texel with at least
    one already-filled 8-neighbour takes the mean of those neighbours. Texels on the chart are
    returned unchanged; texels farther than ``texels`` from it keep their value (the 0.5 fill).

    Parameters
    ----------
    image : (R, R) or (R, R, C) float array (albedo, normal or bump map).
    chart : (R, R) bool, texels that hold the map's values (e.g. ``PartialAlbedo.chart``).
    texels : number of rings to fill (:func:`padding_texels` gives a resolution-scaled width).

    Returns
    -------
    A padded copy, same shape and dtype as ``image``.

    Raises
    ------
    ShapeMismatchError
        If ``chart`` does not match the image's first two axes.
    """
    arr = np.asarray(image)
    mask = _check_chart(chart, arr.shape[:2])
    if arr.ndim not in (2, 3):
        raise ShapeMismatchError(f"image must have shape (R, R) or (R, R, C), got {arr.shape}")
    values = arr.reshape(arr.shape[0], arr.shape[1], -1).astype(np.float64)
    filled = mask.copy()
    values[~filled] = 0.0
    if not filled.any():
        return arr.copy()
    height, width = filled.shape
    for _ in range(int(texels)):
        total = np.zeros_like(values)
        count = np.zeros(filled.shape, dtype=np.float64)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy == 0 and dx == 0:
                    continue
                # target [y, x] reads source [y + dy, x + dx]
                ty = slice(max(0, -dy), height - max(0, dy))
                tx = slice(max(0, -dx), width - max(0, dx))
                sy = slice(max(0, dy), height - max(0, -dy))
                sx = slice(max(0, dx), width - max(0, -dx))
                src = filled[sy, sx]
                total[ty, tx] += values[sy, sx] * src[..., None]
                count[ty, tx] += src
        grow = ~filled & (count > 0)
        if not grow.any():
            break
        values[grow] = total[grow] / count[grow][:, None]
        filled |= grow
    out = np.where(filled[..., None], values, arr.reshape(values.shape))
    return out.reshape(arr.shape).astype(arr.dtype)
