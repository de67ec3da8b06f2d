"""Records passed between pipeline stages, and the conventions they all follow.

Conventions (stated once, here; every flip is done by one named function in ``geometry``):

Images
    float32 numpy arrays, RGB, shape (H, W, 3), values in [0, 1], sRGB-encoded as stored in the
    photo (facetex does not linearise). Grey images and masks are (H, W). Pixel (row i, col j)
    covers [j, j+1) × [i, i+1) in continuous image coordinates; its centre is (j + 0.5, i + 0.5).
    Inside neural code, torch tensors (N, C, H, W).
Image / camera frame
    Continuous pixel coordinates (x right, y down), origin at the top-left corner of the image.
    Camera frame as OpenCV: x right, y down, z forward (into the scene); a camera-frame point
    (X, Y, Z) projects to (f·X/Z + cx, f·Y/Z + cy). The pose (R, t) maps model to camera:
    X_cam = R · X_model + t.
Model frame
    The mediapipe canonical face (centimetres): x to the subject's left as seen by the camera
    (i.e. image right), y up, z out of the face towards the viewer; origin near the head centre.
UV maps
    Square R × R images. Texel (row i, col j) has centre u = (j + 0.5) / R, v = 1 − (i + 0.5) / R:
    v = 1 is the top row (the OBJ / glTF-with-flip convention as PNG files are stored). Texels
    outside the UV chart (and unobserved texels of partial maps) hold 0.5 in every channel.
Spherical harmonics
    Real SH to 2nd order, 9 coefficients per colour channel, layout (..., 9, 3); basis order
    [Y00, Y1-1, Y10, Y11, Y2-2, Y2-1, Y20, Y21, Y22] with normals in the camera frame; see
    ``facetex.geometry.sh`` for the exact constants. Irradiance = Σ_k L_k · Y_k(n) (the cosine-
    lobe convolution is folded into L), shading multiplies albedo (Lambertian).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Literal, Protocol

import numpy as np

__all__ = [
    "FaceModel",
    "GramRegion",
    "Photo",
    "Detection",
    "LandmarkMap",
    "MeshTopology",
    "MorphableModel",
    "FaceFit",
    "FitDiagnostics",
    "PartialAlbedo",
    "PhotoBlur",
    "GramSet",
    "GramSource",
    "BlendResult",
    "SynthesisResult",
    "InferenceResult",
    "ViewRecord",
]


#: The face models facetex fits and textures: ``"ict"`` the ICT Face Model's face region (its
#: face tile: forehead, ears, cheeks, jaw, the front of the neck; the default), ``"mediapipe"``
#: mediapipe's canonical face mask (forehead to chin).
FaceModel = Literal["ict", "mediapipe"]

#: The texels a database's stored Grams describe: ``"skin"`` those each photo observed or the
#: mirror filled, outside the eyes, brows, lips and nostrils; ``"texture"`` the whole completed
#: texture (paper §4's G_l(I_k)).
GramRegion = Literal["skin", "texture"]

@dataclass(frozen=True)
class Photo:
    """A loaded photo, upright (EXIF orientation applied), at full resolution.

    Attributes
    ----------
    rgb : (H, W, 3) float32 in [0, 1].
    source : where it came from (a path, or a name such as ``"astronaut"``).
    """

    rgb: np.ndarray
    source: str

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) in pixels."""
        return int(self.rgb.shape[0]), int(self.rgb.shape[1])


@dataclass(frozen=True)
class Detection:
    """One detected face, in the frame of the full-resolution photo.

    Attributes
    ----------
    box : (4,) float64, [x0, y0, x1, y1] in pixels.
    landmarks : (478, 3) float64; x, y in pixels, z relative depth in the same pixel units
        (mediapipe's convention: smaller is closer to the camera; its origin is arbitrary).
    person_mask : (H, W) float32 in [0, 1], probability that a pixel belongs to a person.
    face_index : index of this face among all faces found, ordered by box area, largest first.
    all_boxes : (F, 4) boxes of every face found, same order (F ≥ 1).
    """

    box: np.ndarray
    landmarks: np.ndarray
    person_mask: np.ndarray
    face_index: int
    all_boxes: np.ndarray

    @property
    def num_faces(self) -> int:
        return int(self.all_boxes.shape[0])


@dataclass(frozen=True)
class LandmarkMap:
    """Where mediapipe's mesh landmarks lie on a mesh that is not mediapipe's own.

    Landmark i (0 … L − 1, mediapipe's order) is the fixed surface point
    ``Σ_k barycentrics[i, k] · vertices_of_mesh[vertices[i, k]]``. The iris landmarks (468–477)
    are not on a face surface; fitting matches them with its eyeballs' pupils.

    Attributes
    ----------
    vertices : (L, 3) int64, the mesh vertices of each landmark's triangle.
    barycentrics : (L, 3) float64, their weights (sum 1).
    rigid_weights : (L,) float64 ≥ 0, weights of the landmarks in the rigid alignment that
        starts a fit (mediapipe's Procrustes weights).
    contour : (C,) int64, the landmarks that lie on the face's outline in a photo (the
        jawline): fitting lets them slide along the mesh's silhouette instead of tying them to
        their stored point.
    contour_candidates : (S,) int64, the mesh vertices a contour landmark may slide to.
    contour_reach : (C, S) bool, which candidates each contour landmark may take (those near
        its stored point on the mean shape).
    """

    vertices: np.ndarray
    barycentrics: np.ndarray
    rigid_weights: np.ndarray
    contour: np.ndarray
    contour_candidates: np.ndarray
    contour_reach: np.ndarray

    @property
    def size(self) -> int:
        return int(self.vertices.shape[0])


@dataclass(frozen=True)
class MeshTopology:
    """A triangle mesh template with a UV chart.

    Attributes
    ----------
    vertices : (V, 3) float64, rest positions in the model frame (cm).
    uvs : (V, 2) float64 in [0, 1], (u, v) with v = 1 at the top of the texture (see module doc).
    faces : (F, 3) int64, counter-clockwise when seen from outside the face.
    landmark_weights : (V,) float64 ≥ 0, weights of vertices in rigid (Procrustes) alignment.
    landmark_map : where mediapipe's landmarks lie on this mesh; None (the default): vertex i
        is mediapipe landmark i (mediapipe's own mesh).
    fit_faces : (F,) bool, the triangles whose pixels enter the photometric term of a fit (the
        rest still hide what lies behind them); None (the default): every triangle.
    """

    vertices: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray
    landmark_weights: np.ndarray
    landmark_map: LandmarkMap | None = None
    fit_faces: np.ndarray | None = None


@dataclass(frozen=True)
class MorphableModel:
    """Linear face model: shape = mean + Σ α_id·B_id + Σ α_ex·B_ex; albedo likewise in UV.

    Coefficients are expressed in units of their standard deviation's basis: the basis vectors
    are unit-free directions and ``*_std`` give the prior standard deviation of each coefficient,
    so E_reg = Σ (α_k / σ_k)² (paper §3).

    Attributes
    ----------
    name : a short label ("generic", or the database's name).
    topology : the mesh (its ``vertices`` are the mean shape).
    shape_basis : (K_id, V, 3) float64, identity directions (cm).
    shape_std : (K_id,) float64.
    expression_basis : (K_ex, V, 3) float64.
    expression_std : (K_ex,) float64.
    albedo_mean : (r, r, 3) float32 UV map in [0, 1] (r small, e.g. 64 or 128).
    albedo_basis : (K_al, r, r, 3) float32.
    albedo_std : (K_al,) float64.
    expression_range : (low, high) bounds of every expression coefficient (blendshape weights
        in [0, 1]), which fitting keeps them in; None (the default): unbounded.
    expression_prior : ``"gaussian"`` (the default): E_reg holds Σ (α_ex / σ)²;
        ``"laplace"``: Σ |α_ex| / σ, a sparse prior (few active blendshapes).
    expression_names : a name per expression coefficient (e.g. ARKit's), or None.
    """

    name: str
    topology: MeshTopology
    shape_basis: np.ndarray
    shape_std: np.ndarray
    expression_basis: np.ndarray
    expression_std: np.ndarray
    albedo_mean: np.ndarray
    albedo_basis: np.ndarray
    albedo_std: np.ndarray
    expression_range: tuple[float, float] | None = None
    expression_prior: str = "gaussian"
    expression_names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FitDiagnostics:
    """How well a §3 fit matches its photo, on the finest pyramid level.

    Attributes
    ----------
    E, E_c, E_lan, E_depth, E_reg : the final energy and its terms (§3; E_depth is facetex's
        landmark-depth term).
    landmark_rmse_px : RMS distance of the projected model landmarks from the detected ones,
        pixels of the full-resolution photo.
    landmark_rmse_iod : the same over the inter-ocular distance (unit-free).
    photometric_rms : RMS of rendered − observed colour over the visible skin samples, RGB in
        [0, 1].
    visible_pixels : number of skin samples of the photometric term.
    gaze_yaw_deg, gaze_pitch_deg : fitted eyeball gaze, degrees.
    iterations : solver steps taken.
    seconds : wall time of the fit.
    """

    E: float
    E_c: float
    E_lan: float
    E_depth: float
    E_reg: float
    landmark_rmse_px: float
    landmark_rmse_iod: float
    photometric_rms: float
    visible_pixels: float
    gaze_yaw_deg: float
    gaze_pitch_deg: float
    iterations: float = 0.0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Every field by name, as plain floats (for JSON), in declaration order."""
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class FaceFit:
    """The result of fitting the morphable model to one photo (paper §3).

    Attributes
    ----------
    image_size : (H, W) of the full-resolution photo whose frame the camera refers to.
    shape_coeffs, expression_coeffs, albedo_coeffs : (K_id,), (K_ex,), (K_al,) float64.
    rotation : (3, 3) float64, model → camera.
    translation : (3,) float64, cm, camera frame.
    focal_length : float, pixels of the full-resolution photo.
    principal_point : (2,) float64, pixels (cx, cy).
    sh_coeffs : (9, 3) float64, SH lighting (see module doc).
    vertices : (V, 3) float64, fitted vertices in the camera frame (cm).
    model_name : name of the morphable model used.
    diagnostics : how well the fit matches the photo (None for a fit made by hand, e.g. a
        synthetic scene's ground truth).
    pupils : (2, 3) float64 or None, fitted pupil centres in the camera frame (cm), row 0 the
        subject's right eye, row 1 the left (fitting models eyeballs that turn with the gaze).
    """

    image_size: tuple[int, int]
    shape_coeffs: np.ndarray
    expression_coeffs: np.ndarray
    albedo_coeffs: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    focal_length: float
    principal_point: np.ndarray
    sh_coeffs: np.ndarray
    vertices: np.ndarray
    model_name: str
    diagnostics: FitDiagnostics | None = None
    pupils: np.ndarray | None = None


@dataclass(frozen=True)
class PhotoBlur:
    """The photo's blur against the database's photos, and the noise it carries.

    Attributes
    ----------
    sigma : the fitted Gaussian blur σ, photo pixels (0 = as sharp as the database's photos).
    inter_ocular : the distance between the pupils, photo pixels.
    contrast : the fitted overall amplitude of the photo's skin detail over the references'.
    noise_variance : v, the fitted white-noise variance in units of the analysis image
        (luminance², on pixels of at least 1/96 of ``inter_ocular``).
    frequencies : (B,) band centres, cycles per inter-ocular distance.
    measured : (B,) float64, band power of the photo over the references' mean (NaN where the
        skin mask is too small to measure the band).
    noise : (B,) float64, band power of unit white noise over the references' mean.
    restored : whether the photo was restored by this fit before the unwrap.
    """

    sigma: float
    inter_ocular: float
    contrast: float
    noise_variance: float
    frequencies: np.ndarray
    measured: np.ndarray
    noise: np.ndarray
    restored: bool = False

    @property
    def sigma_iod(self) -> float:
        """σ as a fraction of the inter-ocular distance."""
        return self.sigma / self.inter_ocular

    def noise_to_signal(self, frequency: np.ndarray) -> np.ndarray:
        """K(f) = v · N(f) / contrast², the noise-to-signal power ratio of the unblurred photo at
        ``frequency`` (cycles per inter-ocular distance, any shape): interpolated in log-log
        between the bands, extended past the last two with their slope."""
        f = np.asarray(frequency, dtype=np.float64)
        known = np.isfinite(self.noise) & (self.noise > 0)
        if self.noise_variance <= 0.0 or self.contrast <= 0.0 or known.sum() < 2:
            return np.zeros_like(f)
        x = np.log(self.frequencies[known])
        y = np.log(self.noise_variance * self.noise[known] / self.contrast**2)
        slope = (y[-1] - y[-2]) / (x[-1] - x[-2])
        logf = np.log(np.maximum(f, 1e-6))
        out = np.interp(logf, x, y)
        out = np.where(logf > x[-1], y[-1] + slope * (logf - x[-1]), out)
        return np.exp(out)

    def transfer(self, frequency: np.ndarray) -> np.ndarray:
        """H(f) = exp(−2π²σ²f²), the blur's amplitude transfer at ``frequency`` (cycles per
        photo pixel, any shape)."""
        f = np.asarray(frequency, dtype=np.float64)
        return np.exp(-2.0 * np.pi**2 * self.sigma**2 * f**2)

    def wiener_gain(self, frequency: np.ndarray) -> np.ndarray:
        """H / (H² + K), the Wiener filter that restores the photo at ``frequency`` (cycles
        per photo pixel, any shape); K = :meth:`noise_to_signal`."""
        f = np.asarray(frequency, dtype=np.float64)
        h = self.transfer(f)
        return h / (h * h + np.maximum(self.noise_to_signal(f * self.inter_ocular), 1e-12))

    def kept_share(self, frequency: np.ndarray) -> np.ndarray:
        """H² / (H² + K) in [0, 1]: the share of the unblurred detail's power that the
        Wiener-restored photo holds at ``frequency`` (cycles per photo pixel, any shape); the
        rest is lost and may be invented."""
        f = np.asarray(frequency, dtype=np.float64)
        h2 = self.transfer(f) ** 2
        return h2 / (h2 + np.maximum(self.noise_to_signal(f * self.inter_ocular), 1e-12))

    def as_dict(self) -> dict[str, float | bool]:
        """The fitted values, rounded, for ``fit.json`` and the report."""
        return {
            "blur σ (photo px)": round(self.sigma, 2),
            "blur σ / inter-ocular": round(self.sigma_iod, 4),
            "contrast": round(self.contrast, 3),
            "noise σ": round(float(np.sqrt(self.noise_variance)), 5),
            "restored": self.restored,
        }


@dataclass(frozen=True)
class PartialAlbedo:
    """Albedo maps in UV from one photo (input of the texture stages).

    Attributes
    ----------
    albedo : (R, R, 3) float32 in [0, 1]: photo / shading on visible skin texels, 0.5 elsewhere.
    mask : (R, R) bool, texels where ``albedo`` was observed (visible skin).
    lowfreq : (R, R, 3) float32 in [0, 1], the fitted model albedo I(α_al), 0.5 off the chart.
    shading : (R, R, 3) float32 ≥ 0, the fitted SH shading per texel (0 where not visible).
    chart : (R, R) bool, texels inside the UV chart.
    pixels_per_texel : (R, R) float32 ≥ 0 or None: how densely the photo samples each observed
        texel, the smaller singular value of the Jacobian d(photo pixel)/d(texel) (photo pixels
        per texel along the worst-sampled direction; 0 off the observed and feature texels). The photo
        resolves at most 0.5 × pixels_per_texel × R cycles per UV width there. None: unknown
        (taken as resolving every frequency of the map).
    features : (R, R, 3) float32 in [0, 1] or None: photo / shading on the texels of
        ``feature_mask``, 0.5 elsewhere: the brows, eyelids and lips the photo shows (not skin,
        so outside ``mask`` and the §4 statistics; the output keeps them).
    feature_mask : (R, R) bool or None, texels of ``features`` (disjoint from ``mask``).
    restored_blur : the photo's blur, undone before the unwrap (:mod:`facetex.fitting.deblur`);
        None = the photo was unwrapped as given.
    """

    albedo: np.ndarray
    mask: np.ndarray
    lowfreq: np.ndarray
    shading: np.ndarray
    chart: np.ndarray
    pixels_per_texel: np.ndarray | None = None
    features: np.ndarray | None = None
    feature_mask: np.ndarray | None = None
    restored_blur: PhotoBlur | None = None

    @property
    def resolution(self) -> int:
        return int(self.albedo.shape[0])


@dataclass(frozen=True)
class GramSet:
    """Normalised Gram matrices of a batch of images at named VGG-19 layers (paper §4).

    Attributes
    ----------
    grams : mapping layer name → (N, C_l, C_l) float32 array, G = F Fᵀ / M_l.
    """

    grams: dict[str, np.ndarray]

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(self.grams)

    @property
    def count(self) -> int:
        return int(next(iter(self.grams.values())).shape[0])

    def take(self, rows: np.ndarray, layers: Sequence[str]) -> GramSet:
        """Images ``rows`` (indices into 0 … count − 1, any order) at ``layers``."""
        return GramSet(grams={layer: np.asarray(self.grams[layer])[np.asarray(rows, dtype=np.int64)] for layer in layers})


class GramSource(Protocol):
    """Complete exemplar Grams that can be read a few images at a time: a :class:`GramSet` in
    memory, or a database's stored Grams read on demand
    (:meth:`facetex.database.store.TextureDatabase.stored_grams`), so inference reads only the
    exemplars the §4 fit kept."""

    @property
    def layers(self) -> tuple[str, ...]: ...

    @property
    def count(self) -> int: ...

    def take(self, rows: np.ndarray, layers: Sequence[str]) -> GramSet: ...


@dataclass(frozen=True)
class BlendResult:
    """Blend weights over exemplars and the resulting complete-face Grams (paper §4).

    Attributes
    ----------
    weights : (K,) float64; for ``solver == "convex"`` w ≥ 0 and Σ w = 1 exactly.
    solver : "convex", "linear" or "closest".
    target : GramSet with N = 1, the blended Ĝ_l = Σ_k w_k G_l(I_k) of the complete exemplars.
    objective : value of the per-layer-normalised fitting objective at ``weights``.
    """

    weights: np.ndarray
    solver: str
    target: GramSet
    objective: float


@dataclass(frozen=True)
class SynthesisResult:
    """Output of texture synthesis (paper §5).

    Attributes
    ----------
    rgb : (R, R, 3) float32 in [0, 1], synthesised Y recombined with I, Q of the init.
    luminance : (R, R) float32, the synthesised Y channel.
    losses : per-iteration total loss (normalised units).
    seconds : wall time of the optimisation.
    """

    rgb: np.ndarray
    luminance: np.ndarray
    losses: list[float]
    seconds: float


@dataclass(frozen=True)
class ViewRecord:
    """One photo among several of one person (:mod:`facetex.multiview`).

    Attributes
    ----------
    photo : the photo.
    detection : its face.
    fit : its fit, with the identity (shape and albedo coefficients) all the photos share.
    observed : fraction of the chart's texels this photo observes (skin or facial features).
    share : fraction of the merged observation's texels taken mostly from this photo.
    gain : (3,) colour scale that matched this photo to the reference photo.
    embedding_distance : dlib face-embedding distance to the first photo (0 for the first;
        None when not measured).
    """

    photo: Photo
    detection: Detection
    fit: FaceFit
    observed: float
    share: float
    gain: tuple[float, float, float]
    embedding_distance: float | None = None


@dataclass(frozen=True)
class InferenceResult:
    """Everything ``facetex infer`` made from one photo (the paper's Fig. 2 end to end).

    Attributes
    ----------
    photo : the input.
    detection : the face that was processed.
    fit : the §3 fit (database morphable model).
    partial : partial high-frequency albedo, visibility mask, low-frequency albedo, shading.
    blend : the §4 weights over the database subjects listed in ``subject_ids``.
    subject_ids : (K,) ids of the database photos, aligned with ``blend.weights``.
    synthesis : the §5 result (luminance and losses).
    albedo : (R, R, 3) float32 in [0, 1], the final complete albedo; 0.5 off the UV chart.
    normal_map : (R, R, 3) float32 in [0, 1], OpenGL tangent-space normals from the detail.
    bump : (R, R) float32 in [0, 1], 0.5 = no displacement.
    timings : stage → seconds.
    peak_memory_mib : stage → peak resident memory of the process at the end of the stage.
    database : path of the texture database the result was made with (None: not recorded);
        :func:`facetex.write_result` opens it for the report and attribution.
    photo_bands : what the photo was found to hold, band "LOW–HIGH c/R" → amplitude transfer
        relative to the database's sharp exemplars (≈ 1 sharp, → 0 lost to blur;
        :mod:`facetex.texture.fusion`); None when the photo's detail was not kept.
    photo_blur : the photo's blur against the database's photos and whether it was undone
        before the unwrap (:meth:`facetex.fitting.deblur.PhotoBlur.as_dict`); None when not measured.
    views : for several photos of one person (:mod:`facetex.multiview`), one record per photo
        used, the first being ``photo``; empty for one photo.
    source_map : (R_p, R_p) int16 on the partial's grid, the index into ``views`` of the photo
        each observed texel was mostly taken from, −1 where no photo sees skin (invented); None
        for one photo.
    skipped : photos given but not used, as "name: reason" lines.
    """

    photo: Photo
    detection: Detection
    fit: FaceFit
    partial: PartialAlbedo
    blend: BlendResult
    subject_ids: tuple[str, ...]
    synthesis: SynthesisResult
    albedo: np.ndarray
    normal_map: np.ndarray
    bump: np.ndarray
    timings: dict[str, float]
    peak_memory_mib: dict[str, float]
    database: str | None = None
    photo_bands: dict[str, float] | None = None
    photo_blur: dict[str, float | bool] | None = None
    views: tuple[ViewRecord, ...] = ()
    source_map: np.ndarray | None = None
    skipped: tuple[str, ...] = ()
