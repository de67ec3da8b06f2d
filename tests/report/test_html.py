"""report.html: sections, copied assets, the bundled three.js modules, the no-three.js fallback."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from facetex.errors import InputImageError
from facetex.report import SubjectWeight, find_three, map_panels, write_report
from facetex.report.layout import ASSETS_DIR
from facetex.report.viewer_bundle import VIEWER_MODULES
from facetex.types import PartialAlbedo

SECTIONS = ["summary", "input", "maps", "viewer-section", "renders", "subjects", "timings"]


class _Refs(HTMLParser):
    """Collects section ids, <img src> and <script src> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs["id"])
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "script" and "src" in attrs:
            self.scripts.append(attrs["src"])


def _parse(path: Path) -> _Refs:
    refs = _Refs()
    refs.feed(path.read_text(encoding="utf-8"))
    return refs


def _without_specifiers(js: str) -> str:
    return re.sub(r"(from\s*['\"])[^'\"]*(['\"])", r"\1\2", js)


def _partial(albedo: np.ndarray) -> PartialAlbedo:
    mask = albedo[..., 0] > 0.4
    return PartialAlbedo(
        albedo=np.where(mask[..., None], albedo, 0.5).astype(np.float32),
        mask=mask,
        lowfreq=albedo * 0.9,
        shading=np.ones_like(albedo),
        chart=np.ones(mask.shape, dtype=bool),
    )


def _full_report(folder: Path, mesh, maps, **kwargs) -> Path:
    photo = data.astronaut()[:128, 128:256].astype(np.float32) / 255.0
    return write_report(
        folder,
        title="Test <face> & co",
        facts={"photo": "astronaut", "UV resolution": "128²"},
        photo=photo,
        overlay=photo * 0.5,
        maps=map_panels(_partial(mesh.albedo), mesh.albedo, maps.normal),
        renders={"environment · front": photo, "studio · front": photo[::-1]},
        subjects=[
            SubjectWeight("london-003", 0.25, mesh.albedo),
            SubjectWeight("london-001", 0.7, mesh.albedo),
            SubjectWeight("london-009", 0.0),
            SubjectWeight("london-002", 0.05),
        ],
        max_subjects=2,
        timings={"fit": 1.5, "texture": 42.0, "texture.synthesis": 40.0},
        peak_memory_mib={"texture": 910.0},
        glb_path=folder / "face.glb",
        downloads=[folder / "face.glb", "face.obj"],
        **kwargs,
    )


def test_report_has_every_section_and_its_files(face_result):
    folder, mesh, maps = face_result
    path = _full_report(folder, mesh, maps)
    assert path == folder / "report.html"
    refs = _parse(path)
    assert refs.sections == SECTIONS
    text = path.read_text(encoding="utf-8")
    assert "Test &lt;face&gt; &amp; co" in text and "<face>" not in text  # escaped
    # 2 input + 5 maps + 2 renders + 2 thumbnails, all present on disk.
    assert len(refs.images) == 11
    for caption in ("partial albedo", "visibility", "low-frequency albedo", "final albedo", "normal map"):
        assert f"<figcaption>{caption}" in text
    for src in refs.images + refs.scripts:
        assert not re.match(r"^[a-z]+://", src), src  # no network, no absolute paths
        assert (folder / src).is_file(), src
    # Subjects: the two heaviest of three non-zero, heaviest first; zero weight not counted.
    assert text.index("london-001") < text.index("london-003")
    assert "london-002" not in text and "london-009" not in text
    assert "Top 2 of 3 subjects" in text
    assert "43.50" in text and "83.50" not in text  # total seconds: sub-stages are not added again
    assert 'href="face.glb"' in text and 'href="face.obj"' in text


def test_viewer_bundle_is_complete_and_embeds_the_glb(face_result):
    folder, mesh, maps = face_result
    _full_report(folder, mesh, maps)
    assets = folder / ASSETS_DIR
    three, _ = find_three()
    defined, referenced = set(), set()
    for wrapper in (assets / "three").rglob("*.js"):
        text = wrapper.read_text(encoding="utf-8")
        match = re.search(r'^facetexModules\.define\(("[^"]+"), (".*")\);$', text, re.MULTILINE | re.DOTALL)
        assert match, wrapper
        key, source = json.loads(match.group(1)), json.loads(match.group(2))
        defined.add(key)
        referenced.update(re.findall(r"['\"]facetex-module:([^'\"]+)['\"]", source))
        # Every static import was rewritten; the module text is otherwise the package's own.
        assert not re.search(r"^\s*import\b[^;'\"]*?from\s*['\"](?!facetex-module:)", source, re.MULTILINE)
        original = (three / key).read_text(encoding="utf-8")
        assert _without_specifiers(source) == _without_specifiers(original)
    assert set(VIEWER_MODULES) <= defined and referenced <= defined
    assert "build/three.core.js" in defined  # three.module.js's own dependency came along
    assert (assets / "three" / "LICENSE").read_text().startswith("The MIT License")
    glb_js = (assets / "face_glb.js").read_text()
    payload = json.loads(glb_js[glb_js.index("{glb: ") + 6 : glb_js.rindex("}")])
    assert base64.b64decode(payload) == (folder / "face.glb").read_bytes()
    scripts = _parse(folder / "report.html").scripts
    assert scripts[0] == f"{ASSETS_DIR}/viewer.js" and scripts[-1] == f"{ASSETS_DIR}/face_glb.js"


def test_without_three_the_report_says_why(face_result, tmp_path):
    folder, mesh, maps = face_result
    out = tmp_path / "no_three"
    (out).mkdir()
    (out / "face.glb").write_bytes((folder / "face.glb").read_bytes())
    path = _full_report(out, mesh, maps, three_dir=tmp_path / "nowhere")
    refs = _parse(path)
    assert refs.sections == SECTIONS and refs.scripts == []
    text = path.read_text()
    assert "No interactive viewer" in text and "npm ci" in text
    assert not (out / ASSETS_DIR / "three").exists()


def test_empty_report_still_has_all_sections(tmp_path):
    path = write_report(tmp_path / "empty")
    refs = _parse(path)
    assert refs.sections == SECTIONS and refs.images == [] and refs.scripts == []
    assert path.read_text().count('class="note') >= 6


def test_rewrite_replaces_old_files(face_result, tmp_path):
    out = tmp_path / "again"
    tex = face_result[1].albedo
    write_report(out, maps={"old map": tex})
    write_report(out, maps={"new map": tex})
    names = sorted(p.name for p in (out / ASSETS_DIR).iterdir() if p.name != ".facetex-result")
    assert names == ["map-new-map.png"]


def test_bad_input_writes_nothing(tmp_path):
    out = tmp_path / "bad"
    with pytest.raises(InputImageError, match="normal"):
        write_report(out, maps={"normal": np.full((8, 8, 3), 1.5, dtype=np.float32)})
    with pytest.raises(ValueError, match="timings"):
        write_report(out, timings={"fit": -1.0})
    with pytest.raises(ValueError, match="not finite"):
        write_report(out, subjects=[SubjectWeight("a", float("nan"))])
    assert not out.exists()
