"""One partial albedo from several photos of one person (issue 20): each texel from the views
that see it best, blended band by band without a seam.

Every view's partial albedo is the photo ÷ its own fitted shading on the same UV layout
(:func:`facetex.fitting.unwrap.unwrap_albedo`, one identity held by every fit, so the model
albedo I(α_al) is one map). Per view and texel, a quality (:func:`view_quality`):

* resolution in UV — ``pixels_per_texel``, the photo pixels along the worst-sampled direction
  of the texel, which falls with foreshortening (a surface seen edge-on) and with distance;
* distance from the edge of what the view sees (the silhouette, an occluder, the mask's end):
  a smoothstep over ``edge`` × R texels, so a view fades out before it stops;
* specular and shadow outliers: where the view's low-passed luminance departs from I(α_al) by
  a factor e^{±d}, its weight falls as exp(−(d / ``outlier_scale``)²) (a cast shadow or a
  highlight that another view does not have);
* expression: where a view's fitted expression moves the surface away from the primary view's
  (the cheeks and mouth of a smile against a neutral face), its texels show skin stretched or
  bunched differently and land a little off in UV; its weight falls as exp(−(m / 2 mm)²) with
  m the distance between the two expressions' positions of the texel (``motion_mm``,
  :func:`expression_motion`);
* a texel that only views other than the first see counts as observed unless it lies on such
  a view's fringe: its quality but for the sampling (edge ramp × outlier × expression factor)
  below ``min_quality`` (a quarter) of the view's median (a texel or two past the first view's
  mask at a shared edge, where its own edge ramp is low, or skin its expression moved); the
  fringe is left to the texture stage, as it is with the first photo alone. How finely the view
  samples the texel does not decide it (foreshortened skin only the second photo sees is
  observed, as it is for the first);
* the first view is the primary one (the photo the mesh is posed by): its quality counts
  ``primary_weight`` (64) times, so the others fill what it hides or sees poorly rather than being
  averaged in where it sees well (averaging two photos' detail blurs it, and features that
  move with the expression, lips over the teeth of a smile, would mix).

Colour: the photos' lighting differs, and what the shading model misses leaves each partial a
little off in colour; each view is scaled per channel by the ratio of the primary view's mean
colour to its own over the texels both see, weighted by the smaller of the two qualities.

Blending (Burt & Adelson 1983, as :mod:`facetex.texture.fusion` blends kept and invented
detail): each view, continued smoothly past its mask, is split into the octave bands of
:func:`facetex.texture.bands.band_split`; band b takes the views' qualities blurred at that
band's scale (σ = R / (2π f_b)) as weights, restricted to the texels each view observes. Low
frequencies change over a wide seam, fine detail over a narrow one, so neither a step in tone
nor a doubled edge shows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from collections.abc import Sequence

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt, gaussian_filter

from facetex.errors import ShapeMismatchError
from facetex.texture.bands import band_edges, band_split
from facetex.texture.color import luminance
from facetex.texture.fusion import normalised_fill
from facetex.geometry.rasterize import interpolate
from facetex.geometry.uv import rasterize_uv
from facetex.types import MorphableModel, PartialAlbedo

__all__ = ["MergedPartial", "expression_motion", "merge_partials", "view_quality"]

_FLOOR = 1e-6
#: A texel only a view other than the first sees counts as observed where that view's quality
#: without its sampling term (edge ramp × outlier × expression factor) is at least this share of
#: its median (:func:`merge_partials`); below it lie the view's fringe texels, a texel or two
#: past the first view's mask (docs/design.md, "Several photos of one person", has the
#: measurements behind it and the rule's history).
MIN_QUALITY = 0.25


@dataclass(frozen=True)
class MergedPartial:
    """The merged observation of several views.

    Attributes
    ----------
    partial : the merged :class:`~facetex.types.PartialAlbedo` (mask = texels any view observes).
    source : (R, R) int16, the view whose weight is largest at each observed skin or feature
        texel; −1 where no view observes skin (the texture stage invents those).
    weights : (N, R, R) float32, each view's share of the finest band, summing to 1 where
        observed.
    gains : (N, 3) float64, the colour scale applied to each view (1 for the reference).
    observed : (N,) float, the fraction of chart texels each view observes (skin or feature).
    reference : index of the view the others' colours were matched to (the primary, 0).
    """

    partial: PartialAlbedo
    source: np.ndarray
    weights: np.ndarray
    gains: np.ndarray
    observed: np.ndarray
    reference: int


def view_quality(partial: PartialAlbedo, *, edge: float = 1.0 / 32.0, outlier_scale: float = 0.25) -> np.ndarray:
    """(R, R) float64 ≥ 0, the quality of a view at each texel it observes (module doc), 0 elsewhere:
    its sampling (:func:`_sampling`) × its standing (:func:`_standing`)."""
    return _sampling(partial) * _standing(partial, edge=edge, outlier_scale=outlier_scale)


def _sampling(partial: PartialAlbedo) -> np.ndarray:
    """(R, R) float64 > 0, photo pixels per texel along the worst-sampled direction (1 unknown)."""
    r = partial.resolution
    if partial.pixels_per_texel is None:
        return np.ones((r, r))
    return np.maximum(np.asarray(partial.pixels_per_texel, np.float64), _FLOOR)


def _standing(partial: PartialAlbedo, *, edge: float, outlier_scale: float) -> np.ndarray:
    """(R, R) float64 in [0, 1], the quality but for the sampling: the edge ramp × the
    specular / shadow outlier factor (module doc) where the view observes, 0 elsewhere."""
    r = partial.resolution
    seen = _seen(partial)
    ramp = np.clip(distance_transform_edt(seen) / max(edge * r, 1.0), 0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)
    sigma = max(r / 128.0, 1.0)
    y = luminance(np.clip(_observed_rgb(partial), 0.0, 1.0)).astype(np.float64)
    weight = gaussian_filter(seen.astype(np.float64), sigma)
    y_low = gaussian_filter(np.where(seen, y, 0.0), sigma) / np.maximum(weight, _FLOOR)
    model_y = luminance(np.clip(partial.lowfreq, 0.0, 1.0)).astype(np.float64)
    deviation = np.log((y_low + 0.02) / (model_y + 0.02))
    outlier = np.maximum(np.exp(-((deviation / outlier_scale) ** 2)), 0.05)
    return np.where(seen, np.maximum(ramp, _FLOOR) * outlier, 0.0)


def _seen(partial: PartialAlbedo) -> np.ndarray:
    seen = np.asarray(partial.mask, dtype=bool)
    if partial.feature_mask is not None:
        seen = seen | np.asarray(partial.feature_mask, dtype=bool)
    return seen


def _observed_rgb(partial: PartialAlbedo) -> np.ndarray:
    """The view's observed colour: skin albedo, and its features where it shows them."""
    rgb = np.asarray(partial.albedo, dtype=np.float64)
    if partial.features is not None and partial.feature_mask is not None:
        rgb = np.where(np.asarray(partial.feature_mask, bool)[..., None], partial.features, rgb)
    return rgb


def expression_motion(model: MorphableModel, expression: np.ndarray, reference: np.ndarray, resolution: int) -> np.ndarray:
    """(R, R) float64 mm: how far each texel's surface point moves between the expression
    coefficients ``reference`` and ``expression`` (model frame, identity fixed), 0 off the chart."""
    delta = np.asarray(expression, np.float64) - np.asarray(reference, np.float64)
    motion = np.tensordot(delta, np.asarray(model.expression_basis, np.float64), axes=1).reshape(-1, 3)
    per_vertex = torch.tensor(10.0 * np.linalg.norm(motion, axis=1), dtype=torch.float32)  # cm → mm
    raster = rasterize_uv(model.topology, resolution)
    texels = interpolate(per_vertex[:, None], raster, np.asarray(model.topology.faces))[..., 0]
    return np.where(raster.triangle_id.cpu().numpy() >= 0, texels.cpu().numpy(), 0.0).astype(np.float64)


def merge_partials(partials: Sequence[PartialAlbedo], *, edge: float = 1.0 / 32.0,
                   outlier_scale: float = 0.25, primary_weight: float = 64.0,
                   motion_mm: Sequence[np.ndarray | None] | None = None, motion_scale: float = 2.0,
                   min_quality: float = MIN_QUALITY) -> MergedPartial:
    """Merge the partial albedos of several photos of one person (module doc).

    Parameters
    ----------
    partials : N ≥ 1 partial albedos on one UV layout and resolution R (one identity's fits).
    edge : fade-in distance from the edge of each view's observation, fraction of R.
    outlier_scale : log-luminance departure from I(α_al) at which a view's weight falls to 1/e.
    primary_weight : how many times the first view's quality counts.
    motion_mm : per view, (R, R) mm its expression moves each texel from the primary's
        (:func:`expression_motion`), or None (no motion, e.g. the primary itself).
    motion_scale : the motion (mm) at which a view's weight falls to 1/e.
    min_quality : a texel of a view other than the first counts as observed only where its
        quality but for the sampling (edge ramp × outlier × expression factor) is at least this
        share of the view's median.

    Returns
    -------
    :class:`MergedPartial`; with one view, that view's partial unchanged.

    Raises
    ------
    ShapeMismatchError
        No partials, or partials of different resolutions or charts.
    """
    if not partials:
        raise ShapeMismatchError("no partial albedos to merge")
    r = partials[0].resolution
    if any(p.resolution != r or not np.array_equal(p.chart, partials[0].chart) for p in partials):
        raise ShapeMismatchError("the views' partial albedos must share one UV layout and resolution")
    chart_texels = max(int(np.count_nonzero(partials[0].chart)), 1)
    seen = np.stack([_seen(p) for p in partials])
    observed = seen.reshape(len(partials), -1).sum(axis=1) / chart_texels
    standing = np.stack([_standing(p, edge=edge, outlier_scale=outlier_scale) for p in partials])
    quality = np.stack([_sampling(p) for p in partials]) * standing
    if len(partials) == 1:
        source = np.where(seen[0], 0, -1).astype(np.int16)
        return MergedPartial(partials[0], source, seen.astype(np.float32), np.ones((1, 3)), observed, 0)

    for i, motion in enumerate(motion_mm or ()):
        if motion is not None:
            moved = np.maximum(np.exp(-((np.asarray(motion, np.float64) / motion_scale) ** 2)), 0.02)
            quality[i] *= moved
            standing[i] *= moved
    for i in range(1, len(partials)):
        # a texel only another view sees counts as observed unless it lies on that view's fringe
        # (its edge ramp, an outlier, skin its expression moved), left to the texture stage; how
        # finely it is sampled does not decide it, as it does not for the first view
        if seen[i].any():
            seen[i] &= standing[i] >= min_quality * float(np.median(standing[i][seen[i]]))
            quality[i] = np.where(seen[i], quality[i], 0.0)
    quality[0] *= primary_weight
    reference = 0
    colours = [_observed_rgb(p) for p in partials]
    gains = np.ones((len(partials), 3))
    for i, colour in enumerate(colours):
        if i == reference:
            continue
        both = np.minimum(quality[i], quality[reference])
        if np.count_nonzero(both) < 0.01 * chart_texels:
            continue  # too little overlap to compare colours
        gains[i] = (both[..., None] * colours[reference]).sum((0, 1)) / np.maximum(
            (both[..., None] * colour).sum((0, 1)), _FLOOR)
    colours = [np.clip(c * g, 0.0, 1.0) for c, g in zip(colours, gains)]

    union = seen.any(axis=0)
    edges = band_edges(r)
    scales = [r / (2 * np.pi * f) for f in edges] + [max(r / (2 * np.pi * edges[-1]) / 2, 0.5)]
    band_weights = []  # per band, (N, R, R): the views' qualities blurred at the band's scale, normalised
    for sigma in scales:
        w = np.stack([gaussian_filter(q, sigma) * s for q, s in zip(quality, seen)])
        total = w.sum(axis=0)
        band_weights.append(np.where(total > _FLOOR, w / np.maximum(total, _FLOOR),
                                     seen / np.maximum(seen.sum(axis=0), 1)))
    finest = band_weights[-1]
    merged = np.zeros((r, r, 3))
    for channel in range(3):
        bands_per_view = [band_split(normalised_fill(c[..., channel], s, r / (2 * np.pi * edges[0])), edges)
                          for c, s in zip(colours, seen)]
        for b, w in enumerate(band_weights):
            merged[..., channel] += sum(w[i] * bands_per_view[i][b] for i in range(len(partials)))
    merged = np.clip(merged, 0.0, 1.0)

    skin = np.stack([np.asarray(p.mask, bool) & s for p, s in zip(partials, seen)]).any(axis=0)
    feature_masks = [None if p.feature_mask is None else np.asarray(p.feature_mask, bool) & s
                     for p, s in zip(partials, seen)]
    features = None
    feature_mask = None
    if any(m is not None for m in feature_masks):
        feature_mask = np.stack([np.zeros((r, r), bool) if m is None else np.asarray(m, bool)
                                 for m in feature_masks]).any(axis=0) & ~skin
        features = np.where(feature_mask[..., None], merged, 0.5).astype(np.float32)
    albedo = np.where(skin[..., None], merged, 0.5).astype(np.float32)
    ppt = None
    if all(p.pixels_per_texel is not None for p in partials):
        ppt = (finest * np.stack([np.asarray(p.pixels_per_texel, np.float64) for p in partials])).sum(axis=0)
        ppt = np.where(union, ppt, 0.0).astype(np.float32)
    blurs = [p.restored_blur for p in partials]
    base = partials[reference]
    partial = replace(
        base, albedo=albedo, mask=skin, pixels_per_texel=ppt, features=features, feature_mask=feature_mask,
        restored_blur=blurs[reference] if all(b is not None for b in blurs) else None,
    )
    source = np.where(union, np.argmax(finest, axis=0), -1).astype(np.int16)
    return MergedPartial(partial, source, finest.astype(np.float32), gains, observed, reference)
