"""Build a texture database from studio photos (paper §6) and the morphable models learned
from it.

Rounds, each over every photo still accepted (per photo: load, detect, SUV specular removal
on the facial skin, fit, and in the unwrap rounds unwrap + fill):

0. **generic fit**: the generic model of stage 1, lighting free. Gives each photo's SH
   lighting, only to find the studio lighting.
1. **global lighting**: the photos share one studio setup, so the paper solves one globally
   consistent lighting. Here: each round-0 lighting is scaled by its fit's mean albedo over the
   reference (the generic model's mean skin), which removes the albedo/light-intensity
   ambiguity of single fits, and the element-wise median over the photos is the global SH
   lighting. Every later fit holds it fixed (``fit_face(..., sh_coeffs=lighting)``), so
   differences in skin tone stay in the albedo instead of being absorbed by the lighting.
   Refit with the generic model, unwrap, fill → textures and meshes; learn PCA models.
2. …: **bootstrap**: refit with the learned model (``DatabaseConfig.bootstrap_rounds`` times),
   unwrap, fill, learn again; the change between rounds is reported (mean vertex
   displacement, landmark error).

The last round also computes the luminance Grams of every complete texture. Failed photos are
rejected with a reason in the build log (JSON lines beside the database). Per-photo results are
cached under the work folder, keyed by the photo's SHA-256, the settings and the model and
lighting each round uses, so a rerun (after a crash or Ctrl-C) reuses finished photos. The key
does not cover the code: after changing how a photo is processed, bump ``_CACHE_FORMAT`` (or
delete the work folder).

Photos are processed by a pool of ``DatabaseConfig.jobs`` spawned worker processes (one torch
thread each); the main process only collects results, learns the models and writes the file.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facetex.database.config import DatabaseConfig
from facetex.database.fill import MirrorMap, fill_texture, mirror_texel_map
from facetex.database.pca import align_rigid, build_morphable_model, downsample_textures
from facetex.database.specular import estimate_source_color, remove_specular
from facetex.database.store import (
    LONDON_ATTRIBUTION,
    SCHEMA_VERSION,
    DatabaseContents,
    PackedGrams,
    SourceFile,
    SubjectRecord,
    load_database,
    pack_gram,
    write_database,
)
from facetex.errors import DatabaseError, FacetexError, OutputError
from facetex.io.atomic import atomic_path, check_output_file, write_text
from facetex.paths import cache_dir, london_dir
from facetex.types import MeshTopology, MorphableModel

__all__ = [
    "PhotoSource",
    "RoundReport",
    "BuildSummary",
    "collect_photos",
    "london_photos",
    "global_lighting",
    "build_database",
    "default_database_path",
    "ensure_default_database",
]

log = logging.getLogger(__name__)

_PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
#: London file names: person id, then 03 (neutral) or 08 (smiling).
_LONDON_NAME = re.compile(r"^(?P<person>\d{3})_(?P<code>03|08)$")
_LONDON_EXPRESSION = {"03": "neutral", "08": "smiling"}
#: Version of the per-photo cache files; bump it when ``_Result`` or its computation changes.
_CACHE_FORMAT = 2


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


@dataclass(frozen=True)
class RoundReport:
    """What one round did.

    Attributes
    ----------
    index : 0 (generic fit, free lighting), 1 (generic fit, global lighting), 2… (bootstrap).
    model : name of the morphable model fitted.
    accepted, rejected : photo counts.
    landmark_rmse_iod : mean landmark RMSE over accepted photos, inter-ocular distances.
    landmark_rmse_px : same in photo pixels.
    vertex_change_cm : mean distance between each vertex of this round's fitted mesh and the
        previous round's (model frame, pose removed, rigidly aligned), cm; None in round 0.
    seconds : wall time of the round.
    """

    index: int
    model: str
    accepted: int
    rejected: int
    landmark_rmse_iod: float
    landmark_rmse_px: float
    vertex_change_cm: float | None
    seconds: float


@dataclass(frozen=True)
class BuildSummary:
    """Result of :func:`build_database`.

    Attributes
    ----------
    path : the database written.
    log_path : the build log (JSON lines).
    photos : photos given.
    accepted : photos in the database.
    rejected : subject id → reason, for the others.
    rounds : one report per round.
    lighting : (9, 3) global SH lighting.
    lighting_spread : relative robust spread (1.4826·MAD / median) over the photos of the
        albedo-normalised DC lighting term, mean over channels: how consistent the per-photo
        lightings were before they were replaced by the global one.
    seconds : total wall time; ``seconds / photos`` is the cost per photo.
    jobs : worker processes used.
    """

    path: Path
    log_path: Path
    photos: int
    accepted: int
    rejected: dict[str, str]
    rounds: tuple[RoundReport, ...]
    lighting: np.ndarray
    lighting_spread: float
    seconds: float
    jobs: int

    @property
    def success_rate(self) -> float:
        return self.accepted / self.photos if self.photos else 0.0


# --------------------------------------------------------------------------------------------
# inputs


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# one photo


@dataclass(frozen=True)
class _Task:
    source: PhotoSource
    model: MorphableModel
    lighting: np.ndarray | None
    unwrap: bool
    grams: bool
    config: DatabaseConfig
    mirror: MirrorMap | None
    cache_file: Path


@dataclass(frozen=True)
class _Result:
    """What one photo gave in one round (arrays small enough to keep for every photo)."""

    subject_id: str
    ok: bool
    reason: str
    seconds: float
    cached: bool = False
    sh_coeffs: np.ndarray | None = None
    albedo_scale: np.ndarray | None = None
    vertices: np.ndarray | None = None  # model frame, pose removed
    diagnostics: dict[str, float] = field(default_factory=dict)
    albedo: np.ndarray | None = None  # (R, R, 3) uint8
    fill_map: np.ndarray | None = None  # (R, R) uint8
    grams: dict[int, dict[str, PackedGrams]] | None = None


def _skin_region(photo: Any, detection: Any) -> np.ndarray:
    """Facial skin of a photo for specular removal: inside the face oval and the person mask,
    outside the grown eye, brow, lip and nostril polygons (skin colour is NOT tested: a
    highlight is far from the skin colour)."""
    import cv2

    from facetex.detect import eye_centers
    from facetex.detect.landmarks import FACE_OVAL
    from facetex.fitting.config import VisibilityConfig
    from facetex.fitting.visibility import image_visibility

    h, w = photo.size
    landmarks = np.asarray(detection.landmarks, dtype=np.float64)
    eyes = eye_centers(landmarks)
    unit = float(np.linalg.norm(eyes[0] - eyes[1]))
    parts = image_visibility(photo.rgb, landmarks, detection.person_mask, np.zeros((0, 2)), unit,
                             VisibilityConfig(use_skin_colour=False))
    oval = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(oval, [np.round(landmarks[list(FACE_OVAL), :2]).astype(np.int32)], 1)
    return (oval > 0) & parts.person & parts.features


def _process(task: _Task) -> _Result:
    """Run one photo through one round, or reuse its cached result."""
    if task.cache_file.is_file():
        try:
            return dataclasses.replace(_load_result(task.cache_file), cached=True)
        except (OSError, ValueError, KeyError, EOFError, TypeError) as exc:  # damaged or stale entry: redo
            log.debug("ignoring damaged cache %s: %s", task.cache_file, exc)
    started = time.perf_counter()
    try:
        result = _compute(task)
    except FacetexError as exc:  # the photo's fault (no face, failed fit, ...): reject, remember
        result = _Result(task.source.subject_id, False, f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - a bug must not end a long build; not cached
        log.warning("unexpected error on %s", task.source.path, exc_info=True)
        return _Result(task.source.subject_id, False, f"unexpected {type(exc).__name__}: {exc}",
                       time.perf_counter() - started)
    _save_result(task.cache_file, result)
    return result


def _compute(task: _Task) -> _Result:
    from facetex.detect import detect_face
    from facetex.fitting import UnwrapConfig, VisibilityConfig, fit_face, photo_visibility, unwrap_albedo
    from facetex.fitting.model import model_albedo
    from facetex.io.images import load_photo
    from facetex.types import Photo

    started = time.perf_counter()
    cfg = task.config
    photo = load_photo(task.source.path)
    detection = detect_face(photo, cfg.detect)
    source_rgb = None
    if cfg.specular.source == "background":
        source_rgb = estimate_source_color(photo.rgb, detection.person_mask < 0.5)
    clean = remove_specular(photo.rgb, _skin_region(photo, detection), cfg.specular, source_rgb=source_rgb)
    photo = Photo(rgb=clean, source=photo.source)
    fit = fit_face(photo, detection, task.model, cfg.fit, sh_coeffs=task.lighting)
    diagnostics = {k: float(v) for k, v in fit.diagnostics.items()}
    subject = task.source.subject_id
    rmse = diagnostics.get("landmark_rmse_iod", float("nan"))
    if not rmse <= cfg.max_landmark_rmse_iod:
        return _Result(subject, False, f"landmark RMSE {rmse:.3f} inter-ocular distances exceeds "
                       f"{cfg.max_landmark_rmse_iod}", time.perf_counter() - started, diagnostics=diagnostics)
    vertices = (np.asarray(fit.vertices) - fit.translation) @ np.asarray(fit.rotation)  # Rᵀ(v − t)
    lowfreq = model_albedo(task.model, fit.albedo_coeffs)
    small_chart = _chart(task.model.topology, lowfreq.shape[0])
    result = _Result(
        subject, True, "", 0.0,
        sh_coeffs=np.asarray(fit.sh_coeffs, dtype=np.float64),
        albedo_scale=lowfreq[small_chart].mean(axis=0).astype(np.float64),
        vertices=vertices,
        diagnostics=diagnostics,
    )
    if task.unwrap:
        unwrap_cfg = cfg.unwrap
        if unwrap_cfg is None:
            unwrap_cfg = UnwrapConfig(resolution=cfg.resolution,
                                      visibility=VisibilityConfig(min_cos_view=cfg.min_cos_view))
        visibility = photo_visibility(photo, detection, task.model.topology, unwrap_cfg.visibility,
                                      max_side=unwrap_cfg.zbuffer_max_size)
        if cfg.keep_features:
            visibility = (_with_features(visibility[0]), visibility[1])
        partial = unwrap_albedo(photo, detection, fit, task.model, unwrap_cfg, visibility=visibility)
        observed = float((partial.mask & task.mirror.chart).sum() / max(task.mirror.chart.sum(), 1))
        result = dataclasses.replace(result, diagnostics={**diagnostics, "observed_fraction": observed})
        if observed < cfg.min_observed_fraction:
            return dataclasses.replace(result, ok=False, reason=f"only {observed:.0%} of the UV chart is "
                                       f"visible (minimum {cfg.min_observed_fraction:.0%})",
                                       seconds=time.perf_counter() - started)
        filled = fill_texture(partial.albedo, partial.mask, task.mirror, cfg.fill)
        result = dataclasses.replace(
            result,
            albedo=np.round(np.clip(filled.rgb, 0.0, 1.0) * 255.0).astype(np.uint8),
            fill_map=filled.fill_map,
        )
        if task.grams:
            result = dataclasses.replace(result, grams=_texture_grams(result.albedo, task.mirror.chart, cfg))
    return dataclasses.replace(result, seconds=time.perf_counter() - started)


def _with_features(skin: Any) -> Any:
    """The input stage's skin mask with the facial features put back: a database texture is a
    complete face (eyes, brows, lips, nostrils), only hair, background and other non-skin
    colours are left to the fill."""
    from facetex.fitting import ImageVisibility

    inside_features = ~skin.features
    return ImageVisibility(person=skin.person, features=np.ones_like(skin.features),
                           skin_colour=skin.skin_colour | inside_features)


def _texture_grams(albedo: np.ndarray, chart: np.ndarray, cfg: DatabaseConfig) -> dict[int, dict[str, PackedGrams]]:
    """Normalised luminance Grams of one complete texture at every stored resolution, as the
    database returns it (8-bit values, exactly 0.5 off the chart)."""
    from facetex.texture.analysis import compute_grams
    from facetex.texture.color import luminance

    vgg = _vgg19()
    rgb = albedo.astype(np.float32) / 255.0
    rgb[~chart] = 0.5
    out: dict[int, dict[str, PackedGrams]] = {}
    for res in cfg.gram_resolutions:
        small = downsample_textures(rgb[None], res)[0]
        grams = compute_grams(luminance(small)[None], vgg, layers=cfg.gram_layers)
        out[int(res)] = {layer: pack_gram(g, cfg.gram_dtype) for layer, g in grams.grams.items()}
    return out


@functools.lru_cache(maxsize=1)
def _vgg19() -> Any:
    """The frozen VGG-19, loaded once per (worker) process: a constant, never modified."""
    from facetex.texture.vgg import load_vgg19

    return load_vgg19()


def _chart(topology: MeshTopology, resolution: int) -> np.ndarray:
    from facetex.geometry.uv import chart_mask

    return chart_mask(topology, resolution)


def _save_result(path: Path, r: _Result) -> None:
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


def _load_result(path: Path) -> _Result:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(bytes(data["meta"]).decode("utf-8"))
        arrays = {k: data[k] for k in data.files if k != "meta"}
    grams: dict[int, dict[str, PackedGrams]] = {}
    for res, layer in meta["grams"]:
        grams.setdefault(int(res), {})[layer] = PackedGrams(
            values=arrays.pop(f"gram_{res}_{layer}_values"), scale=arrays.pop(f"gram_{res}_{layer}_scale"))
    return _Result(meta["subject_id"], meta["ok"], meta["reason"], meta["seconds"],
                   diagnostics=meta["diagnostics"], grams=grams or None, **arrays)


# --------------------------------------------------------------------------------------------
# lighting and models


def global_lighting(
    sh_coeffs: np.ndarray, albedo_scale: np.ndarray, reference_albedo: np.ndarray
) -> tuple[np.ndarray, float]:
    """One lighting for photos taken under the same setup (paper §6).

    Parameters
    ----------
    sh_coeffs : (N, 9, 3) per-photo fitted SH lighting (:mod:`facetex.types` layout).
    albedo_scale : (N, 3) mean fitted albedo per colour channel of each photo's fit.
    reference_albedo : (3,) the albedo the global lighting is expressed against (the model's
        mean skin colour).

    Returns
    -------
    lighting : (9, 3) element-wise median over photos of ``sh · albedo_scale / reference``;
        the scaling makes fits comparable (one fit can trade brighter light for darker skin).
    spread : mean over channels of 1.4826·MAD / |median| of the scaled DC term.
    """
    sh = np.asarray(sh_coeffs, dtype=np.float64)
    scale = np.asarray(albedo_scale, dtype=np.float64) / np.asarray(reference_albedo, dtype=np.float64)
    if sh.ndim != 3 or sh.shape[1:] != (9, 3) or scale.shape != (sh.shape[0], 3) or sh.shape[0] == 0:
        raise ValueError(f"expected (N, 9, 3) lightings and (N, 3) albedo scales, got {sh.shape} and {scale.shape}")
    normalised = sh * scale[:, None, :]
    lighting = np.median(normalised, axis=0)
    dc = normalised[:, 0, :]
    mad = 1.4826 * np.median(np.abs(dc - lighting[0]), axis=0)
    return lighting, float(np.mean(mad / np.maximum(np.abs(lighting[0]), 1e-12)))


def _aligned_meshes(results: Sequence[_Result], topology: MeshTopology) -> dict[str, np.ndarray]:
    """Model-frame meshes rigidly aligned to the template on its Procrustes landmarks."""
    weights = topology.landmark_weights if np.any(topology.landmark_weights > 0) else None
    return {r.subject_id: align_rigid(r.vertices, topology.vertices, weights) for r in results}


def _small_textures(results: Sequence[_Result], chart: np.ndarray, resolution: int) -> np.ndarray:
    """(N, r, r, 3) float32 area-averaged textures as the database returns them (0.5 off the
    chart), one at a time so the full-size stack never exists."""
    out = []
    for r in results:
        rgb = r.albedo.astype(np.float32) / 255.0
        rgb[~chart] = 0.5
        out.append(downsample_textures(rgb[None], resolution)[0])
    return np.stack(out)


def _learn_model(
    name: str,
    results: Sequence[_Result],
    sources: dict[str, PhotoSource],
    template: MeshTopology,
    chart: np.ndarray,
    cfg: DatabaseConfig,
) -> MorphableModel:
    meshes = _aligned_meshes(results, template)
    neutral, offsets = _identity_and_expression(meshes, sources, template)
    textures = _small_textures(results, chart, cfg.pca.albedo_resolution)
    return build_morphable_model(
        name, template,
        textures=textures,
        neutral_vertices=np.stack(list(neutral.values())),
        expression_offsets=np.stack(list(offsets.values())) if offsets else np.zeros((0,) + template.vertices.shape),
        albedo_resolution=cfg.pca.albedo_resolution,
        albedo_components=cfg.pca.albedo_components,
        shape_components=cfg.pca.shape_components,
        expression_components=cfg.pca.expression_components,
    )


def _identity_and_expression(
    meshes: dict[str, np.ndarray], sources: dict[str, PhotoSource], template: MeshTopology
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per person: the neutral mesh (the first non-smiling photo, else the first one) and, for
    persons with both, the smiling − neutral offset after aligning the smile onto the neutral
    face on the template's Procrustes landmarks."""
    by_person: dict[str, list[str]] = {}
    for sid in meshes:
        by_person.setdefault(sources[sid].person_id, []).append(sid)
    weights = template.landmark_weights if np.any(template.landmark_weights > 0) else None
    neutral: dict[str, np.ndarray] = {}
    offsets: dict[str, np.ndarray] = {}
    for person, sids in by_person.items():
        plain = [s for s in sids if sources[s].expression != "smiling"]
        smiles = [s for s in sids if sources[s].expression == "smiling"]
        base = meshes[(plain or sids)[0]]
        neutral[person] = base
        if plain:
            for s in smiles:
                offsets[s] = align_rigid(meshes[s], base, weights) - base
    return neutral, offsets


def _final_coefficients(
    results: Sequence[_Result],
    sources: dict[str, PhotoSource],
    model: MorphableModel,
    chart: np.ndarray,
    cfg: DatabaseConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vertices and shape / expression / albedo coefficients of every subject in ``model``."""
    meshes = _aligned_meshes(results, model.topology)
    neutral, offsets = _identity_and_expression(meshes, sources, model.topology)
    mean = model.topology.vertices.reshape(-1)
    # Explicit row lengths: a model may have no modes of a kind (no smiling photos: no
    # expression modes), and numpy cannot infer -1 for an empty array.
    id_basis = model.shape_basis.reshape(model.shape_basis.shape[0], mean.size)
    ex_basis = model.expression_basis.reshape(model.expression_basis.shape[0], mean.size)
    al_basis = model.albedo_basis.reshape(model.albedo_basis.shape[0], model.albedo_mean.size).astype(np.float64)
    textures = _small_textures(results, chart, cfg.pca.albedo_resolution)
    shape, expression, albedo = [], [], []
    for r, tex in zip(results, textures):
        person = sources[r.subject_id].person_id
        shape.append(id_basis @ (neutral[person].reshape(-1) - mean))
        offset = offsets.get(r.subject_id)
        expression.append(ex_basis @ offset.reshape(-1) if offset is not None else np.zeros(ex_basis.shape[0]))
        albedo.append(al_basis @ (tex.reshape(-1) - model.albedo_mean.reshape(-1)))
    vertices = np.stack([meshes[r.subject_id] for r in results]).astype(np.float32)
    return vertices, np.stack(shape), np.stack(expression), np.stack(albedo)


# --------------------------------------------------------------------------------------------
# the build


def _digest(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(f"{part.dtype.str}{part.shape}".encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"|")
    return digest.hexdigest()


def _model_digest(model: MorphableModel) -> str:
    return _digest(model.name, model.topology.vertices, model.shape_basis, model.shape_std,
                   model.expression_basis, model.expression_std, model.albedo_mean, model.albedo_basis,
                   model.albedo_std)


def _config_record(cfg: DatabaseConfig) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def _cache_settings(record: dict[str, Any], unwrap: bool, grams: bool) -> dict[str, Any]:
    """The settings a round's per-photo result depends on (not jobs, name, PCA sizes, …)."""
    keys = ["detect", "specular", "fit", "max_landmark_rmse_iod"]
    if unwrap:
        keys += ["resolution", "unwrap", "fill", "min_observed_fraction", "keep_features", "min_cos_view"]
    if grams:
        keys += ["gram_resolutions", "gram_layers", "gram_dtype"]
    return {"schema": SCHEMA_VERSION, "cache_format": _CACHE_FORMAT, **{k: record[k] for k in keys}}


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _run_round(
    tasks: list[_Task], pool: ProcessPoolExecutor | None, progress: bool, description: str
) -> list[_Result]:
    from tqdm import tqdm

    results: dict[str, _Result] = {}
    bar = tqdm(total=len(tasks), desc=description, unit="photo", file=sys.stderr, disable=not progress)
    try:
        if pool is None:
            for task in tasks:
                results[task.source.subject_id] = _process(task)
                bar.update(1)
        else:
            futures = {pool.submit(_process, task): task for task in tasks}
            for future in as_completed(futures):
                results[futures[future].source.subject_id] = future.result()
                bar.update(1)
    finally:
        bar.close()
    return [results[t.source.subject_id] for t in tasks]


@contextlib.contextmanager
def _worker_pool(jobs: int) -> Iterator[ProcessPoolExecutor | None]:
    """``jobs`` spawned worker processes with one torch thread each, or None for jobs = 1."""
    if jobs <= 1:
        yield None
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # mediapipe and torch threads do not fork well
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_init_worker)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C or an error: drop queued photos
        raise
    pool.shutdown(wait=True)


def build_database(
    photos: Sequence[PhotoSource | str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    config: DatabaseConfig,
    *,
    work_dir: str | os.PathLike[str] | None = None,
    attribution: str | None = None,
    progress: bool = True,
) -> BuildSummary:
    """Build a texture database file from photos (paper §6; see the module doc).

    Parameters
    ----------
    photos : PhotoSource records, or image paths (read with :func:`collect_photos`).
    out_path : the database file to write (``.h5``); its build log goes beside it as
        ``<stem>.build.jsonl``.
    config : settings (resolution, rounds, jobs, ...).
    work_dir : per-photo result cache; default ``cache_dir()/database-work/<out stem>``.
    attribution : licence / citation text stored in the file; None → the London set's text
        when every photo comes from it, else a note that the photos are the user's.
    progress : show tqdm progress bars on stderr.

    Returns
    -------
    BuildSummary

    Raises
    ------
    DatabaseError
        If fewer than two photos survive (a model needs variation) or the inputs are bad.
    """
    started = time.perf_counter()
    if all(isinstance(p, PhotoSource) for p in photos):
        sources = tuple(photos)
    else:
        sources = collect_photos([p.path if isinstance(p, PhotoSource) else p for p in photos])
    if not sources:
        raise DatabaseError("no photos to build a database from")
    if len(sources) < 2:  # as after the fits (_run_rounds), but before any work
        raise DatabaseError(f"a database needs at least 2 photos, got {len(sources)}")
    out_path = Path(out_path)
    check_output_file(out_path)  # a folder, or an unwritable place, fails before minutes of fitting
    log_path = out_path.with_name(out_path.stem + ".build.jsonl")
    work = Path(work_dir) if work_dir is not None else cache_dir() / "database-work" / out_path.stem
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the work folder {work}: {exc.strerror or exc}") from exc
    by_id = {s.subject_id: s for s in sources}
    hashes = {s.subject_id: _sha256(s.path) for s in sources}
    events: list[dict[str, Any]] = [{"event": "start", "photos": len(sources), "config": _config_record(config),
                                     "schema_version": SCHEMA_VERSION}]
    try:
        with _worker_pool(min(config.jobs, len(sources))) as pool:
            rounds = _run_rounds(sources, hashes, config, pool, work, progress, events)
        final_model = _learn_model(config.name, rounds.results, by_id, rounds.template, rounds.chart, config)
        vertices, shape, expression, albedo_coeffs = _final_coefficients(
            rounds.results, by_id, final_model, rounds.chart, config)
        results = rounds.results
        contents = DatabaseContents(
            name=config.name,
            subjects=tuple(_record(by_id[r.subject_id], r) for r in results),
            albedo=np.stack([r.albedo for r in results]),
            fill_map=np.stack([r.fill_map for r in results]),
            chart=rounds.chart,
            vertices=vertices, shape_coeffs=shape, expression_coeffs=expression, albedo_coeffs=albedo_coeffs,
            sh_coeffs=np.stack([r.sh_coeffs for r in results]),
            lighting=rounds.lighting,
            grams={res: {layer: PackedGrams.concatenate(r.grams[res][layer] for r in results)
                         for layer in config.gram_layers} for res in config.gram_resolutions},
            model=final_model,
            build_params=_config_record(config),
            sources=tuple(SourceFile(str(s.path), hashes[s.subject_id], s.path.stat().st_size) for s in sources),
            attribution=attribution if attribution is not None else _attribution(sources),
            build_report={"rounds": [dataclasses.asdict(r) for r in rounds.reports], "rejected": rounds.rejected,
                          "lighting_spread": rounds.lighting_spread},
        )
        write_database(out_path, contents)
        seconds = time.perf_counter() - started
        events.append({"event": "done", "accepted": len(results), "rejected": len(rounds.rejected),
                       "seconds": seconds})
    except BaseException as exc:
        events.append({"event": "failed", "error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        write_text(log_path, "".join(json.dumps(e, default=_jsonable) + "\n" for e in events))
    return BuildSummary(
        path=out_path, log_path=log_path, photos=len(sources), accepted=len(results), rejected=rounds.rejected,
        rounds=rounds.reports, lighting=rounds.lighting, lighting_spread=rounds.lighting_spread,
        seconds=seconds, jobs=config.jobs,
    )


@dataclass(frozen=True)
class _Rounds:
    """Outcome of all fitting rounds: the accepted photos' last results and the reports."""

    results: list[_Result]
    reports: tuple[RoundReport, ...]
    rejected: dict[str, str]
    lighting: np.ndarray
    lighting_spread: float
    template: MeshTopology
    chart: np.ndarray


def _run_rounds(
    sources: Sequence[PhotoSource],
    hashes: dict[str, str],
    config: DatabaseConfig,
    pool: ProcessPoolExecutor | None,
    work: Path,
    progress: bool,
    events: list[dict[str, Any]],
) -> _Rounds:
    """Round 0 (generic fit), global lighting, round 1 (generic fit + unwrap), bootstrap rounds
    (see the module doc); appends to ``events``."""
    from facetex.fitting import generic_model
    from facetex.geometry.topology import load_face_mesh

    by_id = {s.subject_id: s for s in sources}
    template = load_face_mesh()
    mirror = mirror_texel_map(template, config.resolution)
    model = generic_model(template)
    record = _config_record(config)
    alive = list(sources)
    lighting: np.ndarray | None = None
    spread = float("nan")
    previous: dict[str, np.ndarray] = {}
    rejected: dict[str, str] = {}
    reports: list[RoundReport] = []
    results: list[_Result] = []
    last_round = 1 + config.bootstrap_rounds
    for index in range(last_round + 1):
        unwrap, grams = index >= 1, index == last_round
        round_started = time.perf_counter()
        round_key = _digest(_cache_settings(record, unwrap, grams), _model_digest(model),
                            lighting if lighting is not None else "free")
        tasks = [
            _Task(s, model, lighting, unwrap, grams, config, mirror if unwrap else None,
                  work / f"{s.subject_id}.{_digest(hashes[s.subject_id], round_key)[:20]}.npz")
            for s in alive
        ]
        what = "generic fit" if index == 0 else "fit + unwrap" + (" + Grams" if grams else "")
        results = _run_round(tasks, pool, progress, f"round {index}/{last_round} {what}")
        for r in results:
            events.append({"event": "photo", "round": index, "subject": r.subject_id, "ok": r.ok,
                           "reason": r.reason, "cached": r.cached, "seconds": round(r.seconds, 3),
                           "diagnostics": r.diagnostics})
            if not r.ok:
                rejected[r.subject_id] = f"round {index}: {r.reason}"
        results = [r for r in results if r.ok]
        alive = [by_id[r.subject_id] for r in results]
        if len(results) < 2:
            raise DatabaseError(f"only {len(results)} photo(s) fitted in round {index}; a database needs at least 2")
        meshes = _aligned_meshes(results, template)
        common = [sid for sid in meshes if sid in previous]
        change = (float(np.mean([np.linalg.norm(meshes[s] - previous[s], axis=1).mean() for s in common]))
                  if common else None)
        previous = meshes
        report = RoundReport(
            index=index, model=model.name, accepted=len(results), rejected=len(tasks) - len(results),
            landmark_rmse_iod=float(np.mean([r.diagnostics["landmark_rmse_iod"] for r in results])),
            landmark_rmse_px=float(np.mean([r.diagnostics.get("landmark_rmse_px", np.nan) for r in results])),
            vertex_change_cm=change, seconds=time.perf_counter() - round_started,
        )
        reports.append(report)
        events.append({"event": "round", **dataclasses.asdict(report)})
        log.info("round %d (%s): %d accepted, landmark RMSE %.4f IOD, vertex change %s cm",
                 index, model.name, report.accepted, report.landmark_rmse_iod,
                 "-" if change is None else f"{change:.3f}")
        if index == 0:
            reference = model.albedo_mean[_chart(template, model.albedo_mean.shape[0])].mean(axis=0)
            lighting, spread = global_lighting(np.stack([r.sh_coeffs for r in results]),
                                               np.stack([r.albedo_scale for r in results]), reference)
            events.append({"event": "lighting", "sh_coeffs": lighting, "spread": spread})
        elif index < last_round:
            model = _learn_model(f"{config.name}-round{index}", results, by_id, template, mirror.chart, config)
    return _Rounds(results=results, reports=tuple(reports), rejected=rejected, lighting=lighting,
                   lighting_spread=spread, template=template, chart=mirror.chart)


def _record(source: PhotoSource, result: _Result) -> SubjectRecord:
    return SubjectRecord(
        subject_id=source.subject_id, person_id=source.person_id, expression=source.expression,
        source=source.path.name, age=source.age, gender=source.gender, ethnicity=source.ethnicity,
        diagnostics={k: float(v) for k, v in result.diagnostics.items()},
    )


def _attribution(sources: Sequence[PhotoSource]) -> str:
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


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return str(value)


# --------------------------------------------------------------------------------------------
# default database


#: Revision of what the default build produces, in the default database's file name: bumped
#: whenever a change to the build (fitting, unwrap, fill, PCA) changes its contents, so that a
#: cached database from an older facetex is not reused silently. 2: the fit's landmark depth
#: term (``FitConfig.w_landmark_depth``).
BUILD_REVISION = 2


def default_database_path() -> Path:
    """Where the default (London) database lives: the cache folder, named by schema version and
    :data:`BUILD_REVISION`."""
    return cache_dir() / "databases" / f"london-v{SCHEMA_VERSION}-b{BUILD_REVISION}.h5"


def ensure_default_database(config: DatabaseConfig | None = None, *, progress: bool = True) -> Path:
    """The default database, built from the London set on first use.

    An existing file is reused when it loads (same schema version, intact); otherwise it is
    rebuilt (tens of minutes on a 2-core CPU).

    Returns
    -------
    Path of the database file.
    """
    path = default_database_path()
    if path.is_file():
        try:
            load_database(path)
            return path
        except DatabaseError as exc:
            log.info("rebuilding the default database: %s", exc)
    log.info("building the default texture database from the London set into %s", path)
    build_database(collect_photos(london_photos()), path, config or DatabaseConfig(), progress=progress)
    return path
