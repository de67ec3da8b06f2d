"""Named index groups of mediapipe's 478-point face landmarks, and pupil helpers.

Left and right are the SUBJECT's, as in mediapipe's own names: ``LEFT_EYE`` is the subject's
left eye, which appears on the image's right in a frontal photo. Indices 0–467 are the face
mesh vertices, 468–477 the iris points added by ``refine_landmarks=True``: 468 is the centre of
the subject's right iris and 469–472 its contour, 473 the centre of the left iris and 474–477
its contour (mediapipe's iris model outputs the centre first, then four contour points).

The groups are derived at import from mediapipe's connection sets
(``mediapipe.python.solutions.face_mesh_connections``): each set of edges is walked into
ordered closed contours or open chains. Where a set holds two curves (the lips' outer and inner
contours, each eyebrow's upper and lower lines) they are told apart by graph distance over the
mesh tessellation: the outer lip contour is nearer the face oval, the lower brow line nearer the
eye. Contour direction (clockwise or not in the image) is not specified. Mediapipe names no
nostrils; ``LEFT_NOSTRIL`` / ``RIGHT_NOSTRIL`` are mirror-image polygons around the nostril
openings chosen by inspection of frontal London photos (see the tests for the check).
"""

from __future__ import annotations

import os
from collections import defaultdict, deque
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from mediapipe.python.solutions import face_mesh_connections as _mp

from facetex.errors import DatabaseError, ShapeMismatchError

__all__ = [
    "NUM_LANDMARKS",
    "NUM_MESH_LANDMARKS",
    "FACE_OVAL",
    "LEFT_EYE",
    "RIGHT_EYE",
    "LEFT_EYEBROW",
    "RIGHT_EYEBROW",
    "LIPS_OUTER",
    "LIPS_INNER",
    "NOSE_TIP",
    "LEFT_NOSTRIL",
    "RIGHT_NOSTRIL",
    "LEFT_IRIS",
    "RIGHT_IRIS",
    "LEFT_IRIS_CENTER",
    "RIGHT_IRIS_CENTER",
    "eye_centers",
    "pupils_from_tem",
]

Edges = Iterable[tuple[int, int]]

#: Landmarks per face with ``refine_landmarks=True`` (468 mesh vertices + 10 iris points).
NUM_LANDMARKS = 478
#: Vertices of the face mesh (the first 468 landmarks).
NUM_MESH_LANDMARKS = 468


def _adjacency(edges: Edges) -> dict[int, set[int]]:
    adj: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    return adj


def _curves(edges: Edges) -> list[tuple[tuple[int, ...], bool]]:
    """Split an edge set into its connected curves: (ordered vertex indices, is_closed).

    Each component must be a simple path or a simple cycle. A cycle starts at its smallest
    index; a path starts at its smaller end.
    """
    adj = _adjacency(edges)
    if any(len(n) > 2 for n in adj.values()):
        raise ValueError("edge set is not a union of simple curves")
    seen: set[int] = set()
    curves = []
    for start in sorted(adj):
        if start in seen:
            continue
        ends = sorted(v for v in _component(adj, start) if len(adj[v]) == 1)
        first = ends[0] if ends else min(_component(adj, start))
        order = [first]
        prev, cur = None, first
        while True:
            nxt = sorted(n for n in adj[cur] if n != prev)
            if not nxt or nxt[0] == first:
                break
            prev, cur = cur, nxt[0]
            order.append(cur)
        seen.update(order)
        curves.append((tuple(order), not ends))
    return curves


def _component(adj: dict[int, set[int]], start: int) -> set[int]:
    comp, stack = {start}, [start]
    while stack:
        for n in adj[stack.pop()]:
            if n not in comp:
                comp.add(n)
                stack.append(n)
    return comp


def _hops_from(sources: Iterable[int]) -> dict[int, int]:
    """Graph distance (edges of the mesh tessellation) from a set of vertices to every vertex."""
    adj = _adjacency(_mp.FACEMESH_TESSELATION)
    dist = {s: 0 for s in sources}
    queue = deque(dist)
    while queue:
        v = queue.popleft()
        for n in adj[v]:
            if n not in dist:
                dist[n] = dist[v] + 1
                queue.append(n)
    return dist


def _mean_hops(curve: tuple[int, ...], dist: dict[int, int]) -> float:
    return float(np.mean([dist[v] for v in curve]))


def _single_loop(edges: Edges) -> tuple[int, ...]:
    curves = _curves(edges)
    if len(curves) != 1 or not curves[0][1]:
        raise ValueError("expected a single closed contour")
    return curves[0][0]


def _lips() -> tuple[tuple[int, ...], tuple[int, ...]]:
    loops = [c for c, closed in _curves(_mp.FACEMESH_LIPS) if closed]
    if len(loops) != 2:
        raise ValueError("expected two lip contours")
    to_oval = _hops_from(FACE_OVAL)
    outer, inner = sorted(loops, key=lambda c: _mean_hops(c, to_oval))
    return outer, inner


def _eyebrow(edges: Edges, eye: tuple[int, ...]) -> tuple[int, ...]:
    """Closed brow polygon: lower line from its outer end, then the upper line back."""
    chains = [c for c, closed in _curves(edges) if not closed]
    if len(chains) != 2:
        raise ValueError("expected two eyebrow lines")
    to_eye = _hops_from(eye)
    lower, upper = sorted(chains, key=lambda c: _mean_hops(c, to_eye))
    to_oval = _hops_from(FACE_OVAL)

    def from_outer_end(chain: tuple[int, ...]) -> tuple[int, ...]:
        return chain if to_oval[chain[0]] <= to_oval[chain[-1]] else chain[::-1]

    return from_outer_end(lower) + from_outer_end(upper)[::-1]


def _nose_tip() -> int:
    """The vertex where the nose's midline meets its alar contour (4 edges): the pronasale."""
    junctions = [v for v, n in _adjacency(_mp.FACEMESH_NOSE).items() if len(n) == 4]
    if len(junctions) != 1:
        raise ValueError("expected one junction in the nose contour")
    return junctions[0]


def _iris(edges: Edges) -> tuple[int, ...]:
    ring = _single_loop(edges)
    centre = min(ring) - 1  # the iris model's output order: centre, then the 4 contour points
    return (centre, *ring)


#: Closed contour of the face outline (36 points).
FACE_OVAL: tuple[int, ...] = _single_loop(_mp.FACEMESH_FACE_OVAL)
#: Closed contours of the eye openings (16 points each).
LEFT_EYE: tuple[int, ...] = _single_loop(_mp.FACEMESH_LEFT_EYE)
RIGHT_EYE: tuple[int, ...] = _single_loop(_mp.FACEMESH_RIGHT_EYE)
#: Closed eyebrow polygons (10 points each: lower line outer → inner, upper line inner → outer).
LEFT_EYEBROW: tuple[int, ...] = _eyebrow(_mp.FACEMESH_LEFT_EYEBROW, LEFT_EYE)
RIGHT_EYEBROW: tuple[int, ...] = _eyebrow(_mp.FACEMESH_RIGHT_EYEBROW, RIGHT_EYE)
#: Closed outer and inner lip contours (20 points each).
LIPS_OUTER, LIPS_INNER = _lips()
#: The tip of the nose (the most forward landmark of a frontal face).
NOSE_TIP: int = _nose_tip()
#: Iris points, centre first then the four contour points.
LEFT_IRIS: tuple[int, ...] = _iris(_mp.FACEMESH_LEFT_IRIS)
RIGHT_IRIS: tuple[int, ...] = _iris(_mp.FACEMESH_RIGHT_IRIS)
LEFT_IRIS_CENTER: int = LEFT_IRIS[0]
RIGHT_IRIS_CENTER: int = RIGHT_IRIS[0]
#: Closed polygons around the nostril openings (mirror images of each other), outer end first.
RIGHT_NOSTRIL: tuple[int, ...] = (219, 218, 237, 44, 238, 20, 60, 75, 59)
LEFT_NOSTRIL: tuple[int, ...] = (439, 438, 457, 274, 458, 250, 290, 305, 289)


def eye_centers(landmarks: np.ndarray) -> np.ndarray:
    """Iris centres of one face.

    Parameters
    ----------
    landmarks : (478, 2) or (478, 3) array, mediapipe landmarks with iris refinement, x and y
        in any 2D frame (typically image pixels).

    Returns
    -------
    (2, 2) float64: row 0 the subject's RIGHT iris centre (image left in a frontal photo),
    row 1 the subject's LEFT; columns (x, y). The same order as :func:`pupils_from_tem`.

    Raises
    ------
    ShapeMismatchError
        Not (478, 2|3), e.g. landmarks computed without ``refine_landmarks``.
    """
    lm = np.asarray(landmarks)
    if lm.ndim != 2 or lm.shape[0] != NUM_LANDMARKS or lm.shape[1] not in (2, 3):
        raise ShapeMismatchError(
            f"expected (478, 2) or (478, 3) landmarks with iris points, got {lm.shape}"
        )
    return lm[[RIGHT_IRIS_CENTER, LEFT_IRIS_CENTER], :2].astype(np.float64)


def pupils_from_tem(path: str | os.PathLike[str]) -> np.ndarray:
    """Pupil positions from a WebMorph / Psychomorph ``.tem`` file (the London set's).

    The file's first line is the number of points, then one ``x y`` line per point in image
    pixels (further lines describe template lines and are ignored). Points 0 and 1 are the
    pupils; in the London photos point 0 is on the image's left, i.e. the subject's right eye.

    Returns
    -------
    (2, 2) float64: row 0 the subject's right pupil, row 1 the left; columns (x, y) in pixels of
    the photo (the same frame as detection landmarks).

    Raises
    ------
    DatabaseError
        The file is missing or not a valid template.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="strict").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatabaseError(f"cannot read landmark template {path}: {exc}") from exc
    try:
        count = int(lines[0].strip())
        points = np.array([[float(v) for v in lines[1 + i].split()[:2]] for i in range(2)])
    except (IndexError, ValueError) as exc:
        raise DatabaseError(f"{path} is not a valid .tem landmark template") from exc
    if count < 2 or points.shape != (2, 2) or not np.all(np.isfinite(points)):
        raise DatabaseError(f"{path} is not a valid .tem landmark template")
    return points
