"""Reading photos, textures and masks into the facetex image convention.

Every loader returns float32 arrays in [0, 1] (see :mod:`facetex.types`), upright (the EXIF /
XMP orientation tag is applied) and at full resolution. What is handled:

* formats: whatever Pillow decodes (JPEG, PNG, WebP, TIFF, BMP, GIF, ...); of multi-frame
  files (animated GIF/WebP, multi-page TIFF) the first frame is read;
* modes: bilevel, grey (8 and 16 bit), palette (with or without transparency), RGB(A) 8 and
  16 bit, CMYK (through its embedded ICC profile when it has one, else Pillow's conversion),
  32-bit integer grey holding 16-bit data, and float grey in [0, 1];
* precision: 16-bit data are scaled by 1/65535 (never truncated to 8 bits first);
* transparency: RGB is composited over mid-grey 0.5 (``ALPHA_BACKGROUND``), the value facetex
  fills every unknown texel with, so a cut-out portrait or an exported texture with alpha
  compares like with like; masks treat transparent pixels as outside the mask;
* size: the header's size is checked before any pixel is decoded; images above ``max_pixels``
  or with a side above ``max_side`` are refused (decompression-bomb guard);
* failures (missing file, directory, empty file, not an image, truncated or corrupt data, zero
  size, unsupported mode) raise :class:`~facetex.errors.InputImageError` with a one-line message
  that names the file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import struct
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from facetex.errors import InputImageError, ShapeMismatchError
from facetex.types import Photo

__all__ = [
    "ALPHA_BACKGROUND",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SIDE",
    "DEMO_SOURCE",
    "demo_photo",
    "downscale_for_fitting",
    "load_detail_map",
    "load_image",
    "load_mask",
    "load_photo",
]

logger = logging.getLogger(__name__)

#: Largest image accepted by default, in pixels (100 MP: 1.2 GB as float32 RGB).
DEFAULT_MAX_PIXELS = 100_000_000
#: Longest side accepted by default, in pixels.
DEFAULT_MAX_SIDE = 30_000
#: Grey level that transparent pixels are composited over (sRGB-encoded, as the photo).
ALPHA_BACKGROUND = 0.5

DEMO_SOURCE = "astronaut (skimage.data, public domain)"

_EXIF_ORIENTATION = 0x0112

# Pillow's decompression-bomb limit is a module global. It is set for the duration of one
# decode (and restored after) under this lock, so concurrent facetex loads cannot interleave.
_PIL_LIMIT_LOCK = threading.Lock()

# What decoders raise on damaged data (Pillow uses all of these depending on the plugin).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)


def load_photo(
    path: str | os.PathLike[str],
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_side: int | None = DEFAULT_MAX_SIDE,
) -> Photo:
    """Load a photo, upright, at full resolution.

    Parameters
    ----------
    path : an image file in any format Pillow reads.
    max_pixels : refuse images with more pixels than this (read from the header, before
        decoding); ``None`` for no limit.
    max_side : refuse images whose width or height exceeds this; ``None`` for no limit.

    Returns
    -------
    Photo
        ``rgb`` (H, W, 3) float32 in [0, 1], sRGB-encoded as stored; ``source`` the path.

    Raises
    ------
    InputImageError
        The file is missing, unreadable, not an image, damaged, empty, or too large.
    """
    rgb = load_image(path, max_pixels=max_pixels, max_side=max_side)
    return Photo(rgb=rgb, source=str(path))


def load_image(
    path: str | os.PathLike[str],
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_side: int | None = DEFAULT_MAX_SIDE,
) -> np.ndarray:
    """Load an image (a photo or a texture) as RGB.

    Grey images are replicated to three channels; alpha is composited over
    ``ALPHA_BACKGROUND``. Parameters and errors as :func:`load_photo`.

    Returns
    -------
    (H, W, 3) float32 in [0, 1].
    """
    values, alpha = _read(path, max_pixels=max_pixels, max_side=max_side)
    if values.shape[2] == 1:
        values = np.repeat(values, 3, axis=2)
    if alpha is not None:
        a = alpha[..., None]
        values = values * a + np.float32(ALPHA_BACKGROUND) * (np.float32(1.0) - a)
    return np.ascontiguousarray(values, dtype=np.float32)


def load_mask(
    path: str | os.PathLike[str],
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_side: int | None = DEFAULT_MAX_SIDE,
) -> np.ndarray:
    """Load a mask image: pixels brighter than half the range are inside.

    Colour images are reduced to luma (ITU-R BT.601 weights, as Pillow's ``"L"`` mode); an
    alpha channel, when present, multiplies the grey level, so transparent pixels are outside.

    Returns
    -------
    (H, W) bool.
    """
    values, alpha = _read(path, max_pixels=max_pixels, max_side=max_side)
    if values.shape[2] == 3:
        grey = values @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    else:
        grey = values[..., 0]
    if alpha is not None:
        grey = grey * alpha
    return grey > 0.5


def load_detail_map(
    path: str | os.PathLike[str],
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    max_side: int | None = DEFAULT_MAX_SIDE,
) -> np.ndarray:
    """Load a per-texel detail scale (``--detail-map``): a UV image whose grey level 0–1
    (black to white; colour reduced to luma) maps to a scale of 0–2, so mid-grey is 1.

    Returns
    -------
    (H, W) float32 in [0, 2], on the UV layout of the output (any size; resized to R later).
    """
    values, _ = _read(path, max_pixels=max_pixels, max_side=max_side)
    grey = values @ np.array([0.299, 0.587, 0.114], dtype=np.float32) if values.shape[2] == 3 else values[..., 0]
    if grey.shape[0] != grey.shape[1]:
        raise InputImageError(f"{path}: a detail map is a square UV image, got {grey.shape[1]}×{grey.shape[0]}")
    return np.clip(2.0 * grey, 0.0, 2.0).astype(np.float32)


def demo_photo() -> Photo:
    """The built-in demo photo: NASA's astronaut portrait shipped with scikit-image.

    Returns
    -------
    Photo
        (512, 512, 3) float32 in [0, 1]; public domain.
    """
    from skimage import data

    rgb = data.astronaut().astype(np.float32) / np.float32(255.0)
    return Photo(rgb=rgb, source=DEMO_SOURCE)


def downscale_for_fitting(rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink an image so that its longest side is at most ``max_side`` (area averaging).

    Parameters
    ----------
    rgb : (H, W, 3) or (H, W) float32 in [0, 1].
    max_side : the longest side of the result, in pixels (≥ 1).

    Returns
    -------
    rgb_small : (h, w, 3) or (h, w) float32, with h = round(H·scale), w = round(W·scale);
        ``rgb`` itself (not a copy) when it is already small enough.
    scale : float in (0, 1], small / full. A point (x, y) of the full image (continuous
        pixel coordinates, origin at the top-left corner) is at (x·scale, y·scale) in the small
        one, exactly up to the rounding of the small size (< 0.5 px at the far edge); map
        normalised coordinates with the actual sizes where that matters.

    Raises
    ------
    ShapeMismatchError
        ``rgb`` is not (H, W) or (H, W, 3) with H, W ≥ 1.
    ValueError
        ``max_side`` < 1.
    """
    arr = np.asarray(rgb)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3) or 0 in arr.shape[:2]:
        raise ShapeMismatchError(f"expected an image of shape (H, W, 3) or (H, W), got {arr.shape}")
    if int(max_side) < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    height, width = arr.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return arr, 1.0
    import cv2

    scale = float(max_side) / float(longest)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(arr.astype(np.float32, copy=False), size, interpolation=cv2.INTER_AREA)
    return small, scale


# --------------------------------------------------------------------------------- decoding


def missing_reason(path: Path, exc: OSError) -> str:
    """Why ``path`` cannot be opened, from the error its ``stat`` raised, in a few words."""
    import errno

    if exc.errno == errno.ELOOP:
        return "a symbolic link loop (too many levels of symbolic links)"
    if exc.errno == errno.ENOENT and path.is_symlink():
        return f"a symbolic link to {os.readlink(path)}, which does not exist"
    if exc.errno == errno.ENOENT:
        return "no such file"
    if exc.errno == errno.ENOTDIR:
        return "no such file (part of its path is not a folder)"
    if exc.errno == errno.EACCES:
        return "permission denied"
    if exc.errno == errno.ENAMETOOLONG:
        return "the file name is too long"
    return exc.strerror or str(exc)


def _read(
    path: str | os.PathLike[str], *, max_pixels: int | None, max_side: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode ``path`` into (H, W, C) float32 values (C = 1 or 3) and (H, W) alpha or None.

    Both are in [0, 1] and upright.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if max_pixels is not None and max_pixels < 1:
        raise ValueError(f"max_pixels must be positive or None, got {max_pixels}")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be positive or None, got {max_side}")
    try:
        path.stat()
    except OSError as exc:
        raise InputImageError(f"cannot read image {path}: {missing_reason(path, exc)}") from None
    if path.is_dir():
        raise InputImageError(f"cannot read image {path}: it is a directory")
    try:
        if path.stat().st_size == 0:
            raise InputImageError(f"cannot read image {path}: the file is empty")
        with _pil_pixel_limit(max_pixels), Image.open(path) as im:
            _check_size(path, im.size, max_pixels, max_side)
            rawmode = _rawmode(im)  # before anything loads the pixels (PNG's getexif does)
            if im.mode in ("RGB", "RGBA", "LA") and ";16" in rawmode:
                values, alpha = _read_16bit_colour(path, im.size)
            else:
                im.load()  # decoding errors surface here, not inside getexif
                values, alpha = _to_arrays(im, path)
            orientation = _orientation(im)
    except InputImageError:
        raise
    except UnidentifiedImageError as exc:
        raise InputImageError(
            f"cannot read image {path}: not an image of a known format, or its header is damaged"
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputImageError(
            f"cannot read image {path}: it has more than the limit of {max_pixels} pixels "
            "(raise max_pixels to allow it)"
        ) from exc
    except PermissionError as exc:
        raise InputImageError(f"cannot read image {path}: permission denied") from exc
    except _DECODE_ERRORS as exc:
        raise InputImageError(
            f"cannot read image {path}: corrupt or truncated data ({_reason(exc)})"
        ) from exc
    values = _orient(values, orientation)
    if alpha is not None:
        alpha = _orient(alpha, orientation)
    return values, alpha


@contextlib.contextmanager
def _pil_pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Make Pillow's own decompression-bomb checks refuse anything above ``max_pixels``.

    Pillow warns above ``Image.MAX_IMAGE_PIXELS`` and raises above twice that; here the
    warning is raised as an error too, and the previous global value is restored on exit.
    """
    from PIL import Image

    with _PIL_LIMIT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _check_size(
    path: Path, size: tuple[int, int], max_pixels: int | None, max_side: int | None
) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise InputImageError(f"cannot read image {path}: it has zero size ({width}×{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise InputImageError(
            f"cannot read image {path}: {width}×{height} = {width * height} pixels exceeds the "
            f"limit of {max_pixels} (raise max_pixels to allow it)"
        )
    if max_side is not None and max(width, height) > max_side:
        raise InputImageError(
            f"cannot read image {path}: {width}×{height} has a side above the limit of "
            f"{max_side} pixels (raise max_side to allow it)"
        )


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _orientation(im) -> int:
    """The EXIF orientation tag (1..8; XMP ``tiff:Orientation`` too, via Pillow), 1 if absent
    or unreadable (a damaged EXIF block does not make the pixels unusable)."""
    try:
        value = im.getexif().get(_EXIF_ORIENTATION, 1)
    except _DECODE_ERRORS:
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an (H, W, ...) array: the stored pixels → upright.

    The same transforms as Pillow's ``ImageOps.exif_transpose``: 2 mirror left-right, 3 rotate
    180°, 4 mirror top-bottom, 5 transpose, 6 rotate 90° clockwise, 7 transverse, 8 rotate 90°
    counter-clockwise.
    """
    if orientation == 2:
        out = arr[:, ::-1]
    elif orientation == 3:
        out = arr[::-1, ::-1]
    elif orientation == 4:
        out = arr[::-1]
    elif orientation == 5:
        out = np.swapaxes(arr, 0, 1)
    elif orientation == 6:
        out = np.swapaxes(arr, 0, 1)[:, ::-1]
    elif orientation == 7:
        out = np.swapaxes(arr, 0, 1)[::-1, ::-1]
    elif orientation == 8:
        out = np.swapaxes(arr, 0, 1)[::-1]
    else:
        return arr
    return np.ascontiguousarray(out)


def _rawmode(im) -> str:
    """The raw pixel layout of the file (e.g. ``"RGB;16B"``), or '' when unknown."""
    tile = getattr(im, "tile", None) or []
    if not tile:
        return ""
    args = tile[0].args if hasattr(tile[0], "args") else tile[0][3]
    if isinstance(args, tuple):
        args = args[0] if args else ""
    return args if isinstance(args, str) else ""


def _to_arrays(im, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixels of a loaded Pillow image as (H, W, C) float32 in [0, 1] and alpha (H, W) or None."""
    mode = im.mode
    if mode in ("1", "L"):
        return _unit8(np.asarray(im.convert("L")))[..., None], None
    if mode in ("LA", "La"):
        la = np.asarray(im.convert("LA"))
        return _unit8(la[..., :1]), _unit8(la[..., 1])
    if mode in ("RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = np.asarray(im.convert("RGBA"))
        return _unit8(rgba[..., :3]), _unit8(rgba[..., 3])
    if mode.startswith("I;16"):
        return (np.asarray(im).astype(np.float32) / np.float32(65535.0))[..., None], None
    if mode == "I":
        arr = np.asarray(im)
        if arr.min() < 0 or arr.max() > 65535:
            raise InputImageError(
                f"cannot read image {path}: 32-bit integer pixels outside the 16-bit range "
                "are not supported"
            )
        return (arr.astype(np.float32) / np.float32(65535.0))[..., None], None
    if mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        if not np.all(np.isfinite(arr)) or arr.min() < 0.0 or arr.max() > 1.0:
            raise InputImageError(f"cannot read image {path}: float pixels outside [0, 1]")
        return arr[..., None], None
    if mode == "CMYK":
        return _unit8(np.asarray(_cmyk_to_rgb(im, path))), None
    if mode == "RGB":
        return _unit8(np.asarray(im)), None
    try:  # P without transparency, YCbCr, LAB, HSV, RGBX, ...
        rgb = im.convert("RGB")
    except ValueError as exc:
        raise InputImageError(f"cannot read image {path}: unsupported colour mode {mode}") from exc
    return _unit8(np.asarray(rgb)), None


def _unit8(arr: np.ndarray) -> np.ndarray:
    return arr.astype(np.float32) / np.float32(255.0)


def _cmyk_to_rgb(im, path: Path):
    """CMYK → sRGB through the embedded ICC profile when there is one, else Pillow's formula."""
    from PIL import ImageCms

    icc = im.info.get("icc_profile")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            target = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(im, source, target, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError) as exc:
            logger.warning("%s: ignoring its unusable ICC profile (%s)", path, _reason(exc))
    return im.convert("RGB")


def _read_16bit_colour(path: Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode a 16-bit RGB(A) / grey+alpha file with OpenCV, keeping all 16 bits."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None or arr.shape[1::-1] != tuple(size) or arr.dtype != np.uint16:
        raise InputImageError(f"cannot read image {path}: corrupt 16-bit colour data")
    values = arr.astype(np.float32) / np.float32(65535.0)
    if values.ndim == 2:
        return values[..., None], None
    if values.shape[2] == 2:
        return values[..., :1], values[..., 1]
    if values.shape[2] == 4:
        return np.ascontiguousarray(values[..., 2::-1]), values[..., 3]
    return np.ascontiguousarray(values[..., ::-1]), None
