"""Atomic writers: every output file is written to a temporary sibling, then renamed.

A crash, a Ctrl-C or an error half-way never leaves a truncated PNG, JSON or mesh behind.
Images given to these functions follow the facetex convention: float32 RGB (H, W, 3) or
grey (H, W) in [0, 1]; they are clipped and quantised to 8 (or 16) bits on write.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from facetex.errors import OutputError

__all__ = ["atomic_path", "atomic_dir", "write_json", "write_image", "write_text"]


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _default_file_mode() -> int:
    return 0o666 & ~_current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file keeps the final suffix so writers that dispatch on it (PIL, trimesh)
    still work. On error the temporary file is removed and the error re-raised.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write to {parent}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, _default_file_mode())  # mkstemp makes 0600; outputs follow the umask
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``path``; move it to ``path`` on success.

    An existing ``path`` is replaced only after the block succeeds. On error the temporary
    directory is removed, so a failed run leaves no partial output folder.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        os.chmod(tmp, 0o777 & ~_current_umask())
    except OSError as exc:
        raise OutputError(f"cannot write to {path.parent}: {exc.strerror or exc}") from exc
    try:
        yield tmp
        if path.exists():
            backup = path.with_name(f".{path.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(path, backup)
            os.replace(tmp, path)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON (numpy arrays become lists) atomically."""
    text = json.dumps(data, indent=2, default=_to_jsonable, allow_nan=True)
    write_text(path, text + "\n")


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write a UTF-8 text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_image(path: str | os.PathLike[str], image: np.ndarray, *, bits: int = 8) -> None:
    """Write a float image in [0, 1] ((H, W), (H, W, 3) or (H, W, 4)) as PNG atomically.

    Values are clipped to [0, 1] and rounded to ``bits`` (8 or 16) bits per channel.
    """
    from PIL import Image

    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise ValueError(f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    arr = np.clip(np.nan_to_num(arr), 0.0, 1.0)
    if bits == 8:
        pil = Image.fromarray(np.round(arr * 255.0).astype(np.uint8))
    elif bits == 16:
        if arr.ndim != 2:
            import cv2  # PIL cannot write 16-bit RGB PNGs

            q = np.round(arr * 65535.0).astype(np.uint16)
            bgr = q[..., ::-1] if q.shape[2] == 3 else q[..., [2, 1, 0, 3]]
            with atomic_path(path) as tmp:
                if not cv2.imwrite(str(tmp), np.ascontiguousarray(bgr)):
                    raise OutputError(f"cannot write {path}")
            return
        pil = Image.fromarray(np.round(arr * 65535.0).astype(np.uint16))
    else:
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    with atomic_path(path) as tmp:
        pil.save(tmp, format="PNG")
