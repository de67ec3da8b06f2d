"""The sections of the report page, as HTML text (the page around them: :mod:`facetex.report.html`)."""

from __future__ import annotations

import html
import posixpath
from collections.abc import Mapping, Sequence

from facetex.report.inputs import SubjectWeight

__all__ = [
    "escape",
    "figure",
    "section",
    "missing",
    "summary_section",
    "figures_section",
    "subjects_section",
    "timings_section",
    "viewer_section",
]


def escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def figure(url: str, caption: str) -> str:
    return f'<figure><img src="{escape(url)}" alt="{escape(caption)}" loading="lazy"><figcaption>{escape(caption)}</figcaption></figure>'


def section(anchor: str, heading: str, body: str) -> str:
    return f'<section id="{anchor}">\n<h2>{escape(heading)}</h2>\n{body}\n</section>'


def missing(what: str) -> str:
    return f'<p class="note">No {escape(what)} for this result.</p>'


def summary_section(facts: Mapping[str, object], downloads: Sequence[str]) -> str:
    parts = []
    if facts:
        rows = "\n".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts.items())
        parts.append(f'<dl class="facts">\n{rows}\n</dl>')
    if downloads:
        links = " · ".join(f'<a href="{escape(u)}">{escape(posixpath.basename(u))}</a>' for u in downloads)
        parts.append(f"<p>Files: {links}</p>")
    return section("summary", "Summary", "\n".join(parts) or missing("summary"))


def figures_section(anchor: str, heading: str, figures: list[str], what: str, *, layout: str = "") -> str:
    if not figures:
        return section(anchor, heading, missing(what))
    cls = f"grid {layout}".strip()
    return section(anchor, heading, f'<div class="{cls}">\n' + "\n".join(figures) + "\n</div>")


def subjects_section(subjects: Sequence[SubjectWeight], thumbs: list[str | None], total: int) -> str:
    if not subjects:
        return section("subjects", "Database subjects by weight", missing("blend weights"))
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
            cell = f'<td><img class="thumb" src="{escape(thumb)}" alt=""></td>' if thumb else "<td></td>"
        width = 100.0 * max(subject.weight, 0.0) / top
        rows.append(
            f"<tr><td>{rank}</td>{cell}<td>{escape(subject.name)}</td>"
            f'<td class="num">{subject.weight:.4f}</td><td><div class="bar" style="width:{width:.1f}%"></div></td></tr>'
        )
    shown = sum(s.weight for s in subjects)
    note = (
        f'<p class="note">Top {len(subjects)} of {total} subjects with non-zero weight; '
        f"their weights sum to {shown:.4f}. The blended Gram matrices of these exemplars are the "
        "synthesis target (paper §4).</p>"
    )
    return section(
        "subjects",
        "Database subjects by weight",
        f"<table>\n{head}\n" + "\n".join(rows) + f"\n</table>\n{note}",
    )


def timings_section(timings: Mapping[str, float], memory: Mapping[str, float]) -> str:
    if not timings:
        return section("timings", "Timings", missing("timings"))
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
            f'<tr><td>{escape(stage)}</td><td class="num">{seconds:.2f}</td><td class="num">{share:.1f} %</td>{mem}</tr>'
        )
    peak = f'<td class="num">{max(memory.values()):.0f}</td>' if has_mem else ""
    rows.append(
        f'<tr class="total"><td>all stages</td><td class="num">{total:.2f}</td><td class="num">100 %</td>{peak}</tr>'
    )
    return section("timings", "Timings", f"<table>\n{head}\n" + "\n".join(rows) + "\n</table>")


def viewer_section(available: bool, reason: str, three_version: str) -> str:
    if not available:
        return section(
            "viewer-section", "3D viewer", f'<p class="note warn">No interactive viewer: {escape(reason)}.</p>'
        )
    body = (
        '<div class="viewer" id="viewer"><canvas aria-label="textured face, 3D"></canvas></div>\n'
        '<div class="toolbar"><button type="button" id="viewer-reset">Front view</button>'
        f"<span>Drag to orbit · scroll to zoom · right-drag to pan · three.js {escape(three_version)}</span></div>\n"
        # filled by viewer.js when the GLB carries the expression blendshapes (morph targets)
        '<div class="toolbar expressions" id="viewer-expressions" hidden></div>'
    )
    return section("viewer-section", "3D viewer", body)

