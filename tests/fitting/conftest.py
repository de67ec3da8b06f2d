"""Fixtures of the fitting tests: the generic model and synthetic photos with known answers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from facetex.detect import landmarks as groups
from facetex.fitting import generic_model
from facetex.fitting.model import model_albedo, model_vertices
from facetex.fitting.render import Rendering, render_face
from facetex.geometry.camera import pose_rotation
from facetex.geometry.sh import sh_from_ambient, sh_from_directional_light
from facetex.geometry.topology import load_face_mesh
from facetex.types import Detection, FaceFit, MorphableModel, Photo

BACKGROUND = 0.25


@dataclass(frozen=True)
class Scene:
    """A synthetic photo of the generic model with every parameter known."""

    photo: Photo
    detection: Detection
    truth: FaceFit
    rendering: Rendering
    albedo_uv: np.ndarray


@pytest.fixture(scope="session")
def topology():
    return load_face_mesh()


@pytest.fixture(scope="session")
def model(topology) -> MorphableModel:
    return generic_model(topology)


def true_lighting() -> np.ndarray:
    """White ambient light plus a key light from the upper left of the camera."""
    return sh_from_ambient(0.75) + sh_from_directional_light(np.array([-0.5, -0.6, -1.0]), 0.35)


def make_scene(
    model: MorphableModel,
    *,
    size: int = 256,
    axis_angle=(0.08, -0.25, 0.05),
    depth: float = 45.0,
    seed: int = 0,
    albedo_uv: np.ndarray | None = None,
) -> Scene:
    """Render the generic model with random (moderate) coefficients into a grey photo.

    The detection holds the exact projections of the mesh vertices as landmarks (the iris
    points at the eye-contour centroids), a person mask covering the face, and its box.
    """
    rng = np.random.default_rng(seed)
    shape = rng.normal(size=model.shape_std.shape) * model.shape_std * 0.5
    expression = rng.normal(size=model.expression_std.shape) * model.expression_std * 0.3
    albedo_coeffs = rng.normal(size=model.albedo_std.shape) * model.albedo_std * 0.3
    rotation = pose_rotation(torch.tensor(axis_angle, dtype=torch.float64)).numpy()
    model_verts = model_vertices(
        model, torch.tensor(shape, dtype=torch.float64), torch.tensor(expression, dtype=torch.float64)
    ).numpy()
    translation = np.array([0.6, -0.4, depth])
    verts = model_verts @ rotation.T + translation
    focal = 1.5 * size
    principal = np.array([size / 2.0, size / 2.0])
    sh = true_lighting()
    albedo = model_albedo(model, albedo_coeffs) if albedo_uv is None else albedo_uv
    rendering = render_face(verts, model.topology, focal, principal, (size, size), albedo, sh)
    rgb = np.where(rendering.mask[..., None], rendering.rgb, np.float32(BACKGROUND)).astype(np.float32)

    xy = focal * verts[:, :2] / verts[:, 2:3] + principal
    z = (verts[:, 2] - verts[:, 2].mean()) * focal / verts[:, 2].mean()
    landmarks = np.zeros((478, 3))
    landmarks[:468] = np.column_stack([xy, z])
    for iris, eye in ((groups.RIGHT_IRIS, groups.RIGHT_EYE), (groups.LEFT_IRIS, groups.LEFT_EYE)):
        landmarks[list(iris)] = landmarks[list(eye)].mean(axis=0)
    box = np.concatenate([xy.min(axis=0), xy.max(axis=0)])
    person = np.zeros((size, size), dtype=np.float32)
    person[rendering.mask] = 1.0
    detection = Detection(
        box=box, landmarks=landmarks, person_mask=person, face_index=0, all_boxes=box[None]
    )
    truth = FaceFit(
        image_size=(size, size),
        shape_coeffs=shape,
        expression_coeffs=expression,
        albedo_coeffs=albedo_coeffs,
        rotation=rotation,
        translation=translation,
        focal_length=focal,
        principal_point=principal,
        sh_coeffs=sh,
        vertices=verts,
        model_name=model.name,
    )
    return Scene(
        photo=Photo(rgb=rgb, source="synthetic"),
        detection=detection,
        truth=truth,
        rendering=rendering,
        albedo_uv=np.asarray(albedo, dtype=np.float32),
    )


@pytest.fixture(scope="session")
def scene(model) -> Scene:
    return make_scene(model)
