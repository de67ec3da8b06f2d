"""facetex: photorealistic facial texture inference from a single photo.

Follows Saito, Wei, Hu, Nagano & Li, "Photorealistic Facial Texture Inference Using Deep
Neural Networks", CVPR 2017 (arXiv:1612.00523). See ``facetex.types`` for the conventions
(image ranges, frames, UV origin, SH layout) every stage follows.
"""

__version__ = "0.1.0"
