"""Settings of the database build (paper §6), one dataclass per step, paper values as defaults.

Every dataclass is frozen and passed explicitly; :func:`dataclasses.asdict` of a
:class:`DatabaseConfig` is the "build parameters" record stored in each database's manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, get_args

from facetex.checks import check_choice, check_declared, check_integer, check_number, setting
from facetex.types import FaceModel, GramRegion

if TYPE_CHECKING:
    from facetex.detect import DetectConfig
    from facetex.fitting import FitConfig, UnwrapConfig

__all__ = [
    "GRAM_LAYERS",
    "SpecularConfig",
    "FillConfig",
    "PCAConfig",
    "DatabaseConfig",
    "FaceModel",
    "GramRegion",
]


#: VGG-19 layers whose Grams describe a texture (paper §5: "all 5 mid-layers of VGG-19").
GRAM_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@dataclass(frozen=True)
class SpecularConfig:
    """SUV specular removal (Mallick et al., CVPR 2005; paper §6).

    Attributes
    ----------
    source : colour of the light source, the direction of the S axis: ``"white"`` (studio
        flash on a white-balanced photo, RGB ∝ (1, 1, 1)) or ``"background"`` (the median
        colour of the photo's non-person pixels, for a backdrop lit by the same light).
    mad_factor : the removal ramps from nothing where S/‖UV‖ equals the local diffuse ratio
        k to all of the excess S − k·‖UV‖ where the ratio exceeds k by ``mad_factor``·1.4826·MAD
        of S/‖UV‖ over the skin region; larger keeps more of S.
    ratio_scale : Gaussian σ of the window over which the diffuse ratio k is estimated, as a
        fraction of √(skin region area); peaks smaller than the window are removed, slow
        changes of skin tone (a paler forehead) are kept.
    min_chroma : pixels with ‖UV‖ below this (grey, nearly white or black) do not take part
        in estimating k (their ratio S/‖UV‖ is unstable).
    saturation_level : pixels with a channel at or above this were clipped by the camera;
        their U, V are lost, so all of S, U, V are inpainted there from their surroundings.
    inpaint_radius : radius in pixels of the OpenCV Telea inpainting of saturated pixels.
    smoothing_sigma : Gaussian σ in pixels applied to U, V before their norm is taken (JPEG
        keeps chroma at half resolution in 8×8 blocks) and to the removed specular layer (so
        the skin's fine detail stays inside a highlight). 4 px suits a face ~650 px wide.
    """

    source: str = "white"
    mad_factor: float = 2.5
    ratio_scale: float = 0.05
    min_chroma: float = 0.02
    saturation_level: float = 0.98
    inpaint_radius: float = 5.0
    smoothing_sigma: float = 4.0

    def __post_init__(self) -> None:
        check_choice("source", self.source, ("white", "background"))
        check_number("mad_factor", self.mad_factor, 0.0, 100.0, low_open=True)
        check_number("ratio_scale", self.ratio_scale, 0.0, 1.0, low_open=True)
        check_number("min_chroma", self.min_chroma, 0.0, 1.0)
        check_number("saturation_level", self.saturation_level, 0.0, 1.0, low_open=True)
        check_number("inpaint_radius", self.inpaint_radius, 0.0, 100.0)
        check_number("smoothing_sigma", self.smoothing_sigma, 0.0, 100.0)


@dataclass(frozen=True)
class FillConfig:
    """Completion of unseen texels: left/right mirror, then a membrane (harmonic) fill.

    Attributes
    ----------
    mirror_min_weight : a texel is filled from its mirror image only when at least this
        fraction of the bilinear footprint of its mirrored position is observed.
    blend_gradients : paste the mirrored texels in the gradient domain (Poisson blending,
        Pérez et al. 2003) so the mirrored side meets the observed side without a seam; if
        False they are copied as they are.
    regularization : weight of a pull towards the mean observed colour in the fill's linear
        system; it keeps regions with no observed neighbour defined and is otherwise
        negligible.
    """

    mirror_min_weight: float = 0.5
    blend_gradients: bool = True
    regularization: float = 1e-5

    def __post_init__(self) -> None:
        check_number("mirror_min_weight", self.mirror_min_weight, 0.0, 1.0)
        check_number("regularization", self.regularization, 0.0, 1.0, low_open=True)


@dataclass(frozen=True)
class PCAConfig:
    """Morphable models built from the database (paper §3 uses 80 identity and albedo
    components from BFM and 29 expression components from FaceWarehouse; here they come from
    the database itself).

    Attributes
    ----------
    albedo_resolution : UV resolution r of the PCA albedo model (r × r × 3).
    albedo_components : at most this many albedo components (also ≤ subjects − 1).
    shape_components : identity components (≤ persons with a neutral photo − 1).
    expression_components : expression components (≤ neutral/smiling pairs). A database of
        neutral photos only has no pair and so no expression model (0 modes): it builds, and
        fits with its model then hold the mouth and eyes at the database's neutral shapes.
    """

    albedo_resolution: int = 64
    albedo_components: int = 80
    shape_components: int = 80
    expression_components: int = 29

    def __post_init__(self) -> None:
        check_integer("albedo_resolution", self.albedo_resolution, 4, 512)
        for name in ("albedo_components", "shape_components", "expression_components"):
            check_integer(name, getattr(self, name), 0, 10_000)


@dataclass(frozen=True)
class DatabaseConfig:
    """Everything :func:`facetex.database.build.build_database` needs.

    Attributes
    ----------
    name : label of the database and of its morphable model.
    face_model : the mesh and UV tile of the textures (:data:`FaceModel`). ``"ict"``: the ICT
        Face Model's geometry (its 100 identity modes and 53 blendshapes) is kept and only the
        albedo model is learned from the photos; ``"mediapipe"``: identity, expression and
        albedo are all learned on mediapipe's mesh, starting from its generic model.
    resolution : UV resolution R of the stored albedo textures. 640 by default: the ICT face
        tile at 640² gives the face the texel density mediapipe's chart had at 512², close to a
        London photo's own sampling of the face (docs/ict-model.md, "Texel density";
        docs/database.md, "Texture resolution").
    gram_resolutions : texture sizes at which Grams of every complete texture are stored, so
        inference at those sizes computes only what depends on its input.
    gram_layers : VGG-19 layers of the stored Grams.
    gram_region : the texels each stored Gram describes. ``"skin"``: only those the photo
        observed or the mirror filled, outside the eyes, brows, lips and nostrils
        (:func:`facetex.fitting.visibility.feature_texels`): the skin detail the photo showed.
        The membrane fill, about half of the ICT tile, is smooth and made the targets half
        smooth, so inference left the sides of the head, the ears and under the jaw without
        detail; features in the statistics were re-invented as eyelid-like marks on hidden
        skin (docs/ict-model.md, "Detail beyond the face"). ``"texture"``: the whole completed
        texture, the paper's G_l(I_k) (§4), whose exemplars were complete scans.
    gram_dtype : ``"float16"`` (each matrix scaled by a power of two, halves the file) or
        ``"float32"``.
    bootstrap_rounds : refits with the database's own models after the first unwrap round
        (paper §6 fits a model to every subject; here the model is then re-learned: with
        ``face_model="ict"`` only its albedo).
    jobs : worker processes over photos (torch uses one thread in each); 1 runs in-process.
        The per-photo work is mostly single-threaded, so workers scale with free cores
        (docs/database.md, "Worker processes").
    max_landmark_rmse_iod : a fit whose landmark RMSE exceeds this many inter-ocular
        distances is rejected (good London fits: ~0.02).
    min_observed_fraction : a photo whose observed texels cover less than this fraction of
        the UV chart is rejected (frontal London photos: ~0.5).
    keep_features : unwrap eyes, brows, lips and nostrils too (the input stage cuts them out
        of its skin mask): database textures are complete faces, as the paper's.
    min_cos_view : the database's unwrap visibility cut (used when ``unwrap`` is None):
        texels seen more than arccos(``min_cos_view``) from the view direction (60° for 0.5,
        against 72.5° in the input stage) are left to the fill, as Lambertian SH shading leaves
        the rim too dark (docs/database.md, "Unwrap visibility cut").
    specular, fill, pca : settings of those steps.
    fit : :class:`facetex.fitting.FitConfig`, or None for its defaults.
    unwrap : :class:`facetex.fitting.UnwrapConfig`, or None for its defaults at
        ``resolution`` (its resolution must equal ``resolution``).
    detect : :class:`facetex.detect.DetectConfig`, or None for its defaults.
    """

    name: str = "london"
    face_model: FaceModel = setting("ict", help="face model whose UV tile the textures fill", choices=get_args(FaceModel))
    resolution: int = setting(640, help="UV texture resolution", range=(32, 2048))  # the unwrap's largest
    gram_resolutions: tuple[int, ...] = setting(
        (320, 640),
        help="sizes at which Grams are stored (a new resolution alone keeps those up to it)",
    )
    gram_layers: tuple[str, ...] = GRAM_LAYERS
    gram_dtype: str = "float16"
    gram_region: GramRegion = setting("skin", help="texels the stored Grams describe", choices=get_args(GramRegion))
    bootstrap_rounds: int = setting(1, help="refits with the learned model", range=(0, 20))
    jobs: int = setting(2, help="worker processes", range=(1, 256))
    max_landmark_rmse_iod: float = 0.1
    min_observed_fraction: float = 0.2
    keep_features: bool = True
    min_cos_view: float = 0.5
    specular: SpecularConfig = field(default_factory=SpecularConfig)
    fill: FillConfig = field(default_factory=FillConfig)
    pca: PCAConfig = field(default_factory=PCAConfig)
    fit: FitConfig | None = None
    unwrap: UnwrapConfig | None = None
    detect: DetectConfig | None = None

    def __post_init__(self) -> None:
        check_declared(self)  # resolution, bootstrap_rounds, jobs
        if not self.gram_resolutions:
            raise ValueError(f"gram_resolutions must be sizes ≥ 32, got {self.gram_resolutions}")
        for r in self.gram_resolutions:
            check_integer("gram_resolutions", r, 32, 2048)
        if any(int(r) > int(self.resolution) for r in self.gram_resolutions):
            raise ValueError(f"gram_resolutions {self.gram_resolutions} exceed the texture resolution {self.resolution}")
        if self.gram_dtype not in ("float16", "float32"):
            raise ValueError(f"gram_dtype must be 'float16' or 'float32', got {self.gram_dtype!r}")
        check_number("max_landmark_rmse_iod", self.max_landmark_rmse_iod, 0.0, 10.0, low_open=True)
        check_number("min_observed_fraction", self.min_observed_fraction, 0.0, 1.0)
        check_number("min_cos_view", self.min_cos_view, -1.0, 1.0)
        if self.specular.source not in ("white", "background"):
            raise ValueError(f"specular.source must be 'white' or 'background', got {self.specular.source!r}")
        if self.unwrap is not None and int(self.unwrap.resolution) != int(self.resolution):
            raise ValueError(f"unwrap.resolution {self.unwrap.resolution} differs from resolution {self.resolution}")
