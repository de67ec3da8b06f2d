"""Partial albedo in UV space: the visible skin of the photo divided by the fitted shading.

For every texel of the UV chart (:func:`facetex.geometry.uv.rasterize_uv`) the fitted mesh
gives a 3D point and normal in the camera frame. The point projects into the FULL-resolution
photo, which is sampled there (bilinear) and divided by the fitted SH irradiance at the normal,
clamped below at ``UnwrapConfig.min_shading`` — the inverse of the Lambertian image model of
paper §3. A texel is observed when it is

* inside the photo,
* not occluded (its depth is within ``depth_tolerance`` of a z-buffer of the fitted mesh,
  rendered on a shrunk crop around the face),
* not seen at a grazing angle (``VisibilityConfig.min_cos_view``), and
* on a pixel the image-space skin mask keeps (person mask, feature polygons, skin colour;
  :mod:`facetex.fitting.visibility`), and
* sampled from skin only: all four photo pixels its bilinear sample mixes are covered by the
  fitted mesh and kept by that mask (:func:`_footprint_on_face`; this drops the texels whose
  footprint straddles the silhouette or a cut-out).

Everything else is 0.5, as are off-chart texels of every map (:mod:`facetex.types`).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from facetex.errors import ShapeMismatchError
from facetex.fitting.config import UnwrapConfig
from facetex.fitting.crop import FaceCrop
from facetex.fitting.model import model_albedo
from facetex.fitting.threads import torch_threads
from facetex.fitting.visibility import ImageVisibility, photo_visibility, view_cosine
from facetex.geometry.camera import screen_positions, vertex_normals
from facetex.geometry.rasterize import rasterize
from facetex.geometry.sh import sh_shading
from facetex.geometry.uv import chart_mask, rasterize_uv
from facetex.types import Detection, FaceFit, MorphableModel, PartialAlbedo, Photo

__all__ = ["unwrap_albedo", "lowfreq_albedo", "sampling_density"]

_MIN_RESOLUTION, _MAX_RESOLUTION = 16, 2048


def unwrap_albedo(
    photo: Photo,
    detection: Detection,
    fit: FaceFit,
    model: MorphableModel,
    config: UnwrapConfig | None = None,
    *,
    visibility: tuple[ImageVisibility, FaceCrop] | None = None,
) -> PartialAlbedo:
    """Unwrap the visible skin of ``photo`` into UV and remove the fitted shading.

    Parameters
    ----------
    photo : the full-resolution photo the fit refers to.
    detection : the fitted face's detection (person mask and landmarks for the skin mask).
    fit : the fit (:func:`facetex.fitting.fit_face`).
    model : the morphable model of the fit (mesh, UVs, albedo basis).
    config : resolution and thresholds; ``UnwrapConfig()`` if None.
    visibility : the image-space skin mask and its crop, if already computed
        (:func:`facetex.fitting.visibility.photo_visibility` with ``config.visibility``).

    Returns
    -------
    PartialAlbedo
        ``albedo`` (R, R, 3) float32 in [0, 1], photo / shading on observed texels, 0.5
        elsewhere; ``mask`` (R, R) bool, observed texels; ``lowfreq`` (R, R, 3) the model
        albedo I(α_al) resized to R, 0.5 off the chart; ``shading`` (R, R, 3) float32 SH
        irradiance on observed texels, 0 elsewhere; ``chart`` (R, R) bool.

    Raises
    ------
    ShapeMismatchError
        The photo is not the size the fit refers to, or the model's mesh is not the fit's.
    ValueError
        The resolution is outside [16, 2048].
    """
    config = UnwrapConfig() if config is None else config
    r = int(config.resolution)
    if not _MIN_RESOLUTION <= r <= _MAX_RESOLUTION or r != config.resolution:
        raise ValueError(
            f"UV resolution must be an integer in [{_MIN_RESOLUTION}, {_MAX_RESOLUTION}], got {config.resolution}"
        )
    if tuple(photo.size) != tuple(fit.image_size):
        raise ShapeMismatchError(f"the photo is {photo.size} but the fit refers to an image of {fit.image_size}")
    topology = model.topology
    if fit.vertices.shape != topology.vertices.shape:
        raise ShapeMismatchError(
            f"fit has {fit.vertices.shape[0]} vertices, the model's mesh {topology.vertices.shape[0]}"
        )

    if visibility is None:
        visibility = photo_visibility(photo, detection, topology, config.visibility, max_side=config.zbuffer_max_size)
    with torch_threads(1):
        return _unwrap(photo, fit, model, config, visibility)


def _unwrap(
    photo: Photo,
    fit: FaceFit,
    model: MorphableModel,
    config: UnwrapConfig,
    visibility: tuple[ImageVisibility, FaceCrop],
) -> PartialAlbedo:
    out_r = int(config.resolution)
    sub = max(1, min(int(config.supersample), _MAX_RESOLUTION // out_r))
    r = out_r * sub  # sampled at R·s, area-averaged to R at the end
    topology = model.topology
    faces = torch.tensor(np.asarray(topology.faces), dtype=torch.int64)
    verts = torch.tensor(fit.vertices, dtype=torch.float64)
    uv_raster = rasterize_uv(topology, r, dtype=torch.float64)
    chart = uv_raster.mask.numpy()
    texels = torch.nonzero(uv_raster.mask.reshape(-1)).squeeze(1)  # chart texels, flat indices
    triangle = uv_raster.triangle_id.reshape(-1)[texels]
    corners = faces[triangle]
    bary = uv_raster.barycentrics.reshape(-1, 3)[texels][:, :, None]
    points = (verts[corners] * bary).sum(dim=1)  # (T, 3) camera frame
    normals = (vertex_normals(verts, faces)[corners] * bary).sum(dim=1)
    normals = normals / normals.norm(dim=1, keepdim=True).clamp(min=1e-12)
    principal = torch.tensor(np.asarray(fit.principal_point), dtype=torch.float64)
    pixel = screen_positions(points, fit.focal_length, principal)  # (T, 3): x, y, depth

    skin, crop = visibility
    crop_xy = torch.tensor(crop.to_crop(pixel[:, :2].numpy()), dtype=torch.float64)
    h, w = crop.rgb.shape[:2]
    col = torch.floor(crop_xy[:, 0]).long()
    row = torch.floor(crop_xy[:, 1]).long()
    in_crop = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    col, row = col.clamp(0, w - 1), row.clamp(0, h - 1)

    # Occlusion: a z-buffer of the fitted mesh at the crop's resolution.
    screen = screen_positions(verts, fit.focal_length, principal)
    scale = torch.tensor(crop.scale, dtype=torch.float64)
    offset = torch.tensor(crop.offset, dtype=torch.float64)
    zbuffer = rasterize(torch.cat([(screen[:, :2] - offset) * scale, screen[:, 2:3]], dim=1), faces, (h, w))
    seen = zbuffer.triangle_id[row, col]
    unoccluded = (seen >= 0) & ((seen == triangle) | (pixel[:, 2] <= zbuffer.depth[row, col] + config.depth_tolerance))

    facing = view_cosine(points, normals) >= config.visibility.min_cos_view
    on_skin = torch.tensor(skin.mask)[row, col]
    footprint = _footprint_on_face(pixel[:, :2].numpy(), crop, zbuffer.triangle_id.numpy() >= 0, skin.mask)
    keep = (in_crop & unoccluded & facing & on_skin).numpy() & footprint

    # Brows, eyelids, eyes and lips the photo shows: not skin (left out of the §4 statistics),
    # but the person's own, so the output keeps them (issue 16); not what an open mouth shows
    # (teeth on the closed mesh's lips).
    outside_mouth = ~skin.mouth if skin.mouth is not None else np.ones_like(skin.person)
    in_features = torch.tensor(skin.person & ~skin.features & outside_mouth)[row, col]
    feature = (in_crop & unoccluded & facing & in_features).numpy() & ~keep
    sampled = keep | feature

    shading = sh_shading(normals[sampled], torch.tensor(fit.sh_coeffs, dtype=torch.float64)).numpy()
    observed = _sample_photo(photo.rgb, pixel[sampled][:, :2].numpy())
    values = np.clip(observed / np.maximum(shading, config.min_shading), 0.0, 1.0)
    skin_rows = keep[sampled]
    flat = texels.numpy()[keep]
    albedo = np.full((r * r, 3), 0.5, dtype=np.float32)
    albedo[flat] = values[skin_rows]
    features = np.full((r * r, 3), 0.5, dtype=np.float32)
    features[texels.numpy()[feature]] = values[~skin_rows]
    shading_map = np.zeros((r * r, 3), dtype=np.float32)
    shading_map[flat] = shading[skin_rows]
    mask = np.zeros(r * r, dtype=bool)
    mask[flat] = True
    feature_mask = np.zeros(r * r, dtype=bool)
    feature_mask[texels.numpy()[feature]] = True
    density = np.zeros(r * r, dtype=np.float32)
    density[texels.numpy()[sampled]] = sampling_density(texels.numpy(), pixel[:, :2].numpy(), r)[sampled]
    albedo, mask = albedo.reshape(r, r, 3), mask.reshape(r, r)
    features, feature_mask = features.reshape(r, r, 3), feature_mask.reshape(r, r)
    shading_map, density = shading_map.reshape(r, r, 3), density.reshape(r, r)
    if sub > 1:
        chart = chart_mask(topology, out_r)
        albedo, mask_out = _area_mean(albedo, mask, sub, chart)
        features, feature_mask = _area_mean(features, feature_mask, sub, chart & ~mask_out)
        shading_map, _ = _area_mean(shading_map, mask, sub, chart, fill=0.0)
        # photo pixels per texel: s times those per sample
        density = _area_mean(density[..., None] * sub, density > 0, sub, chart, fill=0.0)[0][..., 0]
        mask = mask_out
        density = np.where(mask | feature_mask, density, np.float32(0.0))  # as sampled texels only
    return PartialAlbedo(
        albedo=albedo,
        mask=mask,
        lowfreq=lowfreq_albedo(model, fit.albedo_coeffs, out_r, chart),
        shading=shading_map,
        chart=chart,
        pixels_per_texel=density,
        features=features,
        feature_mask=feature_mask,
    )


def _area_mean(
    values: np.ndarray, valid: np.ndarray, sub: int, chart: np.ndarray, *, fill: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """(R·s, R·s, C) samples → (R, R, C): each texel the mean of its s × s samples, valid
    where all of them are ``valid`` (so an observed texel mixes only photo pixels of the face,
    as one sampled at its centre) and it lies on ``chart`` (R, R); ``fill`` elsewhere.
    Returns (values float32, valid bool)."""
    rs = valid.shape[0]
    r = rs // sub
    weight = valid.astype(np.float64).reshape(r, sub, r, sub).sum(axis=(1, 3))
    total = (values.astype(np.float64) * valid[..., None]).reshape(r, sub, r, sub, -1).sum(axis=(1, 3))
    kept = (weight >= sub * sub) & chart
    out = np.where(kept[..., None], total / np.maximum(weight, 1.0)[..., None], fill)
    return out.astype(np.float32), kept


def sampling_density(texels: np.ndarray, pixels: np.ndarray, resolution: int) -> np.ndarray:
    """Photo pixels per texel along the worst-sampled direction, per chart texel.

    The Jacobian J = d(photo pixel)/d(texel) is taken by finite differences between
    neighbouring chart texels (forward, or backward at the chart's edge); its smaller singular
    value says how many photo pixels one texel step spans in the direction the photo samples
    least (foreshortening at grazing angles, distance from the camera).

    Parameters
    ----------
    texels : (T,) int flat indices (row · R + col) of the chart texels.
    pixels : (T, 2) float photo positions (x, y) of those texels, pixels.
    resolution : R.

    Returns
    -------
    (T,) float32 ≥ 0; 0 for a texel with no chart neighbour in some direction.
    """
    r = int(resolution)
    grid = np.full((r, r, 2), np.nan)
    grid.reshape(-1, 2)[texels] = pixels
    steps = []
    for axis in (0, 1):  # d/d(row), d/d(col)
        forward = np.diff(grid, axis=axis, append=np.nan)
        backward = np.diff(grid, axis=axis, prepend=np.nan)
        steps.append(np.where(np.isnan(forward), backward, forward))
    jac = np.stack(steps, axis=-1).reshape(-1, 2, 2)[texels]  # (T, 2 image axes, 2 texel axes)
    frob = np.sum(jac**2, axis=(1, 2))
    det = np.abs(jac[:, 0, 0] * jac[:, 1, 1] - jac[:, 0, 1] * jac[:, 1, 0])
    smaller = np.sqrt(np.maximum(0.5 * (frob - np.sqrt(np.maximum(frob**2 - 4.0 * det**2, 0.0))), 0.0))
    return np.nan_to_num(smaller, nan=0.0).astype(np.float32)


def lowfreq_albedo(model: MorphableModel, albedo_coeffs: np.ndarray, resolution: int, chart: np.ndarray) -> np.ndarray:
    """The model albedo I(α_al) resized (bilinear) to R × R, 0.5 off the chart.

    Returns
    -------
    (R, R, 3) float32 in [0, 1].
    """
    small = model_albedo(model, albedo_coeffs)
    big = cv2.resize(small, (resolution, resolution), interpolation=cv2.INTER_LINEAR)
    big[~chart] = 0.5
    return np.clip(big, 0.0, 1.0).astype(np.float32)


def _footprint_on_face(xy: np.ndarray, crop: FaceCrop, covered: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Whether all four photo pixels a texel's bilinear sample mixes show this face's skin.

    A texel is sampled bilinearly at its projection ``xy`` (:func:`_sample_photo`), so its
    colour mixes the four photo pixels around it. At the silhouette (the mesh's outer edge, or
    an occluding contour against the background) or beside a cut-out, some of them show
    background, eye or lip: the texel's colour is then wrong even though its own pixel is skin.
    At grazing angles a texel spans less than a pixel, so such texels lie several texels inside
    the observed chart (the ones that made ``test_partial_albedo_equals_the_rendered_albedo``
    fail at cos 0.3–0.35: error up to 0.13, 2–4 texels from the chart's edge). The standard
    cure is to erode the visible set by the sampling footprint; it is done here in the image,
    where the footprint is known exactly: each of the four pixels, looked up in the crop, must
    be covered by the fitted mesh's z-buffer and kept by the image-space skin mask. (An
    occluder of skin colour in front, e.g. the nose's edge over the far cheek, is not tested
    at the corners; the texel's own pixel passes the depth test.)

    The grazing-angle limit (``VisibilityConfig.min_cos_view`` = 0.3) stays as it is: the bad
    texels had cos 0.3–0.35, like good ones elsewhere on the cheek, and what made them bad was
    the background inside their footprint, not the angle; raising the limit would cut good
    texels everywhere and still miss the cause at a less oblique silhouette. On London photos
    (generic fit, 512²) the footprint test removes 1.3–2 % of the observed texels, a thin band
    along the silhouette and the cut-outs: 102,878 → 101,589 on 001_03, 106,695 → 104,595 on
    004_03 (of 170,324 chart texels).

    Parameters
    ----------
    xy : (T, 2) photo positions (x, y) of the texels, pixels (centres at half-integers).
    crop : the crop of the z-buffer and the skin mask.
    covered : (h, w) bool, crop pixels the fitted mesh covers.
    skin : (h, w) bool, crop pixels the image-space skin mask keeps.

    Returns
    -------
    (T,) bool.
    """
    ok = covered & skin
    h, w = ok.shape
    base = np.floor(np.asarray(xy, dtype=np.float64) - 0.5)  # the footprint's top-left pixel
    keep = np.ones(base.shape[0], dtype=bool)
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        centre = crop.to_crop(base + np.array([dx + 0.5, dy + 0.5]))
        col = np.floor(centre[:, 0]).astype(np.int64)
        row = np.floor(centre[:, 1]).astype(np.int64)
        inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
        keep &= inside & ok[row.clip(0, h - 1), col.clip(0, w - 1)]
    return keep


def _sample_photo(rgb: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear samples (N, 3) of the photo at continuous pixel positions (N, 2)."""
    n = xy.shape[0]
    if n == 0:
        return np.zeros((0, 3), dtype=np.float32)
    width = 1024  # OpenCV's remap needs maps under 32767 on each side: fold the list
    rows = -(-n // width)
    maps = np.zeros((rows * width, 2), dtype=np.float32)
    maps[:n] = xy - 0.5  # OpenCV puts pixel centres at integers
    maps = maps.reshape(rows, width, 2)
    src = np.ascontiguousarray(rgb, dtype=np.float32)
    out = cv2.remap(src, maps, None, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(-1, 3)[:n]
