"""Stage 1: fit a morphable face model to one photo and unwrap its partial albedo (paper §3).

* :func:`generic_model` — the bootstrap morphable model on mediapipe's mesh
  (:mod:`~facetex.fitting.model`); database PCA models use the same record.
* :func:`fit_face` — the §3 energy (:mod:`~facetex.fitting.energy`; its unknowns and constants
  in :mod:`~facetex.fitting.problem`, its parts in :mod:`~facetex.fitting.mesh`,
  :mod:`~facetex.fitting.eyes`, :mod:`~facetex.fitting.photometric` and
  :mod:`~facetex.fitting.landmark_terms`) minimised by Levenberg–Marquardt
  (:mod:`~facetex.fitting.levenberg_marquardt`) with IRLS (:mod:`~facetex.fitting.samples`) on
  an image pyramid (:mod:`~facetex.fitting.pyramid`), from a start by
  :mod:`~facetex.fitting.initialisation` with closed-form lighting and albedo
  (:mod:`~facetex.fitting.appearance`); :mod:`~facetex.fitting.solver` runs the steps.
* :func:`fit_faces` — the same energy summed over several photos of one person, one identity
  shared (issue 20).
* :func:`unwrap_albedo` — visible skin / fitted shading in UV (:mod:`~facetex.fitting.unwrap`),
  with the visibility stand-in for face parsing (:mod:`~facetex.fitting.visibility`).
* :func:`render_fit`, :func:`draw_overlay`, :func:`write_fit_files` — pictures and files of a fit.
"""

from facetex.fitting.config import FitConfig, UnwrapConfig, VisibilityConfig
from facetex.fitting.model import EXPRESSION_NAMES, generic_model, load_face_model, model_albedo, model_vertices
from facetex.fitting.outputs import FIT_FILES, fit_summary, write_fit_files
from facetex.fitting.overlay import draw_overlay, draw_visibility, fitted_eye_centres, project_fit
from facetex.fitting.render import Rendering, render_face, render_fit
from facetex.fitting.solver import fit_face, fit_faces
from facetex.fitting.unwrap import unwrap_albedo
from facetex.fitting.visibility import ImageVisibility, photo_visibility

__all__ = [
    "EXPRESSION_NAMES",
    "FIT_FILES",
    "FitConfig",
    "ImageVisibility",
    "Rendering",
    "UnwrapConfig",
    "VisibilityConfig",
    "draw_overlay",
    "draw_visibility",
    "fit_face",
    "fit_faces",
    "fit_summary",
    "fitted_eye_centres",
    "generic_model",
    "load_face_model",
    "model_albedo",
    "model_vertices",
    "photo_visibility",
    "project_fit",
    "render_face",
    "render_fit",
    "unwrap_albedo",
    "write_fit_files",
]
