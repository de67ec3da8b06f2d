"""Atomic writers: every output file is written to a temporary sibling, then renamed.

A crash, a Ctrl-C or an error half-way never leaves a truncated PNG, JSON or mesh behind.
Output folders (:func:`atomic_dir`) carry a marker file, and facetex replaces only folders
that hold it: never a folder it did not write (a checkout, home, the current folder).
Images given to these functions follow the facetex convention: float32 RGB (H, W, 3) or
grey (H, W) in [0, 1]; they are clipped and quantised to 8 (or 16) bits on write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import errno
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from facetex import __version__
from facetex.errors import OutputError

__all__ = [
    "RESULT_MARKER",
    "atomic_dir",
    "atomic_path",
    "check_output_dir",
    "check_output_file",
    "is_facetex_result",
    "remove_stale_temporaries",
    "write_image",
    "write_json",
    "write_text",
]

log = logging.getLogger(__name__)


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
    still work. On error the temporary file is removed and the error re-raised. An existing
    file at ``path`` is replaced; an existing folder is refused (:class:`OutputError`).
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write to {parent}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, _default_file_mode())  # mkstemp makes 0600; outputs follow the umask
    try:
        try:
            yield tmp
        except OSError as exc:
            _raise_if_write_error(exc, path)
            raise
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


#: errno values that mean the output could not be written (full disk, quota, read-only, I/O).
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG})


class _WriteError(OutputError):
    """The disk refused a write (``reason``: the system's words); an enclosing
    :func:`atomic_dir` re-raises it naming its own folder rather than the temporary file."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot write output {path}: {reason}; nothing was written")
        self.reason = reason


def _raise_if_write_error(exc: OSError, path: Path) -> None:
    """Raise :class:`OutputError` (one line, nothing written) for an error of writing ``path``
    (full disk, quota, read-only file system, I/O); other errors pass through."""
    if isinstance(exc, _WriteError):
        raise _WriteError(path, exc.reason) from exc
    if exc.errno in _WRITE_ERRNOS:
        raise _WriteError(path, exc.strerror or str(exc)) from exc


# --- result folders: ownership, temporaries, replacement ------------------------------------
#
# Every folder facetex writes with :func:`atomic_dir` holds RESULT_MARKER, a small JSON file
# naming the writer (facetex version, pid, a hash of the host name). It is written into the
# temporary sibling ``.NAME.XXXX.tmp`` first, so it also says who owns a temporary folder:
#
# * a folder with the marker is a facetex result, and only such a folder is ever replaced;
#   an empty folder may be filled (replaced) too; anything else is refused;
# * a sibling ``.NAME.XXXX.tmp`` (or ``.NAME.XXXX.old``, the previous result during the final
#   renames) holding the marker of a process of this host that no longer runs was left by a
#   killed run, and the next write to ``NAME`` removes it (or, for ``.old`` when ``NAME`` is
#   gone, puts it back). Nothing without the marker is touched.

RESULT_MARKER = ".facetex-result"
_STALE_KINDS = (".tmp", ".old")


def _host() -> str:
    """This machine, as a short hash of its name (results are shared; the name need not be)."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:16]


def _write_marker(folder: Path) -> None:
    owner = {"written_by": "facetex", "version": __version__, "pid": os.getpid(), "host": _host()}
    (folder / RESULT_MARKER).write_text(json.dumps(owner) + "\n", encoding="utf-8")


def _marker_owner(folder: Path) -> tuple[int, str] | None:
    """(pid, host) recorded in ``folder``'s marker, or None without a readable marker."""
    try:
        owner = json.loads((folder / RESULT_MARKER).read_text(encoding="utf-8"))
        pid, host = owner["pid"], owner["host"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not isinstance(host, str):
        return None
    return pid, host


def _owner_is_gone(owner: tuple[int, str]) -> bool:
    """True only when the owner ran on this host and its process no longer exists."""
    pid, host = owner
    if host != _host() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive under another user, or unknown: keep
        return False
    return False


def is_facetex_result(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder facetex wrote (a real folder holding :data:`RESULT_MARKER`)."""
    path = Path(path)
    return path.is_dir() and not path.is_symlink() and (path / RESULT_MARKER).is_file()


def _never_replaced(path: Path) -> str | None:
    """Why ``path`` may never be replaced (root, home, the current folder or one above), or None."""
    try:
        resolved = path.resolve()
        cwd = Path.cwd().resolve()
    except (OSError, RuntimeError):
        return "cannot be resolved"
    if resolved == Path(resolved.anchor):
        return "is the root of the file system"
    if path.name in ("", ".", "..") or resolved == cwd or resolved in cwd.parents:
        return "is the current folder or one above it"
    with contextlib.suppress(RuntimeError, KeyError, OSError):
        if resolved == Path.home().resolve():
            return "is the home folder"
    return None


def _check_replaceable(path: Path, overwrite: bool) -> None:
    """Raise :class:`OutputError` unless ``path`` is absent, an empty folder or (with
    ``overwrite``) a facetex result."""
    reason = _never_replaced(path)
    if reason is not None:
        raise OutputError(f"output {path} {reason}; facetex never replaces it: give a new folder with -o")
    if path.is_symlink():
        raise OutputError(f"output {path} is a symbolic link; give a new folder with -o")
    if not path.exists():
        return
    if not path.is_dir():
        raise OutputError(f"output {path} exists and is not a folder; give a new folder with -o")
    if is_facetex_result(path):
        if not overwrite:
            raise OutputError(f"output {path} holds an earlier facetex result; replace it with --overwrite, "
                              "or give a new folder with -o")
        return
    try:
        with os.scandir(path) as entries:
            empty = next(entries, None) is None
    except OSError as exc:
        raise OutputError(f"cannot read output folder {path}: {exc.strerror or exc}") from exc
    if not empty:
        raise OutputError(f"output {path} is a folder facetex did not write (it holds no {RESULT_MARKER}), "
                          "and facetex never replaces such a folder: give a new folder with -o")


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary siblings of ``path`` that killed facetex runs left (module notes).

    Only folders named ``.NAME.XXXX.tmp`` / ``.NAME.XXXX.old`` that hold facetex's marker naming
    a process of this host that has ended are removed (an ``.old`` one is moved back to
    ``path`` if ``path`` is gone). Returns the folders removed or restored.
    """
    path = Path(path)
    prefix = f".{path.name}."
    try:
        with os.scandir(path.parent if str(path.parent) else ".") as entries:
            candidates = [
                Path(e.path) for e in entries if e.name.startswith(prefix) and e.is_dir(follow_symlinks=False)
            ]
    except OSError:
        return []
    done: list[Path] = []
    for folder in sorted(candidates, key=lambda p: not p.name.endswith(".old")):  # .old first: restore
        middle, kind = folder.name[len(prefix):-4], folder.name[-4:]
        if kind not in _STALE_KINDS or not middle:
            continue
        owner = _marker_owner(folder)
        if owner is None or not _owner_is_gone(owner):
            continue
        try:
            if kind == ".old" and not os.path.lexists(path):
                os.replace(folder, path)
                log.warning("restored %s from %s, left by a killed run", path, folder.name)
            else:
                shutil.rmtree(folder)
                log.info("removed %s, left by a killed run", folder)
        except OSError as exc:
            log.warning("cannot remove %s, left by a killed run: %s", folder, exc.strerror or exc)
            continue
        done.append(folder)
    return done


def _new_temporary(path: Path, parent: Path) -> Path:
    """A fresh marked temporary folder ``.NAME.XXXX.tmp`` in ``parent`` (which exists)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
    try:
        os.chmod(tmp, 0o777 & ~_current_umask())
        _write_marker(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def check_output_dir(path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
    """Fail now, before slow work, if :func:`atomic_dir` could not write ``path`` later.

    Checks that ``path`` may be replaced (absent, an empty folder, or with ``overwrite`` a
    facetex result; never root, home or the current folder), removes stale temporaries, and
    really creates and removes a temporary sibling (in the nearest existing ancestor if the
    parent does not exist yet), so an unwritable place is found without creating anything.

    Raises
    ------
    OutputError
        Naming the output and why it cannot be written.
    """
    path = Path(path)
    _check_replaceable(path, overwrite)
    remove_stale_temporaries(path)
    parent = path.parent if str(path.parent) else Path(".")
    existing = next((p for p in (parent, *parent.parents) if os.path.lexists(p)), Path("."))
    if not existing.is_dir():
        raise OutputError(f"cannot create output folder {path}: {existing} is not a folder")
    try:
        probe = _new_temporary(path, existing)
    except OSError as exc:
        raise OutputError(f"cannot write output {path}: {existing}: {exc.strerror or exc}") from exc
    shutil.rmtree(probe, ignore_errors=True)


def check_output_file(path: str | os.PathLike[str]) -> None:
    """Fail now, before slow work, if :func:`atomic_path` could not write the file ``path`` later.

    ``path`` must not be a folder, and a temporary sibling is really created and removed (in
    the nearest existing ancestor if the parent does not exist yet), so nothing is left.

    Raises
    ------
    OutputError
        Naming the output and why it cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    existing = next((p for p in (parent, *parent.parents) if os.path.lexists(p)), Path("."))
    if not existing.is_dir():
        raise OutputError(f"cannot write output {path}: {existing} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=existing)
    except OSError as exc:
        raise OutputError(f"cannot write output {path}: {existing}: {exc.strerror or exc}") from exc
    os.close(fd)
    os.unlink(probe)


def _move_into_place(tmp: Path, path: Path, overwrite: bool) -> None:
    _check_replaceable(path, overwrite)  # again: the place may have changed during the run
    try:
        if not path.exists() or not is_facetex_result(path):
            os.replace(tmp, path)  # absent, or an empty folder (rename fails if it is not empty)
            return
        _write_marker(path)  # claim it: if killed below, a later run restores the .old folder
        backup = tmp.with_name(tmp.name[: -len(".tmp")] + ".old")
        os.replace(path, backup)
        try:
            os.replace(tmp, path)
        except BaseException:
            os.replace(backup, path)
            raise
    except OSError as exc:
        raise OutputError(f"cannot write output folder {path}: {exc.strerror or exc}") from exc
    shutil.rmtree(backup, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; move it to ``path`` on success.

    The folder written holds :data:`RESULT_MARKER`. ``path`` may be absent or an empty folder;
    an existing facetex result is replaced only with ``overwrite`` (after the block succeeds);
    anything else (a folder facetex did not write, a file, a link, root, home, the current
    folder) raises :class:`OutputError` before the block runs. On error the temporary folder
    is removed, so a failed run leaves no partial output folder; stale temporaries of killed
    runs are removed first (:func:`remove_stale_temporaries`).
    """
    path = Path(path)
    _check_replaceable(path, overwrite)
    remove_stale_temporaries(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _new_temporary(path, path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write output {path}: {exc.filename or path.parent}: {exc.strerror or exc}") from exc
    try:
        try:
            yield tmp
        except (OSError, _WriteError) as exc:
            _raise_if_write_error(exc, path)
            raise
        _move_into_place(tmp, path, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _to_jsonable(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def write_json(path: str | os.PathLike[str], data: object) -> None:
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
