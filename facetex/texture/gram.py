"""Normalised Gram matrices of feature maps (paper §4), batched, with a symmetric backward.

G_l = F_l F_lᵀ / M_l, where F_l is the (C_l, M_l) matrix of layer l's features at its M_l = H_l·W_l
positions. Because G is symmetric, the gradient of a loss L through it is
∂L/∂F = (Ḡ + Ḡᵀ) F / M_l with Ḡ = ∂L/∂G: one batched matmul instead of the two autograd would
run for ``F @ F.T`` (exact; the speed-up is in ``docs/design.md#speed-on-a-cpu``).
"""

from __future__ import annotations

import torch

from facetex.errors import ShapeMismatchError

__all__ = ["gram"]


class _SymmetricGram(torch.autograd.Function):
    """G = F Fᵀ / M for F of shape (N, C, M); backward (Ḡ + Ḡᵀ) F / M."""

    @staticmethod
    def forward(ctx, features: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(features)
        positions = features.shape[-1]
        return torch.bmm(features, features.transpose(1, 2)) / positions

    @staticmethod
    def backward(ctx, grad_gram: torch.Tensor) -> torch.Tensor:  # noqa: D102
        (features,) = ctx.saved_tensors
        positions = features.shape[-1]
        return torch.bmm(grad_gram + grad_gram.transpose(1, 2), features) / positions


def gram(features: torch.Tensor) -> torch.Tensor:
    """Normalised Gram matrices of a batch of feature maps (paper §4).

    Parameters
    ----------
    features : (N, C, H, W) float tensor, any memory format (channels_last is read without a
        copy), any device; N may be any batch size.

    Returns
    -------
    (N, C, C) tensor of the same dtype, ``G[n] = F[n] F[n]ᵀ / (H·W)`` with ``F[n]`` the (C, H·W)
    matrix of image n's features. Differentiable (custom backward using the symmetry of G).

    Raises
    ------
    ShapeMismatchError
        If ``features`` is not 4-D or has no positions.
    """
    if features.ndim != 4:
        raise ShapeMismatchError(f"features must be (N, C, H, W), got {tuple(features.shape)}")
    n, c, h, w = features.shape
    if h * w == 0:
        raise ShapeMismatchError(f"features have no spatial positions: {tuple(features.shape)}")
    if features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
        # (N, H, W, C) storage: view as (N, M, C) and transpose, no copy.
        flat = features.permute(0, 2, 3, 1).reshape(n, h * w, c).transpose(1, 2)
    else:
        flat = features.reshape(n, c, h * w)
    return _SymmetricGram.apply(flat)
