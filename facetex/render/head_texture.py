"""The albedo of the ICT head's second UV tile (scalp, back of the head, neck, mouth and eye
sockets), made from the completed face tile so that the two meet without a seam.

Colour (:func:`head_tile_albedo`)
    Along the border the two tiles share (ICT vertices used by both the face and the head
    polygons), the face albedo, low-passed (σ = R/128), is sampled at the face tile's UVs of
    points spaced half a texel apart along each shared edge, and written at the same points'
    UVs in the head tile. The scalp-and-neck island is then filled by membrane interpolation
    (:func:`facetex.texture.membrane.solve_membrane`) from those values, with a weak pull
    (:data:`PULL`) towards their mean: next to the face it has the face's colour at every
    point of the border, further away it settles to the mean skin tone of the border. facetex
    grows no hair: the head is bald.
Detail
    Skin detail with the face's own statistics: the median periodogram of the face albedo's
    log-luminance over 32² patches (at 512²) that lie inside the face tile (the median keeps
    features such as brows and lips from dominating), imposed on white noise (random-phase
    synthesis) and scaled to the patches' median standard deviation; it multiplies the colour
    as exp(detail). Its phases are random: the detail is plausible skin, not the person's.
Sockets
    The mouth socket is dark mouth tissue (:data:`MOUTH_COLOUR`), the eye sockets are dark
    (:data:`EYE_SOCKET_COLOUR`); both are seen only through the lips and lids.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation, gaussian_filter, map_coordinates

from facetex.geometry.ict_head import EYE_SOCKET_VERTICES, MOUTH_SOCKET_VERTICES, SCALP_VERTICES, HeadPart
from facetex.geometry.uv import rasterize_uv, uv_to_pixel
from facetex.render.maps import pad_chart
from facetex.texture.color import luminance
from facetex.texture.membrane import solve_membrane
from facetex.texture.resample import resize
from facetex.types import MeshTopology

__all__ = ["EYE_SOCKET_COLOUR", "MOUTH_COLOUR", "PULL", "head_tile_albedo", "scalp_regions", "skin_detail_field"]

#: sRGB albedo of the mouth socket (the inside of the cheeks and the palate, in shadow).
MOUTH_COLOUR = (0.36, 0.13, 0.13)
#: sRGB albedo of the eye sockets (behind the eyeballs).
EYE_SOCKET_COLOUR = (0.22, 0.12, 0.11)
#: Membrane pull towards the border's mean colour, per texel of a 256² solve (decay ≈ 1/√PULL texels).
PULL = 1e-4
_SOLVE_SIZE = 256


def _topology(part: HeadPart, vertices: np.ndarray | None = None) -> MeshTopology:
    positions = np.zeros((len(part.ict_vertex), 3)) if vertices is None else vertices
    return MeshTopology(vertices=positions, uvs=part.uvs, faces=part.faces,
                        landmark_weights=np.zeros(len(part.ict_vertex)))


def scalp_regions(part: HeadPart, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scalp, mouth socket, eye sockets) texel masks (size, size) of the head tile."""
    raster = rasterize_uv(_topology(part), size)
    triangle = raster.triangle_id.cpu().numpy()
    on = triangle >= 0
    ict = np.full(triangle.shape, -1, dtype=np.int64)
    ict[on] = part.ict_vertex[part.faces[triangle[on], 0]]

    def within(bounds: tuple[int, int]) -> np.ndarray:
        return on & (ict >= bounds[0]) & (ict < bounds[1])

    return within(SCALP_VERTICES), within(MOUTH_SOCKET_VERTICES), within(EYE_SOCKET_VERTICES)


def _border_samples(face: HeadPart, head: HeadPart, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Points along the edges the head tile shares with the face tile: (N, 2) face UVs and (N, 2)
    head UVs, half a texel of a ``size``² map apart. An edge is shared when both tiles have an
    edge between the same two ICT vertices; its face UVs are those of the face's own edge (a
    vertex on a UV seam of the face tile has a copy on each side)."""
    def edges(part: HeadPart) -> dict[tuple[int, int], tuple[int, int]]:
        pairs = np.concatenate([part.faces[:, [0, 1]], part.faces[:, [1, 2]], part.faces[:, [2, 0]]])
        out = {}
        for a, b in pairs:
            ia, ib = int(part.ict_vertex[a]), int(part.ict_vertex[b])
            out[(ia, ib) if ia < ib else (ib, ia)] = (a, b) if ia < ib else (b, a)
        return out

    face_edges, head_edges = edges(face), edges(head)
    face_uv, head_uv = [], []
    for key in face_edges.keys() & head_edges.keys():
        (fa, fb), (ha, hb) = face_edges[key], head_edges[key]
        h0, h1, f0, f1 = head.uvs[ha], head.uvs[hb], face.uvs[fa], face.uvs[fb]
        n = max(2, int(np.ceil(2 * size * np.linalg.norm(h1 - h0))) + 1)
        t = np.linspace(0.0, 1.0, n)[:, None]
        head_uv.append(h0 + t * (h1 - h0))
        face_uv.append(f0 + t * (f1 - f0))
    if not face_uv:
        return np.zeros((0, 2)), np.zeros((0, 2))
    return np.concatenate(face_uv), np.concatenate(head_uv)


def _sample(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear samples (N, C) of an (R, R, C) image at facetex UVs."""
    xy = uv_to_pixel(uv, image.shape[0]) - 0.5
    return np.stack([map_coordinates(image[..., c], [xy[:, 1], xy[:, 0]], order=1, mode="nearest")
                     for c in range(image.shape[2])], axis=1)


def skin_detail_field(face_albedo: np.ndarray, face_chart: np.ndarray, size: int, *, seed: int = 0) -> np.ndarray:
    """Random-phase log-luminance detail (size, size) float32 with the face's skin statistics
    (module doc, "Detail")."""
    r = face_albedo.shape[0]
    patch = max(16, r // 16)
    log_y = np.log(luminance(np.clip(face_albedo, 0.0, 1.0)) + 0.02)
    window = np.outer(np.hanning(patch), np.hanning(patch))
    spectra, stds = [], []
    for i in range(0, r - patch + 1, patch // 2):
        for j in range(0, r - patch + 1, patch // 2):
            if not face_chart[i:i + patch, j:j + patch].all():
                continue
            block = log_y[i:i + patch, j:j + patch]
            block = block - gaussian_filter(block, patch / 8, mode="reflect")
            stds.append(block.std())
            spectra.append(np.abs(np.fft.fft2((block - block.mean()) * window)) ** 2 / (window ** 2).sum())
    if not spectra:
        return np.zeros((size, size), np.float32)
    psd = np.median(np.stack(spectra), axis=0)
    freq = np.hypot(*np.meshgrid(np.fft.fftfreq(patch), np.fft.fftfreq(patch), indexing="ij"))
    bins = np.linspace(0.0, 0.5, patch // 2 + 1)
    which = np.digitize(freq.ravel(), bins) - 1
    radial = np.array([psd.ravel()[which == k].mean() if (which == k).any() else 0.0 for k in range(len(bins) - 1)])
    centres = 0.5 * (bins[1:] + bins[:-1])
    scale = r / size  # the field's texels are `scale` face texels: frequencies in cycles per face texel
    target = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")) / scale
    amplitude = np.sqrt(np.interp(target, centres, radial, left=0.0, right=0.0))
    amplitude[target < 1.0 / patch] = 0.0
    noise = np.random.default_rng(seed).standard_normal((size, size))
    field = np.fft.ifft2(np.fft.fft2(noise) * amplitude).real
    std = field.std()
    return (field * (np.median(stds) / std if std > 0 else 0.0)).astype(np.float32)


def head_tile_albedo(
    face_albedo: np.ndarray,
    face_chart: np.ndarray,
    face: HeadPart,
    head: HeadPart,
    resolution: int,
    *,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The head tile's albedo from the completed face tile (module doc).

    Parameters
    ----------
    face_albedo : (R, R, 3) float32 in [0, 1], the completed face-tile albedo.
    face_chart : (R, R) bool, its chart.
    face, head : the face tile's and the head tile's parts (:class:`~facetex.geometry.ict_head.HeadPart`).
    resolution : side of the head tile's maps.
    seed : of the detail's random phases.

    Returns
    -------
    albedo : (resolution, resolution, 3) float32 in [0, 1], 0.5 off the chart.
    chart : (resolution, resolution) bool: the islands and their own padding (R/64 texels).
    """
    r = face_albedo.shape[0]
    blurred = pad_chart(np.clip(face_albedo, 0.0, 1.0), face_chart, max(2, r // 16))
    blurred = np.stack([gaussian_filter(blurred[..., c], r / 128) for c in range(3)], axis=-1)
    size = min(resolution, _SOLVE_SIZE)
    scalp, mouth, eyes = scalp_regions(head, size)
    face_uv, head_uv = _border_samples(face, head, size)
    colours = _sample(blurred, face_uv)
    pixel = np.clip(np.floor(uv_to_pixel(head_uv, size)).astype(np.int64), 0, size - 1)
    keep = scalp[pixel[:, 1], pixel[:, 0]]
    pixel, colours = pixel[keep], colours[keep]
    total = np.zeros((size, size, 3))
    count = np.zeros((size, size))
    np.add.at(total, (pixel[:, 1], pixel[:, 0]), colours)
    np.add.at(count, (pixel[:, 1], pixel[:, 0]), 1.0)
    known = count > 0
    values = np.where(known[..., None], total / np.maximum(count, 1)[..., None], 0.0)
    mean = colours.mean(axis=0) if len(colours) else blurred[face_chart].mean(axis=0)
    unknown = scalp & ~known
    filled = np.where(scalp[..., None], values, mean)
    filled[unknown] = solve_membrane(values, unknown, scalp, None, mean, PULL)

    scalp_r, mouth_r, eyes_r = scalp_regions(head, resolution)
    colour = resize(filled.astype(np.float32), resolution) if size != resolution else filled
    detail = skin_detail_field(face_albedo, face_chart, resolution, seed=seed)
    albedo = np.full((resolution, resolution, 3), 0.5, dtype=np.float32)
    albedo[scalp_r] = np.clip(colour[scalp_r] * np.exp(detail[scalp_r])[:, None], 0.0, 1.0)
    albedo[mouth_r] = MOUTH_COLOUR
    albedo[eyes_r] = EYE_SOCKET_COLOUR
    # Each island padded from itself, the scalp first, and the sockets' texels within 2 texels of
    # the scalp given the scalp's padding: the dark eye sockets lie a texel or two from the
    # scalp's border in UV, and bilinear filtering would bleed them into it as a dark line.
    width = max(2, resolution // 64)
    ring = np.ones((3, 3), bool)
    filled = np.zeros((resolution, resolution), dtype=bool)
    for island in (scalp_r, mouth_r, eyes_r):
        padded = pad_chart(albedo, island, width)
        grown = binary_dilation(island, structure=ring, iterations=width) & ~filled
        if island is scalp_r:
            grown |= binary_dilation(island, structure=ring, iterations=2)
        albedo[grown] = padded[grown]
        filled |= grown
    return albedo, filled
