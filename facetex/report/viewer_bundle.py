"""The report's offline 3D viewer: three.js located, its modules wrapped as classic scripts, the
GLB embedded (how and why: :mod:`facetex.report.html`)."""

from __future__ import annotations

import base64
import json
import os
import posixpath
import re
from importlib import resources
from pathlib import Path

from facetex.errors import OutputError
from facetex.report.layout import ASSETS_DIR

__all__ = [
    "VIEWER_MODULES",
    "VENDORED_THREE",
    "find_three",
    "viewer_module_files",
    "three_package_version",
    "write_viewer_files",
]

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
#: The copy of three.js's viewer modules shipped inside the package (scripts/vendor_three.py).
VENDORED_THREE = Path(__file__).resolve().parent / "assets" / "three"


def find_three(three_dir: str | os.PathLike[str] | None = None) -> tuple[Path | None, str]:
    """Locate the npm package ``three``.

    Looks at ``three_dir``, else ``$FACETEX_THREE_DIR``, else ``node_modules/three`` in the
    repository that holds this package, else in the current directory, else the copy shipped
    in the package (:data:`VENDORED_THREE`, the version pinned in ``package-lock.json``).

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
            VENDORED_THREE,
        ]
    for path in candidates:
        if all((path / module).is_file() for module in VIEWER_MODULES):
            return path, ""
    where = ", ".join(str(p) for p in candidates)
    return None, (
        f"three.js was not found (looked in {where}); reinstall facetex (its package ships a copy) "
        "or run `make setup` (which runs `npm ci`) in a checkout, then write the report again"
    )


def _resolve(importer: str, spec: str) -> str:
    if spec == "three":
        return "build/three.module.js"
    if spec.startswith("three/addons/"):
        return "examples/jsm/" + spec[len("three/addons/") :]
    if spec.startswith("./") or spec.startswith("../"):
        return posixpath.normpath(posixpath.join(posixpath.dirname(importer), spec))
    raise OutputError(f"three.js module {importer} imports {spec!r}, which the report cannot bundle")


def viewer_module_files(three_dir: str | os.PathLike[str]) -> set[str]:
    """Paths inside the npm package ``three`` of every module the viewer loads (the entry points
    :data:`VIEWER_MODULES` and everything they import)."""
    return set(_wrapped_modules(Path(three_dir)))


def _wrapped_modules(three_dir: Path) -> dict[str, str]:
    """Every module the viewer needs → its classic-script wrapper text (:mod:`facetex.report.html`)."""
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


def three_package_version(three_dir: Path) -> str:
    try:
        return str(json.loads((three_dir / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def write_viewer_files(folder: Path, three: Path, glb: bytes) -> str:
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
