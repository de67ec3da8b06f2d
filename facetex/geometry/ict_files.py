"""The ICT Face Model Light's files in the shared data folder: where they are, reading and
checking the shape-model npz and the vertex-index JSON (the OBJ: :mod:`facetex.geometry.ict_obj`).

The model (ICT-FaceKit, USC Institute for Creative Technologies, MIT licence; Li et al.,
"Learning Formation of Physically-Based Face Attributes", CVPR 2020) is read from the shared data
folder (``$FACETEX_DATA/ict-facekit/``, see :mod:`facetex.paths`): it is never downloaded and
never copied into the package. The folder's ``README.md`` describes the files; the three read
are

``generic_neutral_mesh.obj``
    the topology: 26,719 vertices, 26,384 polygons (quads and triangles), 28,911 texture
    coordinates (with seams), 12 material groups. Polygons 0–9229 are the ``M_Face`` group:
    the face region (vertices 0–9408) and its own UV tile, which covers forehead, ears,
    cheeks, jaw and the front of the neck.
``ict_face_model_light.npz``
    ``neutral`` (26719, 3), ``identity`` (100, 26719, 3) and ``expression`` (53, 26719, 3) as
    offsets from ``neutral``, float32, cm; ``identity_names``, ``expression_names``.
``vertex_indices.json``
    the kit's vertex sets; here ``idx_to_landmark_verts`` (the 68 Multi-PIE landmark vertices)
    and ``idx_to_rigid_landmark_idx`` (the 9 of them the kit uses for rigid alignment).

A missing folder or a missing, truncated or inconsistent file raises one
:class:`IctModelError` (a :class:`facetex.errors.DatabaseError`, like a missing London set)
that names the file and where to get it.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facetex.errors import DatabaseError
from facetex.paths import data_dir, data_dir_candidates

__all__ = [
    "ICT_SOURCE",
    "ICT_ATTRIBUTION",
    "ICT_DIRNAME",
    "OBJ_NAME",
    "NPZ_NAME",
    "INDICES_NAME",
    "NUM_VERTICES",
    "NUM_POLYGONS",
    "NUM_TEXCOORDS",
    "FACE_VERTICES",
    "FACE_POLYGONS",
    "FACE_MATERIAL",
    "NUM_IDENTITY",
    "NUM_EXPRESSION",
    "NUM_LANDMARKS",
    "EXPRESSION_NAMES",
    "IctModelError",
    "IctArrays",
    "ict_dir",
    "ict_file",
    "damaged_file_error",
    "get_it_hint",
    "file_sha256",
    "read_ict_arrays",
    "read_ict_indices",
]

ICT_SOURCE = (
    "ICT Face Model Light (ICT-FaceKit, USC Institute for Creative Technologies, MIT licence), "
    "https://github.com/ICT-VGL/ICT-FaceKit (FaceXModel/), converted with the convert.py beside it"
)
#: The notice every artefact derived from the kit carries (a database's geometry, say).
ICT_ATTRIBUTION = (
    "ICT Face Model Light, ICT-FaceKit, Copyright (c) 2020 USC Institute for Creative Technologies, "
    "MIT licence; Li et al., Learning Formation of Physically-Based Face Attributes, CVPR 2020"
)
ICT_DIRNAME = "ict-facekit"
OBJ_NAME = "generic_neutral_mesh.obj"
NPZ_NAME = "ict_face_model_light.npz"
INDICES_NAME = "vertex_indices.json"

NUM_VERTICES = 26_719
NUM_POLYGONS = 26_384
NUM_TEXCOORDS = 28_911
#: Vertices 0 … FACE_VERTICES − 1 and polygons 0 … FACE_POLYGONS − 1 are the face region.
FACE_VERTICES = 9_409
FACE_POLYGONS = 9_230
FACE_MATERIAL = "M_Face"
NUM_IDENTITY = 100
NUM_EXPRESSION = 53
NUM_LANDMARKS = 68

#: The kit's 53 expression blendshapes, in its order (ARKit names, "_L"/"_R" the subject's side).
EXPRESSION_NAMES: tuple[str, ...] = (
    "browDown_L", "browDown_R", "browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R",
    "cheekPuff_L", "cheekPuff_R", "cheekSquint_L", "cheekSquint_R", "eyeBlink_L", "eyeBlink_R",
    "eyeLookDown_L", "eyeLookDown_R", "eyeLookIn_L", "eyeLookIn_R", "eyeLookOut_L", "eyeLookOut_R",
    "eyeLookUp_L", "eyeLookUp_R", "eyeSquint_L", "eyeSquint_R", "eyeWide_L", "eyeWide_R",
    "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose", "mouthDimple_L", "mouthDimple_R",
    "mouthFrown_L", "mouthFrown_R", "mouthFunnel", "mouthLeft", "mouthLowerDown_L", "mouthLowerDown_R",
    "mouthPress_L", "mouthPress_R", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthSmile_L", "mouthSmile_R", "mouthStretch_L",
    "mouthStretch_R", "mouthUpperUp_L", "mouthUpperUp_R", "noseSneer_L", "noseSneer_R",
)


class IctModelError(DatabaseError):
    """The ICT Face Model Light is missing from the data folder, or one of its files is
    missing, truncated or inconsistent."""


def get_it_hint() -> str:
    """Where to get the kit and where its files go (the end of every IctModelError)."""
    return (
        f"get the {ICT_SOURCE}: its generic_neutral_mesh.obj, vertex_indices.json and the npz "
        f"that convert.py makes from FaceXModel/ go into a folder {ICT_DIRNAME}/, and FACETEX_DATA "
        f"names the folder that contains {ICT_DIRNAME}/"
    )


def ict_dir() -> Path:
    """The ``ict-facekit`` folder in the shared data folder.

    Raises
    ------
    IctModelError
        If it is not there (the message says where facetex looked and how to get it).
    """
    path = data_dir() / ICT_DIRNAME
    if not path.is_dir():
        looked = ", ".join(str(p / ICT_DIRNAME) for p in data_dir_candidates())
        raise IctModelError(f"the ICT Face Model Light was not found (looked in {looked}); {get_it_hint()}")
    return path


def ict_file(directory: Path | None, name: str) -> Path:
    """``name`` in ``directory`` (default :func:`ict_dir`); IctModelError if it is missing."""
    path = (ict_dir() if directory is None else Path(directory)) / name
    if not path.is_file():
        raise IctModelError(f"{path} is missing; {get_it_hint()}")
    return path


def damaged_file_error(path: Path, why: str) -> IctModelError:
    """The error for a kit file that is truncated or inconsistent (``why``)."""
    return IctModelError(f"{path} is damaged ({why}); copy it again: {get_it_hint()}")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (provenance of files derived from the kit)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class IctArrays:
    """The shape model of ``ict_face_model_light.npz``, whole head, checked.

    Attributes
    ----------
    neutral : (26719, 3) float32, cm, model frame.
    identity : (100, 26719, 3) float32, offsets from ``neutral`` (coefficient 1 = the morph target).
    expression : (53, 26719, 3) float32, offsets from ``neutral`` (weight 1 = the full shape).
    identity_names : ("identity000", …, "identity099").
    expression_names : :data:`EXPRESSION_NAMES`.
    """

    neutral: np.ndarray
    identity: np.ndarray
    expression: np.ndarray
    identity_names: tuple[str, ...]
    expression_names: tuple[str, ...]


def read_ict_arrays(directory: str | Path | None = None) -> IctArrays:
    """Read and check ``ict_face_model_light.npz`` (from :func:`ict_dir` unless ``directory``).

    Raises
    ------
    IctModelError
        The file is missing, not a readable npz (e.g. truncated), or its arrays lack a key or
        have the wrong shape, dtype, names, or non-finite values.
    """
    path = ict_file(None if directory is None else Path(directory), NPZ_NAME)
    expected = {
        "neutral": (NUM_VERTICES, 3),
        "identity": (NUM_IDENTITY, NUM_VERTICES, 3),
        "expression": (NUM_EXPRESSION, NUM_VERTICES, 3),
        "identity_names": (NUM_IDENTITY,),
        "expression_names": (NUM_EXPRESSION,),
    }
    try:
        # Open the file here: np.load(path) leaks its handle when the zip is unreadable.
        with open(path, "rb") as handle:
            archive = np.load(handle, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise damaged_file_error(path, "not an npz archive")
            with archive:
                missing = sorted(set(expected) - set(archive.files))
                if missing:
                    raise damaged_file_error(path, f"no array {', '.join(missing)}")
                arrays = {key: archive[key] for key in expected}
    except IctModelError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:  # truncated, not a zip
        raise damaged_file_error(path, f"{type(exc).__name__}: {exc}") from exc
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            raise damaged_file_error(path, f"{key} has shape {arrays[key].shape}, expected {shape}")
    for key in ("neutral", "identity", "expression"):
        if arrays[key].dtype.kind != "f" or not np.isfinite(arrays[key]).all():
            raise damaged_file_error(path, f"{key} is not finite floating point")
    identity_names = tuple(str(n) for n in arrays["identity_names"])
    expression_names = tuple(str(n) for n in arrays["expression_names"])
    if identity_names != tuple(f"identity{k:03d}" for k in range(NUM_IDENTITY)):
        raise damaged_file_error(path, "identity_names are not identity000 … identity099")
    if expression_names != EXPRESSION_NAMES:
        raise damaged_file_error(path, "expression_names are not the kit's 53 ARKit names in order")
    return IctArrays(
        neutral=arrays["neutral"],
        identity=arrays["identity"],
        expression=arrays["expression"],
        identity_names=identity_names,
        expression_names=expression_names,
    )



def read_ict_indices(directory: str | Path | None = None) -> dict:
    """Read ``vertex_indices.json``: the kit's vertex sets (checked: 68 landmark vertices in the
    face region, 9 rigid landmark indices).

    Raises
    ------
    IctModelError
        The file is missing, not JSON, or lacks / mangles the landmark sets.
    """
    path = ict_file(None if directory is None else Path(directory), INDICES_NAME)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        landmarks = [int(i) for i in record["idx_to_landmark_verts"]]
        rigid = [int(i) for i in record["idx_to_rigid_landmark_idx"]]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise damaged_file_error(path, f"{type(exc).__name__}: {exc}") from exc
    if len(landmarks) != NUM_LANDMARKS or not all(0 <= i < FACE_VERTICES for i in landmarks):
        raise damaged_file_error(path, "idx_to_landmark_verts is not 68 vertices of the face region")
    if not all(0 <= i < NUM_LANDMARKS for i in rigid):
        raise damaged_file_error(path, "idx_to_rigid_landmark_idx is not a set of landmark indices")
    return record
