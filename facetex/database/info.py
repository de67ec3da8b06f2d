"""Human-readable views of a texture database: a text summary and a contact sheet."""

from __future__ import annotations

from collections import Counter

import numpy as np

from facetex.checks import check_integer
from facetex.database.store import TextureDatabase

__all__ = ["summarize", "contact_sheet"]

#: What each face model (``TextureDatabase.face_model``) is, and which of its parts the build
#: learned from the photos.
_FACE_MODELS = {
    "ict": ("the ICT Face Model's face tile", "the kit's identity modes and blendshapes, albedo learned"),
    "mediapipe": ("mediapipe's face mask", "identity, expression and albedo learned"),
}

#: What each ``TextureDatabase.gram_region`` covers, for the summary.
_GRAM_REGIONS = {
    "skin": "over each photo's observed and mirrored skin, features left out",
    "texture": "over the whole completed textures",
}


def summarize(db: TextureDatabase) -> str:
    """A multi-line summary: subjects, resolution, schema, face model, models, build, sources,
    attribution."""
    m = db.manifest
    subjects = db.subjects()
    expressions = Counter(s.expression for s in subjects)
    model = db.morphable_model()
    report = m.get("build_report", {})
    mesh, learned = _FACE_MODELS.get(db.face_model, (db.face_model, "as stored"))
    topology = model.topology
    lines = [
        f"database      {db.name}  ({db.path})",
        f"schema        version {m['schema_version']}, written by facetex {m['facetex_version']} on {m['created']}",
        f"subjects      {len(subjects)} photos of {len(db.persons)} persons ("
        + ", ".join(f"{n} {e}" for e, n in sorted(expressions.items())) + ")",
        f"textures      {db.resolution}×{db.resolution} UV albedo (uint8), fill maps",
        f"Grams         {', '.join(db.gram_layers)} at "
        + ", ".join(f"{r}²" for r in db.gram_resolutions) + f" ({m['gram_dtype']}) "
        + _GRAM_REGIONS.get(db.gram_region, db.gram_region),
        f"face model    {db.face_model}: {mesh}, {topology.vertices.shape[0]} vertices, "
        f"{topology.faces.shape[0]} triangles; {learned}",
        f"model         {model.name}: {model.shape_basis.shape[0]} identity, "
        f"{model.expression_basis.shape[0]} expression, {model.albedo_basis.shape[0]} albedo components "
        f"(albedo at {model.albedo_mean.shape[0]}²)",
    ]
    for r in report.get("rounds", []):
        change = "-" if r["vertex_change_cm"] is None else f"{r['vertex_change_cm']:.3f} cm"
        lines.append(
            f"round {r['index']}       model {r['model']}: {r['accepted']} fitted, {r['rejected']} rejected, "
            f"landmark RMSE {r['landmark_rmse_iod']:.4f} IOD ({r['landmark_rmse_px']:.2f} px), "
            f"vertex change {change}, {r['seconds']:.0f} s"
        )
    if "lighting_spread" in report:
        lines.append(f"lighting      one global SH lighting; per-photo spread before it {report['lighting_spread']:.1%}")
    rejected = report.get("rejected", {})
    lines.append(f"rejected      {len(rejected)}" + "".join(f"\n  {k}: {v}" for k, v in sorted(rejected.items())))
    sources = m.get("sources", [])
    lines.append(f"sources       {len(sources)} files with SHA-256 checksums")
    lines.append(f"attribution   {db.attribution}")
    return "\n".join(lines)


def contact_sheet(db: TextureDatabase, *, thumb: int = 128, modes: int = 3, columns: int = 12) -> np.ndarray:
    """All textures of a database, then its first PCA albedo modes (mean − 2σ, mean, mean + 2σ).

    Parameters
    ----------
    db : the database.
    thumb : side of each tile in pixels, 16–1024.
    modes : number of albedo modes shown (one row each), 0–20.
    columns : tiles per row of the texture grid, 1–100 (out of range: ValueError).

    Returns
    -------
    (H, W, 3) float32 RGB image in [0, 1]; each tile is labelled with its subject id (or
    ``mode k ±2σ``).
    """
    import cv2

    check_integer("thumb", thumb, 16, 1024)
    check_integer("modes", modes, 0, 20)
    check_integer("columns", columns, 1, 100)
    subjects = db.subjects()
    textures = db.textures(resolution=min(thumb, db.resolution))
    tiles = [(_resize(t, thumb), s.subject_id) for t, s in zip(textures, subjects)]
    model = db.morphable_model()
    mode_rows = []
    for k in range(min(modes, model.albedo_basis.shape[0])):
        delta = 2.0 * model.albedo_std[k] * model.albedo_basis[k]
        mode_rows.append([
            (_resize(np.clip(model.albedo_mean - delta, 0, 1), thumb), f"mode {k + 1} -2s"),
            (_resize(model.albedo_mean, thumb), "mean"),
            (_resize(np.clip(model.albedo_mean + delta, 0, 1), thumb), f"mode {k + 1} +2s"),
        ])
    columns = max(1, min(columns, len(tiles)))
    rows = [tiles[i : i + columns] for i in range(0, len(tiles), columns)] + mode_rows
    width = max(columns, 3) * thumb
    sheet = np.full((len(rows) * thumb, width, 3), 0.5, dtype=np.float32)
    for r, row in enumerate(rows):
        for c, (tile, label) in enumerate(row):
            y, x = r * thumb, c * thumb
            sheet[y : y + thumb, x : x + thumb] = tile
            cv2.putText(sheet, label, (x + 3, y + thumb - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.35 * thumb / 128,
                        (1.0, 1.0, 0.2), 1, cv2.LINE_AA)
    return np.clip(sheet, 0.0, 1.0)


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    import cv2

    image = np.asarray(image, dtype=np.float32)
    interpolation = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_NEAREST
    return cv2.resize(image, (size, size), interpolation=interpolation)
