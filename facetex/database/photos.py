"""The photos a database is built from: discovery in files and folders, the London set's file
names (person, expression) and demographics (``info.csv``), file checksums and attribution."""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from facetex.database.schema import LONDON_ATTRIBUTION
from facetex.errors import DatabaseError
from facetex.paths import london_dir

__all__ = ["PhotoSource", "london_photos", "collect_photos", "file_sha256", "attribution_text"]

_PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
#: London file names: person id, then 03 (neutral) or 08 (smiling).
_LONDON_NAME = re.compile(r"^(?P<person>\d{3})_(?P<code>03|08)$")
_LONDON_EXPRESSION = {"03": "neutral", "08": "smiling"}


@dataclass(frozen=True)
class PhotoSource:
    """A photo to put in the database, with what is known about its subject.

    Attributes
    ----------
    path : the image file.
    subject_id : unique id of the photo (its file stem).
    person_id : id of the person; photos of one person share it (London: ``"001"``).
    expression : ``"neutral"``, ``"smiling"`` or ``"unknown"`` (treated as neutral).
    age, gender, ethnicity : demographics, None when unknown.
    """

    path: Path
    subject_id: str
    person_id: str
    expression: str = "unknown"
    age: int | None = None
    gender: str | None = None
    ethnicity: str | None = None


def london_photos() -> list[Path]:
    """The London set's neutral and smiling photos (sorted), or a DatabaseError saying where to
    get it."""
    root = london_dir()
    return sorted((root / "neutral").glob("*.jpg")) + sorted((root / "smiling").glob("*.jpg"))


def collect_photos(inputs: Iterable[str | os.PathLike[str]], *, limit: int | None = None) -> tuple[PhotoSource, ...]:
    """Photos from files and folders (searched recursively), with subject metadata.

    London file names (``NNN_03`` neutral, ``NNN_08`` smiling) give person and expression; an
    ``info.csv`` (``face_id, face_age, face_gender, face_eth``) in a photo's folder or the one
    above gives demographics. Other photos are one person each, expression ``"unknown"``
    (a folder named ``neutral`` or ``smiling`` sets it).

    Parameters
    ----------
    inputs : image files and/or folders.
    limit : keep the first ``limit`` photos in (person, expression) order, so a small limit
        keeps both photos of the first persons.

    Returns
    -------
    tuple of PhotoSource, sorted by person, then expression, then id.

    Raises
    ------
    DatabaseError
        If an input does not exist, no photo is found, or two photos share a file stem.
    """
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths += sorted(q for q in p.rglob("*") if q.suffix.lower() in _PHOTO_SUFFIXES and q.is_file())
        elif p.is_file():
            paths.append(p)
        else:
            raise DatabaseError(f"no such photo or folder: {p}")
    if not paths:
        raise DatabaseError("no photos found in " + ", ".join(str(i) for i in inputs))
    info_cache: dict[Path, dict[str, dict[str, str]]] = {}
    sources = []
    for path in paths:
        match = _LONDON_NAME.match(path.stem)
        person = match["person"] if match else path.stem
        if match:
            expression = _LONDON_EXPRESSION[match["code"]]
        elif path.parent.name in ("neutral", "smiling"):
            expression = path.parent.name
        else:
            expression = "unknown"
        info = _demographics(path, info_cache).get(person, {})
        age = info.get("face_age", "")
        sources.append(PhotoSource(
            path=path, subject_id=path.stem, person_id=person, expression=expression,
            age=int(age) if age.isdigit() else None,
            gender=info.get("face_gender") or None, ethnicity=info.get("face_eth") or None,
        ))
    ids = [s.subject_id for s in sources]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise DatabaseError(f"photos must have distinct file names; repeated: {', '.join(duplicates[:5])}")
    order = {"neutral": 0, "unknown": 1, "smiling": 2}
    sources.sort(key=lambda s: (s.person_id, order.get(s.expression, 3), s.subject_id))
    if limit is not None:
        if limit < 1:
            raise DatabaseError(f"--limit must be at least 1, got {limit}")
        sources = sources[:limit]
    return tuple(sources)


def _demographics(path: Path, cache: dict[Path, dict[str, dict[str, str]]]) -> dict[str, dict[str, str]]:
    for folder in (path.parent, path.parent.parent):
        csv_path = folder / "info.csv"
        if csv_path in cache:
            return cache[csv_path]
        if csv_path.is_file():
            with open(csv_path, newline="", encoding="utf-8") as fh:
                rows = {row["face_id"]: row for row in csv.DictReader(fh) if row.get("face_id")}
            cache[csv_path] = rows
            return rows
    return {}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def attribution_text(sources: Sequence[PhotoSource]) -> str:
    """The attribution a database of ``sources`` carries: the London set's when every photo is
    from it (and a count of the others when some are), else a note that they are the user's."""
    try:
        root = london_dir().resolve()
    except DatabaseError:
        root = None
    inside = [root is not None and root in s.path.resolve().parents for s in sources]
    if all(inside):
        return LONDON_ATTRIBUTION
    if any(inside):
        return f"{LONDON_ATTRIBUTION}; and {inside.count(False)} user-supplied photos"
    return "user-supplied photos (no attribution recorded)"
