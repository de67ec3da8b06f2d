"""Morphable face models: evaluation (any model) and the generic bootstrap model.

A :class:`facetex.types.MorphableModel` is linear (paper §3, after Blanz & Vetter 1999):

    shape  S(α_id, α_ex) = S̄ + Σ_k α_id,k B_id,k + Σ_k α_ex,k B_ex,k      (V, 3) cm, model frame
    albedo A(α_al)       = Ā  + Σ_k α_al,k B_al,k                          (r, r, 3) UV map

with each coefficient's prior standard deviation in ``*_std``. The fitting code only uses these
arrays, so the generic model below and the PCA models built from the face database are
interchangeable.

The generic model stands in for a scanned morphable model (none is installable,
``docs/design.md#dependencies-and-stand-ins``; the figures behind its choices are in
``docs/design.md#fitting``):

identity
    Smooth deformation fields of the canonical mediapipe mesh: polynomial displacement fields of
    degree 1 and 2 in the normalised model coordinates (face width, height, depth, shear,
    bending), then the lowest manifold harmonics of the mesh (eigenvectors of its graph
    Laplacian) along x, y and z for more local variation. Only their left-right symmetric parts
    are kept (faces are nearly symmetric; asymmetric fields such as shears trade against the
    head's yaw in the landmarks, which made the pose of synthetic renders ~1–4° off, 0.1° with
    symmetric modes), made orthogonal to the rigid motions (those belong to the pose), to
    uniform scaling, and to each other. Each direction has unit RMS vertex displacement (cm
    per unit coefficient); σ falls with spatial frequency.
    Uniform scaling is left out on purpose: a smaller face nearer the camera projects almost
    like a larger one farther away, and with it free the weak prior of paper §3 let fits of
    in-the-wild photos shrink the face and pull it to ~20 cm from the camera (4 of the first
    141 Helen photos then failed, their mesh seen edge-on). The generic face
    keeps the canonical mesh's size (~15 cm wide), so distance follows from apparent size.
expression
    Hand-made, smooth local modes, each a harmonic interpolation over the mesh of a displacement
    prescribed on a few landmark groups (jaw open, smile, mouth stretch, brow raise, left and
    right eye closing). Each has a maximum vertex displacement of 1 cm per unit coefficient.
albedo
    A 64² UV basis over the whole square: the mean is a constant skin tone; modes are a
    constant per colour channel, and per channel the left–right symmetric low-order Legendre
    products P1(t), P2(s), P2(t), P2(s)·P1(t) with s = 2u − 1, t = 2v − 1. Skin albedo is
    nearly symmetric; antisymmetric modes would only mimic side lighting.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import torch

from facetex.detect import landmarks as lm  # index groups of mediapipe's mesh
from facetex.errors import ShapeMismatchError
from facetex.geometry.topology import boundary_edges, vertex_adjacency
from facetex.types import FaceModel, MeshTopology, MorphableModel

__all__ = [
    "generic_model",
    "load_face_model",
    "model_vertices",
    "model_albedo",
    "validate_model",
    "EXPRESSION_NAMES",
]

# Names of the generic model's expression modes, in order.
EXPRESSION_NAMES = ("jaw_open", "smile", "mouth_stretch", "brow_raise", "close_right_eye", "close_left_eye")

# A mean skin tone (sRGB, [0, 1]) for the generic albedo; the fitted lighting absorbs the rest.
_MEAN_SKIN = (0.72, 0.55, 0.46)


def load_face_model(name: FaceModel) -> MorphableModel:
    """The morphable model a fit uses before any database: ``"ict"`` the ICT Face Model with
    its flat placeholder albedo (:func:`facetex.geometry.ict.ict_morphable_model`, read from the
    data folder), ``"mediapipe"`` the generic model on mediapipe's mesh (:func:`generic_model`).

    Raises
    ------
    DatabaseError
        (an ``IctModelError``) If the ICT kit is missing or damaged.
    ValueError
        For another name.
    """
    if name == "ict":
        from facetex.geometry.ict import ict_morphable_model

        return ict_morphable_model()
    if name == "mediapipe":
        from facetex.geometry.topology import load_face_mesh

        return generic_model(load_face_mesh())
    raise ValueError(f"unknown face model {name!r}: 'ict' or 'mediapipe'")


def generic_model(
    topology: MeshTopology,
    *,
    albedo_resolution: int = 64,
    harmonics: int = 12,
) -> MorphableModel:
    """Build the generic morphable model on ``topology`` (see the module doc).

    Parameters
    ----------
    topology : the canonical mediapipe face mesh (``facetex.geometry.topology.load_face_mesh``);
        its vertex indices must be mediapipe's (the expression modes use landmark groups).
    albedo_resolution : side r of the albedo UV maps.
    harmonics : number of manifold harmonics (each along x, y and z, then made symmetric) in
        the identity basis.

    Returns
    -------
    MorphableModel named ``"generic"``: 32 identity modes with the default ``harmonics``, 6
    expression modes
    (``EXPRESSION_NAMES``), 15 albedo modes.

    Raises
    ------
    ShapeMismatchError
        If the topology does not have mediapipe's 468 vertices.
    """
    vertices = np.asarray(topology.vertices, dtype=np.float64)
    if vertices.shape != (468, 3):
        raise ShapeMismatchError(
            f"the generic model needs mediapipe's 468-vertex mesh, got vertices of shape {vertices.shape}"
        )
    if albedo_resolution < 4:
        raise ValueError(f"albedo_resolution must be at least 4, got {albedo_resolution}")
    laplacian = _graph_laplacian(topology.faces, vertices.shape[0])
    shape_basis, shape_std = _identity_basis(vertices, laplacian, harmonics)
    expression_basis, expression_std = _expression_basis(vertices, topology.faces, laplacian)
    albedo_mean, albedo_basis, albedo_std = _albedo_basis(albedo_resolution)
    model = MorphableModel(
        name="generic",
        topology=topology,
        shape_basis=shape_basis,
        shape_std=shape_std,
        expression_basis=expression_basis,
        expression_std=expression_std,
        albedo_mean=albedo_mean,
        albedo_basis=albedo_basis,
        albedo_std=albedo_std,
    )
    validate_model(model)
    return model


def validate_model(model: MorphableModel) -> None:
    """Check that a model's arrays agree in shape.

    Raises
    ------
    ShapeMismatchError
        If a basis, a std vector or the albedo maps have inconsistent shapes.
    """
    v = model.topology.vertices.shape[0]
    for name, basis, std in (
        ("shape", model.shape_basis, model.shape_std),
        ("expression", model.expression_basis, model.expression_std),
    ):
        if basis.ndim != 3 or basis.shape[1:] != (v, 3):
            raise ShapeMismatchError(f"{name}_basis must have shape (K, {v}, 3), got {basis.shape}")
        if std.shape != (basis.shape[0],):
            raise ShapeMismatchError(f"{name}_std must have shape ({basis.shape[0]},), got {std.shape}")
        if not np.all(std > 0):
            raise ShapeMismatchError(f"{name}_std must be positive")
    mean = model.albedo_mean
    if mean.ndim != 3 or mean.shape[0] != mean.shape[1] or mean.shape[2] != 3:
        raise ShapeMismatchError(f"albedo_mean must have shape (r, r, 3), got {mean.shape}")
    if model.albedo_basis.ndim != 4 or model.albedo_basis.shape[1:] != mean.shape:
        raise ShapeMismatchError(
            f"albedo_basis must have shape (K, {mean.shape[0]}, {mean.shape[1]}, 3), got {model.albedo_basis.shape}"
        )
    if model.albedo_std.shape != (model.albedo_basis.shape[0],) or not np.all(model.albedo_std > 0):
        raise ShapeMismatchError("albedo_std must be positive with one entry per albedo mode")


def model_vertices(
    model: MorphableModel,
    shape_coeffs: torch.Tensor,
    expression_coeffs: torch.Tensor,
) -> torch.Tensor:
    """Evaluate the shape of a morphable model.

    Parameters
    ----------
    model : the morphable model.
    shape_coeffs : (K_id,) tensor, identity coefficients (units of the basis, prior std
        ``model.shape_std``).
    expression_coeffs : (K_ex,) tensor.

    Returns
    -------
    (V, 3) tensor of the coefficients' dtype: vertices in the model frame (cm). Differentiable
    in the coefficients (also under ``torch.func`` transforms).
    """
    dtype = shape_coeffs.dtype
    mean = torch.tensor(np.asarray(model.topology.vertices), dtype=dtype)
    b_id = torch.tensor(np.asarray(model.shape_basis), dtype=dtype)
    b_ex = torch.tensor(np.asarray(model.expression_basis), dtype=dtype)
    return (
        mean
        + torch.einsum("k,kvc->vc", shape_coeffs, b_id)
        + torch.einsum("k,kvc->vc", expression_coeffs, b_ex)
    )


def model_albedo(model: MorphableModel, albedo_coeffs: np.ndarray) -> np.ndarray:
    """Evaluate the albedo map I(α_al) of a morphable model.

    Parameters
    ----------
    model : the morphable model.
    albedo_coeffs : (K_al,) float array.

    Returns
    -------
    (r, r, 3) float32 UV map (facetex UV convention), clipped to [0, 1].
    """
    coeffs = np.asarray(albedo_coeffs, dtype=np.float64)
    if coeffs.shape != (model.albedo_basis.shape[0],):
        raise ShapeMismatchError(
            f"albedo_coeffs must have shape ({model.albedo_basis.shape[0]},), got {coeffs.shape}"
        )
    albedo = model.albedo_mean + np.tensordot(coeffs, model.albedo_basis, axes=1)
    return np.clip(albedo, 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# generic model construction


def _graph_laplacian(faces: np.ndarray, n: int) -> scipy.sparse.csr_matrix:
    """Uniform graph Laplacian D − A of the mesh, (n, n) sparse."""
    adjacency = vertex_adjacency(faces, n)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    return (scipy.sparse.diags(degree) - adjacency).tocsr()


def _similarity_fields(vertices: np.ndarray) -> np.ndarray:
    """(7, V, 3) infinitesimal similarity motions of the mesh: 3 translations, 3 rotations and
    the uniform scaling about the centroid."""
    centred = vertices - vertices.mean(axis=0)
    fields = [np.broadcast_to(axis, vertices.shape) for axis in np.eye(3)]
    fields += [np.cross(axis, centred) for axis in np.eye(3)]
    fields.append(centred)
    return np.stack(fields)


def _orthonormal_complement(candidates: np.ndarray, previous: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Orthonormal basis (unit RMS per vertex) of span(candidates) ⟂ span(previous).

    Both are (K, V, 3) fields. The basis is the candidates' Gram–Schmidt orthogonalisation in
    their given order (a candidate whose remainder is below ``tol`` of the largest candidate's
    norm adds nothing),
    each vector with a positive component along its candidate. Unlike an SVD, whose vectors
    within a repeated singular value (the symmetrised candidates have many) and whose signs are
    whatever the LAPACK kernel of the machine returns, this basis is the same on every CPU, so a
    coefficient vector means the same shape everywhere (tests/fitting/test_unwrap.py builds
    its synthetic face from random coefficients).
    """
    v = candidates.shape[1]
    c = candidates.reshape(candidates.shape[0], -1)  # (K, 3V)
    done = [row / np.linalg.norm(row) for row in previous.reshape(previous.shape[0], c.shape[1])]
    done = list(_gram_schmidt(np.asarray(done).reshape(-1, c.shape[1]), tol))
    start = len(done)
    floor = tol * max(float(np.linalg.norm(c, axis=1).max(initial=0.0)), 1e-300)
    for row in c:
        rest = row.copy()
        for _ in range(2):  # twice is enough (Giraud et al. 2005)
            for q in done:
                rest -= (q @ rest) * q
        if np.linalg.norm(rest) > floor:
            done.append(rest / np.linalg.norm(rest))
    basis = np.asarray(done[start:]).reshape(-1, 3 * v) * np.sqrt(v)  # unit RMS vertex displacement
    return basis.reshape(-1, v, 3)


def _gram_schmidt(rows: np.ndarray, tol: float) -> np.ndarray:
    """Orthonormal rows spanning ``rows`` (K, D), in order, dropping dependent ones."""
    out: list[np.ndarray] = []
    for row in rows:
        rest = row.copy()
        for _ in range(2):
            for q in out:
                rest -= (q @ rest) * q
        if np.linalg.norm(rest) > tol * max(np.linalg.norm(row), 1e-300):
            out.append(rest / np.linalg.norm(rest))
    return np.asarray(out).reshape(-1, rows.shape[1])


def _mirror_indices(vertices: np.ndarray) -> np.ndarray:
    """(V,) index of each vertex's mirror image across the x = 0 plane (the mesh is symmetric).

    Raises
    ------
    ShapeMismatchError
        If the mesh is not left-right symmetric (a mirror vertex is more than 1 mm away).
    """
    from scipy.spatial import cKDTree

    mirrored = vertices * np.array([-1.0, 1.0, 1.0])
    distance, index = cKDTree(vertices).query(mirrored)
    if distance.max() > 0.1:
        raise ShapeMismatchError("the generic model needs a left-right symmetric mean mesh")
    return index


def _symmetrize(fields: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """The left-right symmetric part of displacement fields (K, V, 3): ½ (d + M·d∘mirror)."""
    flip = np.array([-1.0, 1.0, 1.0])
    return 0.5 * (fields + fields[:, mirror] * flip)


def _identity_basis(
    vertices: np.ndarray, laplacian: scipy.sparse.csr_matrix, harmonics: int
) -> tuple[np.ndarray, np.ndarray]:
    centre = 0.5 * (vertices.min(axis=0) + vertices.max(axis=0))
    half = 0.5 * (vertices.max(axis=0) - vertices.min(axis=0))
    x, y, z = ((vertices - centre) / half).T
    linear = [x, y, z]
    quadratic = [x * x, y * y, z * z, x * y, y * z, x * z]
    mirror = _mirror_indices(vertices)

    def fields(scalars: list[np.ndarray]) -> np.ndarray:
        out = []
        for s in scalars:
            for axis in np.eye(3):
                out.append(s[:, None] * axis[None, :])
        return _symmetrize(np.stack(out), mirror)

    groups = [(fields(linear), 0.4), (fields(quadratic), 0.3)]
    if harmonics > 0:
        # Lowest non-constant eigenvectors of the graph Laplacian ("manifold harmonics").
        _, vecs = np.linalg.eigh(laplacian.toarray())
        # An eigenvector's sign is the LAPACK kernel's choice: fix it so the basis (and what a
        # coefficient vector means) is the same on every CPU.
        probe = np.random.default_rng(0).standard_normal(vecs.shape[0])
        vecs = vecs * np.where(probe @ vecs < 0.0, -1.0, 1.0)
        groups.append((fields([vecs[:, k] for k in range(1, harmonics + 1)]), 0.15))
    bases, stds = [], []
    previous = _similarity_fields(vertices)
    for candidates, sigma in groups:
        basis = _orthonormal_complement(candidates, previous)
        bases.append(basis)
        stds.append(np.full(basis.shape[0], sigma))
        previous = np.concatenate([previous, basis])
    return np.concatenate(bases), np.concatenate(stds)


def _harmonic(laplacian: scipy.sparse.csr_matrix, fixed: dict[int, np.ndarray]) -> np.ndarray:
    """Harmonic interpolation over the mesh of displacements prescribed at ``fixed`` vertices.

    Returns (V, 3): the prescribed values at the fixed vertices, and elsewhere the solution of
    L x = 0 (each free vertex at the mean of its neighbours).
    """
    n = laplacian.shape[0]
    idx = np.fromiter(fixed, dtype=np.int64)
    values = np.stack([np.asarray(fixed[i], dtype=np.float64) for i in idx])
    free = np.setdiff1d(np.arange(n), idx)
    lap = laplacian.tocsr()
    solve = scipy.sparse.linalg.factorized(lap[free][:, free].tocsc())
    rhs = -(lap[free][:, idx] @ values)
    out = np.zeros((n, 3))
    out[idx] = values
    for c in range(3):
        out[free, c] = solve(rhs[:, c])
    return out


def _split_contour(contour: tuple[int, ...], vertices: np.ndarray) -> tuple[list[int], list[int], list[int]]:
    """Split a closed contour at its leftmost and rightmost vertices (model x).

    Returns
    -------
    upper, lower : the vertices strictly between the two ends, above and below (model y up).
    ends : the two end vertices (eye or mouth corners).
    """
    ring = list(contour)
    i0, i1 = int(np.argmin(vertices[ring, 0])), int(np.argmax(vertices[ring, 0]))
    a, b = sorted((i0, i1))
    one, other = ring[a + 1 : b], ring[b + 1 :] + ring[:a]
    if vertices[one, 1].mean() < vertices[other, 1].mean():
        one, other = other, one
    return one, other, [ring[i0], ring[i1]]


def _expression_basis(
    vertices: np.ndarray, faces: np.ndarray, laplacian: scipy.sparse.csr_matrix
) -> tuple[np.ndarray, np.ndarray]:
    zero = np.zeros(3)
    boundary = [int(i) for i in np.unique(boundary_edges(faces))]
    outer_up, outer_down, mouth_ends = _split_contour(lm.LIPS_OUTER, vertices)
    inner_up, inner_down, inner_ends = _split_contour(lm.LIPS_INNER, vertices)
    corners = mouth_ends + inner_ends
    upper_lip, lower_lip = outer_up + inner_up + corners, outer_down + inner_down
    right_up, right_down, right_ends = _split_contour(lm.RIGHT_EYE, vertices)
    left_up, left_down, left_ends = _split_contour(lm.LEFT_EYE, vertices)
    right_down, left_down = right_down + right_ends, left_down + left_ends
    eyes = right_up + right_down + left_up + left_down
    brows = list(lm.RIGHT_EYEBROW + lm.LEFT_EYEBROW)
    nose = [lm.NOSE_TIP, *lm.RIGHT_NOSTRIL, *lm.LEFT_NOSTRIL]
    still = {i: zero for i in boundary + nose}

    # jaw open: the lower jaw turns about a horizontal axis at the level of the ears (the
    # widest boundary vertices), at the back of the mesh.
    corner_y = vertices[mouth_ends, 1].mean()
    weight_fixed = dict(still)
    weight_fixed.update({i: zero for i in eyes + brows + upper_lip})
    weight_fixed.update({i: np.ones(3) for i in boundary if vertices[i, 1] < corner_y})
    weight_fixed.update({i: np.ones(3) for i in lower_lip})
    weight = _harmonic(laplacian, weight_fixed)[:, 0]
    ear = boundary[int(np.argmax(np.abs(vertices[boundary, 0])))]
    pivot = np.array([0.0, vertices[ear, 1], vertices[:, 2].min()])
    jaw = weight[:, None] * np.cross(np.array([1.0, 0.0, 0.0]), vertices - pivot)

    mouth_still = still | {i: zero for i in eyes}
    side = np.sign(vertices[:, 0])
    smile = _harmonic(laplacian, mouth_still | {i: np.array([0.5 * side[i], 0.5, -0.25]) for i in corners})
    stretch = _harmonic(laplacian, mouth_still | {i: np.array([side[i], 0.0, 0.0]) for i in corners})
    brow = _harmonic(laplacian, mouth_still | {i: np.array([0.0, 1.0, 0.0]) for i in brows})

    def close_eye(upper: list[int], lower: list[int]) -> np.ndarray:
        """The upper lid comes down onto the lower one."""
        fixed = still | {i: zero for i in lower + brows}
        order = np.argsort(vertices[lower, 0])
        lower_x, lower_y = vertices[lower, 0][order], vertices[lower, 1][order]
        for i in upper:
            fixed[i] = np.array([0.0, np.interp(vertices[i, 0], lower_x, lower_y) - vertices[i, 1], 0.0])
        return _harmonic(laplacian, fixed)

    modes = np.stack([jaw, smile, stretch, brow, close_eye(right_up, right_down), close_eye(left_up, left_down)])
    modes /= np.linalg.norm(modes, axis=2).max(axis=1)[:, None, None]  # 1 cm peak per unit
    std = np.array([0.8, 0.4, 0.3, 0.3, 0.6, 0.6])
    return modes, std


def _albedo_basis(r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    centres = (np.arange(r) + 0.5) / r
    u = centres[None, :].repeat(r, axis=0)  # column j → u
    v = 1.0 - centres[:, None].repeat(r, axis=1)  # row i → v (v = 1 at the top row)
    s, t = 2.0 * u - 1.0, 2.0 * v - 1.0
    p2 = lambda a: 0.5 * (3.0 * a * a - 1.0)  # noqa: E731 - Legendre P2
    spatial = [t, p2(s), p2(t), p2(s) * t]
    spatial = [m / np.sqrt(np.mean(m * m)) for m in spatial]
    mean = np.broadcast_to(np.asarray(_MEAN_SKIN), (r, r, 3)).copy()
    modes, std = [], []
    for c in range(3):
        m = np.zeros((r, r, 3))
        m[..., c] = 1.0
        modes.append(m)
        std.append(0.12)
    for field in spatial:
        for c in range(3):
            m = np.zeros((r, r, 3))
            m[..., c] = field
            modes.append(m)
            std.append(0.04)
    return mean.astype(np.float32), np.stack(modes).astype(np.float32), np.asarray(std)
