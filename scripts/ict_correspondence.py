"""Build ``facetex/geometry/data/ict_mediapipe_478.json``: mediapipe's 478 landmarks as points on
the ICT Face Model Light's neutral surface.

Inputs: the canonical mediapipe face mesh that facetex ships (``facetex/geometry/data/
face_mesh.json``, 468 vertices, Apache-2.0, see ``NOTICE`` there) and the ICT Face Model Light
read from ``$FACETEX_DATA/ict-facekit/`` (:mod:`facetex.geometry.ict`, MIT). Output: for every
mediapipe landmark a point on the ICT surface as (triangle, barycentric coordinates), with the
residuals of the registration and the provenance (this script, the inputs' SHA-256, the date).

Method (all in the model frame, cm; both meshes use the same axes and units):

1. **Anchors.** The 68 Multi-PIE landmarks: the kit's ``idx_to_landmark_verts`` on the ICT
   side, :data:`IBUG68_TO_MEDIAPIPE` on the mediapipe side (the widely used mediapipe ↔ 68-point
   table, e.g. LatentSync 1.5's ``LM68_FROM_MP478`` (Apache-2.0) and eos-py's Blender mapper; its
   16 points with an unambiguous counterpart agree with facetex's own
   ``facetex.detect.dlib_check.IBUG68_TO_MEDIAPIPE``), with one correction: the outer brow ends
   17 and 26 are mediapipe's 70 and 300, the outer ends of its eyebrow contours
   (``FACEMESH_RIGHT_EYEBROW`` / ``FACEMESH_LEFT_EYEBROW``), not 71 and 301, which are no brow
   vertices (temple, 15 mm further out, up and back; after the alignment 70 lies 4.9 mm from the kit's
   landmark 17, 71 10.1 mm). Each pair is checked by its distance after the alignment (the table
   in ``docs/ict-model.md``).
2. **Similarity.** Umeyama's least-squares rotation, uniform scale and translation of the
   mediapipe mesh onto the ICT neutral over the 51 inner anchors (17–67: brows, nose, eyes,
   mouth). The 17 jaw points (0–16) are left out: the two schemes place the face outline
   differently (mediapipe's oval is the boundary of its mesh, the kit's jaw vertices a line on
   the ICT jaw), and in photos these points slide along the silhouette anyway.
3. **Non-rigid.** Laplacian-regularised closest-point registration (as non-rigid ICP with a
   membrane smoothness term): the mediapipe vertices X minimise
   Σ_i |X_i − c_i|² + μ Σ_anchors |X_a − t_a|² + λ |L (X − X_0)|², with c_i the closest point of
   the ICT face surface to X_i, t_a the ICT landmark vertex of inner anchor a, L the uniform
   graph Laplacian of the mediapipe mesh and X_0 the similarity-aligned mesh; λ falls from 30 to
   0.3 over 25 iterations, each one sparse 468 × 468 solve.
4. **Projection.** Each registered mesh vertex (0–467) becomes its closest point on the ICT face
   mesh of :func:`facetex.geometry.ict.load_ict_face`: a triangle id of that mesh and the
   barycentric coordinates, plus the triangle's three ICT vertex ids (the same point in the
   kit's own numbering, independent of facetex's seam splitting).
5. **Iris points** (468–477) are not on the face mesh (it has holes at the eyes): they go on the
   ICT eyeball's outer surface (its sclera mesh, whose front is the cornea), triangles of the
   ICT polygons of ``M_ScleraRight`` / ``M_ScleraLeft``, with ``triangle`` −1. Each eye's axis
   runs from the centre of the eyeball (sphere fitted to the back half of the sclera) through
   the centre of the pupil (the centroid of the iris mesh's pupil-margin ring, the vertices at
   UV radius 0.1 around the iris texture's centre); the iris centre (468, 473) is where the
   axis leaves the eyeball, the four iris contour points (469–472, 474–477: +x, +y, −x, −y of the
   model frame, mediapipe's order, checked on skimage's astronaut photo) where lines parallel to
   the axis at the limbus radius (the edge of the iris mesh's flat disc, measured here) do.
   The eyeball centres and radii are stored too (a gaze model needs them).

Contour points: ``contour`` lists mediapipe's face oval (36 points, the outline of its mesh) and
``jawline`` those of them below the outer eye corners: in fitting they slide along the ICT
mesh's silhouette instead of being tied to their stored point.

Deterministic: a second run writes the same bytes (the date is kept when nothing else changed).
Usage::

    .venv/bin/python scripts/ict_correspondence.py            # write the file
    .venv/bin/python scripts/ict_correspondence.py --check    # exit 1 if it would change
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
from scipy.spatial import cKDTree

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "facetex" / "geometry" / "data" / "ict_mediapipe_478.json"
SCRIPT = "scripts/ict_correspondence.py"
FORMAT = "facetex-ict-mediapipe-correspondence/1"

#: Multi-PIE / iBUG 68-point index → mediapipe face-mesh vertex (see the module doc, step 1).
IBUG68_TO_MEDIAPIPE: tuple[int, ...] = (
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,  # 0–16 jaw
    70, 63, 105, 66, 107,  # 17–21 subject's right brow
    336, 296, 334, 293, 300,  # 22–26 subject's left brow
    168, 197, 5, 4,  # 27–30 nose bridge
    75, 97, 2, 326, 305,  # 31–35 nose base
    33, 160, 158, 133, 153, 144,  # 36–41 subject's right eye
    362, 385, 387, 263, 373, 380,  # 42–47 subject's left eye
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # 48–59 outer lips
    78, 82, 13, 312, 308, 317, 14, 87,  # 60–67 inner lips
)
JAW = tuple(range(17))
INNER = tuple(range(17, 68))

ANCHOR_WEIGHT = 10.0
LAMBDAS = (30.0,) * 5 + (10.0,) * 5 + (3.0,) * 5 + (1.0,) * 5 + (0.3,) * 5
CANDIDATES = 16  # nearest triangle centroids examined per closest-point query
TIE_TOLERANCE = 1e-9  # cm: closest-point distances closer than this are ties (a shared edge or vertex)
IRIS_ORDER = ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))  # 469–472 / 474–477 in (x, y)
PUPIL_RING_UV = (0.09, 0.11)  # UV radius band of the iris mesh's pupil margin


# -- geometry helpers ---------------------------------------------------------------------------


def umeyama(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity (s, R, t) with target ≈ s R source + t (Umeyama 1991)."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    a, b = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(b.T @ a / len(a))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ d @ vt
    scale = float(np.trace(np.diag(sigma) @ d) / (a * a).sum(axis=1).mean())
    return scale, rotation, mu_t - scale * rotation @ mu_s


def closest_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Barycentric coordinates (N, 3) of the closest point to p[i] on triangle (a[i], b[i], c[i])
    (Ericson, Real-Time Collision Detection, 5.1.5)."""
    ab, ac, ap = b - a, c - a, p - a
    bp, cp = p - b, p - c
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        v_in, w_in = vb / denom, vc / denom
        bary = np.stack([1.0 - v_in - w_in, v_in, w_in], axis=-1)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        t_ac = d2 / (d2 - d6)
        t_ab = d1 / (d1 - d3)
    regions = [  # lowest priority first; later ones overwrite
        ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), lambda: np.stack([0 * t_bc, 1 - t_bc, t_bc], -1)),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), lambda: np.stack([1 - t_ac, 0 * t_ac, t_ac], -1)),
        ((d6 >= 0) & (d5 <= d6), lambda: np.tile([0.0, 0.0, 1.0], (len(p), 1))),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), lambda: np.stack([1 - t_ab, t_ab, 0 * t_ab], -1)),
        ((d3 >= 0) & (d4 <= d3), lambda: np.tile([0.0, 1.0, 0.0], (len(p), 1))),
        ((d1 <= 0) & (d2 <= 0), lambda: np.tile([1.0, 0.0, 0.0], (len(p), 1))),
    ]
    for mask, value in regions:
        if mask.any():
            bary = np.where(mask[:, None], value(), bary)
    return bary


class Surface:
    """Exact closest points on a triangle mesh (k nearest centroids, checked, brute force where
    the check fails)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray) -> None:
        self.vertices, self.faces = vertices, faces
        corners = vertices[faces]
        self.centroids = corners.mean(axis=1)
        self.reach = float(np.linalg.norm(corners - self.centroids[:, None], axis=-1).max())
        self.tree = cKDTree(self.centroids)

    def _best(self, points: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n, k = candidates.shape
        tri = self.faces[candidates.reshape(-1)]
        p = np.repeat(points, k, axis=0)
        v = self.vertices
        bary = closest_on_triangles(p, v[tri[:, 0]], v[tri[:, 1]], v[tri[:, 2]])
        q = np.einsum("nk,nkc->nc", bary, v[tri])
        dist = np.linalg.norm(q - p, axis=1).reshape(n, k)
        # A point on an edge or a vertex is as close to every triangle that shares it: take the
        # lowest triangle index among those, so rounding (which differs between CPUs) never picks.
        tied = dist <= dist.min(axis=1, keepdims=True) + TIE_TOLERANCE
        pick = np.argmin(np.where(tied, candidates, np.iinfo(np.int64).max), axis=1)
        rows = np.arange(n)
        return candidates[rows, pick], bary.reshape(n, k, 3)[rows, pick], dist[rows, pick]

    def closest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(triangle ids (N,), barycentrics (N, 3), distances (N,)) of the closest surface points."""
        cdist, cand = self.tree.query(points, k=CANDIDATES)
        tri, bary, dist = self._best(points, cand)
        # A triangle nearer than `dist` has its centroid within dist + reach: where such
        # centroids lie beyond the k examined, examine all of them.
        for i in np.nonzero(cdist[:, -1] < dist + self.reach)[0]:
            near = np.asarray(sorted(self.tree.query_ball_point(points[i], dist[i] + self.reach)))
            t, b, d = self._best(points[i : i + 1], near[None, :])
            tri[i], bary[i], dist[i] = t[0], b[0], d[0]
        return tri, bary, dist

    def points(self, tri: np.ndarray, bary: np.ndarray) -> np.ndarray:
        return np.einsum("nk,nkc->nc", bary, self.vertices[self.faces[tri]])


def ray_hits(origins: np.ndarray, direction: np.ndarray, vertices: np.ndarray, faces: np.ndarray):
    """Farthest hit of each ray origin + t·direction (t > 0) on the triangles: (triangle, bary)
    (Möller–Trumbore, every ray against every triangle)."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    e1, e2 = b - a, c - a
    pvec = np.cross(direction, e2)
    det = (e1 * pvec).sum(-1)
    tris, barys = [], []
    for o in origins:
        with np.errstate(divide="ignore", invalid="ignore"):
            tvec = o - a
            u = (tvec * pvec).sum(-1) / det
            qvec = np.cross(tvec, e1)
            v = (qvec @ direction) / det
            t = (qvec * e2).sum(-1) / det
        ok = (np.abs(det) > 1e-12) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        if not ok.any():
            raise SystemExit("a ray missed the eyeball surface")
        best = int(np.nonzero(ok)[0][np.argmax(t[ok])])
        tris.append(best)
        barys.append([1.0 - u[best] - v[best], u[best], v[best]])
    return np.asarray(tris), np.asarray(barys)


def fit_sphere(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares sphere (centre, radius)."""
    a = np.c_[2.0 * points, np.ones(len(points))]
    x = np.linalg.lstsq(a, (points**2).sum(axis=1), rcond=None)[0]
    return x[:3], float(np.sqrt(x[3] + x[:3] @ x[:3]))


def uniform_laplacian(faces: np.ndarray, n: int) -> scipy.sparse.csr_matrix:
    from facetex.geometry.topology import vertex_adjacency

    adjacency = vertex_adjacency(faces, n)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    return (scipy.sparse.identity(n, format="csr") - scipy.sparse.diags(1.0 / degree) @ adjacency).tocsr()


# -- the steps ------------------------------------------------------------------------------------


def register(mp_vertices, mp_faces, surface, anchors_mp, anchors_ict):
    """Steps 2–3: (aligned X_0, registered X, similarity (s, R, t), per-iteration log)."""
    inner = np.asarray(INNER)
    scale, rotation, shift = umeyama(mp_vertices[anchors_mp[inner]], anchors_ict[inner])
    x0 = scale * mp_vertices @ rotation.T + shift
    n = x0.shape[0]
    lap = uniform_laplacian(mp_faces, n)
    smooth = (lap.T @ lap).tocsc()
    select = np.zeros(n)
    target = np.zeros((n, 3))
    select[anchors_mp[inner]] = ANCHOR_WEIGHT
    target[anchors_mp[inner]] = anchors_ict[inner]
    x = x0.copy()
    for lam in LAMBDAS:
        tri, bary, _ = surface.closest(x)
        c = surface.points(tri, bary)
        system = (scipy.sparse.diags(1.0 + select) + lam * smooth).tocsc()
        rhs = c + select[:, None] * target + lam * (smooth @ x0)
        x = np.column_stack([scipy.sparse.linalg.spsolve(system, rhs[:, k]) for k in range(3)])
    return x0, x, (scale, rotation, shift)


def eyeball_points(obj, material: str, iris_material: str):
    """Step 5 for one eye: (points' ICT polygon, ICT vertex ids, bary, position), centre, radius,
    limbus radius."""
    from facetex.geometry.ict_obj import triangulate

    sel = np.nonzero(obj.polygon_material == obj.materials.index(material))[0]
    faces, poly = triangulate(obj.polygon_vertices[sel])
    used = np.unique(faces)
    sclera = obj.vertices[used]
    centre, _ = fit_sphere(sclera)
    back = sclera[sclera[:, 2] < centre[2]]  # the back half: no cornea bulge
    centre, radius = fit_sphere(back)

    isel = obj.polygon_material == obj.materials.index(iris_material)
    pv, pt = obj.polygon_vertices[isel], obj.polygon_texcoords[isel]
    ok = pv >= 0
    uv_radius = np.linalg.norm(obj.texcoords[pt[ok]] - 0.5, axis=1)
    ring = np.unique(pv[ok][(uv_radius > PUPIL_RING_UV[0]) & (uv_radius < PUPIL_RING_UV[1])])
    pupil = obj.vertices[ring].mean(axis=0)
    axis = (pupil - centre) / np.linalg.norm(pupil - centre)
    # The limbus: the edge of the iris mesh's (slightly domed) disc, the farthest from the axis of
    # its vertices not more than 0.1 mm behind the pupil's plane.
    iris = obj.vertices[np.unique(pv[ok])] - pupil
    height = iris @ axis
    radial = np.linalg.norm(iris - height[:, None] * axis, axis=1)
    limbus = float(radial[height > -0.01].max())
    # In-plane directions of the eye: x and y of the model frame made orthogonal to the axis.
    ex = np.array([1.0, 0.0, 0.0]) - axis[0] * axis
    ex /= np.linalg.norm(ex)
    ey = np.cross(axis, ex)
    origins = [centre] + [centre + limbus * (dx * ex + dy * ey) for dx, dy in IRIS_ORDER]
    tri, bary = ray_hits(np.asarray(origins), axis, obj.vertices, faces)
    ict = faces[tri]
    position = np.einsum("nk,nkc->nc", bary, obj.vertices[ict])
    return sel[poly[tri]], ict, bary, position, centre, radius, limbus


def build_record(previous: dict | None) -> tuple[dict, str]:
    """The record and its text; the date of ``previous`` (the stored record) is kept when
    nothing else differs."""
    from facetex.detect.landmarks import FACE_OVAL
    from facetex.geometry.ict import load_ict_face
    from facetex.geometry.ict_files import file_sha256, ict_dir, INDICES_NAME, NPZ_NAME, OBJ_NAME
    from facetex.geometry.ict_obj import read_ict_obj
    from facetex.geometry.topology import load_face_mesh

    folder = ict_dir()
    face = load_ict_face(folder)
    obj = read_ict_obj(folder)
    mp = load_face_mesh()
    ict_v, ict_f = face.topology.vertices, face.topology.faces
    surface = Surface(ict_v, ict_f)

    anchors_mp = np.asarray(IBUG68_TO_MEDIAPIPE)
    anchors_ict = ict_v[face.landmark_vertices]
    x0, x, (scale, rotation, shift) = register(mp.vertices, mp.faces, surface, anchors_mp, anchors_ict)

    tri_rigid, bary_rigid, dist_rigid = surface.closest(x0)
    tri, bary, dist = surface.closest(x)
    on_surface = surface.points(tri, bary)
    # Round as stored, then measure on the stored values.
    bary = np.round(bary, 7)
    bary[:, 2] = np.round(1.0 - bary[:, 0] - bary[:, 1], 7)
    on_surface = surface.points(tri, bary)

    anchor_mm = 10.0 * np.linalg.norm(on_surface[anchors_mp] - anchors_ict, axis=1)
    aligned_mm = 10.0 * np.linalg.norm(x0[anchors_mp] - anchors_ict, axis=1)
    moved_mm = 10.0 * np.linalg.norm(x - x0, axis=1)

    right = eyeball_points(obj, "M_ScleraRight", "M_IrisRight")
    left = eyeball_points(obj, "M_ScleraLeft", "M_IrisLeft")

    eye_y = mp.vertices[[33, 263], 1].mean()
    oval = [int(i) for i in FACE_OVAL]
    jawline = [i for i in oval if mp.vertices[i, 1] < eye_y]

    points = []
    for i in range(468):
        ict = face.ict_vertex[ict_f[tri[i]]]
        points.append(["face", int(tri[i]), int(face.triangle_polygon[tri[i]]), ict.tolist(), bary[i].tolist()])
    for name, eye in (("eyeball_right", right), ("eyeball_left", left)):
        polygon, ict, eb, _, _, _, _ = eye
        eb = np.round(eb, 7)
        eb[:, 2] = np.round(1.0 - eb[:, 0] - eb[:, 1], 7)
        for k in range(5):
            points.append([name, -1, int(polygon[k]), ict[k].tolist(), eb[k].tolist()])

    def stats(values):
        return {"mean": round(float(np.mean(values)), 3), "max": round(float(np.max(values)), 3)}

    sources = {
        "face_mesh": {
            "file": "facetex/geometry/data/face_mesh.json",
            "sha256": file_sha256(REPO / "facetex" / "geometry" / "data" / "face_mesh.json"),
        },
        "ict_facekit": {name: file_sha256(folder / name) for name in (OBJ_NAME, NPZ_NAME, INDICES_NAME)},
    }
    record = {
        "format": FORMAT,
        "script": SCRIPT,
        "date": None,
        "licence": (
            "derived from the ICT Face Model Light (MIT, Copyright (c) 2020 USC Institute for Creative "
            "Technologies; notice in ICT-FaceKit-LICENSE beside this file) and mediapipe's canonical face "
            "mesh (Apache-2.0, NOTICE beside this file)"
        ),
        "inputs": sources,
        "units": "cm (residuals in mm)",
        "frame": "facetex model frame = the ICT frame (x subject's left, y up, z towards the viewer)",
        "similarity_mediapipe_to_ict": {
            "scale": round(scale, 7),
            "rotation": np.round(rotation, 7).tolist(),
            "translation": np.round(shift, 7).tolist(),
            "note": "x_ict = scale * rotation @ x_mediapipe + translation (fitted on the 51 inner anchors)",
        },
        "residual_mm": {
            "anchors_68": stats(anchor_mm),
            "anchors_inner_51": stats(anchor_mm[list(INNER)]),
            "anchors_jaw_17": stats(anchor_mm[list(JAW)]),
            "anchors_68_after_similarity_only": stats(aligned_mm),
            "closest_point_468_after_similarity": stats(10.0 * dist_rigid),
            "closest_point_468_after_registration": stats(10.0 * dist),
            "nonrigid_displacement_468": stats(moved_mm),
        },
        "anchors": {
            "ibug68_to_mediapipe": list(IBUG68_TO_MEDIAPIPE),
            "ict_landmark_vertices": face.ict_vertex[face.landmark_vertices].tolist(),
            "residual_mm": np.round(anchor_mm, 3).tolist(),
            "residual_after_similarity_mm": np.round(aligned_mm, 3).tolist(),
            "used_in_registration": list(INNER),
        },
        "contour": oval,
        "jawline": jawline,
        "eyeballs": {
            name: {
                "centre": np.round(eye[4], 5).tolist(),
                "radius": round(eye[5], 5),
                "limbus_radius": round(eye[6], 5),
                "pupil_surface_point": np.round(eye[3][0], 5).tolist(),
            }
            for name, eye in (("right", right), ("left", left))
        },
        "columns": ["surface", "triangle", "ict_polygon", "ict_vertices", "barycentric"],
        "notes": (
            "points[i] is mediapipe landmark i. surface 'face': triangle is a triangle of "
            "facetex.geometry.ict.load_ict_face().topology; ict_vertices are the same triangle's ICT vertex "
            "ids. surface 'eyeball_right'/'eyeball_left' (iris points 468-477): triangle -1, the point lies on "
            "the ICT sclera/cornea mesh (ict_vertices, barycentric); 468/473 on the eye's axis, the contour "
            "points at the limbus radius in +x, +y, -x, -y. contour: mediapipe's face oval; jawline: its points "
            "below the outer eye corners (they slide along the silhouette in fitting)."
        ),
        "points": points,
    }
    old_date = (previous or {}).get("date")
    if previous is not None and _serialise({**record, "date": old_date}) == _serialise(previous):
        record["date"] = old_date
    else:
        record["date"] = datetime.date.today().isoformat()
    return record, _serialise(record)


def _serialise(record: dict) -> str:
    """JSON: one line per top-level field, and one line per point (readable, small diffs)."""
    compact = {"separators": (",", ":"), "ensure_ascii": False}
    fields = [f" {json.dumps(k)}: {json.dumps(v, **compact)}" for k, v in record.items() if k != "points"]
    points = ",\n".join("  " + json.dumps(p, **compact) for p in record.get("points", []))
    return "{\n" + ",\n".join(fields) + ',\n "points": [\n' + points + "\n ]\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file would change")
    args = parser.parse_args(argv)
    old = None
    if args.output.is_file():
        old = json.loads(args.output.read_text(encoding="utf-8"))
    record, text = build_record(old)
    print(json.dumps(record["residual_mm"], indent=1), file=sys.stderr)
    current = args.output.read_text(encoding="utf-8") if args.output.is_file() else None
    if args.check:
        same = current == text
        print("up to date" if same else f"{args.output} would change", file=sys.stderr)
        return 0 if same else 1
    if current != text:
        from facetex.io.atomic import write_text

        write_text(args.output, text)
        args.output.chmod(0o644)
    print(f"wrote {args.output} (sha256 {hashlib.sha256(text.encode()).hexdigest()[:16]})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
