"""Baselines: PCA albedo only, OpenCV inpainting of hidden texels."""

from __future__ import annotations

import numpy as np
import pytest

from facetex.errors import EmptyMaskError
from facetex.evaluation.baselines import inpaint_albedo, pca_albedo
from facetex.types import PartialAlbedo


def _ramp_partial(r=96):
    """A smooth colour ramp observed everywhere on a round chart except a hole."""
    yy, xx = np.mgrid[0:r, 0:r] / (r - 1)
    truth = np.stack([0.3 + 0.4 * xx, 0.5 + 0.2 * yy, 0.4 + 0.1 * xx * yy], axis=-1).astype(np.float32)
    chart = (xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.45**2
    hole = (np.abs(xx - 0.45) < 0.12) & (np.abs(yy - 0.5) < 0.1)
    mask = chart & ~hole
    albedo = np.where(mask[..., None], truth, 0.5).astype(np.float32)
    lowfreq = np.where(chart[..., None], 0.55, 0.5).astype(np.float32)
    partial = PartialAlbedo(albedo=albedo, mask=mask, lowfreq=lowfreq,
                            shading=mask[..., None].astype(np.float32) * np.ones(3, np.float32), chart=chart)
    return partial, truth, hole


def test_pca_albedo_is_the_lowfreq_on_the_chart():
    partial, _, _ = _ramp_partial()
    out = pca_albedo(partial)
    np.testing.assert_array_equal(out[partial.chart], partial.lowfreq[partial.chart])
    assert (out[~partial.chart] == 0.5).all()


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_inpainting_fills_a_hole_in_a_smooth_ramp(method):
    partial, truth, hole = _ramp_partial()
    out = inpaint_albedo(partial, method=method)
    assert out.dtype == np.float32 and out.shape == truth.shape
    np.testing.assert_array_equal(out[partial.mask], partial.albedo[partial.mask])
    assert np.abs(out[hole] - truth[hole]).max() < 0.06  # the 0.5 padding does not bleed in
    assert (out[~partial.chart] == 0.5).all()


def test_inpainting_errors():
    partial, _, _ = _ramp_partial()
    empty = PartialAlbedo(partial.albedo, np.zeros_like(partial.mask), partial.lowfreq, partial.shading, partial.chart)
    with pytest.raises(EmptyMaskError):
        inpaint_albedo(empty)
    with pytest.raises(ValueError):
        inpaint_albedo(partial, method="patchmatch")
