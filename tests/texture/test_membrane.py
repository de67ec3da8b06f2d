"""The membrane fill and the photo's colour carried into hidden texels."""

from __future__ import annotations

import numpy as np
import pytest

from facetex.errors import ShapeMismatchError
from facetex.texture.membrane import continue_photo_colour, solve_membrane


def test_membrane_is_harmonic_between_two_boundaries():
    """Between a column fixed at 0 and one fixed at 1, Laplace's solution is the straight ramp."""
    values = np.zeros((8, 11, 3))
    values[:, -1] = 1.0
    unknown = np.zeros((8, 11), bool)
    unknown[:, 1:-1] = True
    filled = solve_membrane(values, unknown, np.ones((8, 11), bool), None, np.zeros(3), 1e-9)
    ramp = np.broadcast_to(np.linspace(0.0, 1.0, 11)[1:-1], (8, 9)).ravel()
    np.testing.assert_allclose(filled[:, 0], ramp, atol=1e-6)


def test_the_photo_colour_meets_hidden_texels_without_an_edge():
    """A model albedo that is 0.1 too dark on one observed band and 0.1 too bright on another
    (the neck and the face of a fit that saw only the face): the hidden strip between them goes
    from one offset to the other, with no step at either edge, and the observed texels keep the
    photo's colour."""
    r = 128
    lowfreq = np.full((r, r, 3), 0.5, np.float32)
    partial = np.full((r, r, 3), 0.5, np.float32)
    mask = np.zeros((r, r), bool)
    mask[:48] = True
    partial[:48] = 0.6
    mask[80:] = True
    partial[80:] = 0.4
    out = continue_photo_colour(lowfreq, partial, mask)
    column = out[:, r // 2, 0]
    np.testing.assert_allclose(column[8:40], 0.6, atol=0.01)
    np.testing.assert_allclose(column[88:120], 0.4, atol=0.01)
    strip = column[48:80]
    assert np.all(np.diff(strip) <= 1e-3) and strip[0] > 0.57 and strip[-1] < 0.43
    assert np.abs(np.diff(column)).max() < 0.02  # no step anywhere
    unchanged = continue_photo_colour(lowfreq, partial, np.zeros((r, r), bool))
    np.testing.assert_array_equal(unchanged, lowfreq)
    with pytest.raises(ShapeMismatchError):
        continue_photo_colour(lowfreq, partial[:64], mask)


def test_hidden_skin_far_from_the_photo_takes_the_persons_overall_tone():
    """A person 0.15 darker than the model albedo everywhere the photo sees (a skin tone the
    database's PCA does not reach): hidden skin far away is darker by that much too, not the
    model's lighter colour (which met the face at the jaw with an edge); carry_tone=False keeps
    the model's colour far away, the former behaviour."""
    r = 128
    lowfreq = np.full((r, r, 3), 0.6, np.float32)
    partial = np.full((r, r, 3), 0.45, np.float32)
    mask = np.zeros((r, r), bool)
    mask[:40, 32:96] = True  # the face
    partial[:8, 32:96] = 0.30  # its rim, darker still (shading the SH model missed)
    out = continue_photo_colour(lowfreq, partial, mask)
    far = out[110:, :, 0]
    np.testing.assert_allclose(far, 0.45, atol=0.01)  # the median tone, not the rim's
    near = out[40:44, 40:88, 0]
    np.testing.assert_allclose(near, 0.45, atol=0.02)  # no step where the photo stops
    model_tone = continue_photo_colour(lowfreq, partial, mask, carry_tone=False)
    np.testing.assert_allclose(model_tone[110:, :, 0], 0.6, atol=0.01)
