"""The per-photo result cache of a database build.

Each round's result of each photo is saved under the build's work folder as
``<subject>.<key>.npz``, the key a digest of the photo's SHA-256, the settings the result
depends on (:func:`cache_settings`), and the model and lighting of the round, so a rerun (after
a crash or Ctrl-C) reuses finished photos. The key does not cover the code: after changing how a
photo is processed, bump :data:`CACHE_FORMAT` (or delete the work folder).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facetex.database.config import DatabaseConfig
from facetex.database.packing import PackedGrams
from facetex.database.schema import SCHEMA_VERSION
from facetex.io.atomic import atomic_path
from facetex.types import MorphableModel

__all__ = [
    "CACHE_FORMAT",
    "PhotoResult",
    "save_result",
    "load_result",
    "digest",
    "model_digest",
    "config_record",
    "cache_settings",
]

#: Version of the per-photo cache files; bump it when :class:`PhotoResult` or its computation
#: changes.
CACHE_FORMAT = 2


@dataclass(frozen=True)
class PhotoResult:
    """What one photo gave in one round (arrays small enough to keep for every photo).

    Attributes
    ----------
    subject_id : the photo's id.
    ok, reason : whether the photo was accepted in this round, else why not.
    seconds : wall time of its computation (of the original one when ``cached``).
    cached : read from the cache rather than computed.
    sh_coeffs : (9, 3) float64 SH lighting of the fit.
    albedo_scale : (3,) float64 mean model albedo of the fit over the UV chart.
    vertices : (V, 3) fitted mesh in the model frame, pose removed (cm).
    diagnostics : named scalars of the fit (and unwrap).
    albedo : (R, R, 3) uint8 complete UV albedo (unwrap rounds).
    fill_map : (R, R) uint8 texel origins (:mod:`facetex.database.fill`).
    grams : resolution → layer → packed Gram of the complete texture (last round).
    """

    subject_id: str
    ok: bool
    reason: str
    seconds: float
    cached: bool = False
    sh_coeffs: np.ndarray | None = None
    albedo_scale: np.ndarray | None = None
    vertices: np.ndarray | None = None
    diagnostics: dict[str, float] = field(default_factory=dict)
    albedo: np.ndarray | None = None
    fill_map: np.ndarray | None = None
    grams: dict[int, dict[str, PackedGrams]] | None = None


def save_result(path: Path, r: PhotoResult) -> None:
    """Write ``r`` to ``path`` (``.npz``, atomically)."""
    arrays: dict[str, np.ndarray] = {}
    meta = {"subject_id": r.subject_id, "ok": r.ok, "reason": r.reason, "seconds": r.seconds,
            "diagnostics": r.diagnostics, "grams": []}
    for name in ("sh_coeffs", "albedo_scale", "vertices", "albedo", "fill_map"):
        value = getattr(r, name)
        if value is not None:
            arrays[name] = value
    for res, layers in (r.grams or {}).items():
        for layer, packed in layers.items():
            meta["grams"].append([res, layer])
            arrays[f"gram_{res}_{layer}_values"] = packed.values
            arrays[f"gram_{res}_{layer}_scale"] = packed.scale
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def load_result(path: Path) -> PhotoResult:
    """Read a result written by :func:`save_result` (``cached`` is False)."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(bytes(data["meta"]).decode("utf-8"))
        arrays = {k: data[k] for k in data.files if k != "meta"}
    grams: dict[int, dict[str, PackedGrams]] = {}
    for res, layer in meta["grams"]:
        grams.setdefault(int(res), {})[layer] = PackedGrams(
            values=arrays.pop(f"gram_{res}_{layer}_values"), scale=arrays.pop(f"gram_{res}_{layer}_scale"))
    return PhotoResult(meta["subject_id"], meta["ok"], meta["reason"], meta["seconds"],
                       diagnostics=meta["diagnostics"], grams=grams or None, **arrays)


def digest(*parts: Any) -> str:
    """SHA-256 (hex) of arrays (dtype, shape, bytes) and JSON-able values, in order."""
    sha = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            sha.update(f"{part.dtype.str}{part.shape}".encode())
            sha.update(np.ascontiguousarray(part).tobytes())
        else:
            sha.update(json.dumps(part, sort_keys=True, default=str).encode())
        sha.update(b"|")
    return sha.hexdigest()


def model_digest(model: MorphableModel) -> str:
    """:func:`digest` of everything of a model that a fit depends on."""
    return digest(model.name, model.topology.vertices, model.shape_basis, model.shape_std,
                  model.expression_basis, model.expression_std, model.albedo_mean, model.albedo_basis,
                  model.albedo_std)


def config_record(cfg: DatabaseConfig) -> dict[str, Any]:
    """``cfg`` as a JSON-ready record (the build parameters of the manifest and the log)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def cache_settings(record: dict[str, Any], unwrap: bool, grams: bool) -> dict[str, Any]:
    """The settings a round's per-photo result depends on (not jobs, name, PCA sizes, …)."""
    keys = ["detect", "specular", "fit", "max_landmark_rmse_iod"]
    if unwrap:
        keys += ["resolution", "unwrap", "fill", "min_observed_fraction", "keep_features", "min_cos_view"]
    if grams:
        keys += ["gram_resolutions", "gram_layers", "gram_dtype", "gram_region"]
    return {"schema": SCHEMA_VERSION, "cache_format": CACHE_FORMAT, **{k: record[k] for k in keys}}
