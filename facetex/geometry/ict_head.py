"""The rest of the ICT head beside the face tile: scalp and neck, mouth interior, teeth, eyeballs.

The face tile is the morphable model's mesh (:mod:`facetex.geometry.ict`); this module reads the
other parts of the same ``generic_neutral_mesh.obj`` (ICT-FaceKit, MIT licence, read from
``$FACETEX_DATA``, never copied) and poses them with a fit's identity and expression
coefficients, so that they meet the face tile vertex for vertex along its border.

Parts (:data:`HEAD_PARTS`, each one material of the OBJ)
    ``head``: ``M_BackHead``, the second UV tile: scalp, back of the head and neck (ICT
    vertices 9409–11247), the mouth socket (11248–13293) and the eye sockets (13294–14061);
    ``gums``: ``M_GumsTongue``; ``teeth``: ``M_Teeth``; ``eye_right`` / ``eye_left``:
    ``M_ScleraRight`` / ``M_ScleraLeft``, the eyeballs' outer surface (the cornea's bulge
    included), which facetex paints with sclera, iris and pupil (:mod:`facetex.render.head`).
Left out on purpose
    The inner iris spheres (``M_Iris*``: under the sclera, seen only through a refractive
    cornea shader), and the kit's Unreal-style translucent layers (lacrimal fluid, eye blend,
    eye occlusion) and eyelash cards: without their shaders and alpha textures they render as
    opaque shells and black strips in front of the eyes.
UVs
    Each part's texture coordinates in its own [0, 1] square: the OBJ stores the tiles side by
    side in u (``M_BackHead`` u ∈ [1, 2], gums [2, 3], teeth [3, 4]), so the tile's integer
    offset is removed. v = 1 at the top, facetex's convention.
Seams
    As for the face (:func:`facetex.geometry.ict_obj.split_seams`): one part vertex per
    distinct (ICT vertex, texture coordinate) pair; ``ict_vertex`` maps each back to the kit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facetex.geometry.ict_files import FACE_MATERIAL, FACE_POLYGONS, OBJ_NAME, IctModelError, damaged_file_error, ict_file, read_ict_arrays
from facetex.geometry.ict_obj import read_ict_obj, split_seams

__all__ = ["HEAD_PARTS", "HeadPart", "IctHead", "load_ict_head", "SCALP_VERTICES", "MOUTH_SOCKET_VERTICES",
           "EYE_SOCKET_VERTICES"]

#: (part name, the OBJ's material) of the parts facetex exports beside the face tile.
HEAD_PARTS: tuple[tuple[str, str], ...] = (
    ("head", "M_BackHead"),
    ("gums", "M_GumsTongue"),
    ("teeth", "M_Teeth"),
    ("eye_right", "M_ScleraRight"),
    ("eye_left", "M_ScleraLeft"),
)
#: ICT vertex ranges (end exclusive) of the ``head`` part's regions (the kit's README).
SCALP_VERTICES = (9409, 11248)
MOUTH_SOCKET_VERTICES = (11248, 13294)
EYE_SOCKET_VERTICES = (13294, 14062)


@dataclass(frozen=True)
class HeadPart:
    """One material group of the ICT head as a triangle mesh.

    Attributes
    ----------
    name : the part (:data:`HEAD_PARTS`); material : the OBJ's material name.
    ict_vertex : (V,) int64, the ICT vertex of each part vertex.
    uvs : (V, 2) float64 in [0, 1], the part's own texture square (v = 1 at the top).
    faces : (F, 3) int64, counter-clockwise seen from outside (the OBJ's winding).
    """

    name: str
    material: str
    ict_vertex: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray


@dataclass(frozen=True)
class IctHead:
    """The head parts and the whole-head shape model they are posed with.

    Attributes
    ----------
    face : the face tile (``M_Face``) split as :func:`facetex.geometry.ict.load_ict_face` splits
        it, so its vertices are the ICT morphable model's, in order (the border the head tile
        shares with it is read from here).
    parts : the parts of :data:`HEAD_PARTS`, in that order.
    neutral : (26719, 3) float32, cm; identity : (100, 26719, 3) float32; expression :
        (53, 26719, 3) float32, offsets from ``neutral`` (the kit's npz, model frame).
    """

    face: HeadPart
    parts: tuple[HeadPart, ...]
    neutral: np.ndarray
    identity: np.ndarray
    expression: np.ndarray

    def part(self, name: str) -> HeadPart:
        """The part called ``name``; KeyError if there is none."""
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(name)

    def vertices(self, shape_coeffs: np.ndarray, expression_coeffs: np.ndarray) -> np.ndarray:
        """(26719, 3) float64 model-frame cm: neutral + Σ identity · α + Σ expression · β, the
        same sum the face tile's vertices are (:func:`facetex.fitting.model.model_vertices`)."""
        alpha = np.asarray(shape_coeffs, dtype=np.float64)
        beta = np.asarray(expression_coeffs, dtype=np.float64)
        if alpha.shape != (self.identity.shape[0],) or beta.shape != (self.expression.shape[0],):
            raise ValueError(f"expected {self.identity.shape[0]} identity and {self.expression.shape[0]} "
                             f"expression coefficients, got {alpha.shape} and {beta.shape}")
        out = self.neutral.astype(np.float64)
        out += np.tensordot(alpha, self.identity, axes=1)
        out += np.tensordot(beta, self.expression, axes=1)
        return out


def load_ict_head(directory: str | Path | None = None) -> IctHead:
    """Read the head parts and the whole-head shape model (≈ 1.5 s, ≈ 50 MB).

    Raises
    ------
    IctModelError
        The folder or a file is missing, truncated or inconsistent (a part's material missing
        from the OBJ, or its texture coordinates outside its tile).
    """
    obj = read_ict_obj(directory)
    arrays = read_ict_arrays(directory)
    path = ict_file(None if directory is None else Path(directory), OBJ_NAME)
    ict_vertex, texcoord, faces, _ = split_seams(obj.polygon_vertices[:FACE_POLYGONS],
                                                 obj.polygon_texcoords[:FACE_POLYGONS])
    face = HeadPart(name="face", material=FACE_MATERIAL, ict_vertex=ict_vertex, uvs=obj.texcoords[texcoord],
                    faces=faces)
    parts = []
    for name, material in HEAD_PARTS:
        if material not in obj.materials:
            raise damaged_file_error(path, f"it has no material {material}")
        chosen = obj.polygon_material == obj.materials.index(material)
        ict_vertex, texcoord, faces, _ = split_seams(obj.polygon_vertices[chosen], obj.polygon_texcoords[chosen])
        uvs = obj.texcoords[texcoord]
        tile = np.floor(uvs[:, 0].min())
        uvs = uvs - [tile, 0.0]
        if uvs.min() < 0.0 or uvs.max() > 1.0:
            raise damaged_file_error(path, f"the texture coordinates of {material} leave their tile")
        parts.append(HeadPart(name=name, material=material, ict_vertex=ict_vertex, uvs=uvs, faces=faces))
    if arrays.neutral.shape[0] != obj.vertices.shape[0]:
        raise IctModelError(f"the ICT npz has {arrays.neutral.shape[0]} vertices, the OBJ {obj.vertices.shape[0]}")
    return IctHead(face=face, parts=tuple(parts), neutral=arrays.neutral, identity=arrays.identity, expression=arrays.expression)
