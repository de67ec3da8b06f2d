"""Settings of the fitting stage (paper §3), with the paper's values as defaults.

Units of the energy terms. The paper gives its weights (``w_c = 1``, ``w_lan = 10``,
``w_reg = 2.5e-5``) but not the units of its terms; here they multiply these:

E_c
    Mean over the visible face pixels of the squared RGB error, colours in [0, 1], each pixel
    weighted by its IRLS robust weight (weights normalised to sum to 1). A uniform error of
    0.05 per channel gives E_c = 3 · 0.05² = 7.5e-3.
E_lan
    Mean over the landmarks of the squared 2D distance between a detected landmark and the
    projection of its model point, measured in units of the inter-ocular distance (the distance
    between the two detected iris centres). The landmarks are mediapipe's 468 mesh points
    (model point: the mesh vertex of the same index) and its two iris centres (model point: the
    pupil of the fitted eyeball). An error of 1 % of the inter-ocular distance gives
    E_lan = 1e-4, so 10 · E_lan = 1e-3. Dividing by the face size makes the weight independent
    of the photo's resolution and of how large the face is in it, as the mean in E_c does.
E_reg
    Σ (α_k / σ_k)² over identity, expression and albedo coefficients, each in units of its prior
    standard deviation (``MorphableModel`` convention), and over the two gaze angles
    (``gaze_std``; the paper has no eyes). With w_reg = 2.5e-5 a coefficient at
    1 σ costs as much as a uniform colour error of 0.003 per channel: the prior mostly settles
    directions the data leave undetermined (e.g. albedo brightness against light intensity).

The solver also adds a landmark depth term and two weak priors that are not in the paper:

- E_depth, the depth of the landmarks: mediapipe predicts each mesh point's depth relative to
  the face (pixel units, same scale as x). Mean over the 468 mesh landmarks of the squared
  difference between that depth and the model vertex's camera depth relative to the
  landmarks' mean, converted to pixels at the face's distance (f · ΔZ / Z̄), in inter-ocular
  distances like E_lan. Why: a frontal photo determines depth only through weak perspective and
  shading, and facetex's identity model is learned from fits of frontal studio photos (the
  paper used a scanned 3D model), so without it the fit drifted along a "longer nose, smaller
  face" identity mode (the astronaut's nose tip stood 7.2 cm in front of the eye corners
  instead of ~4.3 cm; ``tests/fitting`` has the case). ``w_landmark_depth = 2.5`` — a quarter
  of the 2D landmarks' weight, since mediapipe's depth is itself a regression towards its
  canonical face;

- on the focal length, ``w_focal · (log f − log f₀)² / σ_f²``: a single face barely constrains
  the strength of perspective (the paper takes the camera as known);
- on the SH lighting, ``w_light · Σ (L − L̄)² / σ_L²`` towards a white ambient light L̄ of
  irradiance ``light_prior_irradiance``: the 9 SH functions are nearly dependent over the
  narrow range of normals a face shows, and albedo brightness trades against light intensity,
  so without it the lighting drifts along those flat directions (towards strong, coloured,
  mutually cancelling coefficients) at no visible change of the render. When a texture
  database is at hand (``facetex infer``, the evaluation), the prior pulls instead towards the
  database's studio lighting (paper §6) and holds the light's mean irradiance over the face
  (b̄ · L, b̄ the mean SH basis over the face's normals, channel mean) within
  ``studio_light_sigma`` of the studio's. That is the one quantity that trades against the
  albedo's brightness, so the albedo carries how bright the skin is, while the light's
  direction and colour keep the weak prior (a photo's colour cast stays in the light). With
  the weak ambient prior alone the fit put the brightness into the light and every person's
  albedo came out near the model's mean skin (mean luminance 0.50–0.55 on London photos whose
  database textures range from 0.22 to 0.66). A prior on the constant Y00 terms alone did not
  hold it (over a face's narrow range of normals Y20 and the other terms act almost as a
  constant and took the intensity over), one on every coefficient's channel mean did but also
  pulled the light's direction (10 % more photometric error on Helen photos);
  docs/keep-the-person.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facetex.checks import check_choice, check_declared, check_integer, check_integers, check_number, setting

__all__ = ["VisibilityConfig", "FitConfig", "UnwrapConfig"]


@dataclass(frozen=True)
class VisibilityConfig:
    """Which pixels / texels count as visible skin (stand-in for the paper's face parsing).

    Attributes
    ----------
    min_cos_view : float
        Grazing-angle cut: a surface point is kept only if the cosine between its normal and
        the direction to the camera is at least this (0.3 ≈ 72.5° from facing the camera).
    person_threshold : float
        Pixels whose person-mask probability is below this are background.
    feature_dilation : float
        Eyes, brows, lips and nostrils are cut out as landmark polygons grown by this fraction
        of the inter-ocular distance.
    use_skin_colour : bool
        Whether to apply the per-photo skin-colour model.
    skin_mahalanobis : float
        Pixels whose (Cr, Cb) chroma lies farther than this Mahalanobis distance from the skin
        colour of the cheeks and forehead of this photo are rejected (hair, beard, glasses).
    skin_luma_sigmas : float
        Pixels whose luma Y differs from the skin's median by more than this many robust standard
        deviations are rejected too (dark hair, eyebrows of skin-like chroma, glasses frames).
    """

    min_cos_view: float = 0.3
    person_threshold: float = 0.5
    feature_dilation: float = 0.06
    use_skin_colour: bool = True
    skin_mahalanobis: float = 3.5
    skin_luma_sigmas: float = 4.0

    def __post_init__(self) -> None:
        check_number("min_cos_view", self.min_cos_view, -1.0, 1.0)
        check_number("person_threshold", self.person_threshold, 0.0, 1.0)
        check_number("feature_dilation", self.feature_dilation, 0.0, 1.0)
        if not isinstance(self.use_skin_colour, bool):
            raise ValueError(f"use_skin_colour must be true or false, got {self.use_skin_colour!r}")
        check_number("skin_mahalanobis", self.skin_mahalanobis, 0.0, 100.0, low_open=True)
        check_number("skin_luma_sigmas", self.skin_luma_sigmas, 0.0, 100.0, low_open=True)


@dataclass(frozen=True)
class FitConfig:
    """Settings of :func:`facetex.fitting.fit_face` (paper §3).

    Attributes
    ----------
    w_color, w_landmark, w_reg : float
        Weights of E_c, E_lan and E_reg (paper §3: 1, 10, 2.5e-5; units in the module doc).
    w_landmark_depth : float
        Weight of E_depth, the landmarks' depth relative to mediapipe's (not in the paper;
        module doc); 0 switches it off.
    steps : tuple of int
        Gauss-Newton (Levenberg–Marquardt) steps per pyramid level, coarse to fine
        (paper §3: 30, 10, 3 on a 3-level pyramid).
    crop_scale : float
        The fit sees a crop of the photo around the face: its detected box grown this many
        times (clipped to the photo).
    max_size : int
        Long side, in pixels, of the finest pyramid level (the crop is downscaled to it, never
        enlarged).
    max_pixels : int
        At most this many visible pixels (chosen at random, fixed seed) enter E_c per step.
    landmark_steps : int
        Landmark-only LM steps (pose, focal length, shape, expression) before colour is used.
    alternations : int
        Closed-form lighting ↔ albedo alternations (both are linear least squares) before the
        joint solve.
    robust : str
        IRLS weights on the colour residuals: ``"huber"``, ``"tukey"`` or ``"none"``.
    robust_scale : float
        Scale of the robust function, RGB error norm in [0, 1] units.
    eyeball_radius : float
        Radius (cm) of the eyeballs the fit adds behind the eye openings (≈ 12 mm in adults).
    eyeball_depth : float
        How far (cm) each eyeball's centre lies behind the centroid of its eye contour, along
        the face's axis; with ``eyeball_radius`` the pupil of a straight gaze lies in the plane
        of the eye opening.
    gaze_std : float
        Prior standard deviation (radians) of the gaze yaw and pitch, in E_reg.
    focal_init : float
        Initial focal length in units of the photo's long side (1.5 ≈ a 37° field of view).
    fit_focal : bool
        Whether the focal length is an unknown; if False it stays at ``focal_init``.
    focal_prior_sigma : float
        Standard deviation of the log focal length prior (module doc).
    w_focal : float
        Weight of that prior.
    light_prior_irradiance : float
        Irradiance of the white ambient light the lighting prior pulls towards.
    light_prior_sigma : float
        Standard deviation of each SH coefficient under that prior (coefficient units).
    w_light : float
        Weight of the lighting prior (unused when the lighting is given).
    studio_light_sigma : float
        Standard deviation of the light's mean irradiance over the face (channel mean) under a
        database's studio lighting prior (``fit_face(..., light_prior=)``; module doc); the
        London studio's is about 1.
    lm_damping : float
        Initial Levenberg–Marquardt damping, relative to the diagonal of JᵀJ.
    seed : int
        Seed of the pixel subsampling.
    shared_identity : str
        Several photos of one person (``--same-person``, :mod:`facetex.multiview`): ``"first"``
        takes the first photo's own fit and fits the others with it held fixed; ``"joint"``
        fits one identity to all photos at once (:func:`facetex.fitting.fit_faces`). The
        default is ``"first"``: the joint identity is nearer every photo's, but it moves the
        first photo's texels in UV by up to a texel, and the observed detail's correlation with
        the person's database texture falls (docs/design.md, "Several photos of one person").
    visibility : VisibilityConfig
        What counts as visible skin in E_c.
    """

    w_color: float = 1.0
    w_landmark: float = 10.0
    w_reg: float = 2.5e-5
    w_landmark_depth: float = 2.5
    steps: tuple[int, ...] = (30, 10, 3)
    crop_scale: float = 1.5
    max_size: int = 256
    max_pixels: int = 3000
    landmark_steps: int = 10
    alternations: int = 3
    robust: str = "huber"
    robust_scale: float = 0.05
    eyeball_radius: float = 1.2
    eyeball_depth: float = 1.2
    gaze_std: float = 0.35
    focal_init: float = 1.5
    fit_focal: bool = True
    focal_prior_sigma: float = 0.4
    w_focal: float = 1e-3
    light_prior_irradiance: float = 1.0
    light_prior_sigma: float = 1.0
    w_light: float = 1e-4
    studio_light_sigma: float = 0.01
    lm_damping: float = 1e-4
    seed: int = 0
    shared_identity: str = setting("first", choices=("first", "joint"),
                                   help="with --same-person: 'first' fits the other photos with the first photo's "
                                   "identity; 'joint' fits one identity to all photos at once (a better shape, but "
                                   "it moves the texture's registration away from a single photo's fit)")
    visibility: VisibilityConfig = field(default_factory=VisibilityConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps) if isinstance(self.steps, list) else self.steps)
        for name in ("w_color", "w_landmark", "w_reg", "w_landmark_depth", "w_focal", "w_light"):
            check_number(name, getattr(self, name), 0.0, 1e9)
        # at most 5 pyramid levels (each halves the image; the coarsest must keep 16 px)
        check_integers("steps", self.steps, 0, 1000, max_count=5)
        check_number("crop_scale", self.crop_scale, 1.0, 10.0)
        check_integer("max_size", self.max_size, 16 * 2 ** (len(self.steps) - 1), 4096)
        check_integer("max_pixels", self.max_pixels, 1, 10_000_000)
        check_integer("landmark_steps", self.landmark_steps, 0, 1000)
        check_integer("alternations", self.alternations, 0, 100)
        check_choice("robust", self.robust, ("huber", "tukey", "none"))
        check_number("robust_scale", self.robust_scale, 0.0, 10.0, low_open=True)
        check_number("eyeball_radius", self.eyeball_radius, 0.0, 5.0, low_open=True)
        check_number("eyeball_depth", self.eyeball_depth, 0.0, 5.0)
        check_number("gaze_std", self.gaze_std, 0.0, 10.0, low_open=True)
        check_number("focal_init", self.focal_init, 0.0, 100.0, low_open=True)
        if not isinstance(self.fit_focal, bool):
            raise ValueError(f"fit_focal must be true or false, got {self.fit_focal!r}")
        check_number("focal_prior_sigma", self.focal_prior_sigma, 0.0, 100.0, low_open=True)
        check_number("light_prior_irradiance", self.light_prior_irradiance, 0.0, 100.0)
        check_number("light_prior_sigma", self.light_prior_sigma, 0.0, 100.0, low_open=True)
        check_number("studio_light_sigma", self.studio_light_sigma, 0.0, 1e3, low_open=True)
        check_number("lm_damping", self.lm_damping, 0.0, 1e6, low_open=True)
        check_integer("seed", self.seed, 0, 2**32 - 1)
        check_choice("shared_identity", self.shared_identity, ("joint", "first"))


@dataclass(frozen=True)
class UnwrapConfig:
    """Settings of :func:`facetex.fitting.unwrap_albedo`.

    Attributes
    ----------
    resolution : int
        Side R of the square UV maps (16 … 2048).
    min_shading : float
        The SH shading is clamped below at this before dividing the photo by it, so dark,
        badly lit texels do not explode.
    depth_tolerance : float
        A texel is occluded if it lies more than this (cm) behind the z-buffer at its pixel.
    zbuffer_max_size : int
        Long side of the z-buffer used for the occlusion test (the face's bounding box of the
        photo, downscaled to at most this).
    visibility : VisibilityConfig
        What counts as visible skin.
    supersample : int
        Each texel is the mean of s × s samples of the photo (the maps are unwrapped at R·s,
        at most 2048, and area-averaged), so a photo with more pixels than texels is not
        aliased: a map sampled at texel centres only held +0.17–0.20 decades more power at
        64–128 cycles per face width than the same photo unwrapped at 640² and area-averaged
        (London, 512²; docs/ict-model.md). 1 samples texel centres only.
    deblur : bool
        Measure the photo's blur against the database's photos and undo it (a Wiener filter in
        the photo) before unwrapping, so the partial albedo holds the detail a soft photo still
        resolves at its full strength (:mod:`facetex.fitting.deblur`). Needs the database's
        maps (``facetex infer``, ``facetex evaluate``); ``facetex fit`` has none and skips it.
    deblur_min_sigma : float
        The blur, as a fraction of the inter-ocular distance, from which a photo is restored;
        sharp London photos measure 0–0.0066 against their own database (docs/keep-the-person.md).
    deblur_max_gain : float
        The largest amplification of any frequency by the restoration.
    deblur_refit : bool
        Once a photo is restored, detect and fit the face again on the restored photo and
        unwrap it with that fit. A blur moves the landmarks: on 8 London photos blurred by
        0.04 × the inter-ocular distance the fitted mesh lies 2.0 % of the inter-pupil distance
        (mean projected vertex) from the sharp photo's fit, 1.1 % once refitted on the restored
        photo (``benchmarks/bench_blur_registration.py``; docs/keep-the-person.md, "Refitting
        the restored photo").
    """

    resolution: int = setting(640, help="side of the square UV maps", range=(16, 2048))
    min_shading: float = 0.05
    depth_tolerance: float = 0.3
    zbuffer_max_size: int = 768
    visibility: VisibilityConfig = field(default_factory=VisibilityConfig)
    supersample: int = setting(2, help="photo samples per texel side, averaged (anti-aliasing)", range=(1, 4))
    deblur: bool = setting(True, help="measure the photo's blur against the database and undo it before unwrapping")
    deblur_min_sigma: float = 0.008
    deblur_max_gain: float = 100.0
    deblur_refit: bool = True

    def __post_init__(self) -> None:
        check_declared(self)  # resolution, supersample
        check_number("min_shading", self.min_shading, 0.0, 10.0, low_open=True)
        check_number("depth_tolerance", self.depth_tolerance, 0.0, 100.0)
        check_integer("zbuffer_max_size", self.zbuffer_max_size, 64, 8192)
        check_number("deblur_min_sigma", self.deblur_min_sigma, 0.0, 1.0)
        check_number("deblur_max_gain", self.deblur_max_gain, 1.0, 1000.0)
