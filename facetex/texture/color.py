"""YIQ colour space and the mask-out operator M(I) (paper §4).

All texture statistics in facetex are computed on the luminance Y of YIQ; colour is carried by
I and Q of the low-frequency albedo (paper §5, after Gatys et al. 2016, "Preserving colour in
neural artistic style transfer"). The matrix is the NTSC (FCC 1953) RGB → YIQ matrix; its
inverse is computed from it, so a round trip is exact up to float rounding. Y of an RGB grey
(r = g = b = v) is v, because the first row sums to 1; the off-chart value 0.5 therefore stays
0.5 in Y and 0 in I and Q.
"""

from __future__ import annotations

import numpy as np
import torch

from facetex.errors import ShapeMismatchError

__all__ = [
    "RGB_TO_YIQ",
    "YIQ_TO_RGB",
    "MASK_VALUE",
    "rgb_to_yiq",
    "yiq_to_rgb",
    "rgb_to_yiq_tensor",
    "yiq_to_rgb_tensor",
    "luminance",
    "mask_out",
    "replace_luminance",
]

#: (3, 3) float64; ``yiq = RGB_TO_YIQ @ rgb`` for a column vector (NTSC, FCC 1953).
RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ],
    dtype=np.float64,
)
RGB_TO_YIQ.setflags(write=False)
#: (3, 3) float64, the exact inverse of :data:`RGB_TO_YIQ`.
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)
YIQ_TO_RGB.setflags(write=False)

#: Value of hidden pixels after mask-out (paper §4) and of off-chart texels (facetex.types).
MASK_VALUE = 0.5


def _check_last_axis(image: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim < 1 or arr.shape[-1] != 3:
        raise ShapeMismatchError(f"{name} must have 3 channels in its last axis, got shape {arr.shape}")
    return arr


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """Convert RGB to YIQ.

    Parameters
    ----------
    rgb : (..., 3) float array, RGB in [0, 1] (typically (H, W, 3)).

    Returns
    -------
    (..., 3) array of the input's float dtype (float32 for integer input): Y in [0, 1],
    I in about [-0.60, 0.60], Q in about [-0.52, 0.52].
    """
    arr = _check_last_axis(rgb, "rgb")
    dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float32
    return (arr.astype(np.float64) @ RGB_TO_YIQ.T).astype(dtype)


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    """Convert YIQ to RGB (exact inverse of :func:`rgb_to_yiq`); values are not clipped.

    Parameters
    ----------
    yiq : (..., 3) float array.

    Returns
    -------
    (..., 3) array of the input's float dtype; RGB, in [0, 1] only for in-gamut colours.
    """
    arr = _check_last_axis(yiq, "yiq")
    dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float32
    return (arr.astype(np.float64) @ YIQ_TO_RGB.T).astype(dtype)


def _apply_tensor(matrix: np.ndarray, image: torch.Tensor) -> torch.Tensor:
    if image.ndim < 3 or image.shape[-3] != 3:
        raise ShapeMismatchError(f"expected a tensor of shape (*, 3, H, W), got {tuple(image.shape)}")
    m = torch.from_numpy(matrix.copy()).to(dtype=image.dtype, device=image.device)
    return torch.einsum("ij,...jhw->...ihw", m, image)


def rgb_to_yiq_tensor(rgb: torch.Tensor) -> torch.Tensor:
    """Torch version of :func:`rgb_to_yiq` for channel-first tensors (differentiable).

    Parameters
    ----------
    rgb : (*, 3, H, W) float tensor, RGB in [0, 1].

    Returns
    -------
    (*, 3, H, W) tensor, same dtype and device: channels Y, I, Q.
    """
    return _apply_tensor(RGB_TO_YIQ, rgb)


def yiq_to_rgb_tensor(yiq: torch.Tensor) -> torch.Tensor:
    """Torch version of :func:`yiq_to_rgb` for channel-first tensors (differentiable).

    Parameters
    ----------
    yiq : (*, 3, H, W) float tensor, channels Y, I, Q.

    Returns
    -------
    (*, 3, H, W) tensor, RGB (not clipped).
    """
    return _apply_tensor(YIQ_TO_RGB, yiq)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Y of YIQ for an RGB image.

    Parameters
    ----------
    rgb : (..., 3) float array in [0, 1].

    Returns
    -------
    (...) float32 array in [0, 1], e.g. (H, W) for an (H, W, 3) image.
    """
    arr = _check_last_axis(rgb, "rgb")
    return (arr.astype(np.float64) @ RGB_TO_YIQ[0]).astype(np.float32)


def mask_out(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The paper's mask-out M(I): hidden pixels set to 0.5, visible ones kept (paper §4).

    Parameters
    ----------
    image : (H, W) or (H, W, C) float array, any range.
    mask : (H, W) bool (or 0/1) array, True where a pixel is visible.

    Returns
    -------
    A new array of the same shape and dtype as ``image``, 0.5 where ``mask`` is False.

    Raises
    ------
    ShapeMismatchError
        If ``mask`` is not (H, W) of the image.
    """
    arr = np.asarray(image)
    visible = np.asarray(mask).astype(bool)
    if arr.ndim not in (2, 3) or visible.shape != arr.shape[:2]:
        raise ShapeMismatchError(
            f"mask of shape {visible.shape} does not fit image of shape {arr.shape} "
            "(expected an (H, W) mask for an (H, W) or (H, W, C) image)"
        )
    if arr.ndim == 3:
        visible = visible[:, :, None]
    return np.where(visible, arr, np.asarray(MASK_VALUE, dtype=arr.dtype))


def replace_luminance(rgb: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Put a new luminance under the colour of an image (paper §5, "preserving colour").

    Converts ``rgb`` to YIQ, replaces Y by ``y``, keeps I and Q, converts back and clips to
    [0, 1] (a bright Y under a saturated I, Q can leave the RGB gamut).

    Parameters
    ----------
    rgb : (H, W, 3) float RGB in [0, 1], the colour source (the low-frequency albedo).
    y : (H, W) float luminance in [0, 1].

    Returns
    -------
    (H, W, 3) float32 RGB in [0, 1].
    """
    arr = np.asarray(rgb, dtype=np.float32)
    lum = np.asarray(y, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3 or lum.shape != arr.shape[:2]:
        raise ShapeMismatchError(f"expected rgb (H, W, 3) and y (H, W), got {arr.shape} and {lum.shape}")
    yiq = rgb_to_yiq(arr)
    yiq[..., 0] = lum
    return np.clip(yiq_to_rgb(yiq), 0.0, 1.0)
