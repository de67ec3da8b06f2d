"""The ICT Face Model Light: its face region as a facetex mesh and morphable model.

The ICT Face Model Light (ICT-FaceKit, USC Institute for Creative Technologies, MIT licence;
Li et al., "Learning Formation of Physically-Based Face Attributes", CVPR 2020) is a full-head
shape model built from light-stage scans. facetex reads it from the shared data folder
(``$FACETEX_DATA/ict-facekit/``, see :mod:`facetex.paths`): it is never downloaded and never
copied into the package. The folder's ``README.md`` describes the files; the three read here are

``generic_neutral_mesh.obj``
    the topology: 26,719 vertices, 26,384 polygons (quads and triangles), 28,911 texture
    coordinates (with seams), 12 material groups. Polygons 0–9229 are the ``M_Face`` group:
    the face region (vertices 0–9408) and its own UV tile, which covers forehead, ears,
    cheeks, jaw and the front of the neck.
``ict_face_model_light.npz``
    ``neutral`` (26719, 3), ``identity`` (100, 26719, 3) and ``expression`` (53, 26719, 3) as
    offsets from ``neutral``, float32, cm; ``identity_names``, ``expression_names``.
``vertex_indices.json``
    the kit's vertex sets; here ``idx_to_landmark_verts`` (the 68 Multi-PIE landmark vertices)
    and ``idx_to_rigid_landmark_idx`` (the 9 of them the kit uses for rigid alignment).

A missing folder or a missing, truncated or inconsistent file raises one
:class:`IctModelError` (a :class:`facetex.errors.DatabaseError`, like a missing London set)
that names the file and where to get it.

Frame and units
    The kit's frame is facetex's model frame (:mod:`facetex.types`): centimetres, x towards the
    subject's left (image right in a frontal photo; the subject's right outer eye corner,
    landmark 36, is at x = −4.46), y up, z out of the face towards the viewer. Nothing is
    converted. Only the origin differs from mediapipe's canonical face: the kit's lies near the
    true centre of the head (the nose tip is at z = 13.07 cm, the back of the head at
    z = −9.23 cm), about 5.5 cm further back than mediapipe's (nose tip z = 7.59 cm). A fit's
    pose absorbs it; the similarity between the two frames is stored with the mediapipe
    correspondence (``data/ict_mediapipe_478.json``, ``scripts/ict_correspondence.py``).

Face mesh (:func:`load_ict_face`)
    The ``M_Face`` polygons, quads split into two triangles (corners 0-1-2 and 0-2-3, the
    order of the OBJ, so triangles are counter-clockwise seen from outside as the OBJ's
    polygons are). The OBJ has UV seams (a vertex may carry several texture coordinates): every
    distinct (vertex, texture coordinate) pair becomes one mesh vertex, ordered by ICT vertex id
    then texture-coordinate id, and :attr:`IctFace.ict_vertex` maps each back to its ICT vertex.
    UVs are the OBJ's (``u`` ∈ [0, 1] for the face tile, ``v`` = 1 at the top: the forehead is
    at v ≈ 1, the neck at v ≈ 0), which is facetex's convention unchanged.

Identity prior
    The kit ships each identity mode as a morph target, "coefficient 1 = identityNNN.obj", and
    its own sampler (``Scripts/ict_face_model.py``, ``randomize_identity``) draws the
    coefficients from a standard normal; the modes' magnitudes fall with their index (RMS
    displacement over the face 3.9 mm for mode 0, 1.7 mm for mode 2, 0.6 mm for mode 10,
    ≈ 0.1 mm for modes 80–99), as PCA modes scaled by the square roots of their eigenvalues do. So the basis is the kit's
    modes unchanged (cm per unit coefficient) and ``shape_std`` is 1 for every mode: a
    coefficient is in units of its prior standard deviation and equals the kit's identity
    weight, so a fitted identity can be loaded in ICT-FaceKit as it is.
Expression
    The 53 ARKit-named blendshapes, in the kit's order (:data:`EXPRESSION_NAMES`), as offsets
    (cm per unit weight). Their weights live in [0, 1] (0 neutral, 1 the full shape).
    ``expression_std`` is 1 for every shape, so under the quadratic prior of paper §3 a full
    blendshape costs as much as a 1σ identity change. The fitting switch should bound the
    weights to [0, 1] and add a sparse term (λ Σ w, w ≥ 0, as blendshape trackers do) rather
    than rely on that quadratic prior. No blendshape moves the eyeballs (the kit's rig turns
    them): the eye-look shapes (``eyeLook*``) move the lids and the skin around the eyes with
    the gaze (up to 7.7 mm for ``eyeLookDown``), so a gaze fit must drive both.
Albedo
    The Light model has no albedo model. :class:`facetex.types.MorphableModel` requires one,
    so :func:`ict_morphable_model` puts a PLACEHOLDER there: a flat mean skin tone over the
    whole UV square and three flat per-channel modes (σ = 0.12), i.e. a constant colour per
    channel and no spatial variation. The database learns the real albedo model in this UV
    tile in the next step of issue 18.

Licence: the ICT-FaceKit files are MIT (Copyright (c) 2020 USC Institute for Creative
Technologies). facetex does not redistribute them; the one file derived from them that ships
with facetex, ``data/ict_mediapipe_478.json``, carries the notice in
``data/ICT-FaceKit-LICENSE``.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facetex.errors import DatabaseError
from facetex.geometry.topology import validate_topology
from facetex.paths import data_dir, data_dir_candidates
from facetex.types import MeshTopology, MorphableModel

__all__ = [
    "ICT_SOURCE",
    "ICT_DIRNAME",
    "NUM_VERTICES",
    "NUM_POLYGONS",
    "FACE_VERTICES",
    "FACE_POLYGONS",
    "NUM_IDENTITY",
    "NUM_EXPRESSION",
    "EXPRESSION_NAMES",
    "IctModelError",
    "IctArrays",
    "IctObj",
    "IctFace",
    "ict_dir",
    "read_ict_arrays",
    "read_ict_obj",
    "read_ict_indices",
    "triangulate",
    "load_ict_face",
    "ict_morphable_model",
    "file_sha256",
]

ICT_SOURCE = (
    "ICT Face Model Light (ICT-FaceKit, USC Institute for Creative Technologies, MIT licence), "
    "https://github.com/ICT-VGL/ICT-FaceKit (FaceXModel/), converted with the convert.py beside it"
)
ICT_DIRNAME = "ict-facekit"
OBJ_NAME = "generic_neutral_mesh.obj"
NPZ_NAME = "ict_face_model_light.npz"
INDICES_NAME = "vertex_indices.json"

NUM_VERTICES = 26_719
NUM_POLYGONS = 26_384
NUM_TEXCOORDS = 28_911
#: Vertices 0 … FACE_VERTICES − 1 and polygons 0 … FACE_POLYGONS − 1 are the face region.
FACE_VERTICES = 9_409
FACE_POLYGONS = 9_230
FACE_MATERIAL = "M_Face"
NUM_IDENTITY = 100
NUM_EXPRESSION = 53
NUM_LANDMARKS = 68

#: The kit's 53 expression blendshapes, in its order (ARKit names, "_L"/"_R" the subject's side).
EXPRESSION_NAMES: tuple[str, ...] = (
    "browDown_L", "browDown_R", "browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R",
    "cheekPuff_L", "cheekPuff_R", "cheekSquint_L", "cheekSquint_R", "eyeBlink_L", "eyeBlink_R",
    "eyeLookDown_L", "eyeLookDown_R", "eyeLookIn_L", "eyeLookIn_R", "eyeLookOut_L", "eyeLookOut_R",
    "eyeLookUp_L", "eyeLookUp_R", "eyeSquint_L", "eyeSquint_R", "eyeWide_L", "eyeWide_R",
    "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose", "mouthDimple_L", "mouthDimple_R",
    "mouthFrown_L", "mouthFrown_R", "mouthFunnel", "mouthLeft", "mouthLowerDown_L", "mouthLowerDown_R",
    "mouthPress_L", "mouthPress_R", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthSmile_L", "mouthSmile_R", "mouthStretch_L",
    "mouthStretch_R", "mouthUpperUp_L", "mouthUpperUp_R", "noseSneer_L", "noseSneer_R",
)

# The placeholder albedo (see the module doc): a mean skin tone (sRGB, as the generic model's)
# and flat per-channel modes.
_PLACEHOLDER_SKIN = (0.72, 0.55, 0.46)
_PLACEHOLDER_STD = 0.12


class IctModelError(DatabaseError):
    """The ICT Face Model Light is missing from the data folder, or one of its files is
    missing, truncated or inconsistent."""


def _get_it() -> str:
    return (
        f"get the {ICT_SOURCE}: its generic_neutral_mesh.obj, vertex_indices.json and the npz "
        f"that convert.py makes from FaceXModel/ go into a folder {ICT_DIRNAME}/, and FACETEX_DATA "
        f"names the folder that contains {ICT_DIRNAME}/"
    )


def ict_dir() -> Path:
    """The ``ict-facekit`` folder in the shared data folder.

    Raises
    ------
    IctModelError
        If it is not there (the message says where facetex looked and how to get it).
    """
    path = data_dir() / ICT_DIRNAME
    if not path.is_dir():
        looked = ", ".join(str(p / ICT_DIRNAME) for p in data_dir_candidates())
        raise IctModelError(f"the ICT Face Model Light was not found (looked in {looked}); {_get_it()}")
    return path


def _file(directory: Path | None, name: str) -> Path:
    path = (ict_dir() if directory is None else Path(directory)) / name
    if not path.is_file():
        raise IctModelError(f"{path} is missing; {_get_it()}")
    return path


def _damaged(path: Path, why: str) -> IctModelError:
    return IctModelError(f"{path} is damaged ({why}); copy it again: {_get_it()}")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (provenance of files derived from the kit)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- the raw files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IctArrays:
    """The shape model of ``ict_face_model_light.npz``, whole head, checked.

    Attributes
    ----------
    neutral : (26719, 3) float32, cm, model frame.
    identity : (100, 26719, 3) float32, offsets from ``neutral`` (coefficient 1 = the morph target).
    expression : (53, 26719, 3) float32, offsets from ``neutral`` (weight 1 = the full shape).
    identity_names : ("identity000", …, "identity099").
    expression_names : :data:`EXPRESSION_NAMES`.
    """

    neutral: np.ndarray
    identity: np.ndarray
    expression: np.ndarray
    identity_names: tuple[str, ...]
    expression_names: tuple[str, ...]


def read_ict_arrays(directory: str | Path | None = None) -> IctArrays:
    """Read and check ``ict_face_model_light.npz`` (from :func:`ict_dir` unless ``directory``).

    Raises
    ------
    IctModelError
        The file is missing, not a readable npz (e.g. truncated), or its arrays lack a key or
        have the wrong shape, dtype, names, or non-finite values.
    """
    path = _file(None if directory is None else Path(directory), NPZ_NAME)
    expected = {
        "neutral": (NUM_VERTICES, 3),
        "identity": (NUM_IDENTITY, NUM_VERTICES, 3),
        "expression": (NUM_EXPRESSION, NUM_VERTICES, 3),
        "identity_names": (NUM_IDENTITY,),
        "expression_names": (NUM_EXPRESSION,),
    }
    try:
        # Open the file here: np.load(path) leaks its handle when the zip is unreadable.
        with open(path, "rb") as handle:
            archive = np.load(handle, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise _damaged(path, "not an npz archive")
            with archive:
                missing = sorted(set(expected) - set(archive.files))
                if missing:
                    raise _damaged(path, f"no array {', '.join(missing)}")
                arrays = {key: archive[key] for key in expected}
    except IctModelError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:  # truncated, not a zip
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from exc
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            raise _damaged(path, f"{key} has shape {arrays[key].shape}, expected {shape}")
    for key in ("neutral", "identity", "expression"):
        if arrays[key].dtype.kind != "f" or not np.isfinite(arrays[key]).all():
            raise _damaged(path, f"{key} is not finite floating point")
    identity_names = tuple(str(n) for n in arrays["identity_names"])
    expression_names = tuple(str(n) for n in arrays["expression_names"])
    if identity_names != tuple(f"identity{k:03d}" for k in range(NUM_IDENTITY)):
        raise _damaged(path, "identity_names are not identity000 … identity099")
    if expression_names != EXPRESSION_NAMES:
        raise _damaged(path, "expression_names are not the kit's 53 ARKit names in order")
    return IctArrays(
        neutral=arrays["neutral"],
        identity=arrays["identity"],
        expression=arrays["expression"],
        identity_names=identity_names,
        expression_names=expression_names,
    )


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
    path = _file(None if directory is None else Path(directory), OBJ_NAME)
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
                raise _damaged(path, f"polygon {i} has {len(polygon)} corners")
            for j, corner in enumerate(polygon):
                ids = corner.split("/")
                pv[i, j] = int(ids[0]) - 1
                pt[i, j] = int(ids[1]) - 1
    except IctModelError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, IndexError) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from exc
    if v.shape != (NUM_VERTICES, 3) or vt.shape != (NUM_TEXCOORDS, 2) or pv.shape[0] != NUM_POLYGONS:
        raise _damaged(
            path,
            f"{v.shape[0]} vertices, {vt.shape[0]} texture coordinates and {pv.shape[0]} polygons, "
            f"expected {NUM_VERTICES}, {NUM_TEXCOORDS} and {NUM_POLYGONS}",
        )
    used = pv >= 0
    if pv[used].max() >= NUM_VERTICES or pt[used].max() >= NUM_TEXCOORDS or (pt[used] < 0).any():
        raise _damaged(path, "a polygon index is out of range")
    material = np.asarray(material_of, dtype=np.int64)
    if (
        not materials
        or materials[0] != FACE_MATERIAL
        or not (material[:FACE_POLYGONS] == 0).all()
        or (material[FACE_POLYGONS:] == 0).any()
        or pv[:FACE_POLYGONS][used[:FACE_POLYGONS]].max() != FACE_VERTICES - 1
    ):
        raise _damaged(path, f"the face region is not polygons 0–{FACE_POLYGONS - 1} ({FACE_MATERIAL})")
    return IctObj(
        vertices=v,
        texcoords=vt,
        polygon_vertices=pv,
        polygon_texcoords=pt,
        polygon_material=material,
        materials=tuple(materials),
    )


def read_ict_indices(directory: str | Path | None = None) -> dict:
    """Read ``vertex_indices.json``: the kit's vertex sets (checked: 68 landmark vertices in the
    face region, 9 rigid landmark indices).

    Raises
    ------
    IctModelError
        The file is missing, not JSON, or lacks / mangles the landmark sets.
    """
    path = _file(None if directory is None else Path(directory), INDICES_NAME)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        landmarks = [int(i) for i in record["idx_to_landmark_verts"]]
        rigid = [int(i) for i in record["idx_to_rigid_landmark_idx"]]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from exc
    if len(landmarks) != NUM_LANDMARKS or not all(0 <= i < FACE_VERTICES for i in landmarks):
        raise _damaged(path, "idx_to_landmark_verts is not 68 vertices of the face region")
    if not all(0 <= i < NUM_LANDMARKS for i in rigid):
        raise _damaged(path, "idx_to_rigid_landmark_idx is not a set of landmark indices")
    return record


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


# -- the face region ------------------------------------------------------------------------


@dataclass(frozen=True)
class IctFace:
    """The ICT face region as a facetex mesh, with its bases and the maps back to the kit.

    Attributes
    ----------
    topology : the face mesh (9,547 seam-split vertices, 18,460 triangles), neutral
        shape, model frame, cm; UVs of the face tile; ``landmark_weights`` 1 on the kit's 9
        rigid landmark vertices (``idx_to_rigid_landmark_idx``: jaw ends, eye corners, nose),
        0 elsewhere.
    ict_vertex : (V,) int64, the ICT vertex id of each mesh vertex (several mesh vertices share
        one ICT vertex along UV seams; every ICT vertex 0–9408 appears).
    triangle_polygon : (F,) int64, the ICT polygon (0–9229) each triangle comes from.
    landmark_vertices : (68,) int64, mesh vertices of the kit's 68 Multi-PIE landmarks (the
        first copy of the ICT landmark vertex).
    identity : (100, V, 3) float64, identity modes (cm per unit coefficient, prior σ = 1).
    expression : (53, V, 3) float64, blendshapes (cm per unit weight, weights in [0, 1]).
    identity_names, expression_names : the kit's names, in order.
    source : provenance: the data folder and the SHA-256 of the three files read.
    """

    topology: MeshTopology
    ict_vertex: np.ndarray
    triangle_polygon: np.ndarray
    landmark_vertices: np.ndarray
    identity: np.ndarray
    expression: np.ndarray
    identity_names: tuple[str, ...]
    expression_names: tuple[str, ...]
    source: dict[str, str]

    def mesh_vertices_of(self, ict_ids: np.ndarray) -> np.ndarray:
        """The first mesh vertex (lowest id) of each ICT vertex id in ``ict_ids`` (0–9408)."""
        return _first_copy(self.ict_vertex, ict_ids)


def _first_copy(ict_vertex: np.ndarray, ict_ids: np.ndarray) -> np.ndarray:
    ids, first_index = np.unique(ict_vertex, return_index=True)  # first occurrence of each id
    first = np.full(FACE_VERTICES, -1, dtype=np.int64)
    first[ids] = first_index
    return first[np.asarray(ict_ids, dtype=np.int64)]


def load_ict_face(directory: str | Path | None = None) -> IctFace:
    """Load the face region of the ICT Face Model Light (see the module doc).

    Parameters
    ----------
    directory : the ``ict-facekit`` folder; default :func:`ict_dir` (``$FACETEX_DATA``).

    Returns
    -------
    IctFace : fresh float64 arrays (≈ 35 MB of bases); reads the OBJ and the npz (≈ 1 s).

    Raises
    ------
    IctModelError
        The folder or a file is missing, or a file is truncated or inconsistent (including the
        npz's ``neutral`` differing from the OBJ's vertices).
    """
    folder = ict_dir() if directory is None else Path(directory)
    obj = read_ict_obj(folder)
    arrays = read_ict_arrays(folder)
    indices = read_ict_indices(folder)
    if np.abs(arrays.neutral.astype(np.float64) - obj.vertices).max() > 1e-4:
        raise _damaged(folder / NPZ_NAME, f"its neutral shape is not the vertices of {OBJ_NAME}")

    poly_v = obj.polygon_vertices[:FACE_POLYGONS]
    poly_t = obj.polygon_texcoords[:FACE_POLYGONS]
    used = poly_v >= 0
    # One mesh vertex per distinct (ICT vertex, texture coordinate) corner, sorted by both ids.
    keys = poly_v * NUM_TEXCOORDS + poly_t
    unique_keys, inverse = np.unique(keys[used], return_inverse=True)
    ict_vertex = unique_keys // NUM_TEXCOORDS
    texcoord = unique_keys % NUM_TEXCOORDS
    corner_vertex = np.full(poly_v.shape, -1, dtype=np.int64)
    corner_vertex[used] = inverse
    faces, triangle_polygon = triangulate(corner_vertex)
    if np.unique(ict_vertex).shape[0] != FACE_VERTICES:
        raise _damaged(folder / OBJ_NAME, "the face polygons do not use every face vertex")

    uvs = obj.texcoords[texcoord]
    if uvs.min() < 0.0 or uvs.max() > 1.0:
        raise _damaged(folder / OBJ_NAME, "the face tile's texture coordinates leave [0, 1]")
    landmark_vertices = _first_copy(ict_vertex, np.asarray(indices["idx_to_landmark_verts"], dtype=np.int64))
    weights = np.zeros(ict_vertex.shape[0], dtype=np.float64)
    weights[landmark_vertices[np.asarray(indices["idx_to_rigid_landmark_idx"], dtype=np.int64)]] = 1.0
    face = IctFace(
        topology=MeshTopology(
            vertices=obj.vertices[ict_vertex].copy(),
            uvs=uvs.copy(),
            faces=faces,
            landmark_weights=weights,
        ),
        ict_vertex=ict_vertex,
        triangle_polygon=triangle_polygon,
        landmark_vertices=landmark_vertices,
        identity=arrays.identity[:, ict_vertex].astype(np.float64),
        expression=arrays.expression[:, ict_vertex].astype(np.float64),
        identity_names=arrays.identity_names,
        expression_names=arrays.expression_names,
        source={
            "model": ICT_SOURCE,
            "folder": str(folder),
            **{name: file_sha256(folder / name) for name in (OBJ_NAME, NPZ_NAME, INDICES_NAME)},
        },
    )
    validate_topology(face.topology)
    return face


def ict_morphable_model(face: IctFace | None = None, *, albedo_resolution: int = 64) -> MorphableModel:
    """The ICT face region as a :class:`facetex.types.MorphableModel` named ``"ict"``.

    Parameters
    ----------
    face : from :func:`load_ict_face` (loaded from ``$FACETEX_DATA`` when None).
    albedo_resolution : side r of the PLACEHOLDER albedo maps.

    Returns
    -------
    MorphableModel: the face mesh; 100 identity modes (the kit's, σ = 1); 53 expression
    blendshapes (σ = 1, weights meant to stay in [0, 1]); a placeholder albedo — flat mean skin
    tone, 3 flat per-channel modes, σ = 0.12 — because the kit has no albedo model (see the
    module doc; the database replaces it).
    """
    if albedo_resolution < 1:
        raise ValueError(f"albedo_resolution must be positive, got {albedo_resolution}")
    face = load_ict_face() if face is None else face
    r = albedo_resolution
    mean = np.broadcast_to(np.asarray(_PLACEHOLDER_SKIN, dtype=np.float32), (r, r, 3)).copy()
    basis = np.zeros((3, r, r, 3), dtype=np.float32)
    for c in range(3):
        basis[c, ..., c] = 1.0
    return MorphableModel(
        name="ict",
        topology=face.topology,
        shape_basis=face.identity,
        shape_std=np.ones(face.identity.shape[0], dtype=np.float64),
        expression_basis=face.expression,
        expression_std=np.ones(face.expression.shape[0], dtype=np.float64),
        albedo_mean=mean,
        albedo_basis=basis,
        albedo_std=np.full(3, _PLACEHOLDER_STD, dtype=np.float64),
    )
