"""Thread count of torch during the fitting stage's small-tensor work."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["torch_threads"]


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch on ``count`` intra-op threads inside the block, restoring the setting after.

    The fitting stage's tensors are small (a few thousand samples × ~100 unknowns; UV maps of
    at most 2048²), so extra threads gain little, while on a loaded machine OpenMP's spinning
    worker threads made fits and unwraps 5–10× slower (``docs/design.md#fitting``).
    The setting is process-wide: do not run other torch work in parallel threads meanwhile.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
