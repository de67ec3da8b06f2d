"""The texture database file: one versioned HDF5 file per database, and its read-only handle.

Layout (schema :data:`SCHEMA_VERSION`; N subjects = photos, R the texture resolution)::

    /                      attrs: format = "facetex-texture-database", schema_version (int),
                                  content_sha256 (hex SHA-256 of every dataset below)
    /manifest              JSON text: name, facetex version, creation time, build parameters,
                           source files with SHA-256, attribution, build report, sizes
    /subjects/table        JSON text: one record per subject (ids, expression, demographics,
                           fit diagnostics), in storage order
    /subjects/albedo       (N, R, R, 3) uint8, complete UV albedo (facetex UV convention)
    /subjects/fill_map     (N, R, R) uint8, texel origin (facetex.database.fill: 3 observed,
                           2 mirrored, 1 inpainted, 0 off the chart)
    /subjects/vertices     (N, V, 3) float32, fitted mesh in the model frame, pose removed (cm)
    /subjects/shape_coeffs (N, K_id), /subjects/expression_coeffs (N, K_ex),
    /subjects/albedo_coeffs (N, K_al) float64, coefficients in the stored model
    /subjects/sh_coeffs    (N, 9, 3) float64, lighting of each final fit
    /chart                 (R, R) uint8, 1 on the UV chart
    /lighting              (9, 3) float64, the one global studio lighting (paper §6)
    /grams/<r>/<layer>/values  (N, C(C+1)/2) float16 or float32, upper triangles (row-major)
                           of the normalised luminance Grams of the complete textures at r × r
    /grams/<r>/<layer>/scale   (N,) float64, stored values × scale = Gram entries
    /model/...             the morphable model (facetex.types.MorphableModel fields)

The content checksum covers every dataset (name, dtype, shape and bytes, in sorted name
order), the manifest included, so :func:`load_database` detects damage anywhere. Files are
written to a temporary sibling and renamed (:mod:`facetex.io.atomic`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facetex import __version__
from facetex.errors import DatabaseError, MissingDependencyError, ShapeMismatchError
from facetex.io.atomic import atomic_path
from facetex.types import GramSet, MeshTopology, MorphableModel

__all__ = [
    "SCHEMA_VERSION",
    "FORMAT_NAME",
    "LONDON_ATTRIBUTION",
    "SubjectRecord",
    "SourceFile",
    "DatabaseContents",
    "TextureDatabase",
    "StoredGrams",
    "write_database",
    "load_database",
    "PackedGrams",
    "pack_gram",
    "unpack_gram",
]

#: Version of the file layout above; a file of another version is refused (rebuild it).
SCHEMA_VERSION = 1
FORMAT_NAME = "facetex-texture-database"
#: Attribution every artefact derived from the London set must carry (CC BY 4.0).
LONDON_ATTRIBUTION = (
    "Face Research Lab London Set, DeBruine & Jones 2017, CC BY 4.0, "
    "doi:10.6084/m9.figshare.5047666.v5"
)

_SUBJECT_ARRAYS = ("albedo", "fill_map", "vertices", "shape_coeffs", "expression_coeffs",
                   "albedo_coeffs", "sh_coeffs")
_MODEL_ARRAYS = ("mean_shape", "uvs", "faces", "landmark_weights", "shape_basis", "shape_std",
                 "expression_basis", "expression_std", "albedo_mean", "albedo_basis", "albedo_std")
_REQUIRED = (
    ("manifest", "subjects/table", "chart", "lighting")
    + tuple(f"subjects/{name}" for name in _SUBJECT_ARRAYS)
    + tuple(f"model/{name}" for name in _MODEL_ARRAYS)
)
_HASH_BLOCK = 16  # subjects per read while hashing large datasets


@dataclass(frozen=True)
class SubjectRecord:
    """One photo of the database.

    Attributes
    ----------
    subject_id : unique id of the photo (the London file stem, e.g. ``"001_03"``).
    person_id : id of the person (``"001"``); both photos of a person share it.
    expression : ``"neutral"``, ``"smiling"`` or ``"unknown"``.
    source : file name of the photo it was built from.
    age, gender, ethnicity : demographics from the set's ``info.csv`` (None when unknown).
    diagnostics : named scalars of the final fit and unwrap (landmark RMSE, observed
        fraction, ...).
    """

    subject_id: str
    person_id: str
    expression: str
    source: str
    age: int | None = None
    gender: str | None = None
    ethnicity: str | None = None
    diagnostics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceFile:
    """A file the database was built from: its path as given, size and SHA-256 (hex)."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class DatabaseContents:
    """Everything a database file holds, in memory (what :func:`write_database` writes).

    Attributes
    ----------
    name : database label.
    subjects : N records, in storage order.
    albedo : (N, R, R, 3) uint8 complete UV albedo maps.
    fill_map : (N, R, R) uint8 texel origins (:mod:`facetex.database.fill`).
    chart : (R, R) bool UV chart.
    vertices : (N, V, 3) fitted meshes, model frame, pose removed (cm).
    shape_coeffs, expression_coeffs, albedo_coeffs : (N, K_id), (N, K_ex), (N, K_al).
    sh_coeffs : (N, 9, 3) per-fit lighting.
    lighting : (9, 3) global lighting.
    grams : resolution r → layer → packed normalised luminance Grams of the N textures
        (:func:`pack_gram`).
    model : the database's morphable model.
    build_params : JSON-ready build settings.
    sources : the photos (and metadata files) used.
    attribution : licence / citation text.
    build_report : JSON-ready summary of the build (bootstrap rounds, rejections, timings).
    """

    name: str
    subjects: tuple[SubjectRecord, ...]
    albedo: np.ndarray
    fill_map: np.ndarray
    chart: np.ndarray
    vertices: np.ndarray
    shape_coeffs: np.ndarray
    expression_coeffs: np.ndarray
    albedo_coeffs: np.ndarray
    sh_coeffs: np.ndarray
    lighting: np.ndarray
    grams: dict[int, dict[str, PackedGrams]]
    model: MorphableModel
    build_params: dict[str, Any]
    sources: tuple[SourceFile, ...]
    attribution: str
    build_report: dict[str, Any] = field(default_factory=dict)


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is a core dependency
        raise MissingDependencyError("texture databases need h5py: pip install h5py") from exc
    return h5py


# --------------------------------------------------------------------------------------------
# Gram packing


@dataclass(frozen=True)
class PackedGrams:
    """Symmetric Gram matrices stored as their upper triangles, one scale per matrix.

    Attributes
    ----------
    values : (N, C(C+1)/2) float16 or float32, row-major upper triangle of each Gram divided
        by its scale.
    scale : (N,) float64; a power of two per matrix (1 for float32), chosen so the largest
        stored magnitude is ≤ 2¹⁴ (float16 keeps ~5e-4 relative precision over its range).
    """

    values: np.ndarray
    scale: np.ndarray

    @property
    def count(self) -> int:
        return int(self.values.shape[0])

    @property
    def channels(self) -> int:
        m = int(self.values.shape[1])
        c = int(round((np.sqrt(8 * m + 1) - 1) / 2))
        if c * (c + 1) // 2 != m:
            raise DatabaseError(f"a stored Gram has {m} entries, not a triangle of any size")
        return c

    @staticmethod
    def concatenate(parts: Iterable[PackedGrams]) -> PackedGrams:
        parts = list(parts)
        return PackedGrams(
            values=np.concatenate([p.values for p in parts]),
            scale=np.concatenate([p.scale for p in parts]),
        )


def pack_gram(grams: np.ndarray, dtype: str) -> PackedGrams:
    """Pack symmetric Grams (N, C, C) as upper triangles, ``dtype`` "float16" or "float32"."""
    g = np.asarray(grams, dtype=np.float64)
    if g.ndim != 3 or g.shape[1] != g.shape[2]:
        raise ShapeMismatchError(f"Grams must be (N, C, C), got {g.shape}")
    rows, cols = np.triu_indices(g.shape[1])
    tri = g[:, rows, cols]
    if dtype == "float32":
        return PackedGrams(values=tri.astype(np.float32), scale=np.ones(g.shape[0]))
    if dtype != "float16":
        raise ValueError(f"gram dtype must be 'float16' or 'float32', got {dtype!r}")
    peak = np.abs(tri).max(axis=1) if tri.size else np.zeros(g.shape[0])
    exponent = np.ceil(np.log2(np.maximum(peak, 1e-300) / 2.0**14))
    scale = np.where(peak > 0, 2.0**exponent, 1.0)
    return PackedGrams(values=(tri / scale[:, None]).astype(np.float16), scale=scale)


@dataclass(frozen=True, eq=False)
class StoredGrams:
    """A database's stored complete Grams at one resolution, read on demand
    (:meth:`TextureDatabase.stored_grams`; a :class:`~facetex.types.GramSource`).

    Attributes
    ----------
    database : the open database.
    resolution : Gram resolution (texels per side).
    layers : the layers offered.
    rows : (N,) int64 database rows of the exemplars, in exemplar order (``take``'s index 0 is
        ``rows[0]``).
    """

    database: TextureDatabase
    resolution: int
    layers: tuple[str, ...]
    rows: np.ndarray

    @property
    def count(self) -> int:
        return int(self.rows.size)

    def take(self, rows: np.ndarray, layers: Sequence[str]) -> GramSet:
        """Exemplars ``rows`` (indices into 0 … count − 1) at ``layers``, (n, C, C) float32 each."""
        picked = self.rows[np.asarray(rows, dtype=np.int64)]
        unknown = [layer for layer in layers if layer not in self.layers]
        if unknown:
            raise DatabaseError(f"these stored Grams offer {list(self.layers)}, not {unknown}")
        return GramSet(grams={layer: self.database.gram_rows(layer, self.resolution, picked) for layer in layers})


def unpack_gram(packed: PackedGrams) -> np.ndarray:
    """Inverse of :func:`pack_gram`: (N, C, C) float32 symmetric matrices."""
    c = packed.channels
    rows, cols = np.triu_indices(c)
    out = np.zeros((packed.count, c, c), dtype=np.float32)
    tri = packed.values.astype(np.float32) * packed.scale[:, None].astype(np.float32)
    out[:, rows, cols] = tri
    out[:, cols, rows] = tri
    return out


# --------------------------------------------------------------------------------------------
# writing


def write_database(path: str | os.PathLike[str], contents: DatabaseContents) -> Path:
    """Write a database file atomically (temporary sibling, then rename).

    Parameters
    ----------
    path : destination, conventionally ``*.h5``.
    contents : the arrays and records (shapes as in :class:`DatabaseContents`).

    Returns
    -------
    The path written.
    """
    h5py = _h5py()
    _check_contents(contents)
    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT_NAME
            f.attrs["schema_version"] = SCHEMA_VERSION
            _write_text(f, "manifest", json.dumps(_manifest(contents), indent=1, sort_keys=True))
            _write_text(f, "subjects/table", json.dumps([asdict(s) for s in contents.subjects]))
            big = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
            n = len(contents.subjects)
            f.create_dataset("subjects/albedo", data=contents.albedo,
                             chunks=(1,) + contents.albedo.shape[1:], **big)
            f.create_dataset("subjects/fill_map", data=contents.fill_map,
                             chunks=(1,) + contents.fill_map.shape[1:], **big)
            f.create_dataset("subjects/vertices", data=np.asarray(contents.vertices, np.float32))
            for name in ("shape_coeffs", "expression_coeffs", "albedo_coeffs", "sh_coeffs"):
                arr = np.asarray(getattr(contents, name), dtype=np.float64)
                f.create_dataset(f"subjects/{name}", data=arr.reshape((n,) + arr.shape[1:]))
            f.create_dataset("chart", data=contents.chart.astype(np.uint8))
            f.create_dataset("lighting", data=np.asarray(contents.lighting, np.float64))
            for res, layers in sorted(contents.grams.items()):
                for layer, packed in layers.items():
                    group = f"grams/{int(res)}/{layer}"
                    f.create_dataset(f"{group}/values", data=packed.values, chunks=(1, packed.values.shape[1]))
                    f.create_dataset(f"{group}/scale", data=np.asarray(packed.scale, np.float64))
            model = contents.model
            model_arrays = {
                "mean_shape": model.topology.vertices,
                "uvs": model.topology.uvs,
                "faces": np.asarray(model.topology.faces, np.int64),
                "landmark_weights": model.topology.landmark_weights,
                "shape_basis": model.shape_basis,
                "shape_std": model.shape_std,
                "expression_basis": model.expression_basis,
                "expression_std": model.expression_std,
                "albedo_mean": np.asarray(model.albedo_mean, np.float32),
                "albedo_basis": np.asarray(model.albedo_basis, np.float32),
                "albedo_std": model.albedo_std,
            }
            for name, arr in model_arrays.items():
                f.create_dataset(f"model/{name}", data=np.asarray(arr))
            # Hash what was written, read back by the same code that verifies on load.
            f.attrs["content_sha256"] = _content_digest(f)
    return path


def _manifest(contents: DatabaseContents) -> dict[str, Any]:
    return {
        "name": contents.name,
        "facetex_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "num_subjects": len(contents.subjects),
        "resolution": int(contents.albedo.shape[1]),
        "gram_resolutions": sorted(int(r) for r in contents.grams),
        "gram_layers": list(next(iter(contents.grams.values())).keys()) if contents.grams else [],
        "gram_dtype": _gram_dtype(contents),
        "model_name": contents.model.name,
        "build_params": contents.build_params,
        "sources": [asdict(s) for s in contents.sources],
        "attribution": contents.attribution,
        "build_report": contents.build_report,
    }


def _check_contents(c: DatabaseContents) -> None:
    n = len(c.subjects)
    if n == 0:
        raise DatabaseError("a database needs at least one subject")
    ids = [s.subject_id for s in c.subjects]
    if len(set(ids)) != n:
        raise DatabaseError("subject ids must be unique")
    a = np.asarray(c.albedo)
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[0] != n or a.shape[1] != a.shape[2] or a.shape[3] != 3:
        raise ShapeMismatchError(f"albedo must be ({n}, R, R, 3) uint8, got {a.shape} {a.dtype}")
    r = a.shape[1]
    if c.fill_map.shape != (n, r, r) or c.fill_map.dtype != np.uint8:
        raise ShapeMismatchError(f"fill_map must be ({n}, {r}, {r}) uint8, got {c.fill_map.shape}")
    if c.chart.shape != (r, r):
        raise ShapeMismatchError(f"chart must be ({r}, {r}), got {c.chart.shape}")
    for name in ("vertices", "shape_coeffs", "expression_coeffs", "albedo_coeffs", "sh_coeffs"):
        if np.asarray(getattr(c, name)).shape[0] != n:
            raise ShapeMismatchError(f"{name} must have {n} rows, got {np.asarray(getattr(c, name)).shape}")
    for res, layers in c.grams.items():
        for layer, g in layers.items():
            if g.values.ndim != 2 or g.count != n or g.scale.shape != (n,):
                raise ShapeMismatchError(f"Grams {res}/{layer} must hold {n} packed matrices, got {g.values.shape}")
            g.channels  # noqa: B018 - raises if the rows are not triangles


def _gram_dtype(c: DatabaseContents) -> str:
    dtypes = {str(g.values.dtype) for layers in c.grams.values() for g in layers.values()}
    return dtypes.pop() if len(dtypes) == 1 else "mixed"


def _write_text(f: Any, name: str, text: str) -> None:
    f.create_dataset(name, data=text, dtype=_h5py().string_dtype("utf-8"))


# --------------------------------------------------------------------------------------------
# checksum


def _dataset_names(f: Any) -> list[str]:
    h5py = _h5py()
    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(names)


def _content_digest(f: Any) -> str:
    """SHA-256 over every dataset: name, dtype, shape, then its bytes (C order)."""
    digest = hashlib.sha256()
    for name in _dataset_names(f):
        ds = f[name]
        digest.update(name.encode())
        if ds.dtype.kind == "O" or ds.dtype.kind == "S":
            text = ds.asstr()[()]
            digest.update(b"|str|")
            digest.update(text.encode("utf-8"))
            continue
        digest.update(f"|{ds.dtype.str}|{ds.shape}|".encode())
        if ds.ndim == 0:
            digest.update(np.ascontiguousarray(ds[()]).tobytes())
            continue
        for start in range(0, ds.shape[0], _HASH_BLOCK):
            digest.update(np.ascontiguousarray(ds[start : start + _HASH_BLOCK]).tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# reading


def load_database(path: str | os.PathLike[str], *, verify: bool = True) -> TextureDatabase:
    """Open a database file and check it.

    Parameters
    ----------
    path : a file written by :func:`write_database`.
    verify : recompute the content SHA-256 over every dataset and compare it with the stored
        one (reads the whole file once; about a second for the full London database).

    Returns
    -------
    TextureDatabase

    Raises
    ------
    DatabaseError
        If the file is missing, not HDF5, HDF5 of another kind, of another schema version,
        truncated, lacks a required dataset, or its content checksum differs.
    """
    h5py = _h5py()
    path = Path(path)
    if not path.is_file():
        raise DatabaseError(f"no texture database at {path}")
    if not h5py.is_hdf5(path):
        raise DatabaseError(f"{path} is not a facetex texture database (not an HDF5 file)")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT_NAME:
                raise DatabaseError(f"{path} is an HDF5 file but not a facetex texture database")
            version = int(f.attrs.get("schema_version", -1))
            if version != SCHEMA_VERSION:
                raise DatabaseError(
                    f"{path} has database schema version {version}, this facetex reads version "
                    f"{SCHEMA_VERSION}; rebuild it with `facetex build-db`"
                )
            missing = [name for name in _REQUIRED if name not in f]
            if missing:
                raise DatabaseError(f"{path} is damaged: missing {', '.join(missing)}")
            if verify:
                stored = f.attrs.get("content_sha256")
                if stored is None or _content_digest(f) != stored:
                    raise DatabaseError(f"{path} is damaged: its content checksum does not match")
            manifest = json.loads(f["manifest"].asstr()[()])
            table = json.loads(f["subjects/table"].asstr()[()])
            chart = f["chart"][()].astype(bool)
            lighting = f["lighting"][()]
    except DatabaseError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise DatabaseError(f"{path} is damaged or truncated and cannot be read: {exc}") from exc
    subjects = tuple(SubjectRecord(**record) for record in table)
    return TextureDatabase(path, manifest, subjects, chart, lighting)


class TextureDatabase:
    """A read-only texture database (create it with :func:`load_database`).

    Small parts (manifest, subject table, chart, lighting) are held in memory; textures,
    Grams and the model are read from the file when asked for, so a handle is cheap, can be
    pickled, and never keeps the file open. Every query takes ``exclude_persons``: the person
    ids to leave out (leave-one-out evaluation leaves out *both* photos of a person); arrays
    come back in the order of :meth:`subjects` with the same argument.
    """

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        subjects: tuple[SubjectRecord, ...],
        chart: np.ndarray,
        lighting: np.ndarray,
    ) -> None:
        self.path = Path(path)
        self.manifest = manifest
        self._subjects = subjects
        self.chart = chart
        self.lighting = lighting
        stat = self.path.stat()
        self._stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def __repr__(self) -> str:
        return f"TextureDatabase({str(self.path)!r}, subjects={len(self._subjects)}, resolution={self.resolution})"

    # -- description ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def resolution(self) -> int:
        """R of the stored textures."""
        return int(self.manifest["resolution"])

    @property
    def gram_resolutions(self) -> tuple[int, ...]:
        return tuple(int(r) for r in self.manifest["gram_resolutions"])

    @property
    def gram_layers(self) -> tuple[str, ...]:
        return tuple(self.manifest["gram_layers"])

    @property
    def attribution(self) -> str:
        return str(self.manifest["attribution"])

    @property
    def persons(self) -> tuple[str, ...]:
        """Distinct person ids, in storage order."""
        return tuple(dict.fromkeys(s.person_id for s in self._subjects))

    # -- queries --------------------------------------------------------------------------
    def subjects(self, *, exclude_persons: Iterable[str] = ()) -> tuple[SubjectRecord, ...]:
        """Subject records, without the photos of ``exclude_persons``."""
        return tuple(self._subjects[i] for i in self._select(exclude_persons))

    def textures(self, *, exclude_persons: Iterable[str] = (), resolution: int | None = None) -> np.ndarray:
        """Complete UV albedo maps, (N, r, r, 3) float32 in [0, 1], exactly 0.5 off the chart
        (8-bit storage cannot hold 0.5 itself).

        ``resolution`` r (default the stored R) area-averages each map on reading, a block of
        subjects at a time, so a small version of a large database never sits in memory at
        full size (204 maps at 512² are 640 MB as float32, at 1024² 2.5 GB).
        """
        return self._albedo(self._select(exclude_persons), resolution, luminance_only=False)

    def luminances(self, *, exclude_persons: Iterable[str] = (), resolution: int | None = None) -> np.ndarray:
        """Luminance Y (of YIQ) of the complete UV albedo maps, (N, r, r) float32 in [0, 1],
        0.5 off the chart: what the texture stages use (§4 Grams and §5 synthesis are of
        luminance), in a third of :meth:`textures`' memory. Read a block at a time, as there."""
        return self._albedo(self._select(exclude_persons), resolution, luminance_only=True)

    def subject_textures(self, subject_ids: Sequence[str], *, resolution: int | None = None) -> np.ndarray:
        """The albedo maps of some subjects, (len(subject_ids), r, r, 3) float32 in [0, 1], in
        the order given, read without the others (e.g. the report's thumbnails).

        Raises DatabaseError for an unknown subject id.
        """
        index = {s.subject_id: i for i, s in enumerate(self._subjects)}
        unknown = [sid for sid in subject_ids if sid not in index]
        if unknown:
            raise DatabaseError(f"unknown subject ids {unknown} in {self.path.name}")
        rows, inverse = np.unique(np.array([index[sid] for sid in subject_ids], dtype=np.int64), return_inverse=True)
        return self._albedo(rows, resolution, luminance_only=False)[inverse.reshape(-1)]

    def fill_maps(self, *, exclude_persons: Iterable[str] = ()) -> np.ndarray:
        """Texel origins (N, R, R) uint8 (see :mod:`facetex.database.fill`)."""
        return self._read("subjects/fill_map", exclude_persons)

    def vertices(self, *, exclude_persons: Iterable[str] = ()) -> np.ndarray:
        """Fitted meshes (N, V, 3) float32, model frame with pose removed (cm)."""
        return self._read("subjects/vertices", exclude_persons)

    def coefficients(self, kind: str, *, exclude_persons: Iterable[str] = ()) -> np.ndarray:
        """Model coefficients (N, K) float64; ``kind`` is "shape", "expression" or "albedo"."""
        if kind not in ("shape", "expression", "albedo"):
            raise ValueError(f"kind must be 'shape', 'expression' or 'albedo', got {kind!r}")
        return self._read(f"subjects/{kind}_coeffs", exclude_persons)

    def grams(self, layer: str, resolution: int, *, exclude_persons: Iterable[str] = ()) -> np.ndarray:
        """Normalised luminance Grams of the complete textures at ``resolution``².

        Returns
        -------
        (N, C, C) float32, G = F Fᵀ / M of VGG-19 ``layer`` (paper §4).
        """
        return self.gram_rows(layer, resolution, self._select(exclude_persons))

    def gram_set(
        self,
        resolution: int,
        *,
        layers: Iterable[str] | None = None,
        exclude_persons: Iterable[str] = (),
    ) -> GramSet:
        """:meth:`grams` of several layers (all stored ones by default) as a GramSet: every row
        of :meth:`stored_grams`."""
        stored = self.stored_grams(resolution, layers=layers, exclude_persons=exclude_persons)
        return stored.take(np.arange(stored.count), stored.layers)

    def stored_grams(
        self,
        resolution: int,
        *,
        layers: Iterable[str] | None = None,
        exclude_persons: Iterable[str] = (),
    ) -> StoredGrams:
        """The complete Grams of :meth:`gram_set`, read on demand: a
        :class:`~facetex.types.GramSource` whose ``take`` reads only the rows asked for
        (inference needs the ~10 exemplars the §4 fit kept, not all N; the whole set at 256²
        and 512² unpacks to ~0.8 GiB for the London database).

        Raises DatabaseError if the resolution or a layer is not stored.
        """
        names = tuple(layers) if layers is not None else self.gram_layers
        self._check_grams(resolution, names)
        return StoredGrams(database=self, resolution=int(resolution), layers=names,
                           rows=self._select(exclude_persons))

    def gram_rows(self, layer: str, resolution: int, rows: np.ndarray) -> np.ndarray:
        """:meth:`grams` of some database rows only (indices into :meth:`subjects` without
        exclusions, any order, repeats allowed): (len(rows), C, C) float32.

        Raises DatabaseError if the resolution or the layer is not stored.
        """
        self._check_grams(resolution, (layer,))
        order, inverse = np.unique(np.asarray(rows, dtype=np.int64), return_inverse=True)
        with self._open() as f:
            group = f[f"grams/{int(resolution)}/{layer}"]
            packed = PackedGrams(values=_take(group["values"], order), scale=group["scale"][()][order])
        return unpack_gram(packed)[inverse.reshape(-1)]

    def _check_grams(self, resolution: int, layers: Sequence[str]) -> None:
        """DatabaseError unless Grams of every layer are stored at ``resolution``."""
        if int(resolution) not in self.gram_resolutions:
            raise DatabaseError(f"{self.path.name} holds Grams at {list(self.gram_resolutions)}, not {resolution}")
        missing = [layer for layer in layers if layer not in self.gram_layers]
        if missing:
            raise DatabaseError(f"{self.path.name} holds Grams of {list(self.gram_layers)}, not {missing}")

    def morphable_model(self) -> MorphableModel:
        """The morphable model learned from this database (identity, expression, albedo PCA)."""
        with self._open() as f:
            m = {name: f[f"model/{name}"][()] for name in _MODEL_ARRAYS}
        return MorphableModel(
            name=str(self.manifest["model_name"]),
            topology=MeshTopology(
                vertices=m["mean_shape"],
                uvs=m["uvs"],
                faces=m["faces"],
                landmark_weights=m["landmark_weights"],
            ),
            shape_basis=m["shape_basis"],
            shape_std=m["shape_std"],
            expression_basis=m["expression_basis"],
            expression_std=m["expression_std"],
            albedo_mean=m["albedo_mean"],
            albedo_basis=m["albedo_basis"],
            albedo_std=m["albedo_std"],
        )

    # -- internals ------------------------------------------------------------------------
    def _select(self, exclude_persons: Iterable[str]) -> np.ndarray:
        if isinstance(exclude_persons, str):
            exclude_persons = (exclude_persons,)
        excluded = set(exclude_persons)
        unknown = excluded - {s.person_id for s in self._subjects}
        if unknown:
            raise DatabaseError(f"unknown person ids {sorted(unknown)} in {self.path.name}")
        return np.array([i for i, s in enumerate(self._subjects) if s.person_id not in excluded], dtype=np.int64)

    def _albedo(self, rows: np.ndarray, resolution: int | None, *, luminance_only: bool) -> np.ndarray:
        """Albedo maps of sorted, distinct ``rows``, a block at a time: (n, r, r, 3) RGB or
        (n, r, r) luminance, float32, 0.5 off the chart, area-resized to ``resolution``."""
        import cv2

        from facetex.texture.color import luminance

        size = self.resolution if resolution is None else int(resolution)
        out = np.empty((rows.size, size, size) + (() if luminance_only else (3,)), dtype=np.float32)
        with self._open() as f:
            data = f["subjects/albedo"]
            for start in range(0, rows.size, _HASH_BLOCK):
                block = data[rows[start : start + _HASH_BLOCK]].astype(np.float32) / 255.0
                block[:, ~self.chart] = 0.5
                for i, texture in enumerate(block):
                    if luminance_only:
                        texture = luminance(texture)
                    if size != self.resolution:
                        texture = cv2.resize(texture, (size, size), interpolation=cv2.INTER_AREA)
                    out[start + i] = texture
        return out

    def _read(self, name: str, exclude_persons: Iterable[str]) -> np.ndarray:
        rows = self._select(exclude_persons)
        with self._open() as f:
            return _take(f[name], rows)

    @contextmanager
    def _open(self) -> Iterator[Any]:
        h5py = _h5py()
        try:
            stat = self.path.stat()
        except OSError as exc:
            raise DatabaseError(f"texture database {self.path} is gone: {exc}") from exc
        if (stat.st_ino, stat.st_size, stat.st_mtime_ns) != self._stamp:
            raise DatabaseError(f"texture database {self.path} changed on disk since it was loaded; load it again")
        try:
            with h5py.File(self.path, "r") as f:
                yield f
        except (OSError, KeyError) as exc:
            raise DatabaseError(f"cannot read {self.path}: {exc}") from exc


def _take(ds: Any, rows: np.ndarray) -> np.ndarray:
    """Rows of an HDF5 dataset (whole read when most rows are wanted: fancy reads are slow)."""
    n = ds.shape[0]
    if rows.size == n:
        return ds[()]
    if rows.size == 0:
        return np.zeros((0,) + ds.shape[1:], dtype=ds.dtype)
    if rows.size > n // 4:
        return ds[()][rows]
    return ds[np.sort(rows)]
