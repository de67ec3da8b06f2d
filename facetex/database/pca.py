"""PCA morphable models learned from the database (they replace BFM and FaceWarehouse, which
cannot be had here; paper §3 uses 80 identity, 80 albedo and 29 expression components).

Coefficients follow :class:`facetex.types.MorphableModel`: basis rows are orthonormal
directions, a coefficient is the projection on its direction (in data units, e.g. cm), and
``std`` is its prior standard deviation, so E_reg = Σ (α_k / σ_k)².
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facetex.errors import ShapeMismatchError
from facetex.types import MeshTopology, MorphableModel

__all__ = [
    "PCAModel",
    "fit_pca",
    "project",
    "reconstruct",
    "leave_one_out_error",
    "downsample_textures",
    "align_rigid",
    "albedo_pca",
    "build_morphable_model",
]


#: Components with σ_k < this × σ_0 carry no variance (rounding only) and are dropped.
_RANK_TOLERANCE = 1e-6


@dataclass(frozen=True)
class PCAModel:
    """A linear model x ≈ mean + Σ_k α_k · basis_k.

    Attributes
    ----------
    mean : (D,) float64 (zeros for an uncentred model).
    basis : (K, D) float64, orthonormal rows, by decreasing variance.
    std : (K,) float64, standard deviation of the training data along each row.
    num_samples : N, number of training samples.
    """

    mean: np.ndarray
    basis: np.ndarray
    std: np.ndarray
    num_samples: int

    @property
    def num_components(self) -> int:
        return int(self.basis.shape[0])


def fit_pca(data: np.ndarray, num_components: int, *, center: bool = True) -> PCAModel:
    """PCA by thin SVD.

    Parameters
    ----------
    data : (N, D) samples, N ≥ 1.
    num_components : at most this many components are kept; fewer when the data has fewer
        (≤ N − 1 when centred, ≤ N otherwise; components whose standard deviation is below
        1e-6 of the first are numerically zero and dropped: meshes fitted with a model of K
        modes span at most K directions, e.g. London identity: 44 of 80).
    center : subtract the mean first (std_k = s_k / √(N − 1)); if False the model is
        uncentred, its mean is zero and std_k = s_k / √N (the right form for differences such
        as expression offsets, whose zero is meaningful).

    Returns
    -------
    PCAModel
    """
    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ShapeMismatchError(f"PCA needs an (N, D) array with N ≥ 1, got shape {x.shape}")
    if num_components < 0:
        raise ValueError(f"num_components must be ≥ 0, got {num_components}")
    n = x.shape[0]
    mean = x.mean(axis=0) if center else np.zeros(x.shape[1])
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    dof = max(n - 1, 1) if center else n
    std = s / np.sqrt(dof)
    rank = int(np.sum(s > s[0] * _RANK_TOLERANCE)) if s.size and s[0] > 0 else 0
    keep = min(int(num_components), rank, n - 1 if center else n)
    return PCAModel(mean=mean, basis=vt[:keep].copy(), std=std[:keep].copy(), num_samples=n)


def project(model: PCAModel, data: np.ndarray, num_components: int | None = None) -> np.ndarray:
    """Coefficients (N, K) of samples (N, D) on the first ``num_components`` rows."""
    k = model.num_components if num_components is None else int(num_components)
    return (np.asarray(data, dtype=np.float64) - model.mean) @ model.basis[:k].T


def reconstruct(model: PCAModel, coeffs: np.ndarray) -> np.ndarray:
    """Samples (N, D) from coefficients (N, K) on the first K rows."""
    coeffs = np.asarray(coeffs, dtype=np.float64)
    k = coeffs.shape[-1]
    return model.mean + coeffs @ model.basis[:k]


def leave_one_out_error(
    data: np.ndarray,
    components: Sequence[int],
    *,
    groups: Sequence[str] | None = None,
    center: bool = True,
) -> np.ndarray:
    """Held-out reconstruction error against the number of components.

    For each group (a person: both photos of a person are held out together), a PCA is fitted
    on the other samples and the held-out samples are projected and reconstructed with the
    first K components for every K in ``components``.

    Parameters
    ----------
    data : (N, D) samples.
    components : the K values to evaluate (K is capped at what the training set supports).
    groups : (N,) group label of each sample; None means each sample is its own group.
    center : as in :func:`fit_pca`.

    Returns
    -------
    (len(components),) float64, root-mean-square error per element over all held-out samples
    (same units as ``data``).
    """
    x = np.asarray(data, dtype=np.float64)
    labels = np.asarray(list(groups) if groups is not None else np.arange(x.shape[0]).astype(str))
    if labels.shape[0] != x.shape[0]:
        raise ShapeMismatchError(f"{labels.shape[0]} group labels for {x.shape[0]} samples")
    unique = np.unique(labels)
    if unique.size < 2:
        raise ValueError("leave-one-out needs at least two groups")
    ks = [int(k) for k in components]
    sq = np.zeros(len(ks))
    count = 0
    for label in unique:
        held = labels == label
        model = fit_pca(x[~held], max(ks), center=center)
        coeffs = project(model, x[held])
        for i, k in enumerate(ks):
            k = min(k, model.num_components)
            residual = x[held] - reconstruct(model, coeffs[:, :k])
            sq[i] += float(np.sum(residual**2))
        count += int(held.sum()) * x.shape[1]
    return np.sqrt(sq / count)


def downsample_textures(textures: np.ndarray, resolution: int) -> np.ndarray:
    """Area-average (N, R, R, 3) UV textures to (N, r, r, 3) float32 (r ≤ R)."""
    import cv2

    textures = np.asarray(textures, dtype=np.float32)
    if textures.ndim != 4 or textures.shape[3] != 3 or textures.shape[1] != textures.shape[2]:
        raise ShapeMismatchError(f"expected (N, R, R, 3) textures, got {textures.shape}")
    if textures.shape[1] == resolution:
        return textures.copy()
    return np.stack(
        [cv2.resize(t, (resolution, resolution), interpolation=cv2.INTER_AREA) for t in textures]
    ).astype(np.float32)


def align_rigid(vertices: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Rigidly align meshes to a target (weighted Kabsch, no scale): pose is not identity.

    Parameters
    ----------
    vertices : (N, V, 3) or (V, 3) meshes.
    target : (V, 3).
    weights : (V,) ≥ 0, or None for uniform.

    Returns
    -------
    Same shape as ``vertices``, float64: each mesh rotated and translated onto ``target``.
    """
    v = np.asarray(vertices, dtype=np.float64)
    single = v.ndim == 2
    v = v[None] if single else v
    t = np.asarray(target, dtype=np.float64)
    if v.shape[1:] != t.shape:
        raise ShapeMismatchError(f"meshes of shape {v.shape[1:]} cannot align to {t.shape}")
    w = np.ones(t.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    t_center = w @ t
    out = np.empty_like(v)
    for i, mesh in enumerate(v):
        m_center = w @ mesh
        h = (mesh - m_center).T @ ((t - t_center) * w[:, None])
        u, _, vt = np.linalg.svd(h)
        d = np.sign(np.linalg.det(vt.T @ u.T))
        rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
        out[i] = (mesh - m_center) @ rot.T + t_center
    return out[0] if single else out


def albedo_pca(textures: np.ndarray, components: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The albedo model of a morphable model from textures (N, r, r, 3) in [0, 1]: mean
    (r, r, 3) float32, basis (K, r, r, 3) float32 and std (K,) float64, K ≤ ``components``
    (:func:`fit_pca`)."""
    r = textures.shape[1]
    albedo = fit_pca(textures.reshape(textures.shape[0], -1), components)
    return (albedo.mean.reshape(r, r, 3).astype(np.float32), albedo.basis.reshape(-1, r, r, 3).astype(np.float32),
            albedo.std)


def build_morphable_model(
    name: str,
    topology: MeshTopology,
    *,
    textures: np.ndarray,
    neutral_vertices: np.ndarray,
    expression_offsets: np.ndarray,
    albedo_resolution: int,
    albedo_components: int,
    shape_components: int,
    expression_components: int,
) -> MorphableModel:
    """The database's morphable model (identity, expression and albedo PCA).

    Parameters
    ----------
    name : model label.
    topology : mesh template (its UVs, faces, landmark weights are kept; its vertices are
        replaced by the mean neutral shape).
    textures : (N, R, R, 3) float32 complete UV albedo maps in [0, 1], 0.5 off the chart.
    neutral_vertices : (P, V, 3) model-frame meshes (cm), one neutral fit per person, already
        rigidly aligned (:func:`align_rigid`).
    expression_offsets : (E, V, 3) smiling − neutral vertex offsets of the same person (cm),
        after alignment; E may be 0.
    albedo_resolution : r of the albedo model.
    albedo_components, shape_components, expression_components : upper bounds on K.

    Returns
    -------
    MorphableModel
        Identity model centred on the mean neutral shape; expression model uncentred (zero
        coefficients = neutral face); albedo model centred, at r × r.
    """
    neutral = np.asarray(neutral_vertices, dtype=np.float64)
    if neutral.ndim != 3 or neutral.shape[1:] != topology.vertices.shape or neutral.shape[0] < 1:
        raise ShapeMismatchError(
            f"neutral meshes must be (P, {topology.vertices.shape[0]}, 3), got {neutral.shape}"
        )
    num_vertices = neutral.shape[1]
    identity = fit_pca(neutral.reshape(neutral.shape[0], -1), shape_components)
    offsets = np.asarray(expression_offsets, dtype=np.float64).reshape(-1, num_vertices * 3)
    if offsets.shape[0] > 0:
        expression = fit_pca(offsets, expression_components, center=False)
    else:
        expression = PCAModel(np.zeros(num_vertices * 3), np.zeros((0, num_vertices * 3)), np.zeros(0), 0)
    albedo_mean, albedo_basis, albedo_std = albedo_pca(downsample_textures(textures, albedo_resolution), albedo_components)
    mean_shape = identity.mean.reshape(num_vertices, 3)
    return MorphableModel(
        name=name,
        topology=MeshTopology(
            vertices=mean_shape,
            uvs=topology.uvs,
            faces=topology.faces,
            landmark_weights=topology.landmark_weights,
        ),
        shape_basis=identity.basis.reshape(-1, num_vertices, 3),
        shape_std=identity.std,
        expression_basis=expression.basis.reshape(-1, num_vertices, 3),
        expression_std=expression.std,
        albedo_mean=albedo_mean,
        albedo_basis=albedo_basis,
        albedo_std=albedo_std,
    )
