"""The texture database file's schema: its HDF5 layout, version, subject and source records,
and the content checksum that both the writer and the reader compute.

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
    /model/fit_faces       (F,) uint8, optional: triangles of the photometric fit term
    /model/landmark_map/<field>  optional: mediapipe's landmarks on a mesh not mediapipe's
                           (facetex.types.LandmarkMap fields)

The manifest's ``model`` record holds the model's other settings (expression range, prior and
names); ``build_params.face_model`` says which face model's UV tile the textures fill.

The content checksum covers every dataset (name, dtype, shape and bytes, in sorted name
order), the manifest included, so :func:`~facetex.database.store.load_database` detects damage
anywhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from facetex.errors import MissingDependencyError

if TYPE_CHECKING:
    import h5py as _h5py_types

__all__ = [
    "SCHEMA_VERSION",
    "FORMAT_NAME",
    "LONDON_ATTRIBUTION",
    "SUBJECT_ARRAYS",
    "MODEL_ARRAYS",
    "REQUIRED_DATASETS",
    "LANDMARK_MAP_FIELDS",
    "BLOCK",
    "SubjectRecord",
    "SourceFile",
    "h5py_module",
    "content_digest",
]

#: Version of the file layout above; a file of another version is refused (rebuild it).
#: 2: the face model's landmark map, photometric triangles and expression settings (the ICT
#: Face Model's face tile); files of version 1 hold mediapipe's mask chart only.
SCHEMA_VERSION = 2
FORMAT_NAME = "facetex-texture-database"
#: Attribution every artefact derived from the London set must carry (CC BY 4.0).
LONDON_ATTRIBUTION = (
    "Face Research Lab London Set, DeBruine & Jones 2017, CC BY 4.0, "
    "doi:10.6084/m9.figshare.5047666.v5"
)

#: Datasets of one subject each, under ``/subjects/``.
SUBJECT_ARRAYS = ("albedo", "fill_map", "vertices", "shape_coeffs", "expression_coeffs",
                  "albedo_coeffs", "sh_coeffs")
#: The morphable model's datasets, under ``/model/``.
MODEL_ARRAYS = ("mean_shape", "uvs", "faces", "landmark_weights", "shape_basis", "shape_std",
                "expression_basis", "expression_std", "albedo_mean", "albedo_basis", "albedo_std")
#: The fields of a stored ``/model/landmark_map`` group (facetex.types.LandmarkMap).
LANDMARK_MAP_FIELDS = ("vertices", "barycentrics", "rigid_weights", "contour", "contour_candidates", "contour_reach")
#: Datasets every file must hold.
REQUIRED_DATASETS = (
    ("manifest", "subjects/table", "chart", "lighting")
    + tuple(f"subjects/{name}" for name in SUBJECT_ARRAYS)
    + tuple(f"model/{name}" for name in MODEL_ARRAYS)
)
#: Subjects per read while hashing or reading large datasets.
BLOCK = 16


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


def h5py_module() -> ModuleType:
    """The ``h5py`` module, or a MissingDependencyError saying how to install it."""
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is a core dependency
        raise MissingDependencyError("texture databases need h5py: pip install h5py") from exc
    return h5py


def _dataset_names(f: _h5py_types.File) -> list[str]:
    h5py = h5py_module()
    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(names)


def content_digest(f: _h5py_types.File) -> str:
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
        for start in range(0, ds.shape[0], BLOCK):
            digest.update(np.ascontiguousarray(ds[start : start + BLOCK]).tobytes())
    return digest.hexdigest()
