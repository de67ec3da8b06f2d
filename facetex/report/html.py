"""The HTML report of one facetex result, with an offline three.js viewer of the textured face.

``write_report(out_dir, ...)`` writes ``out_dir/report.html`` and its files in
``out_dir/report_files/``; the page needs no network and opens from disk (``file://``) or from
any static web server:

* images are PNG/JPEG files in ``report_files/``; the CSS is inlined;
* the viewer uses three.js from the installed npm package (``node_modules/three``, pinned in
  ``package.json``), never a CDN. Chromium refuses ES-module scripts and ``fetch()`` on
  ``file://`` URLs, so each needed module (``build/three.module.js``, ``build/three.core.js``,
  ``examples/jsm/loaders/GLTFLoader.js``, ``examples/jsm/controls/OrbitControls.js`` and their
  imports) is copied as a *classic* script holding the module's unchanged text in a string, its
  import specifiers rewritten to ``facetex-module:<path>``; ``assets/viewer.js`` turns them into
  Blob URLs and imports them. three.js's MIT licence is copied beside them. The GLB is embedded
  as base64 in ``report_files/face_glb.js`` for the same reason.
* Without three.js (``npm ci`` not run) the report is still written, and its viewer section says
  why there is no viewer.

The viewer sets ``window.__viewerReady = true`` after its first frame (``__viewerError`` on
failure), which ``tests/report`` uses to drive headless Chromium.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template

import numpy as np

from facetex import __version__
from facetex.errors import InputImageError, OutputError
from facetex.io.atomic import atomic_dir, write_text
from facetex.types import PartialAlbedo

__all__ = [
    "ASSETS_DIR",
    "REPORT_NAME",
    "VIEWER_MODULES",
    "SubjectWeight",
    "find_three",
    "map_panels",
    "write_report",
]

REPORT_NAME = "report.html"
ASSETS_DIR = "report_files"
# Entry points of the viewer, as paths inside the three npm package; their imports follow.
VIEWER_MODULES = (
    "build/three.module.js",
    "examples/jsm/loaders/GLTFLoader.js",
    "examples/jsm/controls/OrbitControls.js",
)
_MODULE_PREFIX = "facetex-module:"
# Static imports at the start of a line: `import ... from 'x'`, `export ... from 'x'`, `import 'x'`.
# (JSDoc lines such as " * @three_import import ... from '...'" start with "*" and do not match.)
_IMPORT_RE = re.compile(
    r"""^(?P<head>[ \t]*(?:import|export)\b[^;'"]*?\bfrom\s*|[ \t]*import\s*)(?P<q>['"])(?P<spec>[^'"\n]+)(?P=q)""",
    re.MULTILINE,
)
_MAX_PHOTO_SIDE = 1024
_MAX_MAP_SIDE = 1024
_THUMB_SIDE = 112


@dataclass(frozen=True)
class SubjectWeight:
    """A database subject and its blend weight (paper §4, convex weights).

    Attributes
    ----------
    name : subject id or name as stored in the database.
    weight : its weight w_k (≥ 0 and summing to 1 for the convex solver).
    thumbnail : optional (H, W, 3) float32 RGB in [0, 1], e.g. the subject's albedo.
    """

    name: str
    weight: float
    thumbnail: np.ndarray | None = field(default=None, repr=False)


def map_panels(
    partial: PartialAlbedo, final_albedo: np.ndarray, normal_map: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The report's texture maps, captioned, in the order the pipeline makes them.

    Parameters
    ----------
    partial : the unwrapped maps of the photo (partial albedo, visibility, low-frequency albedo).
    final_albedo : (R, R, 3) float32 in [0, 1], e.g. ``SynthesisResult.rgb``.
    normal_map : (R, R, 3) float32 in [0, 1] from :func:`facetex.render.maps.detail_maps`, or None.

    Returns
    -------
    caption → image, for ``write_report(maps=...)``.
    """
    panels = {
        "partial albedo (photo / shading)": partial.albedo,
        "visibility": partial.mask,
        "low-frequency albedo I(α_al)": partial.lowfreq,
        "final albedo": final_albedo,
    }
    if normal_map is not None:
        panels["normal map"] = normal_map
    return panels


# --------------------------------------------------------------------------- three.js


def find_three(three_dir: str | os.PathLike[str] | None = None) -> tuple[Path | None, str]:
    """Locate the npm package ``three``.

    Looks at ``three_dir``, else ``$FACETEX_THREE_DIR``, else ``node_modules/three`` in the
    repository that holds this package, else in the current directory.

    Returns
    -------
    (path, "") when found, else (None, reason) with a one-line reason for the report.
    """
    if three_dir is not None:
        candidates = [Path(three_dir)]
    elif os.environ.get("FACETEX_THREE_DIR"):
        candidates = [Path(os.environ["FACETEX_THREE_DIR"])]
    else:
        candidates = [
            Path(__file__).resolve().parents[2] / "node_modules" / "three",
            Path.cwd() / "node_modules" / "three",
        ]
    for path in candidates:
        if all((path / module).is_file() for module in VIEWER_MODULES):
            return path, ""
    where = ", ".join(str(p) for p in candidates)
    return None, (
        f"three.js was not found (looked in {where}); run `make setup` (which runs `npm ci` in the "
        "facetex checkout) to install it, then write the report again"
    )


def _resolve(importer: str, spec: str) -> str:
    if spec == "three":
        return "build/three.module.js"
    if spec.startswith("three/addons/"):
        return "examples/jsm/" + spec[len("three/addons/") :]
    if spec.startswith("./") or spec.startswith("../"):
        return posixpath.normpath(posixpath.join(posixpath.dirname(importer), spec))
    raise OutputError(f"three.js module {importer} imports {spec!r}, which the report cannot bundle")


def _wrapped_modules(three_dir: Path) -> dict[str, str]:
    """Every module the viewer needs → its classic-script wrapper text (module doc)."""
    wrapped: dict[str, str] = {}
    pending = list(VIEWER_MODULES)
    while pending:
        key = pending.pop()
        if key in wrapped:
            continue
        source = (three_dir / key).read_text(encoding="utf-8")
        deps: list[str] = []

        def link(match: re.Match[str], key: str = key, deps: list[str] = deps) -> str:
            dep = _resolve(key, match.group("spec"))
            deps.append(dep)
            q = match.group("q")
            return f"{match.group('head')}{q}{_MODULE_PREFIX}{dep}{q}"

        linked = _IMPORT_RE.sub(link, source)
        wrapped[key] = (
            f"// three.js {key} (MIT licence: see LICENSE beside this folder), the module's text in a\n"
            "// string so that a classic <script> can load it from file:// (see facetex/report/html.py).\n"
            f"facetexModules.define({json.dumps(key)}, {json.dumps(linked)});\n"
        )
        pending.extend(dep for dep in deps if dep not in wrapped)
    return wrapped


def _three_version(three_dir: Path) -> str:
    try:
        return str(json.loads((three_dir / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


# --------------------------------------------------------------------------- images


def _as_image(name: str, image: np.ndarray) -> np.ndarray:
    """Validate a report image: (H, W) or (H, W, 3) float in [0, 1] or bool → (H, W, 3) float32."""
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputImageError(f"report image {name!r} must be (H, W) or (H, W, 3), got shape {arr.shape}")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)) or arr.min() < 0.0 or arr.max() > 1.0:
        raise InputImageError(f"report image {name!r} must hold finite values in [0, 1]")
    return arr


def _save_image(image: np.ndarray, path: Path, max_side: int) -> None:
    from PIL import Image

    pil = Image.fromarray(np.round(image * 255.0).astype(np.uint8))
    scale = max_side / max(pil.size)
    if scale < 1.0:
        pil = pil.resize((max(1, round(pil.width * scale)), max(1, round(pil.height * scale))), Image.LANCZOS)
    if path.suffix == ".jpg":
        pil.save(path, format="JPEG", quality=90)
    else:
        pil.save(path, format="PNG")


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "image"


class _ImageWriter:
    """Writes images into the (temporary) assets folder under unique names; returns their URLs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.used: set[str] = set()

    def __call__(
        self, prefix: str, caption: str, image: np.ndarray, *, max_side: int, jpeg: bool = False
    ) -> str:
        stem = f"{prefix}-{_slug(caption)}"
        name, n = stem, 1
        while name in self.used:
            n += 1
            name = f"{stem}-{n}"
        self.used.add(name)
        filename = name + (".jpg" if jpeg else ".png")
        _save_image(image, self.folder / filename, max_side)
        return f"{ASSETS_DIR}/{filename}"


# --------------------------------------------------------------------------- HTML pieces


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _figure(url: str, caption: str) -> str:
    return f'<figure><img src="{_esc(url)}" alt="{_esc(caption)}" loading="lazy"><figcaption>{_esc(caption)}</figcaption></figure>'


def _section(anchor: str, heading: str, body: str) -> str:
    return f'<section id="{anchor}">\n<h2>{_esc(heading)}</h2>\n{body}\n</section>'


def _missing(what: str) -> str:
    return f'<p class="note">No {_esc(what)} for this result.</p>'


def _summary_section(facts: Mapping[str, object], downloads: Sequence[str]) -> str:
    parts = []
    if facts:
        rows = "\n".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in facts.items())
        parts.append(f'<dl class="facts">\n{rows}\n</dl>')
    if downloads:
        links = " · ".join(f'<a href="{_esc(u)}">{_esc(posixpath.basename(u))}</a>' for u in downloads)
        parts.append(f"<p>Files: {links}</p>")
    return _section("summary", "Summary", "\n".join(parts) or _missing("summary"))


def _figures_section(anchor: str, heading: str, figures: list[str], what: str, *, layout: str = "") -> str:
    if not figures:
        return _section(anchor, heading, _missing(what))
    cls = f"grid {layout}".strip()
    return _section(anchor, heading, f'<div class="{cls}">\n' + "\n".join(figures) + "\n</div>")


def _subjects_section(subjects: Sequence[SubjectWeight], thumbs: list[str | None], total: int) -> str:
    if not subjects:
        return _section("subjects", "Database subjects by weight", _missing("blend weights"))
    top = max(s.weight for s in subjects) or 1.0
    has_thumbs = any(t is not None for t in thumbs)
    head = (
        "<tr><th>#</th>"
        + ("<th></th>" if has_thumbs else "")
        + '<th>subject</th><th class="num">weight</th><th style="width:40%"></th></tr>'
    )
    rows = []
    for rank, (subject, thumb) in enumerate(zip(subjects, thumbs), start=1):
        cell = ""
        if has_thumbs:
            cell = f'<td><img class="thumb" src="{_esc(thumb)}" alt=""></td>' if thumb else "<td></td>"
        width = 100.0 * max(subject.weight, 0.0) / top
        rows.append(
            f"<tr><td>{rank}</td>{cell}<td>{_esc(subject.name)}</td>"
            f'<td class="num">{subject.weight:.4f}</td><td><div class="bar" style="width:{width:.1f}%"></div></td></tr>'
        )
    shown = sum(s.weight for s in subjects)
    note = (
        f'<p class="note">Top {len(subjects)} of {total} subjects with non-zero weight; '
        f"their weights sum to {shown:.4f}. The blended Gram matrices of these exemplars are the "
        "synthesis target (paper §4).</p>"
    )
    return _section(
        "subjects",
        "Database subjects by weight",
        f"<table>\n{head}\n" + "\n".join(rows) + f"\n</table>\n{note}",
    )


def _timings_section(timings: Mapping[str, float], memory: Mapping[str, float]) -> str:
    if not timings:
        return _section("timings", "Timings", _missing("timings"))
    # "texture.synthesis" is a part of "texture": only top-level stages add up to the total
    total = float(sum(v for k, v in timings.items() if "." not in k))
    has_mem = bool(memory)
    head = (
        '<tr><th>stage</th><th class="num">seconds</th><th class="num">share</th>'
        + ('<th class="num">peak memory (MiB)</th>' if has_mem else "")
        + "</tr>"
    )
    rows = []
    for stage, seconds in timings.items():
        share = 100.0 * seconds / total if total > 0 else 0.0
        mem = ""
        if has_mem:
            mem = f'<td class="num">{memory[stage]:.0f}</td>' if stage in memory else '<td class="num">–</td>'
        rows.append(
            f'<tr><td>{_esc(stage)}</td><td class="num">{seconds:.2f}</td><td class="num">{share:.1f} %</td>{mem}</tr>'
        )
    peak = f'<td class="num">{max(memory.values()):.0f}</td>' if has_mem else ""
    rows.append(
        f'<tr class="total"><td>all stages</td><td class="num">{total:.2f}</td><td class="num">100 %</td>{peak}</tr>'
    )
    return _section("timings", "Timings", f"<table>\n{head}\n" + "\n".join(rows) + "\n</table>")


def _viewer_section(available: bool, reason: str, three_version: str) -> str:
    if not available:
        return _section(
            "viewer-section", "3D viewer", f'<p class="note warn">No interactive viewer: {_esc(reason)}.</p>'
        )
    body = (
        '<div class="viewer" id="viewer"><canvas aria-label="textured face, 3D"></canvas></div>\n'
        '<div class="toolbar"><button type="button" id="viewer-reset">Front view</button>'
        f"<span>Drag to orbit · scroll to zoom · right-drag to pan · three.js {_esc(three_version)}</span></div>"
    )
    return _section("viewer-section", "3D viewer", body)


# --------------------------------------------------------------------------- entry point


def _check_numbers(name: str, values: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for key, value in values.items():
        number = float(value)
        if not np.isfinite(number) or number < 0:
            raise ValueError(f"{name}[{key!r}] must be a finite number >= 0, got {value!r}")
        out[str(key)] = number
    return out


def write_report(
    out_dir: str | os.PathLike[str],
    *,
    title: str = "facetex result",
    facts: Mapping[str, object] | None = None,
    photo: np.ndarray | None = None,
    overlay: np.ndarray | None = None,
    maps: Mapping[str, np.ndarray] | None = None,
    renders: Mapping[str, np.ndarray] | None = None,
    subjects: Sequence[SubjectWeight] = (),
    max_subjects: int = 10,
    timings: Mapping[str, float] | None = None,
    peak_memory_mib: Mapping[str, float] | None = None,
    glb_path: str | os.PathLike[str] | None = None,
    downloads: Sequence[str | os.PathLike[str]] = (),
    three_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write ``out_dir/report.html`` and ``out_dir/report_files/`` (module doc).

    Every argument but ``out_dir`` is optional; a section without data says so.

    Parameters
    ----------
    out_dir : folder of the result (created if missing). An existing ``report_files/`` is
        replaced only once the new one is complete; ``report.html`` is written last, atomically.
    title : page title.
    facts : short named facts shown in the summary (photo source, UV resolution, solver, ...).
    photo : (H, W, 3) float32 RGB in [0, 1], the input photo.
    overlay : (H, W, 3) float32 in [0, 1], the photo with the fit drawn on it
        (:func:`facetex.fitting.overlay.draw_overlay`).
    maps : caption → (R, R, 3) or (R, R) image in [0, 1] (bool allowed), shown side by side in
        the given order: partial albedo, visibility, low-frequency albedo, final albedo, normal.
    renders : caption → (H, W, 3) float32 sRGB in [0, 1], e.g. ``{r.label: r.image}`` of
        :func:`facetex.render.mitsuba_render.render_views`.
    subjects : database subjects with their blend weights; the ``max_subjects`` heaviest with
        non-zero weight are listed.
    timings : stage → seconds. peak_memory_mib : stage → peak resident memory in MiB.
    glb_path : the ``face.glb`` to show in the viewer (embedded, base64).
    downloads : output files to link from the summary (paths inside ``out_dir`` or relative).
    three_dir : the npm package ``three``; default: see :func:`find_three`.

    Returns
    -------
    Path of ``report.html``.

    Raises
    ------
    InputImageError
        If an image is not (H, W) / (H, W, 3) with values in [0, 1].
    ValueError
        On a negative or non-finite timing, weight or memory figure.
    OutputError
        If ``out_dir`` cannot be written, or ``glb_path`` cannot be read.
    """
    out = Path(out_dir)
    facts = dict(facts or {})
    photo_img = None if photo is None else _as_image("photo", photo)
    overlay_img = None if overlay is None else _as_image("overlay", overlay)
    map_imgs = {str(k): _as_image(str(k), v) for k, v in (maps or {}).items()}
    render_imgs = {str(k): _as_image(str(k), v) for k, v in (renders or {}).items()}
    timings = _check_numbers("timings", timings or {})
    memory = _check_numbers("peak_memory_mib", peak_memory_mib or {})
    for s in subjects:
        if not np.isfinite(s.weight):
            raise ValueError(f"weight of subject {s.name!r} is not finite")
    ranked = sorted((s for s in subjects if s.weight > 0), key=lambda s: -s.weight)
    top = ranked[: max(0, int(max_subjects))]
    thumbs_in = [
        None if s.thumbnail is None else _as_image(f"thumbnail of {s.name}", s.thumbnail) for s in top
    ]
    glb = None
    if glb_path is not None:
        try:
            glb = Path(glb_path).read_bytes()
        except OSError as exc:
            raise OutputError(
                f"cannot read the GLB for the viewer: {glb_path}: {exc.strerror or exc}"
            ) from exc

    three, reason = find_three(three_dir)
    if three is not None and glb is None:
        three, reason = None, "no face.glb was given to the report"
    three_version = _three_version(three) if three is not None else ""

    with atomic_dir(out / ASSETS_DIR) as tmp:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a web server must read it
        save = _ImageWriter(tmp)
        input_figs = []
        if photo_img is not None:
            input_figs.append(
                _figure(save("input", "photo", photo_img, max_side=_MAX_PHOTO_SIDE, jpeg=True), "Input photo")
            )
        if overlay_img is not None:
            input_figs.append(
                _figure(
                    save("input", "fit", overlay_img, max_side=_MAX_PHOTO_SIDE, jpeg=True),
                    "Fitted face model (mesh and pose)",
                )
            )
        map_figs = [_figure(save("map", k, v, max_side=_MAX_MAP_SIDE), k) for k, v in map_imgs.items()]
        render_figs = [
            _figure(save("render", k, v, max_side=_MAX_PHOTO_SIDE), k) for k, v in render_imgs.items()
        ]
        thumbs = [
            None if t is None else save("subject", s.name, t, max_side=_THUMB_SIDE)
            for s, t in zip(top, thumbs_in)
        ]
        scripts = ""
        if three is not None:
            scripts = _write_viewer_files(tmp, three, glb)

    links = []
    for item in downloads:
        p = Path(item)
        rel = os.path.relpath(p, out) if p.is_absolute() else str(p)
        links.append(Path(rel).as_posix())
    sections = [
        _summary_section(facts, links),
        _figures_section("input", "Input and fit", input_figs, "input photo", layout="wide"),
        _figures_section("maps", "Texture maps (UV)", map_figs, "texture maps"),
        _viewer_section(three is not None, reason, three_version),
        _figures_section("renders", "Renders", render_figs, "renders", layout="triple"),
        _subjects_section(top, thumbs, len(ranked)),
        _timings_section(timings, memory),
    ]
    template = Template(
        resources.files("facetex.report").joinpath("assets/report_template.html").read_text("utf-8")
    )
    css = resources.files("facetex.report").joinpath("assets/report.css").read_text("utf-8")
    page = template.substitute(
        title=_esc(title),
        version=_esc(__version__),
        date=_dt.date.today().isoformat(),
        css=css,
        sections="\n".join(sections),
        assets_dir=ASSETS_DIR,
        scripts=scripts,
    )
    path = out / REPORT_NAME
    write_text(path, page)
    return path


def _write_viewer_files(folder: Path, three: Path, glb: bytes) -> str:
    """Copy the viewer's scripts into ``folder``; return the <script> tags that load them."""
    viewer_js = resources.files("facetex.report").joinpath("assets/viewer.js").read_text("utf-8")
    (folder / "viewer.js").write_text(viewer_js, encoding="utf-8")
    tags = [f'<script src="{ASSETS_DIR}/viewer.js"></script>']
    three_out = folder / "three"
    for key, text in sorted(_wrapped_modules(three).items()):
        target = three_out / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        tags.append(f'<script src="{ASSETS_DIR}/three/{key}"></script>')
    licence = three / "LICENSE"
    if licence.is_file():
        (three_out / "LICENSE").write_bytes(licence.read_bytes())
    data = "window.facetexViewerData = {glb: " + json.dumps(base64.b64encode(glb).decode("ascii")) + "};\n"
    (folder / "face_glb.js").write_text(data, encoding="utf-8")
    tags.append(f'<script src="{ASSETS_DIR}/face_glb.js"></script>')
    return "\n".join(tags)
