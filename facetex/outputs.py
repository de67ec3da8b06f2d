"""Write an :class:`~facetex.types.InferenceResult` as files a person and other tools can use.

One folder per photo, written into a temporary sibling and renamed at the end, so a failure
leaves no partial folder:

==================  ===========================================================================
albedo.png          final complete albedo, R × R sRGB; edge-padded past the UV chart (8 texels at
                    512²) so renderers never filter in the 0.5 grey fill that lies beyond
albedo_lowfreq.png  the fitted model albedo I(α_al) (§3)
albedo_partial.png  photo / shading on visible skin, 0.5 elsewhere
visibility.png      observed texels (white)
normal.png          OpenGL tangent-space normal map from the synthesised detail (edge-padded)
bump.png            height map, 0.5 = no displacement (16-bit, edge-padded)
face.obj/.mtl       the fitted mesh with UVs: with the ICT model the whole head (the face tile, scalp
                    and neck on a second tile, mouth socket, gums, teeth, eyeballs; 24,947
                    vertices), one object and material per part (``<part>_albedo.png``,
                    ``<part>_normal.png``); white diffuse × albedo.png and the normal map
face.glb            the same, textures embedded, with the 53 expression morph targets set to the
                    fitted expression (glTF 2.0, metres, y up)
overlay.png         fitted mesh and landmarks over the photo
fit.json            every fitted parameter, named
weights.json        database subject ids and their blend weights (§4)
config.json         the resolved settings
timing.json         seconds and peak memory per stage (``render`` and the Mitsuba variant too)
source.png          several photos of one person: which photo each texel came from (colours
                    :data:`SOURCE_COLOURS`, dark grey = invented); overlay_2.png, … their fits;
                    views.json each photo's share, colour gain, face distance and fit
render_*.png        Mitsuba renders (with ``render_views``)
environment.hdr     the studio environment map the renders are lit by (Radiance RGBE)
report.html         everything above on one page, with a 3D viewer (report_files/)
.facetex-result     marks the folder as facetex's: only such a folder is ever replaced
==================  ===========================================================================
"""

from __future__ import annotations

import logging
import os
import platform
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from facetex import __version__
from facetex.config import InferConfig, config_to_dict
from facetex.database.store import TextureDatabase
from facetex.fitting.outputs import fit_summary
from facetex.geometry.ict_files import EXPRESSION_NAMES, ICT_DIRNAME, IctModelError
from facetex.geometry.ict_head import load_ict_head
from facetex.fitting.overlay import draw_overlay
from facetex.geometry.uv import resized_chart
from facetex.io.atomic import atomic_dir, check_output_dir, write_image, write_json
from facetex.render.export import export_mesh
from facetex.render.mesh_prep import padded_textures
from facetex.render.head import head_parts, mended_border
from facetex.render.maps import detail_maps
from facetex.render.textured_mesh import MeshPart, TexturedMesh, expression_targets, make_textured_mesh, model_frame_vertices
from facetex.render.environment import studio_environment, write_environment
from facetex.render.mitsuba_render import ENVIRONMENT_HEIGHT, render_views, select_variant
from facetex.report.html import write_report
from facetex.report.inputs import SubjectWeight
from facetex.types import InferenceResult, MorphableModel

log = logging.getLogger(__name__)

__all__ = ["check_result_folders", "result_folder_names", "write_result"]


def result_folder_names(photos: Sequence[str | os.PathLike[str] | None], *, reserved: Sequence[str] = ()) -> list[str]:
    """One distinct output folder name per photo of a batch, in order.

    A photo's name is its file stem (``astronaut`` for None, the demo photo); a name already
    taken by an earlier photo or ``reserved`` (ignoring case, as some file systems do) gets
    ``-2``, ``-3``, ... so ``a/good.jpg, b/good.jpg`` → ``good, good-2``.
    """
    taken: set[str] = {name.casefold() for name in reserved}
    names: list[str] = []
    for photo in photos:
        stem = "astronaut" if photo is None else Path(photo).stem
        name, n = stem, 1
        while name.casefold() in taken:
            n += 1
            name = f"{stem}-{n}"
        taken.add(name.casefold())
        names.append(name)
    return names


def check_result_folders(
    out_dirs: Sequence[str | os.PathLike[str]], config: InferConfig, *, overwrite: bool = False
) -> None:
    """Fail now, before the slow work, if :func:`write_result` could not write these folders.

    Each folder must be writable and replaceable (:func:`facetex.io.atomic.check_output_dir`:
    absent, empty, or with ``overwrite`` an earlier facetex result), and the optional
    dependencies ``config`` asks for must be installed (Mitsuba for ``render_views``).

    Raises
    ------
    OutputError, MissingDependencyError
    """
    if config.render_views:
        select_variant(config.render.variant)
    for out_dir in out_dirs:
        check_output_dir(out_dir, overwrite=overwrite)


def _renders(mesh, config: InferConfig, out: Path) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """Render and write the views (and, for the environment lighting, the map as
    ``environment.hdr``); returns (label → image, what ``timing.json`` records of them)."""
    start = time.perf_counter()
    renders = render_views(mesh, config.render)
    seconds = time.perf_counter() - start
    images = {}
    for render in renders:
        name = f"render_{render.lighting}_{render.view}.png"
        write_image(out / name, render.image)
        images[f"{render.view} ({render.lighting} light)"] = render.image
    if "environment" in config.render.lightings:
        write_environment(out / "environment.hdr", studio_environment(ENVIRONMENT_HEIGHT))
    record = {
        "seconds": seconds,
        "variant": ", ".join(sorted({render.variant for render in renders})),
        "subsurface": config.render.subsurface,
        "resolution": config.render.resolution,
        "spp": config.render.spp,
        "images": [{"view": r.view, "lighting": r.lighting, "seconds": round(r.seconds, 3)} for r in renders],
    }
    return images, record


def write_result(
    result: InferenceResult,
    out_dir: str | Path,
    config: InferConfig,
    model: MorphableModel,
    *,
    database: TextureDatabase | None = None,
    extra_timings: dict[str, float] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write every output of one photo into ``out_dir`` (replaced atomically; module doc).

    Parameters
    ----------
    result : what :func:`facetex.pipeline.infer` returned.
    out_dir : the photo's output folder.
    config : the settings the result was made with (saved as config.json).
    model : the morphable model of the fit (the database's): its mesh and coefficient names.
    database : used for the subjects' thumbnails in the report and its attribution.
    extra_timings : more stage → seconds to record (e.g. loading).
    overwrite : replace ``out_dir`` if it holds an earlier facetex result. A folder facetex did
        not write is never replaced (:func:`facetex.io.atomic.atomic_dir`).

    Returns
    -------
    Path of the folder.
    """
    out_dir = Path(out_dir)
    timings = dict(result.timings)
    timings.update(extra_timings or {})
    topology = model.topology
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        partial = result.partial
        write_image(tmp / "albedo_lowfreq.png", partial.lowfreq)
        write_image(tmp / "albedo_partial.png", partial.albedo)
        write_image(tmp / "visibility.png", partial.mask.astype(np.float32))
        overlay = draw_overlay(result.photo.rgb, result.fit, topology, result.detection)
        write_image(tmp / "overlay.png", overlay)
        source = None
        more_overlays: dict[str, np.ndarray] = {}
        if result.views:  # several photos of one person
            for i, view in enumerate(result.views[1:], start=2):
                other = draw_overlay(view.photo.rgb, view.fit, topology, view.detection)
                write_image(tmp / f"overlay_{i}.png", other)
                more_overlays[f"Photo {i}, {Path(view.photo.source).name}, fitted with the shared identity"] = other
            source = source_image(result.source_map, partial.chart)
            write_image(tmp / "source.png", source)
            write_json(tmp / "views.json", {
                "photos": [
                    {"photo": view.photo.source, "observed_fraction": view.observed, "share": view.share,
                     "gain": list(view.gain), "embedding_distance": view.embedding_distance,
                     "fit": fit_summary(view.fit, view.detection, model, source=view.photo.source)}
                    for view in result.views
                ],
                "skipped": list(result.skipped),
            })

        # albedo.png, normal.png and bump.png are written by the export, edge-padded for renderers.
        mesh = result_mesh(result, model, config, timings=timings)
        files = export_mesh(mesh, tmp, config.export)

        write_json(
            tmp / "fit.json",
            fit_summary(result.fit, result.detection, model, source=result.photo.source),
        )
        order = np.argsort(-result.blend.weights)
        write_json(
            tmp / "weights.json",
            {
                "solver": result.blend.solver,
                "objective": float(result.blend.objective),
                "database": str(database.path) if database is not None else result.database,
                "attribution": None if database is None else database.attribution,
                "weights": [
                    {"subject": result.subject_ids[i], "weight": float(result.blend.weights[i])}
                    for i in order
                    if result.blend.weights[i] != 0.0
                ],
            },
        )
        write_json(tmp / "config.json", config_to_dict(config))

        renders: dict[str, np.ndarray] = {}
        render_record = None
        if config.render_views:
            renders, render_record = _renders(padded_textures(mesh, config.export), config, tmp)
            timings["render"] = render_record["seconds"]
        write_json(
            tmp / "timing.json",
            {
                "seconds": timings,
                "render_variant": None if render_record is None else render_record["variant"],
                "renders": render_record,
                "peak_memory_mib": result.peak_memory_mib,
                "machine": {"platform": platform.platform(), "processor": platform.processor()},
                "facetex": __version__,
            },
        )
        if config.report:
            write_report(
                tmp,
                title=f"facetex — {Path(result.photo.source).name}",
                facts=_facts(result, config, database, timings=timings, render_record=render_record, mesh=mesh),
                photo=result.photo.rgb,
                overlay=overlay,
                more_inputs=more_overlays,
                maps={
                    "Partial albedo (visible skin)": partial.albedo,
                    "Visibility": partial.mask,
                    **({} if source is None else {"Source of each texel (photo 1, 2, …; dark: invented)": source}),
                    "Low-frequency albedo I(α_al)": partial.lowfreq,
                    "Final albedo": result.albedo,
                    "Normal map": result.normal_map,
                },
                renders=renders,
                subjects=_subject_weights(result, database),
                timings=timings,
                peak_memory_mib=result.peak_memory_mib,
                glb_path=files.glb,
                downloads=_downloads(tmp),
            )
    return out_dir


def result_mesh(result: InferenceResult, model: MorphableModel, config: InferConfig, *,
                timings: dict[str, float] | None = None) -> TexturedMesh:
    """The textured model that ``write_result`` exports and renders: the fitted face (model frame)
    with the result's textures and, for the ICT model and ``config.export.head``, the rest of the
    head (:func:`_head_parts`) and the expression morph targets (``config.export.morph_targets``).
    The seconds spent on the head are added to ``timings["head"]`` when given."""
    chart = resized_chart(result.partial.chart, result.albedo.shape[0])
    vertices = model_frame_vertices(result.fit)
    albedo, normal_map, bump = result.albedo, result.normal_map, result.bump
    with _timed(timings if timings is not None else {}, "head"):
        parts, mended = _head_parts(result, model, vertices, chart, config) if config.export.head else ((), None)
    if parts:  # the head tile meets the face's skin colour, not the synthesis's greyer border
        albedo = mended
        maps = detail_maps(albedo, chart, config.maps)  # and its relief has no step there either
        normal_map, bump = maps.normal, maps.bump
    return make_textured_mesh(
        vertices, model.topology.faces, model.topology.uvs, albedo, normal_map,
        bump=bump, bump_range_mm=config.maps.bump_range_mm, chart=chart,
        morphs=expression_targets(model, result.fit) if config.export.morph_targets else None, parts=parts,
    )


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - start


def _head_parts(result: InferenceResult, model: MorphableModel, vertices: np.ndarray, chart: np.ndarray,
                config: InferConfig) -> tuple[tuple[MeshPart, ...], np.ndarray | None]:
    """The rest of the head around an ICT face tile (:func:`facetex.render.head.head_parts`) and
    the face albedo it was made to meet (:func:`~facetex.render.head.mended_border`); ((), None)
    for another face model, or, with a warning, when the ICT files cannot be read."""
    if model.expression_names != EXPRESSION_NAMES:
        return (), None
    try:
        head = load_ict_head()
    except IctModelError as exc:
        log.warning("exporting the face tile alone: %s", exc)
        return (), None
    if not np.array_equal(head.face.uvs, model.topology.uvs):
        log.warning("exporting the face tile alone: the model's mesh is not the ICT face tile of %s", ICT_DIRNAME)
        return (), None
    albedo = mended_border(result.albedo, chart, max(1, result.albedo.shape[0] // 128))
    try:
        parts = head_parts(head, result.fit, vertices, albedo, chart, photo=result.photo,
                           detection=result.detection, with_morphs=config.export.morph_targets,
                           roughness=config.export.roughness, maps=config.maps)
    except ValueError as exc:
        log.warning("exporting the face tile alone: %s", exc)
        return (), None
    return parts, albedo


SOURCE_COLOURS = np.array([[0.90, 0.45, 0.10], [0.15, 0.50, 0.90], [0.30, 0.75, 0.30], [0.85, 0.25, 0.55],
                           [0.60, 0.45, 0.85], [0.95, 0.80, 0.20], [0.20, 0.80, 0.80], [0.55, 0.35, 0.20]],
                          dtype=np.float32)
"""sRGB colour of photo 1, 2, … in ``source.png`` (repeating after eight)."""


def source_image(source_map: np.ndarray, chart: np.ndarray) -> np.ndarray:
    """``source.png``: each observed texel in its photo's colour (:data:`SOURCE_COLOURS`),
    invented texels (on the chart, seen by no photo) dark grey, off the chart mid-grey.
    (R, R, 3) float32 in [0, 1]."""
    out = np.full(source_map.shape + (3,), 0.5, dtype=np.float32)
    out[np.asarray(chart, bool)] = 0.2
    seen = source_map >= 0
    out[seen] = SOURCE_COLOURS[source_map[seen] % len(SOURCE_COLOURS)]
    return out


def _downloads(folder: Path) -> Sequence[str]:
    names = ["albedo.png", "normal.png", "bump.png", "face.obj", "face.mtl", "face.glb", "fit.json", "weights.json"]
    return [n for n in names if (folder / n).exists()]


def _facts(
    result: InferenceResult,
    config: InferConfig,
    database: TextureDatabase | None,
    *,
    timings: dict[str, float],
    render_record: dict[str, object] | None = None,
    mesh: TexturedMesh | None = None,
) -> dict[str, object]:
    facts: dict[str, object] = {
        "photo": result.photo.source,
        **({} if not result.views else {"photos (same person)": "; ".join(
            f"{i}. {Path(view.photo.source).name}: sees {100 * view.observed:.0f} % of the chart, "
            f"gives {100 * view.share:.0f} % of the observed texels"
            + ("" if view.embedding_distance is None else f", face distance {view.embedding_distance:.2f}")
            for i, view in enumerate(result.views, start=1))}),
        **({} if not result.skipped else {"skipped": "; ".join(result.skipped)}),
        "face": f"{result.detection.face_index + 1} of {result.detection.num_faces}",
        "albedo": f"{result.albedo.shape[0]}² px",
        "solver": result.blend.solver,
        "synthesis": ", ".join(f"{s.iterations} it @ {s.size}²" for s in config.texture.schedule),
        "observed texels": f"{100.0 * result.partial.mask.sum() / max(1, result.partial.chart.sum()):.0f} % of the chart",
        "landmark RMSE": f"{result.fit.diagnostics.landmark_rmse_px if result.fit.diagnostics else float('nan'):.1f} px",
        "total time": f"{sum(v for k, v in timings.items() if '.' not in k):.1f} s",
    }
    texture = config.texture
    if texture.keep_observed:
        facts["detail"] = "the photo's own where it sees skin; invented elsewhere"
    else:
        facts["detail"] = "all invented (the paper's §5)"
    facts["invented detail scale"] = f"{texture.detail:g}" + (f" × {texture.detail_map}" if texture.detail_map else "")
    if result.photo_blur:
        blur = result.photo_blur
        facts["photo blur (vs database)"] = (
            f"σ {blur['blur σ (photo px)']:g} px ({blur['blur σ / inter-ocular']:g} × inter-ocular), "
            + ("restored before unwrapping" if blur["restored"] else "kept as it is")
        )
    if result.photo_bands:
        facts["photo holds (vs database)"] = ", ".join(f"{k} {v:.2f}" for k, v in result.photo_bands.items())
    if mesh is not None:
        vertices = len(mesh.vertices) + sum(len(part.vertices) for part in mesh.parts)
        parts = ", ".join(part.name for part in mesh.parts)
        facts["mesh"] = f"{vertices:,} vertices: face tile" + (f", {parts}" if parts else "")
        if mesh.morphs is not None:
            facts["rig"] = f"{len(mesh.morphs.names)} expression morph targets in face.glb, set to the fitted expression"
    if render_record is not None:
        skin = "skin with subsurface scattering" if render_record["subsurface"] else "surface BSDF only"
        facts["renders"] = (
            f"Mitsuba {render_record['variant']}, {len(render_record['images'])} images at "
            f"{render_record['resolution']}² × {render_record['spp']} spp, {skin}, {render_record['seconds']:.1f} s"
        )
    if database is not None:
        facts["database"] = f"{database.name} ({len(result.subject_ids)} subjects)"
        facts["attribution"] = database.attribution
    elif result.database is not None:
        facts["database"] = f"{result.database} ({len(result.subject_ids)} subjects)"
    return facts


def _subject_weights(result: InferenceResult, database: TextureDatabase | None) -> list[SubjectWeight]:
    weights = result.blend.weights
    order = [i for i in np.argsort(-weights)[:10] if weights[i] > 0]
    thumbs: dict[str, np.ndarray] = {}
    if database is not None and order:
        known = {s.subject_id for s in database.subjects()}
        shown = [result.subject_ids[i] for i in order if result.subject_ids[i] in known]
        thumbs.update(zip(shown, database.subject_textures(shown)))
    return [SubjectWeight(result.subject_ids[i], float(weights[i]), thumbs.get(result.subject_ids[i])) for i in order]
