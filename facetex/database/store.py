"""Reading a texture database file: :func:`load_database` checks it and gives a read-only
:class:`TextureDatabase` with leave-one-person-out queries.

The layout is in :mod:`facetex.database.schema`, the writer in :mod:`facetex.database.write`
and the Gram packing in :mod:`facetex.database.packing`; their public names are importable from
here too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facetex.database.fill import gram_region_mask
from facetex.database.packing import PackedGrams, unpack_gram
from facetex.database.schema import (
    BLOCK,
    FORMAT_NAME,
    LANDMARK_MAP_FIELDS,
    MODEL_ARRAYS,
    REQUIRED_DATASETS,
    SCHEMA_VERSION,
    SubjectRecord,
    content_digest,
    h5py_module,
)
from facetex.errors import DatabaseError
from facetex.fitting.visibility import feature_texels
from facetex.texture.color import luminance
from facetex.types import GramSet, LandmarkMap, MeshTopology, MorphableModel

if TYPE_CHECKING:
    import h5py

__all__ = [
    "TextureDatabase",
    "StoredGrams",
    "load_database",
]


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


def load_database(path: str | os.PathLike[str], *, verify: bool = True) -> TextureDatabase:
    """Open a database file and check it.

    Parameters
    ----------
    path : a file written by :func:`write_database`.
    verify : recompute the content SHA-256 over every dataset and compare it with the stored
        one (reads the whole file once).

    Returns
    -------
    TextureDatabase

    Raises
    ------
    DatabaseError
        If the file is missing, not HDF5, HDF5 of another kind, of another schema version,
        truncated, lacks a required dataset, or its content checksum differs.
    """
    h5py = h5py_module()
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
            missing = [name for name in REQUIRED_DATASETS if name not in f]
            if missing:
                raise DatabaseError(f"{path} is damaged: missing {', '.join(missing)}")
            if verify:
                stored = f.attrs.get("content_sha256")
                if stored is None or content_digest(f) != stored:
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
    def face_model(self) -> str:
        """The face model whose UV tile the textures fill: ``"ict"`` or ``"mediapipe"``."""
        return str(self.manifest["build_params"].get("face_model", "mediapipe"))

    @property
    def gram_region(self) -> str:
        """The texels the stored Grams describe (``DatabaseConfig.gram_region``): ``"skin"``
        or ``"texture"`` (files built before the setting existed)."""
        return str(self.manifest["build_params"].get("gram_region", "texture"))

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
        full size.
        """
        return self._albedo(self._select(exclude_persons), resolution, luminance_only=False)

    def luminances(self, *, exclude_persons: Iterable[str] = (), resolution: int | None = None) -> np.ndarray:
        """Luminance Y (of YIQ) of the complete UV albedo maps, (N, r, r) float32 in [0, 1],
        0.5 off the chart: what the texture stages use (§4 Grams and §5 synthesis are of
        luminance), in a third of :meth:`textures`' memory. Read a block at a time, as there."""
        return self._albedo(self._select(exclude_persons), resolution, luminance_only=True)

    def reference_luminances(self, count: int = 12, *, exclude_persons: Iterable[str] = ()) -> np.ndarray:
        """Luminance maps of ``count`` subjects spread evenly over the table (the first and the
        last included), at the database's resolution: (min(count, N), r, r) float32 in [0, 1],
        0.5 off the chart. What sharp skin looks like to the blur estimate of
        :mod:`facetex.fitting.deblur`, which reads a few maps, not all."""
        rows = self._select(exclude_persons)
        if count < 1 or rows.size == 0:
            return np.zeros((0, self.resolution, self.resolution), dtype=np.float32)
        picked = np.unique(rows[np.linspace(0, rows.size - 1, min(count, rows.size)).round().astype(np.int64)])
        return self._albedo(picked, None, luminance_only=True)

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

    def gram_regions(self, *, exclude_persons: Iterable[str] = ()) -> np.ndarray | None:
        """The texels each stored Gram describes, (N, R, R) bool (:attr:`gram_region`
        ``"skin"``: observed or mirrored texels outside the facial features), or None when the
        Grams describe the whole textures."""
        if self.gram_region == "texture":
            return None
        features = feature_texels(self.morphable_model().topology, self.resolution)
        return gram_region_mask(self.fill_maps(exclude_persons=exclude_persons), self.gram_region,
                                self.resolution, features)

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
        (inference needs only the exemplars the §4 fit kept, not all N; see docs/database.md,
        "Memory").

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
        """The database's morphable model: its albedo PCA and its geometry (learned identity and
        expression PCA on mediapipe's mesh, or the ICT Face Model's modes and blendshapes)."""
        with self._open() as f:
            m = {name: f[f"model/{name}"][()] for name in MODEL_ARRAYS}
            fit_faces = f["model/fit_faces"][()].astype(bool) if "model/fit_faces" in f else None
            landmark_map = (LandmarkMap(**{name: f[f"model/landmark_map/{name}"][()] for name in LANDMARK_MAP_FIELDS})
                            if "model/landmark_map" in f else None)
        record = self.manifest.get("model", {})
        expression_range = record.get("expression_range")
        names = record.get("expression_names")
        return MorphableModel(
            name=str(self.manifest["model_name"]),
            topology=MeshTopology(
                vertices=m["mean_shape"],
                uvs=m["uvs"],
                faces=m["faces"],
                landmark_weights=m["landmark_weights"],
                landmark_map=landmark_map,
                fit_faces=fit_faces,
            ),
            expression_range=None if expression_range is None else (float(expression_range[0]), float(expression_range[1])),
            expression_prior=str(record.get("expression_prior", "gaussian")),
            expression_names=None if names is None else tuple(names),
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

        size = self.resolution if resolution is None else int(resolution)
        out = np.empty((rows.size, size, size) + (() if luminance_only else (3,)), dtype=np.float32)
        with self._open() as f:
            data = f["subjects/albedo"]
            for start in range(0, rows.size, BLOCK):
                block = data[rows[start : start + BLOCK]].astype(np.float32) / 255.0
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
    def _open(self) -> Iterator[h5py.File]:
        h5py = h5py_module()
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


def _take(ds: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
    """Rows of an HDF5 dataset (whole read when most rows are wanted: fancy reads are slow)."""
    n = ds.shape[0]
    if rows.size == n:
        return ds[()]
    if rows.size == 0:
        return np.zeros((0,) + ds.shape[1:], dtype=ds.dtype)
    if rows.size > n // 4:
        return ds[()][rows]
    return ds[np.sort(rows)]
