"""The ICT Face Model Light's ``generic_neutral_mesh.obj``: parsing, triangulation and the
seam split of its face region.

Face mesh
    The ``M_Face`` polygons, quads split into two triangles (corners 0-1-2 and 0-2-3, the
    order of the OBJ, so triangles are counter-clockwise seen from outside as the OBJ's
    polygons are; :func:`triangulate`). The OBJ has UV seams (a vertex may carry several
    texture coordinates): every distinct (vertex, texture coordinate) pair becomes one mesh
    vertex, ordered by ICT vertex id then texture-coordinate id (:func:`split_seams`), and
    ``ict_vertex`` maps each back to its ICT vertex. UVs are the OBJ's (``u`` ∈ [0, 1] for the
    face tile, ``v`` = 1 at the top: the forehead is at v ≈ 1, the neck at v ≈ 0), which is
    facetex's convention unchanged. Positions: the kit's frame, cm (:mod:`facetex.geometry.ict`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facetex.geometry.ict_files import (
    FACE_MATERIAL,
    FACE_POLYGONS,
    FACE_VERTICES,
    NUM_POLYGONS,
    NUM_TEXCOORDS,
    NUM_VERTICES,
    OBJ_NAME,
    IctModelError,
    damaged_file_error,
    ict_file,
)

__all__ = ["IctObj", "read_ict_obj", "triangulate", "split_seams"]


@dataclass(frozen=True)
class IctObj:
    """The parsed ``generic_neutral_mesh.obj`` (0-based indices).

    Attributes
    ----------
    vertices : (26719, 3) float64, cm.
    texcoords : (28911, 2) float64, (u, v) with v = 1 at the top; u carries the tile offset
        (the face tile is u ∈ [0, 1], the head-and-neck tile u ∈ [1, 2], …).
    polygon_vertices : (26384, 4) int64, vertex ids of each polygon's corners, −1 in the 4th
        column of a triangle.
    polygon_texcoords : (26384, 4) int64, texture-coordinate ids likewise.
    polygon_material : (26384,) int64, index into ``materials``.
    materials : the material names in order of first use (``M_Face`` first).
    """

    vertices: np.ndarray
    texcoords: np.ndarray
    polygon_vertices: np.ndarray
    polygon_texcoords: np.ndarray
    polygon_material: np.ndarray
    materials: tuple[str, ...]


def read_ict_obj(directory: str | Path | None = None) -> IctObj:
    """Read and check ``generic_neutral_mesh.obj`` (from :func:`ict_dir` unless ``directory``).

    Raises
    ------
    IctModelError
        The file is missing, unreadable, or not the kit's topology (counts, polygon sizes,
        index ranges, or the face region not being polygons 0–9229 on vertices 0–9408).
    """
    path = ict_file(None if directory is None else Path(directory), OBJ_NAME)
    vertices: list[list[str]] = []
    texcoords: list[list[str]] = []
    corners: list[list[str]] = []
    material_of: list[int] = []
    materials: list[str] = []
    current = -1
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                head = line[:2]
                if head == "v ":
                    vertices.append(line.split()[1:4])
                elif head == "vt":
                    texcoords.append(line.split()[1:3])
                elif head == "f ":
                    corners.append(line.split()[1:])
                    material_of.append(current)
                elif line.startswith("usemtl"):
                    name = line.split()[1]
                    if name not in materials:
                        materials.append(name)
                    current = materials.index(name)
        v = np.asarray(vertices, dtype=np.float64)
        vt = np.asarray(texcoords, dtype=np.float64)
        pv = np.full((len(corners), 4), -1, dtype=np.int64)
        pt = np.full((len(corners), 4), -1, dtype=np.int64)
        for i, polygon in enumerate(corners):
            if len(polygon) not in (3, 4):
                raise damaged_file_error(path, f"polygon {i} has {len(polygon)} corners")
            for j, corner in enumerate(polygon):
                ids = corner.split("/")
                pv[i, j] = int(ids[0]) - 1
                pt[i, j] = int(ids[1]) - 1
    except IctModelError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, IndexError) as exc:
        raise damaged_file_error(path, f"{type(exc).__name__}: {exc}") from exc
    if v.shape != (NUM_VERTICES, 3) or vt.shape != (NUM_TEXCOORDS, 2) or pv.shape[0] != NUM_POLYGONS:
        raise damaged_file_error(
            path,
            f"{v.shape[0]} vertices, {vt.shape[0]} texture coordinates and {pv.shape[0]} polygons, "
            f"expected {NUM_VERTICES}, {NUM_TEXCOORDS} and {NUM_POLYGONS}",
        )
    used = pv >= 0
    if pv[used].max() >= NUM_VERTICES or pt[used].max() >= NUM_TEXCOORDS or (pt[used] < 0).any():
        raise damaged_file_error(path, "a polygon index is out of range")
    material = np.asarray(material_of, dtype=np.int64)
    if (
        not materials
        or materials[0] != FACE_MATERIAL
        or not (material[:FACE_POLYGONS] == 0).all()
        or (material[FACE_POLYGONS:] == 0).any()
        or pv[:FACE_POLYGONS][used[:FACE_POLYGONS]].max() != FACE_VERTICES - 1
    ):
        raise damaged_file_error(path, f"the face region is not polygons 0–{FACE_POLYGONS - 1} ({FACE_MATERIAL})")
    return IctObj(
        vertices=v,
        texcoords=vt,
        polygon_vertices=pv,
        polygon_texcoords=pt,
        polygon_material=material,
        materials=tuple(materials),
    )


def triangulate(polygon_vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split polygons (triangles and quads) into triangles, keeping their winding.

    Parameters
    ----------
    polygon_vertices : (P, 4) int, corner ids, −1 in the 4th column of a triangle.

    Returns
    -------
    triangles : (T, 3) int64; a quad (a, b, c, d) gives (a, b, c) then (a, c, d).
    polygon : (T,) int64, the polygon each triangle comes from (non-decreasing).

    >>> t, p = triangulate(np.array([[0, 1, 2, 3], [2, 1, 4, -1]]))
    >>> t.tolist(), p.tolist()
    ([[0, 1, 2], [0, 2, 3], [2, 1, 4]], [0, 0, 1])
    """
    poly = np.asarray(polygon_vertices, dtype=np.int64)
    quad = poly[:, 3] >= 0
    first = poly[:, [0, 1, 2]]
    second = poly[quad][:, [0, 2, 3]]
    ids = np.arange(poly.shape[0], dtype=np.int64)
    triangles = np.concatenate([first, second])
    polygon = np.concatenate([ids, ids[quad]])
    order = np.argsort(polygon * 2 + np.concatenate([np.zeros(len(ids), np.int64), np.ones(len(second), np.int64)]),
                       kind="stable")
    return triangles[order], polygon[order]


def split_seams(
    polygon_vertices: np.ndarray, polygon_texcoords: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One mesh vertex per distinct (ICT vertex, texture coordinate) corner, sorted by both ids.

    Parameters
    ----------
    polygon_vertices, polygon_texcoords : (P, 4) int64, as :class:`IctObj`'s (−1 in the 4th
        column of a triangle).

    Returns
    -------
    ict_vertex : (V,) int64, the ICT vertex id of each mesh vertex.
    texcoord : (V,) int64, the texture-coordinate id of each mesh vertex.
    faces : (F, 3) int64, mesh-vertex ids, the polygons triangulated (:func:`triangulate`).
    triangle_polygon : (F,) int64, the polygon each triangle comes from.
    """
    poly_v = polygon_vertices
    poly_t = polygon_texcoords
    used = poly_v >= 0
    # One mesh vertex per distinct (ICT vertex, texture coordinate) corner, sorted by both ids.
    keys = poly_v * NUM_TEXCOORDS + poly_t
    unique_keys, inverse = np.unique(keys[used], return_inverse=True)
    ict_vertex = unique_keys // NUM_TEXCOORDS
    texcoord = unique_keys % NUM_TEXCOORDS
    corner_vertex = np.full(poly_v.shape, -1, dtype=np.int64)
    corner_vertex[used] = inverse
    faces, triangle_polygon = triangulate(corner_vertex)
    return ict_vertex, texcoord, faces, triangle_polygon
