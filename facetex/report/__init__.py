"""The HTML report of a facetex result and its offline 3D viewer (``report.html``)."""

from facetex.report.html import SubjectWeight, find_three, map_panels, write_report

__all__ = ["SubjectWeight", "find_three", "map_panels", "write_report"]
