"""Specular highlight removal in SUV colour space (Mallick, Zickler, Kriegman & Belhumeur,
"Beyond Lambert: Reconstructing Specular Surfaces Using Color", CVPR 2005), as the paper does
for its database photos (§6: "filtering the specular peak of the S channel").

Under the dichromatic model a pixel's linear radiance is ``c = σ_d·d + σ_s·s``: a diffuse
colour ``d`` plus a specular term along the colour ``s`` of the light. Rotating linear RGB so
that the first axis is ``s`` gives SUV space: U and V do not contain the specular term, S holds
the diffuse part of the first axis plus all of it. For one skin colour the diffuse part of S is
proportional to the chroma ‖UV‖ (both scale with the shading σ_d): S_d ≈ k·‖UV‖. What is done
here, on the facial skin region of a photo:

1. linearise sRGB (the model adds radiances; in sRGB code values a bright highlight loses
   chroma and would look far more specular than it is);
2. smooth U, V (JPEG keeps chroma at half resolution in 8×8 blocks); pixels the camera clipped
   have lost U, V, which are inpainted from around them;
3. estimate the diffuse ratio k locally (a windowed mean of S/‖UV‖ with outliers clipped),
   so a paler forehead or redder cheeks keep their tone and only *peaks* count as specular;
4. remove from S a smooth layer of its excess over k·‖UV‖, weighted from 0 (ratio at k) to 1
   (ratio k + spread, spread from the MAD of the ratio) and gated to pixels brighter than the
   region's median S (highlights are bright; grey stubble also has a high ratio but is dark);
   clipped pixels get S = k·‖UV‖;
5. rotate back and re-encode sRGB.
"""

from __future__ import annotations

import numpy as np

from facetex.database.config import SpecularConfig
from facetex.errors import EmptyMaskError, ShapeMismatchError

__all__ = [
    "suv_basis",
    "rgb_to_suv",
    "suv_to_rgb",
    "srgb_to_linear",
    "linear_to_srgb",
    "estimate_source_color",
    "remove_specular",
]


def suv_basis(source_rgb: np.ndarray | tuple[float, float, float] = (1.0, 1.0, 1.0)) -> np.ndarray:
    """Orthonormal rotation from RGB to SUV whose first row is the source colour direction.

    Parameters
    ----------
    source_rgb : (3,) positive RGB colour of the light source (any scale).

    Returns
    -------
    (3, 3) float64 rotation ``B`` with ``suv = B @ rgb``; row 0 is ``source / ‖source‖``, rows
    1 and 2 span its orthogonal complement (their orientation within it is arbitrary, only
    ‖UV‖ is used).
    """
    s = np.asarray(source_rgb, dtype=np.float64).reshape(-1)
    if s.shape != (3,) or not np.all(np.isfinite(s)) or np.any(s < 0) or s.sum() <= 0:
        raise ValueError(f"source colour must be 3 finite non-negative values, got {source_rgb!r}")
    s = s / np.linalg.norm(s)
    helper = np.eye(3)[int(np.argmin(np.abs(s)))]
    u = helper - s * (helper @ s)
    u /= np.linalg.norm(u)
    v = np.cross(s, u)
    return np.stack([s, u, v])


def rgb_to_suv(image: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB → (H, W, 3) SUV, float64, with ``basis`` from :func:`suv_basis`."""
    return np.asarray(image, dtype=np.float64) @ basis.T


def suv_to_rgb(suv: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """(H, W, 3) SUV → (H, W, 3) RGB, float64 (inverse of :func:`rgb_to_suv`)."""
    return np.asarray(suv, dtype=np.float64) @ basis


def estimate_source_color(image: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Light colour from a backdrop lit by the same source: the median RGB of its pixels.

    Parameters
    ----------
    image : (H, W, 3) float RGB in [0, 1].
    background : (H, W) bool, pixels of the backdrop (e.g. ``person_mask < 0.5``).

    Returns
    -------
    (3,) float64 unit vector.
    """
    image = _check_image(image)
    background = _check_mask(background, image, "background")
    pixels = image[background]
    if pixels.shape[0] == 0:
        raise EmptyMaskError("the background mask selects no pixel; cannot estimate the light colour")
    colour = np.median(pixels, axis=0).astype(np.float64)
    if colour.sum() <= 1e-6:
        raise EmptyMaskError("the background is black; cannot estimate the light colour")
    return colour / np.linalg.norm(colour)


def remove_specular(
    image: np.ndarray,
    region: np.ndarray,
    config: SpecularConfig,
    *,
    source_rgb: np.ndarray | None = None,
) -> np.ndarray:
    """Remove specular highlights from the skin ``region`` of a photo (paper §6).

    Parameters
    ----------
    image : (H, W, 3) float RGB in [0, 1], sRGB-encoded as stored (linearised inside: the
        dichromatic model adds radiances).
    region : (H, W) bool, skin pixels: where the diffuse ratio k is estimated and where S is
        lowered. Leave out eyes, brows, lips and teeth (their chroma differs from skin).
    config : the thresholds (see :class:`SpecularConfig`).
    source_rgb : (3,) light colour; None means white, the only value used when
        ``config.source == "white"``. For ``"background"`` the caller passes the colour from
        :func:`estimate_source_color`.

    Returns
    -------
    (H, W, 3) float32 RGB in [0, 1]; pixels outside ``region`` are unchanged (bit-exact), and
    so are region pixels whose S/‖UV‖ is at most the local diffuse ratio or that are darker
    than the region's median S.

    Raises
    ------
    EmptyMaskError
        If ``region`` selects no pixel.
    """
    image = _check_image(image)
    region = _check_mask(region, image, "region")
    if not region.any():
        raise EmptyMaskError("the skin region for specular removal is empty")
    basis = suv_basis((1.0, 1.0, 1.0) if source_rgb is None else source_rgb)
    # Work on the region's bounding box plus the reach of the filters (3σ of the widest).
    rows, cols = np.nonzero(region)
    window = config.ratio_scale * np.sqrt(float(rows.size))
    margin = int(np.ceil(3.0 * max(window, config.smoothing_sigma, config.inpaint_radius)))
    y0, y1 = max(rows.min() - margin, 0), min(rows.max() + margin + 1, image.shape[0])
    x0, x1 = max(cols.min() - margin, 0), min(cols.max() + margin + 1, image.shape[1])
    out = image.copy()
    out[y0:y1, x0:x1] = _remove_in_box(image[y0:y1, x0:x1], region[y0:y1, x0:x1], config, basis, window)
    return out


def _remove_in_box(
    image: np.ndarray, region: np.ndarray, config: SpecularConfig, basis: np.ndarray, window: float
) -> np.ndarray:
    """:func:`remove_specular` on a crop holding the whole region; ``window`` is the σ of the
    diffuse-ratio estimate in pixels."""
    import cv2

    # The dichromatic model adds radiances: work on linear RGB, not on the sRGB code values.
    suv = rgb_to_suv(srgb_to_linear(image), basis)
    s = suv[..., 0]
    linear = srgb_to_linear(image)

    # Pixels the camera clipped (and a fringe around them) have lost U and V: take their
    # chroma from around them (U, V hold no specular term, so the ring is reliable).
    saturated = region & (image.max(axis=-1) >= config.saturation_level)
    hole = np.zeros_like(region)
    uv = [suv[..., 1].astype(np.float32), suv[..., 2].astype(np.float32)]
    if saturated.any():
        kernel = np.ones((5, 5), np.uint8)
        hole = (cv2.dilate(saturated.astype(np.uint8), kernel) > 0) & region
        hole_u8 = hole.astype(np.uint8)
        uv = [cv2.inpaint(c, hole_u8, config.inpaint_radius, cv2.INPAINT_TELEA) for c in uv]
    # JPEG stores chroma at half resolution in 8×8 blocks: smooth it before trusting it.
    sigma = config.smoothing_sigma
    u_s, v_s = (cv2.GaussianBlur(c, (0, 0), sigma).astype(np.float64) for c in uv)
    chroma = np.hypot(u_s, v_s)

    usable = region & ~hole & (chroma >= config.min_chroma)
    if usable.sum() < 16:
        return image.copy()
    ratio = s / np.maximum(chroma, 1e-12)
    k_med = float(np.median(ratio[usable]))
    spread = config.mad_factor * 1.4826 * max(float(np.median(np.abs(ratio[usable] - k_med))), 1e-6)
    # The diffuse ratio k varies slowly over a face (paler forehead, redder cheeks): estimate
    # it locally, as a windowed mean of the ratio of usable pixels with outliers clipped, so
    # only peaks smaller than the window count as specular.
    weight_px = usable.astype(np.float64)
    clipped = np.where(usable, np.minimum(ratio, k_med + spread), 0.0)
    k_local = cv2.GaussianBlur(clipped, (0, 0), window) / np.maximum(
        cv2.GaussianBlur(weight_px, (0, 0), window), 1e-6)
    k_local = np.where(k_local > 0, k_local, k_med)
    # Weight of the removal: 0 up to the local ratio, 1 beyond it + spread, times a brightness
    # gate (highlights are brighter than typical skin: ramp in from the median S of the
    # region to its upper quartile, so dark low-chroma stubble stays).
    s_low, s_high = np.percentile(s[usable], [50.0, 75.0])
    gate = np.clip((s - s_low) / max(s_high - s_low, 1e-6), 0.0, 1.0)
    weight = np.clip((ratio - k_local) / spread, 0.0, 1.0) * gate
    diffuse_s = k_local * chroma
    removal = np.where(region & ~hole, weight * np.maximum(s - diffuse_s, 0.0), 0.0)
    # Subtract a smooth specular layer, so the skin's fine detail survives inside a peak.
    specular = cv2.GaussianBlur(removal, (0, 0), sigma)
    s_new = np.where(region, s - specular, s)
    s_new = np.where(hole, diffuse_s, s_new)
    u_new = np.where(hole, u_s, suv[..., 1])
    v_new = np.where(hole, v_s, suv[..., 2])
    out = suv_to_rgb(np.stack([s_new, u_new, v_new], axis=-1), basis)
    result = linear_to_srgb(np.clip(out, 0.0, 1.0)).astype(np.float32)
    # Bit-exact where nothing was removed (the sRGB round trip is exact only to ~1e-7).
    touched = np.any(np.abs(out - linear) > 0.0, axis=-1)
    return np.where(touched[..., None], result, image)


def srgb_to_linear(image: np.ndarray) -> np.ndarray:
    """sRGB code values in [0, 1] → linear RGB in [0, 1] (IEC 61966-2-1), float64."""
    c = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear RGB in [0, 1] → sRGB code values in [0, 1], float64 (inverse of the above)."""
    c = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1.0 / 2.4) - 0.055)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ShapeMismatchError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    return image.astype(np.float32, copy=False)


def _check_mask(mask: np.ndarray, image: np.ndarray, name: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != image.shape[:2]:
        raise ShapeMismatchError(f"{name} mask has shape {mask.shape}, image is {image.shape[:2]}")
    return mask.astype(bool, copy=False)
