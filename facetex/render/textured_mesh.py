"""The textured mesh that facetex exports and renders, and its frames.

Export frame
    The facetex model frame (see :mod:`facetex.types`) converted to metres: x to image right
    (the subject's left), **y up**, **z out of the face towards the viewer**, origin near the
    head centre (the canonical mesh's origin). This is exactly glTF's frame (right-handed,
    +Y up, +Z the front of the asset, metres), so a viewer opening ``face.glb`` sees the face
    upright and frontal. The OBJ uses the same frame and unit (OBJ itself has none).
    A :class:`~facetex.types.FaceFit` holds camera-frame vertices; :func:`model_frame_vertices`
    undoes its pose first.
Texture coordinates
    facetex UVs have v = 1 at the top row of the texture as stored (types.py). OBJ ``vt`` uses
    the same convention, so it is written unchanged. glTF's ``TEXCOORD_0`` has t = 0 at the
    top row; the flip t = 1 − v is :func:`uv_to_gltf` (:func:`facetex.render.gltf_writer.glb_bytes`
    applies it; the tests read the GLB's raw accessor to check it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from facetex.errors import InputImageError, ShapeMismatchError
from facetex.types import FaceFit, MorphableModel

__all__ = [
    "CM_PER_METRE",
    "MeshPart",
    "MorphTargets",
    "TexturedMesh",
    "expression_targets",
    "make_mesh_part",
    "make_morph_targets",
    "make_textured_mesh",
    "model_frame_vertices",
    "model_to_export_frame",
    "uv_to_gltf",
    "with_expression",
]

CM_PER_METRE = 100.0


@dataclass(frozen=True)
class MorphTargets:
    """Named blendshapes of a mesh and the weights it is shown with (e.g. the ICT model's 53
    ARKit-named expressions and a fit's expression coefficients).

    Attributes
    ----------
    names : K distinct names, in the order of ``offsets``.
    offsets : (K, V, 3) float32, model frame, centimetres: vertex displacement at weight 1.
    weights : (K,) float64, the weights the mesh's ``vertices`` already include (the shape it
        shows is the neutral ``vertices − Σ_k weights_k · offsets_k`` plus those).
    """

    names: tuple[str, ...]
    offsets: np.ndarray
    weights: np.ndarray


def make_morph_targets(names, offsets: np.ndarray, weights: np.ndarray, num_vertices: int) -> MorphTargets:
    """Validate and bundle :class:`MorphTargets` for a mesh of ``num_vertices`` vertices.

    Raises
    ------
    ShapeMismatchError
        If the names, offsets and weights disagree in count or shape, a name repeats or is
        empty, or a value is not finite.
    """
    names = tuple(str(n) for n in names)
    d = np.asarray(offsets, dtype=np.float32)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if d.shape != (len(names), num_vertices, 3):
        raise ShapeMismatchError(f"morph offsets must have shape ({len(names)}, {num_vertices}, 3), got {d.shape}")
    if w.shape != (len(names),):
        raise ShapeMismatchError(f"morph weights must have {len(names)} entries, got {w.shape[0]}")
    if len(set(names)) != len(names) or not all(names):
        raise ShapeMismatchError("morph target names must be distinct and non-empty")
    if not (np.all(np.isfinite(d)) and np.all(np.isfinite(w))):
        raise ShapeMismatchError("morph offsets and weights must be finite")
    return MorphTargets(names=names, offsets=d, weights=w)


@dataclass(frozen=True)
class MeshPart:
    """Another part of the exported model beside the textured face (e.g. the ICT head's scalp,
    teeth or an eyeball): its own mesh and material, posed as the face is.

    Attributes
    ----------
    name : the part's name (its material's and, with a texture, its PNG's stem).
    vertices : (V, 3) float64, model frame, cm, as shown (the fitted shape).
    faces : (F, 3) int64, counter-clockwise seen from outside.
    uvs : (V, 2) float64 in [0, 1], the part's own texture square (v = 1 at the top).
    colour : (3,) float in [0, 1], sRGB base colour; multiplies ``albedo`` when there is one.
    albedo : (R, R, 3) float32 in [0, 1] sRGB, or None (a flat colour).
    normal_map : (R, R, 3) float32 tangent-space normals as the face's, or None.
    chart : (R, R) bool, the texels the textures hold (the rest is padded on export), or None.
    roughness : the glTF roughness factor of the part's material.
    morph_offsets : (K, V, 3) float32 cm, the part's offsets of the face's morph targets (same
        names and weights), or None when the face has none.
    skin : the part is skin, rendered with subsurface scattering as the face is
        (:mod:`facetex.render.subsurface`).
    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)
    albedo: np.ndarray | None = None
    normal_map: np.ndarray | None = None
    chart: np.ndarray | None = None
    roughness: float = 0.6
    morph_offsets: np.ndarray | None = None
    skin: bool = False


@dataclass(frozen=True)
class TexturedMesh:
    """A triangle mesh with per-vertex UVs and its textures, ready to export or render.

    Build it with :func:`make_textured_mesh`, which validates the arrays.

    Attributes
    ----------
    vertices : (V, 3) float64, facetex **model frame**, centimetres (x image right, y up,
        z towards the viewer).
    faces : (F, 3) int64, counter-clockwise seen from outside (from +z for a frontal face).
    uvs : (V, 2) float64 in [0, 1], facetex convention (v = 1 at the top row).
    albedo : (R, R, 3) float32 in [0, 1], sRGB-encoded diffuse albedo in UV.
    normal_map : (R, R, 3) float32 in [0, 1] or None; tangent-space normals encoded as
        (n + 1) / 2, OpenGL convention (red +u, green +v i.e. up in the stored image, blue out of
        the surface), as made by :func:`facetex.render.maps.detail_maps`.
    bump : (R, R) float32 in [0, 1] or None; height map, 0.5 = the surface (maps.py's encoding).
    bump_range_mm : millimetres of relief that the bump map's [0, 1] spans.
    chart : (R, R) bool or None; texels that hold the textures' values (the rest is the 0.5
        fill and is replaced by edge padding on export). None: the texels whose centre lies
        inside the mesh's UV triangles (:func:`facetex.geometry.uv.chart_mask`), the chart of
        every texture facetex makes.
    morphs : the mesh's blendshapes and the weights ``vertices`` include, or None. The GLB
        writes them as morph targets over the neutral shape (:mod:`facetex.render.gltf_writer`).
    parts : more meshes with their own materials, exported with the face (the rest of a head).
    """

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    albedo: np.ndarray
    normal_map: np.ndarray | None = None
    bump: np.ndarray | None = None
    bump_range_mm: float = 0.5
    chart: np.ndarray | None = None
    morphs: MorphTargets | None = None
    parts: tuple[MeshPart, ...] = ()


def _check_texture(name: str, image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputImageError(f"{name} must be an (H, W, 3) RGB image, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or arr.min() < 0.0 or arr.max() > 1.0:
        raise InputImageError(f"{name} must hold finite values in [0, 1]")
    return arr


def make_textured_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    uvs: np.ndarray,
    albedo: np.ndarray,
    normal_map: np.ndarray | None = None,
    *,
    bump: np.ndarray | None = None,
    bump_range_mm: float = 0.5,
    chart: np.ndarray | None = None,
    morphs: MorphTargets | None = None,
    parts: tuple[MeshPart, ...] = (),
) -> TexturedMesh:
    """Validate arrays and bundle them into a :class:`TexturedMesh` (see it for shapes/frames).

    Raises
    ------
    ShapeMismatchError
        If the arrays' shapes disagree, a face indexes a missing vertex, or UVs leave [0, 1].
    InputImageError
        If a texture is not an RGB image with values in [0, 1].
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    uv = np.asarray(uvs, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] < 3:
        raise ShapeMismatchError(f"vertices must have shape (V, 3) with V >= 3, got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ShapeMismatchError("vertices must be finite")
    if f.ndim != 2 or f.shape[1] != 3 or f.shape[0] < 1 or not np.issubdtype(f.dtype, np.integer):
        raise ShapeMismatchError(f"faces must be an integer array of shape (F, 3), got {f.dtype} {f.shape}")
    if f.min() < 0 or f.max() >= v.shape[0]:
        raise ShapeMismatchError(f"faces index vertices outside [0, {v.shape[0]})")
    if uv.shape != (v.shape[0], 2):
        raise ShapeMismatchError(f"uvs must have shape ({v.shape[0]}, 2) to match vertices, got {uv.shape}")
    if not np.all(np.isfinite(uv)) or uv.min() < 0.0 or uv.max() > 1.0:
        raise ShapeMismatchError("uvs must lie in [0, 1]")
    alb = _check_texture("albedo", albedo)
    nrm = None
    if normal_map is not None:
        nrm = _check_texture("normal_map", normal_map)
        if nrm.shape != alb.shape:
            raise ShapeMismatchError(f"normal_map shape {nrm.shape} differs from albedo shape {alb.shape}")
    hgt = None
    if bump is not None:
        hgt = _check_texture("bump", np.repeat(np.asarray(bump, dtype=np.float32)[..., None], 3, axis=2))[..., 0]
        if hgt.shape != alb.shape[:2]:
            raise ShapeMismatchError(f"bump shape {hgt.shape} differs from the albedo's {alb.shape[:2]}")
    if not (np.isfinite(bump_range_mm) and bump_range_mm > 0):
        raise ValueError(f"bump_range_mm must be > 0, got {bump_range_mm}")
    mask = None
    if chart is not None:
        mask = np.asarray(chart, dtype=bool)
        if mask.shape != alb.shape[:2]:
            raise ShapeMismatchError(f"chart shape {mask.shape} differs from the albedo's {alb.shape[:2]}")
    if morphs is not None and morphs.offsets.shape[1] != v.shape[0]:
        raise ShapeMismatchError(f"morph targets move {morphs.offsets.shape[1]} vertices, the mesh has {v.shape[0]}")
    targets = 0 if morphs is None else len(morphs.names)
    for part in parts:
        if (0 if part.morph_offsets is None else part.morph_offsets.shape[0]) != targets:
            raise ShapeMismatchError(f"part {part.name} must carry the mesh's {targets} morph targets")
    names = [part.name for part in parts]
    if len(set(names)) != len(names):
        raise ShapeMismatchError(f"part names must be distinct, got {names}")
    return TexturedMesh(
        vertices=v, faces=f.astype(np.int64), uvs=uv, albedo=alb, normal_map=nrm,
        bump=hgt, bump_range_mm=float(bump_range_mm), chart=mask, morphs=morphs, parts=tuple(parts),
    )


def make_mesh_part(
    name: str,
    vertices: np.ndarray,
    faces: np.ndarray,
    uvs: np.ndarray,
    *,
    colour=(1.0, 1.0, 1.0),
    albedo: np.ndarray | None = None,
    normal_map: np.ndarray | None = None,
    chart: np.ndarray | None = None,
    roughness: float = 0.6,
    morph_offsets: np.ndarray | None = None,
    skin: bool = False,
) -> MeshPart:
    """Validate arrays and bundle them into a :class:`MeshPart` (see it for shapes and frames).

    Raises
    ------
    ShapeMismatchError, InputImageError
        As :func:`make_textured_mesh` raises them, and for a colour or roughness outside [0, 1].
    """
    base = make_textured_mesh(vertices, faces, uvs, albedo if albedo is not None else np.zeros((1, 1, 3)),
                              normal_map, chart=chart)
    rgb = tuple(float(c) for c in colour)
    if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb) or not 0.0 <= roughness <= 1.0:
        raise ShapeMismatchError(f"part {name}: colour {colour} and roughness {roughness} must lie in [0, 1]")
    offsets = None
    if morph_offsets is not None:
        offsets = np.asarray(morph_offsets, dtype=np.float32)
        if offsets.ndim != 3 or offsets.shape[1:] != base.vertices.shape or not np.all(np.isfinite(offsets)):
            raise ShapeMismatchError(f"part {name}: morph offsets must be finite, shape (K, {len(base.vertices)}, 3)")
    return MeshPart(
        name=str(name), vertices=base.vertices, faces=base.faces, uvs=base.uvs, colour=rgb,
        albedo=None if albedo is None else base.albedo, normal_map=base.normal_map, chart=base.chart,
        roughness=float(roughness), morph_offsets=offsets, skin=bool(skin),
    )


def model_frame_vertices(fit: FaceFit) -> np.ndarray:
    """The fitted vertices with the pose removed: X_model = Rᵀ (X_cam − t).

    Parameters
    ----------
    fit : a :class:`~facetex.types.FaceFit`; its ``vertices`` are (V, 3) camera-frame cm.

    Returns
    -------
    (V, 3) float64, model frame, cm (the fitted identity and expression, facing +z, y up).
    """
    rot = np.asarray(fit.rotation, dtype=np.float64)
    t = np.asarray(fit.translation, dtype=np.float64)
    return (np.asarray(fit.vertices, dtype=np.float64) - t) @ rot


def model_to_export_frame(vertices: np.ndarray) -> np.ndarray:
    """Model-frame centimetres (V, 3) → export frame metres (V, 3): the same axes, ÷ 100."""
    return np.asarray(vertices, dtype=np.float64) / CM_PER_METRE


def uv_to_gltf(uvs: np.ndarray) -> np.ndarray:
    """facetex UVs (v = 1 at the top row) → glTF TEXCOORD_0 (t = 0 at the top row): (u, 1 − v)."""
    uv = np.array(uvs, dtype=np.float64, copy=True)
    uv[..., 1] = 1.0 - uv[..., 1]
    return uv


def expression_targets(model: MorphableModel, fit: FaceFit) -> MorphTargets | None:
    """The model's named expression blendshapes as morph targets of the fitted mesh, weighted by
    the fit's expression coefficients (the ICT model: 53 ARKit names, weights in [0, 1]); None
    for a model whose expressions have no names (a PCA expression space is no rig)."""
    if model.expression_names is None:
        return None
    return make_morph_targets(
        model.expression_names, model.expression_basis, fit.expression_coeffs, model.topology.vertices.shape[0]
    )


def with_expression(mesh: TexturedMesh, weights: dict[str, float]) -> TexturedMesh:
    """``mesh`` (and its parts) showing other morph-target weights, as a glTF viewer shows them
    when the rig is driven: every target not named in ``weights`` goes to 0 (neutral), the named
    ones to their weight. The returned mesh's ``morphs.weights`` record the new weights.

    Raises
    ------
    ShapeMismatchError
        If ``mesh`` has no morph targets or ``weights`` names a target it does not have.
    """
    morphs = mesh.morphs
    if morphs is None:
        raise ShapeMismatchError("the mesh has no morph targets to drive")
    unknown = sorted(set(weights) - set(morphs.names))
    if unknown:
        raise ShapeMismatchError(f"no morph target named {unknown[0]!r}")
    new = np.array([float(weights.get(name, 0.0)) for name in morphs.names])
    delta = new - morphs.weights

    def moved(vertices: np.ndarray, offsets: np.ndarray | None) -> np.ndarray:
        if offsets is None:
            return vertices
        return vertices + np.tensordot(delta, offsets.astype(np.float64), axes=1)

    parts = tuple(dataclasses.replace(part, vertices=moved(part.vertices, part.morph_offsets)) for part in mesh.parts)
    return dataclasses.replace(
        mesh, vertices=moved(mesh.vertices, morphs.offsets),
        morphs=dataclasses.replace(morphs, weights=new), parts=parts,
    )
