from __future__ import annotations

import numpy as np
import pytest
import torch

from facetex.errors import ShapeMismatchError
from facetex.texture.color import (
    RGB_TO_YIQ,
    YIQ_TO_RGB,
    luminance,
    mask_out,
    replace_luminance,
    rgb_to_yiq,
    rgb_to_yiq_tensor,
    yiq_to_rgb,
    yiq_to_rgb_tensor,
)


def test_matrices_are_inverse_and_ntsc():
    np.testing.assert_allclose(RGB_TO_YIQ @ YIQ_TO_RGB, np.eye(3), atol=1e-14)
    np.testing.assert_allclose(RGB_TO_YIQ[0], [0.299, 0.587, 0.114])


def test_known_colours():
    white, grey = np.ones(3), np.full(3, 0.5)
    np.testing.assert_allclose(rgb_to_yiq(white), [1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(rgb_to_yiq(grey), [0.5, 0.0, 0.0], atol=1e-6)
    red = rgb_to_yiq(np.array([1.0, 0.0, 0.0]))
    assert red[0] == pytest.approx(0.299) and red[1] > 0.5 and red[2] > 0.2


def test_round_trip_numpy(rng):
    rgb = rng.random((17, 11, 3))
    np.testing.assert_allclose(yiq_to_rgb(rgb_to_yiq(rgb)), rgb, atol=1e-12)
    rgb32 = rgb.astype(np.float32)
    assert rgb_to_yiq(rgb32).dtype == np.float32
    np.testing.assert_allclose(yiq_to_rgb(rgb_to_yiq(rgb32)), rgb32, atol=1e-6)


def test_round_trip_torch_matches_numpy(rng):
    rgb = rng.random((2, 3, 5, 7))
    t = torch.from_numpy(rgb)
    yiq = rgb_to_yiq_tensor(t)
    np.testing.assert_allclose(yiq.numpy(), rgb_to_yiq(np.moveaxis(rgb, 1, -1)).transpose(0, 3, 1, 2), atol=1e-12)
    np.testing.assert_allclose(yiq_to_rgb_tensor(yiq).numpy(), rgb, atol=1e-12)
    with pytest.raises(ShapeMismatchError):
        rgb_to_yiq_tensor(torch.zeros(2, 4, 5, 5))


def test_luminance_is_y(rng):
    rgb = rng.random((6, 4, 3)).astype(np.float32)
    y = luminance(rgb)
    assert y.shape == (6, 4) and y.dtype == np.float32
    np.testing.assert_allclose(y, rgb_to_yiq(rgb)[..., 0], atol=1e-6)
    with pytest.raises(ShapeMismatchError):
        luminance(rng.random((6, 4)))


def test_mask_out_sets_hidden_pixels_to_half(rng):
    image = rng.random((5, 6, 3)).astype(np.float32)
    mask = np.zeros((5, 6), bool)
    mask[1:3, 2:5] = True
    out = mask_out(image, mask)
    assert out.dtype == np.float32 and out.shape == image.shape
    np.testing.assert_array_equal(out[mask], image[mask])
    assert np.all(out[~mask] == 0.5)
    grey = rng.random((5, 6))
    out_grey = mask_out(grey, mask)
    np.testing.assert_array_equal(out_grey[mask], grey[mask])
    assert np.all(out_grey[~mask] == 0.5)
    assert image[0, 0, 0] != 0.5  # the input is not modified
    with pytest.raises(ShapeMismatchError):
        mask_out(image, mask.T)


def test_replace_luminance_keeps_chroma(rng):
    rgb = 0.25 + 0.5 * rng.random((8, 8, 3)).astype(np.float32)
    y = np.clip(luminance(rgb) + 0.05 * rng.standard_normal((8, 8)).astype(np.float32), 0.2, 0.8)
    out = replace_luminance(rgb, y)
    yiq_in, yiq_out = rgb_to_yiq(rgb), rgb_to_yiq(out)
    np.testing.assert_allclose(yiq_out[..., 0], y, atol=1e-5)
    np.testing.assert_allclose(yiq_out[..., 1:], yiq_in[..., 1:], atol=1e-5)
    saturated = replace_luminance(np.tile([1.0, 0.0, 0.0], (2, 2, 1)), np.ones((2, 2)))
    assert saturated.min() >= 0.0 and saturated.max() <= 1.0
