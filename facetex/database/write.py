"""Writing a texture database file (layout: :mod:`facetex.database.schema`).

Files are written to a temporary sibling and renamed (:mod:`facetex.io.atomic`), and carry the
content checksum that :func:`~facetex.database.store.load_database` verifies.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facetex import __version__
from facetex.database.packing import PackedGrams
from facetex.database.schema import (
    LANDMARK_MAP_FIELDS,
    FORMAT_NAME,
    SCHEMA_VERSION,
    SourceFile,
    SubjectRecord,
    content_digest,
    h5py_module,
)
from facetex.errors import DatabaseError, ShapeMismatchError
from facetex.io.atomic import atomic_path
from facetex.types import MorphableModel

if TYPE_CHECKING:
    import h5py

__all__ = ["DatabaseContents", "write_database"]


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
    h5py = h5py_module()
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
            for name, arr in {**model_arrays, **_optional_model_arrays(model)}.items():
                f.create_dataset(f"model/{name}", data=np.asarray(arr))
            # Hash what was written, read back by the same code that verifies on load.
            f.attrs["content_sha256"] = content_digest(f)
    return path


def _optional_model_arrays(model: MorphableModel) -> dict[str, np.ndarray]:
    """The model's optional topology arrays that it has (``/model/fit_faces`` and
    ``/model/landmark_map/<field>``, :mod:`facetex.database.schema`): the photometric triangles
    and mediapipe's landmarks on a mesh not mediapipe's."""
    out: dict[str, np.ndarray] = {}
    topology = model.topology
    if topology.fit_faces is not None:
        out["fit_faces"] = np.asarray(topology.fit_faces, np.uint8)
    if topology.landmark_map is not None:
        for name in LANDMARK_MAP_FIELDS:
            out[f"landmark_map/{name}"] = np.asarray(getattr(topology.landmark_map, name))
    return out


def _model_record(model: MorphableModel) -> dict[str, Any]:
    """The model's settings that are not arrays (manifest ``model``)."""
    return {
        "expression_range": None if model.expression_range is None else [float(v) for v in model.expression_range],
        "expression_prior": model.expression_prior,
        "expression_names": None if model.expression_names is None else list(model.expression_names),
    }


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
        "model": _model_record(contents.model),
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


def _write_text(f: h5py.File, name: str, text: str) -> None:
    f.create_dataset(name, data=text, dtype=h5py_module().string_dtype("utf-8"))

