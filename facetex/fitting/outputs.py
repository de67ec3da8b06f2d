"""Files of the ``facetex fit`` stage: fit.json, the mesh, and pictures of the fit.

:func:`write_fit_files` writes into an existing folder; wrap it in
:func:`facetex.io.atomic.atomic_dir` for an all-or-nothing output folder, as the CLI does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from facetex.fitting.crop import FaceCrop
from facetex.fitting.model import EXPRESSION_NAMES
from facetex.fitting.overlay import draw_overlay, draw_visibility, fitted_eye_centres
from facetex.fitting.visibility import ImageVisibility
from facetex.geometry.camera import MODEL_TO_CAMERA_AXES
from facetex.io.atomic import write_image, write_json
from facetex.render.export import export_mesh
from facetex.render.export_config import ExportConfig
from facetex.render.textured_mesh import make_textured_mesh, model_frame_vertices
from facetex.types import Detection, FaceFit, MorphableModel, PartialAlbedo, Photo

__all__ = ["FIT_FILES", "fit_summary", "write_fit_files"]

#: Files :func:`write_fit_files` writes.
FIT_FILES = (
    "fit.json",
    "face.obj",
    "face.mtl",
    "face.glb",
    "albedo.png",
    "overlay.png",
    "albedo_partial.png",
    "visibility.png",
    "albedo_lowfreq.png",
    "shading.png",
)

_SH_NAMES = ("Y00", "Y1-1", "Y10", "Y11", "Y2-2", "Y2-1", "Y20", "Y21", "Y22")


def _largest_sigmas(coefficients: np.ndarray, std: np.ndarray) -> float:
    """max_k |c_k| / σ_k of one coefficient block (0 for an empty block)."""
    c = np.abs(np.asarray(coefficients, dtype=np.float64))
    std = np.asarray(std, dtype=np.float64)
    used = std > 0
    return float(np.max(c[used] / std[used])) if used.any() else 0.0


def _prior_extremes(fit: FaceFit, model: MorphableModel, expression_names: tuple[str, ...] | None) -> dict:
    """``largest_abs_sigmas`` per coefficient block with a Gaussian prior; a model whose
    expression weights are bounded blendshape weights under a sparse prior (the ICT model:
    [0, 1], Laplace) reports its largest weight by name instead (a weight of 0.14 is readable,
    its 4.7 Laplace scales are not)."""
    sigmas = {"identity": _largest_sigmas(fit.shape_coeffs, model.shape_std)}
    out: dict = {"largest_abs_sigmas": sigmas}
    weights = np.asarray(fit.expression_coeffs, dtype=np.float64)
    if model.expression_prior == "laplace":
        if weights.size:
            k = int(np.argmax(weights))
            name = expression_names[k] if expression_names and len(expression_names) == weights.size else f"expression_{k:02d}"
            out["largest_expression_weight"] = {"name": name, "weight": float(weights[k])}
    else:
        sigmas["expression"] = _largest_sigmas(weights, model.expression_std)
    sigmas["albedo"] = _largest_sigmas(fit.albedo_coeffs, model.albedo_std)
    return out


def fit_summary(
    fit: FaceFit,
    detection: Detection,
    model: MorphableModel,
    *,
    source: str = "",
    timings: dict[str, float] | None = None,
) -> dict:
    """The fit as a JSON-ready dict in which every value is named (no flat parameter vectors).

    Frames and units are those of :mod:`facetex.types`; each section says which it uses.
    """
    def xyz(v: np.ndarray) -> dict[str, float]:
        return {"x": float(v[0]), "y": float(v[1]), "z": float(v[2])}

    def box(b: np.ndarray) -> dict[str, float]:
        return {"x0": float(b[0]), "y0": float(b[1]), "x1": float(b[2]), "y1": float(b[3])}

    def named(values: np.ndarray, prefix: str, names: tuple[str, ...] | None = None) -> dict[str, float]:
        if names is None or len(names) != len(values):
            names = tuple(f"{prefix}_{k:02d}" for k in range(len(values)))
        return {key: float(v) for key, v in zip(names, values)}

    head = np.asarray(fit.rotation) @ MODEL_TO_CAMERA_AXES.T  # rotation away from frontal
    yaw, pitch, roll = Rotation.from_matrix(head).as_euler("YXZ", degrees=True)
    expression_names = model.expression_names or (EXPRESSION_NAMES if model.name == "generic" else None)
    return {
        "source": source,
        "model": {
            "name": fit.model_name,
            "identity_modes": int(model.shape_basis.shape[0]),
            "expression_modes": int(model.expression_basis.shape[0]),
            "albedo_modes": int(model.albedo_basis.shape[0]),
            "coefficient_units": "the model's PCA units (unit-norm modes); prior standard deviations "
                                 "are the model's *_std, so largest_abs_sigmas says how unusual the fit is",
            **_prior_extremes(fit, model, expression_names),
        },
        "image_size": {"height": int(fit.image_size[0]), "width": int(fit.image_size[1])},
        "camera": {
            "frame": "OpenCV: x right, y down, z forward; pixels of the full-resolution photo",
            "focal_length_px": float(fit.focal_length),
            "principal_point_px": {"x": float(fit.principal_point[0]), "y": float(fit.principal_point[1])},
        },
        "pose": {
            "frame": "X_cam = R · X_model + t; model frame: x image-right, y up, z to the viewer (cm)",
            "rotation_matrix": {
                f"r{i}{j}": float(fit.rotation[i, j]) for i in range(3) for j in range(3)
            },
            "head_rotation_deg": {
                "convention": "rotation away from frontal, intrinsic Y-X-Z in the camera frame",
                "yaw": float(yaw),
                "pitch": float(pitch),
                "roll": float(roll),
            },
            "translation_cm": xyz(fit.translation),
        },
        "identity_coefficients": named(fit.shape_coeffs, "id"),
        "expression_coefficients": named(fit.expression_coeffs, "ex", expression_names),
        "albedo_coefficients": named(fit.albedo_coeffs, "al"),
        "sh_lighting": {
            "convention": "real SH, cosine lobe folded in, normals in the camera frame (facetex.geometry.sh)",
            **{name: dict(zip("rgb", map(float, c))) for name, c in zip(_SH_NAMES, fit.sh_coeffs)},
        },
        "diagnostics": {} if fit.diagnostics is None else fit.diagnostics.as_dict(),
        "detection": {
            "face_index": int(detection.face_index),
            "box_px": box(detection.box),
            "landmarks_px": [xyz(p) for p in np.asarray(detection.landmarks)],
        },
        "faces": [{"index": i, "box_px": box(b)} for i, b in enumerate(np.asarray(detection.all_boxes))],
        "timings_s": {k: float(v) for k, v in (timings or {}).items()},
    }


def write_fit_files(
    folder: str | Path,
    photo: Photo,
    detection: Detection,
    fit: FaceFit,
    model: MorphableModel,
    partial: PartialAlbedo,
    visibility: tuple[ImageVisibility, FaceCrop],
    *,
    timings: dict[str, float] | None = None,
    settings: dict[str, object] | None = None,
) -> list[Path]:
    """Write :data:`FIT_FILES` into ``folder`` (which must exist).

    fit.json (:func:`fit_summary`); face.obj / face.mtl / face.glb / albedo.png (the names
    ``facetex infer`` uses), the fitted mesh with the pose removed (model frame in metres, as
    :mod:`facetex.render.export`) textured with the partial albedo, the low-frequency albedo
    where unobserved (edge-padded past the chart for renderers); overlay.png (mesh
    wireframe, landmarks and the fitted eye centres over the photo); albedo_partial.png,
    albedo_lowfreq.png, shading.png (the UV maps of ``partial``; shading divided by
    max(1, its maximum), recorded in fit.json); visibility.png (what the image-space skin mask
    removes, :func:`facetex.fitting.overlay.draw_visibility`). ``settings`` (e.g. the resolved
    configs as dicts) are recorded in fit.json as given.

    Returns
    -------
    The paths written.
    """
    folder = Path(folder)
    texture = np.where(partial.mask[..., None], partial.albedo, partial.lowfreq).astype(np.float32)
    mesh = make_textured_mesh(
        model_frame_vertices(fit), model.topology.faces, model.topology.uvs, texture, chart=partial.chart
    )
    export_mesh(mesh, folder, ExportConfig())

    eyes = fitted_eye_centres(fit)
    write_image(folder / "overlay.png", draw_overlay(photo.rgb, fit, model.topology, detection, eye_centres=eyes))
    write_image(folder / "albedo_partial.png", partial.albedo)
    write_image(folder / "albedo_lowfreq.png", partial.lowfreq)
    shading_scale = max(1.0, float(partial.shading.max()))
    write_image(folder / "shading.png", partial.shading / shading_scale)
    skin, crop = visibility
    write_image(folder / "visibility.png", draw_visibility(crop.rgb, skin))

    summary = fit_summary(fit, detection, model, source=photo.source, timings=timings)
    summary["fitted_eye_centres_px"] = {
        "right": {"x": float(eyes[0, 0]), "y": float(eyes[0, 1])},
        "left": {"x": float(eyes[1, 0]), "y": float(eyes[1, 1])},
    }
    summary["outputs"] = {
        "uv_resolution": partial.resolution,
        "observed_texels": int(partial.mask.sum()),
        "chart_texels": int(partial.chart.sum()),
        "shading_png_scale": shading_scale,
        "visibility_png": "image-space skin mask on a crop of the photo: kept = photo, "
        "red = eyes/brows/lips/nostrils, blue = not skin colour, dark = background",
    }
    summary["settings"] = settings or {}
    write_json(folder / "fit.json", summary)
    return [folder / name for name in FIT_FILES]
