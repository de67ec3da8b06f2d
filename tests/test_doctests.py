"""The examples in docstrings run and give what they show (kornia's habit)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "facetex.checks",
    "facetex.cli.options",
    "facetex.evaluation.fidelity",
    "facetex.evaluation.prepare",
    "facetex.evaluation.textures",
    "facetex.geometry.uv",
    "facetex.stages",
    "facetex.texture.bands",
    "facetex.texture.fusion",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
