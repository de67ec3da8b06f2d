"""facetex: photorealistic facial texture inference from a single photo.

Follows Saito, Wei, Hu, Nagano & Li, "Photorealistic Facial Texture Inference Using Deep
Neural Networks", CVPR 2017 (arXiv:1612.00523). See ``facetex.types`` for the conventions
(image ranges, frames, UV origin, SH layout) every stage follows.

Public API (imported lazily, so ``import facetex`` stays cheap)::

    facetex.infer(photo=None, *, database=None, config=None) -> InferenceResult
    facetex.fit(photo=None, *, model=None, config=None) -> FaceFit
    facetex.write_result(result, out_dir)
    facetex.build_database(photos, out_path, config) / facetex.load_database(path)
    facetex.InferConfig
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "infer": "facetex.api",
    "fit": "facetex.api",
    "write_result": "facetex.api",
    "open_database": "facetex.api",
    "build_database": "facetex.database.build",
    "load_database": "facetex.database.store",
    "InferConfig": "facetex.config",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'facetex' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
