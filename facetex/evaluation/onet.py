"""Gram distance under an independent network: MTCNN's ONet.

The detail metrics of :mod:`facetex.evaluation.metrics` and :mod:`facetex.evaluation.spectra`
are hand-made (spectra, high-pass RMS); this one is a texture-statistics distance under a
network other than the VGG-19 the synthesis matches Grams of. The one available here is the
output network (ONet) of MTCNN (Zhang et al. 2016, "Joint Face Detection and Alignment using
Multi-task Cascaded Convolutional Networks"), trained for face detection and landmarks on
48 × 48 face crops: its weights are shipped by the ``facenet-pytorch`` wheel
(``facenet_pytorch/data/onet.pt``, MIT licence), which facetex reads without importing the
package (its import pulls torchvision). Nothing in facetex was fitted against it.

What is compared. The first three convolutions of ONet (3 × 3, no padding), each followed by
its PReLU, the first two by 3 × 3 / stride-2 max-pooling (ceil mode):

==========  ========  =====================  ================================
layer       channels  receptive field (px)   at :data:`SCALE` = 512 px per face width
==========  ========  =====================  ================================
``prelu1``  32        3                      ~170 c/fw (texel-scale edges)
``prelu2``  64        9                      ~57 c/fw
``prelu3``  64        21                     ~24 c/fw
==========  ========  =====================  ================================

So the three layers span the mesoscopic band (24–96 c/fw, :data:`~facetex.evaluation.spectra
.MESOSCOPIC_BAND`) and the texel scale above it.

What ONet sees. The detail only: the high-pass of the texture's luminance Y (Y minus the
Gaussian low-pass at :data:`~facetex.evaluation.metrics.LOWPASS_CUTOFF`, as the other detail
metrics, taken as a normalised convolution over the region's texels so that nothing outside
the region enters), on mid-grey and repeated to three channels (on the texture itself the
Grams were ruled by skin tone, not detail: ``docs/evaluation.md``, "Gram distance under
ONet"). The high-pass is resampled to :data:`SCALE` texels per face width: from R × R with W
texels per face width (W = R on mediapipe's chart, ≈ 0.843 R on the ICT face tile,
:func:`facetex.evaluation.metrics.face_width_texels`) to S × S, S = round(R · SCALE / W), so the
layers see the same physical scales at 256² and 512² and on either layout. Input scaling as
facenet-pytorch's MTCNN feeds it: 0–255, (x − 127.5) / 128.

For a region M of the UV map, layer l's Gram is G_l = Σ_p f_p f_pᵀ / |P| over the positions P
whose whole receptive field lies inside M (so the chart's border and the grey outside never
enter), f_p the C_l-vector of features; the distance is the relative Frobenius error
‖G_l(estimate) − G_l(truth)‖ / ‖G_l(truth)‖ averaged over the three layers. 0 is the same
detail statistics. The Grams are uncentred (as Gatys et al.'s), so they also hold the layers'
response to flat grey, which no detail changes; the less texel-scale detail a resolution can
hold, the more that part weighs and the smaller the distances: compare them at one R only
(measured values: ``docs/evaluation.md``, "Gram distance under ONet").
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from facetex.errors import EmptyMaskError, MissingDependencyError, ShapeMismatchError
from facetex.evaluation.metrics import lowpass, lowpass_sigma
from facetex.paths import package_file
from facetex.texture.color import luminance

__all__ = ["LAYERS", "SCALE", "ONetGrams", "RegionGrams", "gram_distance"]

#: ONet layers whose Grams are compared.
LAYERS: tuple[str, ...] = ("prelu1", "prelu2", "prelu3")
#: Texels per face width the textures are resampled to before ONet sees them.
SCALE = 512

_INSTALL = "pip install --no-deps facenet-pytorch==2.6.0 (make setup installs it)"
#: Max-pooling (kernel, stride) after each layer's 3 × 3 valid convolution and PReLU; the last
#: layer's is not needed.
_POOLS: tuple[tuple[int, int] | None, ...] = ((3, 2), (3, 2), None)


def _weights_file() -> Path:
    # its __init__ imports torchvision: located, not imported
    return package_file(
        "facenet_pytorch", "data/onet.pt", distribution="facenet-pytorch",
        purpose="the ONet Gram distance", install=_INSTALL,
    )


@dataclass(frozen=True)
class RegionGrams:
    """ONet Grams of one texture over one region.

    Attributes
    ----------
    grams : layer → (C_l, C_l) float64 Gram, mean over the region's positions; a layer with no
        position inside the region is absent.
    positions : layer → number of positions averaged.
    """

    grams: dict[str, np.ndarray]
    positions: dict[str, int]


class ONetGrams:
    """The first three convolutions of MTCNN's ONet, frozen, for region Grams (module doc).

    Parameters
    ----------
    device : torch device name.

    Raises
    ------
    MissingDependencyError
        If facenet-pytorch (its ``data/onet.pt``) is not installed.
    """

    def __init__(self, device: str = "cpu") -> None:
        path = _weights_file()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            tensors = [
                (state[f"conv{i}.weight"], state[f"conv{i}.bias"], state[f"prelu{i}.weight"])
                for i in range(1, len(LAYERS) + 1)
            ]
        except (OSError, RuntimeError, KeyError, TypeError, EOFError, pickle.UnpicklingError) as exc:
            reason = type(exc).__name__
            raise MissingDependencyError(f"{path} is damaged ({reason}); reinstall facenet-pytorch: {_INSTALL}") from exc
        self.device = torch.device(device)
        self._layers = [tuple(t.float().to(self.device) for t in layer) for layer in tensors]

    @torch.no_grad()
    def region_grams(
        self, texture: np.ndarray, region: np.ndarray, *, resolution: float | None = None
    ) -> RegionGrams:
        """Grams of every layer of :data:`LAYERS` over ``region``.

        Parameters
        ----------
        texture : (R, R, 3) float RGB in [0, 1], a UV map.
        region : (R, R) bool, the texels to describe.
        resolution : W, texels per face width of the UV map (default R, mediapipe's chart;
            module doc).

        Raises
        ------
        ShapeMismatchError
            If texture and region differ in size or the texture is not RGB.
        EmptyMaskError
            If the region is empty.
        """
        tex = np.asarray(texture, dtype=np.float32)
        mask = np.asarray(region, dtype=bool)
        if tex.ndim != 3 or tex.shape[2] != 3 or mask.shape != tex.shape[:2]:
            raise ShapeMismatchError(f"texture {tex.shape} and region {mask.shape} must be (R, R, 3) and (R, R)")
        if not mask.any():
            raise EmptyMaskError("the region holds no texel")
        # the low-pass of the region's texels only (normalised convolution), so nothing from
        # outside the region reaches the detail inside it
        y = np.where(mask, luminance(tex), 0.0).astype(np.float64)
        width = float(resolution if resolution is not None else y.shape[0])
        size = SCALE if resolution is None else max(1, round(y.shape[0] * SCALE / width))
        sigma = lowpass_sigma(width)
        weight = lowpass(mask.astype(np.float64), sigma)
        low = lowpass(y, sigma) / np.maximum(weight, 1e-12)
        detail = np.where(mask, 0.5 + y - low, 0.5).astype(np.float32)
        x = torch.from_numpy(detail)[None, None].expand(1, 3, -1, -1).to(self.device)
        m = torch.from_numpy(mask.astype(np.float32))[None, None].to(self.device)
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        m = F.interpolate(m, size=(size, size), mode="nearest")
        m = -F.max_pool2d(-m, 5, stride=1, padding=2)  # the resampling's reach (≤ 2 px at SCALE)
        x = (x * 255.0 - 127.5) / 128.0
        grams: dict[str, np.ndarray] = {}
        positions: dict[str, int] = {}
        for name, (weight, bias, slope), pool in zip(LAYERS, self._layers, _POOLS, strict=True):
            x = F.prelu(F.conv2d(x, weight, bias), slope)
            # a position counts if its whole receptive field is in the region: erode the mask
            # through the same geometry (valid 3 × 3 window, then the pooling window)
            m = -F.max_pool2d(-m, 3, stride=1)
            inside = m[0, 0] > 0.5
            count = int(inside.sum())
            if count:
                f = x[0][:, inside].double()
                grams[name] = (f @ f.T / count).cpu().numpy()
                positions[name] = count
            if pool is not None:
                x = F.max_pool2d(x, pool[0], stride=pool[1], ceil_mode=True)
                m = -F.max_pool2d(-m, pool[0], stride=pool[1], ceil_mode=True)
        return RegionGrams(grams=grams, positions=positions)


def gram_distance(estimate: RegionGrams, truth: RegionGrams) -> float:
    """Mean over the layers both hold of ‖G(estimate) − G(truth)‖_F / ‖G(truth)‖_F; NaN if none.

    Both should describe the same region (:meth:`ONetGrams.region_grams`), so that their
    layers hold the same positions.
    """
    layers = [layer for layer in LAYERS if layer in estimate.grams and layer in truth.grams]
    if not layers:
        return float("nan")
    errors = [
        np.linalg.norm(estimate.grams[layer] - truth.grams[layer]) / np.linalg.norm(truth.grams[layer])
        for layer in layers
    ]
    return float(np.mean(errors))
