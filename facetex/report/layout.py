"""Where a report's files go: ``report.html`` in the result folder, its images and scripts in
``report_files/`` beside it (URLs in the page are relative to the result folder)."""

from __future__ import annotations

__all__ = ["REPORT_NAME", "ASSETS_DIR"]

REPORT_NAME = "report.html"
ASSETS_DIR = "report_files"
