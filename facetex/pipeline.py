"""``infer``: one photo → complete albedo and textured face (the paper's Fig. 2 end to end).

Stages, each a plain function of the previous records (any one can be run alone):

1–3. :func:`facetex.stages.prepare_face`: detect (``facetex.detect``: face box, 478
   landmarks, person mask), fit (§3, ``facetex.fitting.fit_face``) with the database's
   morphable model, unwrap (``facetex.fitting.unwrap_albedo``: partial high-frequency albedo
   on visible skin, visibility mask, low-frequency albedo I(α_al));
4. texture (§4–5, ``facetex.texture.inference.infer_texture``): masked Grams of the database
   under this photo's mask (candidate preselection, then the exact convex fit), Ĝ from the
   database's cached complete Grams, L-BFGS synthesis initialised with I(α_al);
5. detail maps (``facetex.render.maps``): bump and normal maps from the synthesised detail.

Writing the files (meshes, maps, report) is :func:`facetex.outputs.write_result`.

Per-stage seconds and peak memory are in ``InferenceResult.timings`` / ``peak_memory_mib``
(one :class:`facetex.stages.StageClock`). What depends only on the database — the complete
exemplar Grams that make the §5 targets — is read from the database file
(:func:`cached_grams`), not recomputed per photo. Speed and threads: ``docs/design.md``
(section "Speed on a CPU").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
import numpy as np

from facetex.config import InferConfig
from facetex.database.store import StoredGrams, TextureDatabase
from facetex.detect.detector import Detector
from facetex.geometry.uv import on_chart, resized_chart
from facetex.io.images import load_detail_map
from facetex.render.maps import detail_maps
from facetex.stages import StageClock, prepare_face
from facetex.texture.config import TextureConfig
from facetex.texture.inference import infer_texture
from facetex.texture.vgg import VGG19, load_vgg19
from facetex.types import Detection, FaceFit, InferenceResult, MorphableModel, PartialAlbedo, Photo

__all__ = ["cached_grams", "complete_partial", "infer"]

log = logging.getLogger(__name__)


def infer(
    photo: Photo,
    database: TextureDatabase,
    config: InferConfig,
    *,
    vgg: VGG19 | None = None,
    detector: Detector | None = None,
    face_index: int = 0,
    exclude_persons: Iterable[str] = (),
    model: MorphableModel | None = None,
    progress: bool = True,
) -> InferenceResult:
    """Infer the complete high-resolution albedo of the face in ``photo``.

    Parameters
    ----------
    photo : full-resolution photo, ``rgb`` (H, W, 3) float32 in [0, 1].
    database : the face-texture database (its morphable model, textures and Grams are used).
    config : every setting; ``InferConfig()`` is the fast default, ``InferConfig.paper()`` the
        paper's recipe.
    vgg : a loaded VGG-19 to reuse across photos (loaded on ``config.texture.device`` if None).
    detector : a face detector to reuse across photos (one is made and closed if None).
    face_index : which face to process when the photo shows several (0 = the largest).
    exclude_persons : database person ids to leave out of the blend (leave-one-out evaluation).
    model : the morphable model to fit (``database.morphable_model()`` if None); a leave-one-out
        run passes the model rebuilt without the excluded persons
        (:func:`facetex.database.holdout.model_without`) so that their textures do not leak into
        the low-frequency albedo either.
    progress : show progress bars.

    Returns
    -------
    InferenceResult, albedo at ``config.resolution``².

    Raises
    ------
    NoFaceError, FaceSelectionError, FittingError, DatabaseError, EmptyMaskError
        As the stages raise them (each with a one-line message).
    """
    clock = StageClock()
    exclude = tuple(exclude_persons)
    detail_map = None if config.texture.detail_map is None else load_detail_map(config.texture.detail_map)
    if model is None:
        model = database.morphable_model()
    # the lighting prior is the database's studio lighting, so the albedo keeps the skin's tone
    # the database's maps are what "sharp" means to the deblur step
    references = database.reference_luminances(exclude_persons=exclude) if config.unwrap.deblur else None
    face = prepare_face(
        photo, model, config.fit, config.unwrap, light_prior=database.lighting,
        detector=detector, detect_config=config.detect, face_index=face_index, blur_references=references, clock=clock,
    )
    del references
    return complete_partial(
        face.partial, database, config, photo=photo, detection=face.detection, fit=face.fit,
        photo_blur=None if face.blur is None else face.blur.as_dict(), vgg=vgg, exclude_persons=exclude,
        detail_map=detail_map, clock=clock, progress=progress,
    )


def complete_partial(
    partial: PartialAlbedo,
    database: TextureDatabase,
    config: InferConfig,
    *,
    photo: Photo,
    detection: Detection,
    fit: FaceFit,
    photo_blur: dict[str, float | bool] | None = None,
    vgg: VGG19 | None = None,
    exclude_persons: Iterable[str] = (),
    detail_map: np.ndarray | None = None,
    clock: StageClock | None = None,
    progress: bool = True,
) -> InferenceResult:
    """Stages 4–5 of :func:`infer` on a partial albedo (one photo's, or several photos' merged,
    :mod:`facetex.multiview`): the §4 blend, the §5 synthesis with the photo's detail kept, the
    detail maps. ``photo``, ``detection``, ``fit`` and ``photo_blur`` are recorded in the result
    as given (the photo the mesh is posed by)."""
    clock = clock if clock is not None else StageClock()
    exclude = tuple(exclude_persons)
    with clock.stage("load_database"):
        subjects = database.subjects(exclude_persons=exclude)
        exemplars = database.luminances(exclude_persons=exclude)  # §4–5 use Y only
        cached = cached_grams(database, config.texture, exclude)
        computed = any(stage.size not in cached for stage in config.texture.schedule)
        regions = database.gram_regions(exclude_persons=exclude) if computed else None
        if vgg is None:
            vgg = load_vgg19(config.texture.device, channels_last=config.texture.channels_last)

    with clock.stage("texture"):
        texture = infer_texture(
            partial.lowfreq,
            partial.albedo,
            partial.mask,
            exemplars,
            config.texture,
            vgg,
            exemplar_grams=cached,
            exemplar_regions=regions,
            pixels_per_texel=partial.pixels_per_texel,
            feature_rgb=partial.features,
            feature_mask=partial.feature_mask,
            detail_map=detail_map,
            restored_blur=partial.restored_blur,
            progress=progress,
        )
        del exemplars, regions
    clock.timings.update({f"texture.{k}": v for k, v in texture.timings.items()})

    with clock.stage("maps"):
        albedo = on_chart(texture.synthesis.rgb, partial.chart)
        maps = detail_maps(albedo, resized_chart(partial.chart, albedo.shape[0]), config.maps)

    return InferenceResult(
        photo=photo,
        detection=detection,
        fit=fit,
        partial=partial,
        blend=texture.blend,
        subject_ids=tuple(s.subject_id for s in subjects),
        synthesis=texture.synthesis,
        albedo=albedo,
        normal_map=maps.normal,
        bump=maps.bump,
        timings=clock.timings,
        peak_memory_mib=clock.peak_memory_mib,
        database=str(database.path),
        photo_bands=None if texture.transfer is None else texture.transfer.as_dict(),
        photo_blur=photo_blur,
    )


def cached_grams(
    database: TextureDatabase, config: TextureConfig, exclude_persons: Iterable[str] = ()
) -> dict[int, StoredGrams]:
    """The database's stored complete Grams at the synthesis stages' sizes (size → StoredGrams,
    read on demand).

    These are the §5 targets' ingredients that do not depend on the photo, so inference reads
    them instead of running the network over the exemplars again, and only for the exemplars
    the §4 fit gave weight (reading and unpacking all 202 London exemplars' Grams at 256² and
    512² took 3.4 s and ~0.8 GiB). Sizes the database does not store (or a layer it lacks)
    are left out; ``infer_texture`` computes those.
    """
    if not set(config.gram_layers) <= set(database.gram_layers):
        return {}
    sizes = sorted({stage.size for stage in config.schedule} & set(database.gram_resolutions))
    exclude = tuple(exclude_persons)
    return {size: database.stored_grams(size, layers=config.gram_layers, exclude_persons=exclude) for size in sizes}
