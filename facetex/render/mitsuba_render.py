"""Physically based renders of the textured head with Mitsuba 3 (novel views and lighting).

The paper shows its inferred textures "rendered in novel lighting" (Saito et al. 2017, Figs. 1,
10). Here: Mitsuba 3's principled BSDF (skin: roughness 0.5, specular 0.3, dielectric) with the
albedo texture as base colour and the tangent-space normal map of
:func:`facetex.render.maps.detail_maps` (Mitsuba's ``normalmap`` plugin; its shading frame
takes +X along ∂p/∂u and +Y = n × X, i.e. the OpenGL convention the map is written in — checked
by ``tests/render``), under two lightings:

* ``"environment"``: image-based lighting from the project's own studio environment map
  (:func:`facetex.render.environment.studio_environment`: soft boxes in a dim room, fixed in
  the world, so each view sees the head lit from another side);
* ``"studio"``: a three-point rig of rectangular area lights — key (upper left of the camera,
  strongest), fill (right, ~1/3 of the key), rim (behind the head, above) — that turns with the
  camera, as if the subject turned in front of a fixed studio.

Skin (the face tile and the parts marked ``skin``) scatters light under its surface
(:mod:`facetex.render.subsurface`, Burley's normalised diffusion with skin's mean free paths):
each image is then four Mitsuba passes — the skin's diffuse light with the pre-scatter albedo,
its specular light with everything else (eyes, teeth) as usual, and two cheap AOV passes for
the post-scatter albedo, the skin's coverage and the surface positions — combined in numpy.
``subsurface=False`` renders one pass with a surface BSDF, as before.

Views orbit the bounding-box centre of the mesh (or of ``frame``) about the vertical axis: ``front`` (0°),
``three_quarter`` (35°), ``profile`` (80°); positive azimuth moves the camera towards +x (image
right of the frontal view, the subject's left).

Scene frame: the export frame of :mod:`facetex.render.textured_mesh` (model frame in metres,
y up, z towards the viewer). Mitsuba's texture lookup has v = 0 at the top row, so the mesh gets
:func:`facetex.render.textured_mesh.uv_to_gltf` coordinates.

Colour: the albedo is sRGB-encoded (facetex convention) and is linearised before rendering;
renders are linear radiance × ``exposure``, then sRGB-encoded and clipped to [0, 1] so they
follow the facetex image convention.

Variant: ``llvm_ad_rgb`` when Dr.Jit's LLVM backend is available with LLVM ≥ 19 (Debian
``libllvm19``; with LLVM 15 a render aborts the process with "Cannot select: fminimum", so older
LLVM is not tried), else ``scalar_rgb`` (same images, ~3× slower). Mitsuba's variant is a
process-wide setting of Mitsuba itself; :func:`render_views` sets it on every call.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from facetex.checks import SettingValueError, check_integer, check_number
from facetex.errors import MissingDependencyError, ShapeMismatchError
from facetex.render.environment import studio_environment
from facetex.render.subsurface import SKIN1_MEAN_FREE_PATH_MM, burley_shape, scatter
from facetex.render.surface_frames import welded_vertex_normals
from facetex.render.textured_mesh import TexturedMesh, model_to_export_frame, uv_to_gltf

__all__ = [
    "View",
    "DEFAULT_VIEWS",
    "LIGHTINGS",
    "RenderConfig",
    "Render",
    "select_variant",
    "skin_scatter_shapes",
    "srgb_to_linear",
    "linear_to_srgb",
    "render_views",
]

log = logging.getLogger(__name__)

MIN_LLVM_MAJOR = 19
"""Oldest LLVM major version verified to render (LLVM 15 aborts; 16–18 are untested)."""

LIGHTINGS = ("environment", "studio")

ENVIRONMENT_HEIGHT = 256
"""Rows of the studio environment map (:func:`facetex.render.environment.studio_environment`)."""

AOV_SPP = 16
"""Samples per pixel of the subsurface passes that read albedo, coverage and position back."""

_INSTALL_HINT = (
    "Mitsuba 3 is not installed; run `make setup` or `pip install mitsuba==3.9.1 drjit==1.5.0` "
    "(and `apt-get install libllvm19` for the fast llvm_ad_rgb variant)"
)


@dataclass(frozen=True)
class View:
    """A camera orbiting the face: ``azimuth_deg`` about +y (towards +x), ``elevation_deg`` up."""

    name: str
    azimuth_deg: float
    elevation_deg: float = 0.0


DEFAULT_VIEWS = (View("front", 0.0), View("three_quarter", 35.0), View("profile", 80.0))


@dataclass(frozen=True)
class RenderConfig:
    """Settings of :func:`render_views` (defaults: final images, 512² × 128 spp).

    128 spp: at 32 the studio light's Monte Carlo noise reads as coloured speckle on the skin,
    just where one looks for its detail; 128 halves it. Seconds per image at each setting: ``docs/design.md#rendering``.

    Attributes
    ----------
    resolution : output side in pixels (square images).
    spp : samples per pixel.
    views : cameras to render.
    lightings : subset of :data:`LIGHTINGS`, rendered for each view.
    fov_deg : horizontal field of view of the perspective camera.
    margin : the mesh's larger extent across the view fills 1/margin of the frame.
    roughness, specular : principled-BSDF parameters of skin.
    use_normal_map : apply ``mesh.normal_map`` when it has one.
    exposure : multiplies the linear radiance before sRGB encoding.
    background : sRGB colour behind the face (emitters are hidden).
    variant : Mitsuba variant; None picks with :func:`select_variant`.
    seed : sampler seed (renders are deterministic for a fixed seed and variant).
    subsurface : scatter light under the skin (module doc); off renders a surface BSDF only.
    scatter_mm : skin's diffuse mean free path per channel (R, G, B), mm
        (:data:`facetex.render.subsurface.SKIN1_MEAN_FREE_PATH_MM`).
    subsurface_samples : profile samples per pixel and channel.
    """

    resolution: int = 512
    spp: int = 128
    views: tuple[View, ...] = DEFAULT_VIEWS
    lightings: tuple[str, ...] = LIGHTINGS
    fov_deg: float = 22.0
    margin: float = 1.15
    roughness: float = 0.5
    specular: float = 0.3
    use_normal_map: bool = True
    exposure: float = 1.0
    background: tuple[float, float, float] = (0.1, 0.1, 0.1)
    variant: str | None = None
    seed: int = 0
    subsurface: bool = True
    scatter_mm: tuple[float, float, float] = SKIN1_MEAN_FREE_PATH_MM
    subsurface_samples: int = 48

    def __post_init__(self) -> None:
        check_integer("resolution", self.resolution, 16, 8192)
        check_integer("spp", self.spp, 1, 65536)
        for lighting in self.lightings:
            if lighting not in LIGHTINGS:
                raise SettingValueError("lightings", f"holds an unknown lighting {lighting!r}; choose from {LIGHTINGS}")
        check_number("fov_deg", self.fov_deg, 0.0, 180.0, low_open=True, high_open=True)
        check_number("margin", self.margin, 0.0, 100.0, low_open=True)
        check_number("roughness", self.roughness, 0.0, 1.0)
        check_number("specular", self.specular, 0.0, 1.0)
        check_number("exposure", self.exposure, 0.0, 1000.0, low_open=True)
        if len(self.background) != 3:
            raise ValueError(f"background must be 3 numbers in [0, 1], got {self.background!r}")
        for value in self.background:
            check_number("background", value, 0.0, 1.0)
        check_integer("seed", self.seed, 0, 2**31 - 1)
        if len(self.scatter_mm) != 3:
            raise SettingValueError("scatter_mm", f"must be 3 mean free paths (R, G, B) in mm, got {self.scatter_mm!r}")
        for value in self.scatter_mm:
            check_number("scatter_mm", value, 0.0, 100.0, low_open=True)
        check_integer("subsurface_samples", self.subsurface_samples, 1, 1024)


@dataclass(frozen=True)
class Render:
    """One rendered image.

    Attributes
    ----------
    view, lighting : names from the config.
    image : (H, W, 3) float32 in [0, 1], sRGB-encoded.
    seconds : wall time of this render (scene build + render, evaluated).
    variant : the Mitsuba variant used.
    """

    view: str
    lighting: str
    image: np.ndarray = field(repr=False)
    seconds: float
    variant: str

    @property
    def label(self) -> str:
        return f"{self.lighting} · {self.view.replace('_', ' ')}"


def _import_mitsuba():
    try:
        import drjit as dr
        import mitsuba as mi
    except ImportError as exc:
        raise MissingDependencyError(_INSTALL_HINT) from exc
    return mi, dr


def select_variant(preferred: str | None = None) -> str:
    """Set and return the Mitsuba variant: ``preferred``, else ``llvm_ad_rgb`` if usable, else ``scalar_rgb``.

    Raises
    ------
    MissingDependencyError
        If Mitsuba is not installed, or ``preferred`` is not a variant of this build.
    """
    mi, dr = _import_mitsuba()
    if preferred is None:
        preferred = "scalar_rgb"
        if "llvm_ad_rgb" in mi.variants() and dr.has_backend(dr.JitBackend.LLVM):
            major = dr.detail.llvm_version()[0]
            if major >= MIN_LLVM_MAJOR:
                preferred = "llvm_ad_rgb"
            else:
                log.info("LLVM %d is older than %d; rendering with scalar_rgb", major, MIN_LLVM_MAJOR)
    if preferred not in mi.variants():
        raise MissingDependencyError(f"Mitsuba variant {preferred!r} is not available; have {mi.variants()}")
    mi.set_variant(preferred)
    return preferred


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] → linear (IEC 61966-2-1), float32."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear values → sRGB encoding, clipped to [0, 1], float32."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1.0 / 2.4) - 0.055).astype(np.float32)


def _orbit(centre: np.ndarray, distance: float, view: View) -> np.ndarray:
    az, el = np.radians(view.azimuth_deg), np.radians(view.elevation_deg)
    direction = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    return centre + distance * direction


def _framing_distance(positions: np.ndarray, centre: np.ndarray, view: View, config: RenderConfig) -> float:
    """Camera distance at which the mesh, seen from ``view``, spans 1/margin of the frame."""
    right, up, back = _camera_basis(_orbit(centre, 1.0, view), centre)
    rel = positions - centre
    half = max(np.abs(rel @ right).max(), np.abs(rel @ up).max())
    depth = (rel @ back).max()  # nearest point to the camera lies this far in front of centre
    return float(half * config.margin / np.tan(np.radians(config.fov_deg) / 2) + depth)


def _camera_basis(origin: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right, up, backward unit vectors of a camera at ``origin`` looking at ``target`` (y up)."""
    back = origin - target
    back /= np.linalg.norm(back)
    right = np.cross([0.0, 1.0, 0.0], back)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    return right, up, back


def _area_light(mi: ModuleType, position: np.ndarray, target: np.ndarray, size: float, radiance: float) -> dict:
    return {
        "type": "rectangle",
        "to_world": mi.ScalarTransform4f()
        .look_at(origin=position.tolist(), target=target.tolist(), up=[0.0, 1.0, 0.0])
        .scale([size / 2, size / 2, 1.0]),
        "emitter": {"type": "area", "radiance": {"type": "rgb", "value": float(radiance)}},
    }


def _studio_lights(mi: ModuleType, origin: np.ndarray, target: np.ndarray, scale: float) -> dict:
    """Key / fill / rim area lights placed relative to the camera; ``scale`` is the scene size (m)."""
    right, up, back = _camera_basis(origin, target)
    dist = 4.0 * scale
    size = 1.6 * scale
    # Radiance chosen so that the key gives an irradiance of ~2.5 (white Lambertian → ~0.8).
    key_l = 2.5 * dist**2 / size**2
    key = target + dist * _unit(-0.7 * right + 0.5 * up + 0.8 * back)
    fill = target + dist * _unit(0.9 * right + 0.0 * up + 0.8 * back)
    rim = target + dist * _unit(0.5 * right + 0.8 * up - 0.9 * back)
    return {
        "key": _area_light(mi, key, target, size, key_l),
        "fill": _area_light(mi, fill, target, size, 0.3 * key_l),
        "rim": _area_light(mi, rim, target, size, 0.9 * key_l),
    }


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _bitmap_texture(mi: ModuleType, linear: np.ndarray) -> dict:
    return {
        "type": "bitmap",
        "bitmap": mi.Bitmap(np.ascontiguousarray(linear, dtype=np.float32)),
        "raw": True,
        "filter_type": "bilinear",
        "wrap_mode": "clamp",
    }


def _colour(mi: ModuleType, base: np.ndarray) -> dict:
    """A linear RGB texture (H, W, 3) or a flat linear colour (3,) as a Mitsuba texture."""
    base = np.asarray(base, dtype=np.float32)
    return _bitmap_texture(mi, base) if base.ndim == 3 else {"type": "rgb", "value": base.tolist()}


def _principled(mi: ModuleType, base: np.ndarray, normal_map: np.ndarray | None, config: RenderConfig, *,
                roughness: float, specular: float) -> dict:
    """A principled BSDF with linear base colour ``base`` and, when given and
    ``config.use_normal_map``, the tangent-space ``normal_map``."""
    bsdf = {
        "type": "principled",
        "base_color": _colour(mi, base),
        "roughness": float(roughness),
        "specular": float(specular),
        "metallic": 0.0,
    }
    if config.use_normal_map and normal_map is not None:
        bsdf = {"type": "normalmap", "normalmap": _bitmap_texture(mi, normal_map), "bsdf": bsdf}
    return bsdf


@dataclass(frozen=True)
class _Surface:
    """One renderable piece of the mesh, export frame (metres), with its linear base colour."""

    name: str
    faces: np.ndarray
    uvs: np.ndarray
    positions: np.ndarray
    normals: np.ndarray
    base: np.ndarray  # (R, R, 3) or (3,), linear
    normal_map: np.ndarray | None
    roughness: float
    skin: bool


def _surfaces(mesh: TexturedMesh, config: RenderConfig) -> list[_Surface]:
    meshes = [(model_to_export_frame(mesh.vertices), mesh.faces)]
    meshes += [(model_to_export_frame(part.vertices), part.faces) for part in mesh.parts]
    normals = welded_vertex_normals(meshes)  # the head's parts meet the face without a crease
    surfaces = [_Surface("face", mesh.faces, mesh.uvs, meshes[0][0], normals[0], srgb_to_linear(mesh.albedo),
                         mesh.normal_map, config.roughness, True)]
    for part, (positions, _), part_normals in zip(mesh.parts, meshes[1:], normals[1:]):
        colour = np.asarray(part.colour, dtype=np.float32)
        base = srgb_to_linear(colour if part.albedo is None else part.albedo * colour)
        surfaces.append(_Surface(part.name, part.faces, part.uvs, positions, part_normals, base, part.normal_map,
                                 part.roughness, part.skin))
    return surfaces


_BLACK = np.zeros(3, dtype=np.float32)
_WHITE = np.ones(3, dtype=np.float32)


def _pass_bsdf(mi: ModuleType, surface: _Surface, config: RenderConfig, render_pass: str) -> dict:
    """The surface's material in one render pass.

    ``full``: its own material. With subsurface scattering the skin is split into
    ``diffuse`` (pre-scatter albedo √A, no specular lobe; other surfaces black) and
    ``specular`` (the specular lobe alone; other surfaces their own material), and two cheap AOV
    passes read back the post-scatter albedo √A (``post_albedo``) and the skin coverage
    (``coverage``) as diffuse reflectance.
    """
    skin = surface.skin and config.subsurface
    if render_pass == "full" or (render_pass == "specular" and not skin):
        return _principled(mi, surface.base, surface.normal_map, config, roughness=surface.roughness,
                           specular=config.specular)
    if render_pass == "specular":
        return _principled(mi, _BLACK, surface.normal_map, config, roughness=surface.roughness,
                           specular=config.specular)
    if render_pass == "diffuse" and skin:
        return _principled(mi, np.sqrt(surface.base), surface.normal_map, config, roughness=surface.roughness,
                           specular=0.0)
    if render_pass == "post_albedo" and skin:
        return {"type": "diffuse", "reflectance": _colour(mi, np.sqrt(surface.base))}
    if render_pass == "coverage" and skin:
        return {"type": "diffuse", "reflectance": _colour(mi, _WHITE)}
    return {"type": "diffuse", "reflectance": _colour(mi, _BLACK)}


def _mitsuba_mesh(mi: ModuleType, name: str, faces: np.ndarray, uvs: np.ndarray, positions: np.ndarray,
                  normals: np.ndarray, bsdf: dict):
    props = mi.Properties()
    props["mesh_bsdf"] = mi.load_dict(bsdf)
    m = mi.Mesh(
        name,
        vertex_count=positions.shape[0],
        face_count=faces.shape[0],
        has_vertex_normals=True,
        has_vertex_texcoords=True,
        props=props,
    )
    params = mi.traverse(m)
    # Buffer types differ between variants (a JIT array in llvm_*, a dynamic array in scalar_*).
    for key, values in (
        ("vertex_positions", positions.astype(np.float32)),
        ("faces", faces.astype(np.uint32)),
        ("vertex_texcoords", uv_to_gltf(uvs).astype(np.float32)),
        ("vertex_normals", normals.astype(np.float32)),
    ):
        params[key] = type(params[key])(values.ravel())
    params.update()
    return m


def _sensor(mi: ModuleType, origin: np.ndarray, centre: np.ndarray, config: RenderConfig, spp: int) -> dict:
    return {
        "type": "perspective",
        "fov": float(config.fov_deg),
        "fov_axis": "x",
        "to_world": mi.ScalarTransform4f().look_at(origin=origin.tolist(), target=centre.tolist(), up=[0.0, 1.0, 0.0]),
        "film": {
            "type": "hdrfilm",
            "width": int(config.resolution),
            "height": int(config.resolution),
            "pixel_format": "rgba",
            "rfilter": {"type": "gaussian"},
        },
        "sampler": {"type": "independent", "sample_count": int(spp)},
    }


def _render_pass(mi: ModuleType, dr: ModuleType, surfaces: list[_Surface], render_pass: str, sensor: dict,
                 lights: dict, config: RenderConfig, spp: int, aovs: str | None = None) -> np.ndarray:
    """One image of ``surfaces`` in ``render_pass`` (:func:`_pass_bsdf`): (H, W, C) float32, linear;
    RGBA for the path tracer, the AOV channels in order for ``aovs``."""
    shapes = {
        surface.name: _mitsuba_mesh(mi, surface.name, surface.faces, surface.uvs, surface.positions, surface.normals,
                                    _pass_bsdf(mi, surface, config, render_pass))
        for surface in surfaces
    }
    integrator = (
        {"type": "aov", "aovs": aovs} if aovs is not None else {"type": "path", "max_depth": 6, "hide_emitters": True}
    )
    scene = mi.load_dict({"type": "scene", "integrator": integrator, "sensor": sensor, **shapes,
                          **({} if aovs is not None else lights)})
    image = mi.render(scene, spp=int(spp), seed=int(config.seed))
    dr.eval(image)
    dr.sync_thread()
    return np.array(image, dtype=np.float32)


def _subsurface_radiance(mi: ModuleType, dr: ModuleType, surfaces: list[_Surface], sensor: dict, lights: dict,
                         origin: np.ndarray, forward: np.ndarray, config: RenderConfig,
                         shape_mm: tuple[float, float, float]) -> np.ndarray:
    """RGBA linear radiance with the skin's light scattered under its surface
    (:mod:`facetex.render.subsurface`): specular + √A · scatter(√A · E/π)."""
    specular = _render_pass(mi, dr, surfaces, "specular", sensor, lights, config, config.spp)
    diffuse = _render_pass(mi, dr, surfaces, "diffuse", sensor, lights, config, config.spp)
    aov_spp = min(config.spp, AOV_SPP)
    post = _render_pass(mi, dr, surfaces, "post_albedo", sensor, lights, config, aov_spp, "albedo:albedo,p:position")
    coverage = _render_pass(mi, dr, surfaces, "coverage", sensor, lights, config, aov_spp, "albedo:albedo")[..., 0]
    positions_mm = post[..., 3:6].astype(np.float64) * 1000.0
    depth_mm = np.maximum((positions_mm - origin * 1000.0) @ forward, 1e-6)
    mm_per_pixel = 2.0 * depth_mm * np.tan(np.radians(config.fov_deg) / 2) / config.resolution
    scattered = scatter(diffuse[..., :3], np.clip(coverage, 0.0, 1.0), positions_mm, mm_per_pixel, shape_mm,
                        samples=config.subsurface_samples, seed=config.seed)
    rgba = specular.copy()
    rgba[..., :3] += post[..., :3] * scattered
    return rgba


def skin_scatter_shapes(mesh: TexturedMesh, mean_free_path_mm: tuple[float, float, float]) -> tuple[float, float, float]:
    """The Burley profile's d per channel (mm) for the face's mean linear albedo over its chart
    (:func:`facetex.render.subsurface.burley_shape`)."""
    albedo = srgb_to_linear(mesh.albedo)
    texels = albedo[mesh.chart] if mesh.chart is not None and mesh.chart.any() else albedo.reshape(-1, 3)
    mean = np.clip(texels.mean(axis=0), 0.01, 0.99)
    return tuple(burley_shape(ell, float(a)) for ell, a in zip(mean_free_path_mm, mean))


def render_views(
    mesh: TexturedMesh, config: RenderConfig = RenderConfig(), *, frame: np.ndarray | None = None
) -> tuple[Render, ...]:
    """Render ``mesh`` for every (lighting, view) pair of ``config`` (module doc).

    Parameters
    ----------
    mesh : a :class:`~facetex.render.textured_mesh.TexturedMesh` (model frame, cm; facetex UVs;
        sRGB albedo; optional OpenGL tangent-space normal map); its face and the parts marked
        ``skin`` scatter light under the surface when ``config.subsurface``.
    config : :class:`RenderConfig`.
    frame : optional (N, 3) model-frame points (cm) that the cameras (orbit centre, distance)
        and the studio lights are fitted to instead of ``mesh.vertices``: meshes rendered with
        the same ``frame`` share every camera and light, so they compare at the same scale
        (``benchmarks/fig_models.py``: the old mask and the ICT face tile).

    Returns
    -------
    tuple of :class:`Render`, ordered by lighting, then view, each (resolution, resolution, 3)
    float32 sRGB in [0, 1].

    Raises
    ------
    MissingDependencyError
        If Mitsuba 3 is not installed (message says how to install it).
    ValueError
        On an unknown lighting name or a non-positive resolution / spp.
    """
    unknown = [name for name in config.lightings if name not in LIGHTINGS]
    if unknown:
        raise ValueError(f"unknown lighting {unknown[0]!r}; choose from {LIGHTINGS}")
    if config.resolution < 1 or config.spp < 1:
        raise ValueError(f"resolution and spp must be >= 1, got {config.resolution}, {config.spp}")
    if not isinstance(mesh, TexturedMesh):
        raise ShapeMismatchError(f"expected a TexturedMesh, got {type(mesh).__name__}")
    mi, dr = _import_mitsuba()
    variant = select_variant(config.variant)

    surfaces = _surfaces(mesh, config)
    positions = np.concatenate([surface.positions for surface in surfaces])
    framed = positions if frame is None else model_to_export_frame(np.asarray(frame, dtype=np.float64).reshape(-1, 3))
    lo, hi = framed.min(axis=0), framed.max(axis=0)
    centre = (lo + hi) / 2
    radius = float(np.linalg.norm(hi - lo) / 2)
    environment = mi.Bitmap(studio_environment(ENVIRONMENT_HEIGHT))
    background = srgb_to_linear(np.asarray(config.background, dtype=np.float32))
    shape_mm = skin_scatter_shapes(mesh, config.scatter_mm)

    renders = []
    for lighting in config.lightings:
        for view in config.views:
            start = time.perf_counter()
            origin = _orbit(centre, _framing_distance(framed, centre, view, config), view)
            if lighting == "environment":
                lights = {"environment": {"type": "envmap", "bitmap": environment}}
            else:
                lights = _studio_lights(mi, origin, centre, radius)
            if config.subsurface:
                sensor = _sensor(mi, origin, centre, config, config.spp)
                rgba = _subsurface_radiance(mi, dr, surfaces, sensor, lights, origin, -_camera_basis(origin, centre)[2],
                                            config, shape_mm)
            else:
                rgba = _render_pass(mi, dr, surfaces, "full", _sensor(mi, origin, centre, config, config.spp), lights,
                                    config, config.spp)
            alpha = np.clip(rgba[..., 3:4], 0.0, 1.0)
            linear = rgba[..., :3] * config.exposure + (1.0 - alpha) * background
            renders.append(
                Render(
                    view=view.name,
                    lighting=lighting,
                    image=linear_to_srgb(linear),
                    seconds=time.perf_counter() - start,
                    variant=variant,
                )
            )
    return tuple(renders)
