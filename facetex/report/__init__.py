"""The HTML report of a facetex result and its offline 3D viewer (``report.html``)."""

from facetex.report.html import write_report
from facetex.report.inputs import SubjectWeight, map_panels
from facetex.report.viewer_bundle import find_three

__all__ = ["SubjectWeight", "find_three", "map_panels", "write_report"]
