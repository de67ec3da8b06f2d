from __future__ import annotations

import numpy as np
import pytest
import torch

from facetex.errors import ShapeMismatchError
from facetex.texture.gram import gram


def naive_gram(features: np.ndarray) -> np.ndarray:
    n, c, h, w = features.shape
    out = np.zeros((n, c, c))
    for b in range(n):
        for i in range(c):
            for j in range(c):
                total = 0.0
                for y in range(h):
                    for x in range(w):
                        total += features[b, i, y, x] * features[b, j, y, x]
                out[b, i, j] = total / (h * w)
    return out


@pytest.mark.parametrize("channels_last", [False, True])
def test_gram_matches_naive_loops(rng, channels_last):
    feats = rng.standard_normal((3, 4, 5, 6))
    t = torch.from_numpy(feats)
    if channels_last:
        t = t.contiguous(memory_format=torch.channels_last)
    result = gram(t)
    assert result.shape == (3, 4, 4)
    np.testing.assert_allclose(result.numpy(), naive_gram(feats), rtol=1e-12, atol=1e-12)


def test_gram_batches_are_independent(rng):
    feats = torch.from_numpy(rng.standard_normal((4, 3, 7, 7)))
    together = gram(feats)
    for b in range(4):
        torch.testing.assert_close(together[b], gram(feats[b : b + 1])[0])


@pytest.mark.parametrize("channels_last", [False, True])
def test_symmetric_backward_passes_gradcheck(rng, channels_last):
    feats = torch.from_numpy(rng.standard_normal((2, 3, 4, 5)))
    if channels_last:
        feats = feats.contiguous(memory_format=torch.channels_last)
    feats.requires_grad_(True)
    assert torch.autograd.gradcheck(gram, (feats,), eps=1e-6, atol=1e-9)


def test_backward_matches_autograd_of_plain_formula(rng):
    feats = torch.from_numpy(rng.standard_normal((2, 3, 4, 4))).requires_grad_(True)
    weight = torch.from_numpy(rng.standard_normal((2, 3, 3)))  # not symmetric on purpose
    (gram(feats) * weight).sum().backward()
    ours = feats.grad.clone()
    feats.grad = None
    flat = feats.reshape(2, 3, 16)
    ((flat @ flat.transpose(1, 2) / 16) * weight).sum().backward()
    torch.testing.assert_close(ours, feats.grad)


def test_gram_rejects_bad_shapes():
    with pytest.raises(ShapeMismatchError):
        gram(torch.zeros(3, 4, 5))
    with pytest.raises(ShapeMismatchError):
        gram(torch.zeros(1, 4, 0, 5))
