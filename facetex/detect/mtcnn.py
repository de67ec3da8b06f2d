"""MTCNN face detector (Zhang et al. 2016) in plain torch, from facenet-pytorch's weights.

MTCNN ("Joint Face Detection and Alignment using Multi-task Cascaded Convolutional Networks")
is trained on WIDER FACE / CelebA, in-the-wild photos: it finds turned, tilted and partly hidden
faces that mediapipe's BlazeFace detectors (trained for selfie- and phone-camera framing) miss.
Its three networks' weights ship in the ``facenet-pytorch`` wheel (``facenet_pytorch/data/
{pnet,rnet,onet}.pt``, MIT licence); they are read here without importing the package (its
import pulls torchvision), as :mod:`facetex.evaluation.onet` does. Nothing is downloaded.

The cascade follows facenet-pytorch 2.6.0's ``detect_face`` (same thresholds, pyramid factor,
input scaling (x − 127.5) / 128 on 0–255 RGB, area resampling, box regression and NMS):

1. PNet, fully convolutional, on an image pyramid (scale 12 / ``min_size`` down by 0.709 per
   level): candidate 12 × 12 windows with a face score ≥ ``thresholds[0]``; NMS 0.5 per level,
   0.7 over all; box regression; boxes made square.
2. RNet on 24 × 24 resamples of each candidate: score ≥ ``thresholds[1]``, NMS 0.7, regression.
3. ONet on 48 × 48 resamples: score ≥ ``thresholds[2]``, five landmarks (the subject's right
   eye, left eye, nose tip, right and left mouth corners, image left to right in a frontal
   face), regression, NMS 0.7 on intersection over the smaller box.

Boxes are [x0, y0, x1, y1] pixels of the image given (eyebrows to chin, roughly square).

Threads: the networks are small (10–256 channels) and a pass is a few hundred small
convolutions, so torch's thread pool buys little and, on a busy 2-core machine, its waiting
threads cost a lot (a 2000-px photo: 0.3 s with one thread, 1–3 s with two while other
processes ran). :meth:`MTCNN.detect` therefore runs with one torch thread and restores the
caller's setting afterwards (not thread-safe, like the detector that holds it).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from facetex.errors import MissingDependencyError
from facetex.paths import package_file

__all__ = ["MTCNN", "MtcnnFaces"]

_INSTALL = "pip install --no-deps facenet-pytorch==2.6.0 (make setup installs it)"
_FACTOR = 0.709


@dataclass(frozen=True)
class MtcnnFaces:
    """Faces found by :class:`MTCNN` in one image, highest score first.

    Attributes
    ----------
    boxes : (K, 4) float64 [x0, y0, x1, y1] in pixels of the image given.
    scores : (K,) float64, ONet's face probability.
    points : (K, 5, 2) float64 (x, y): right eye, left eye, nose, right and left mouth corner
        (the subject's sides).
    """

    boxes: np.ndarray
    scores: np.ndarray
    points: np.ndarray


def _load(name: str) -> dict[str, torch.Tensor]:
    path = package_file(
        "facenet_pytorch", f"data/{name}.pt", distribution="facenet-pytorch",
        purpose="the MTCNN face detector", install=_INSTALL,
    )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, TypeError, EOFError, pickle.UnpicklingError) as exc:
        raise MissingDependencyError(
            f"{path} is damaged ({type(exc).__name__}); reinstall facenet-pytorch: {_INSTALL}"
        ) from exc
    return {k: v.float() for k, v in state.items()}


def _conv(x: torch.Tensor, s: dict[str, torch.Tensor], i: int) -> torch.Tensor:
    return F.prelu(F.conv2d(x, s[f"conv{i}.weight"], s[f"conv{i}.bias"]), s[f"prelu{i}.weight"])


def _dense(x: torch.Tensor, s: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    return F.linear(x, s[f"{name}.weight"], s[f"{name}.bias"])


class MTCNN:
    """The three MTCNN networks, frozen, on the CPU.

    Parameters
    ----------
    min_size : smallest face sought, in pixels of the image given (≥ 12).
    thresholds : score thresholds of PNet, RNet, ONet (facenet-pytorch's defaults).

    Raises
    ------
    MissingDependencyError
        facenet-pytorch (its weight files) is not installed.
    """

    def __init__(self, min_size: float = 20.0, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)) -> None:
        self.min_size = max(float(min_size), 12.0)
        self.thresholds = tuple(float(t) for t in thresholds)
        self._p, self._r, self._o = _load("pnet"), _load("rnet"), _load("onet")

    # ------------------------------------------------------------------------ networks
    def _pnet(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self._p
        x = F.max_pool2d(_conv(x, s, 1), 2, 2, ceil_mode=True)
        x = _conv(_conv(x, s, 2), s, 3)
        prob = torch.softmax(F.conv2d(x, s["conv4_1.weight"], s["conv4_1.bias"]), dim=1)
        reg = F.conv2d(x, s["conv4_2.weight"], s["conv4_2.bias"])
        return reg, prob[:, 1]

    def _rnet(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self._r
        x = F.max_pool2d(_conv(x, s, 1), 3, 2, ceil_mode=True)
        x = F.max_pool2d(_conv(x, s, 2), 3, 2, ceil_mode=True)
        x = _conv(x, s, 3).permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = F.prelu(_dense(x, s, "dense4"), s["prelu4.weight"])
        return _dense(x, s, "dense5_2"), torch.softmax(_dense(x, s, "dense5_1"), dim=1)[:, 1]

    def _onet(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s = self._o
        x = F.max_pool2d(_conv(x, s, 1), 3, 2, ceil_mode=True)
        x = F.max_pool2d(_conv(x, s, 2), 3, 2, ceil_mode=True)
        x = F.max_pool2d(_conv(x, s, 3), 2, 2, ceil_mode=True)
        x = _conv(x, s, 4).permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = F.prelu(_dense(x, s, "dense5"), s["prelu5.weight"])
        prob = torch.softmax(_dense(x, s, "dense6_1"), dim=1)[:, 1]
        return _dense(x, s, "dense6_2"), _dense(x, s, "dense6_3"), prob

    # ------------------------------------------------------------------------ cascade
    def detect(self, rgb: np.ndarray) -> MtcnnFaces:
        """Faces in one image.

        Parameters
        ----------
        rgb : (H, W, 3) float RGB in [0, 1].
        """
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._detect(rgb)
        finally:
            torch.set_num_threads(threads)

    @torch.no_grad()
    def _detect(self, rgb: np.ndarray) -> MtcnnFaces:
        import cv2

        arr = (np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0) * 255.0 - 127.5) * 0.0078125
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        img = torch.from_numpy(arr).permute(2, 0, 1)[None]
        h, w = arr.shape[:2]
        none = MtcnnFaces(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2)))

        # stage 1: PNet on the pyramid (area resampling, as facenet-pytorch; OpenCV's is the
        # faster here)
        scale = 12.0 / self.min_size
        found = []
        while min(h, w) * scale >= 12:
            size = (int(w * scale + 1), int(h * scale + 1))
            level = cv2.resize(arr, size, interpolation=cv2.INTER_AREA)
            reg, prob = self._pnet(torch.from_numpy(level).permute(2, 0, 1)[None])
            boxes = _pnet_boxes(reg[0], prob[0], scale, self.thresholds[0])
            if len(boxes):
                found.append(boxes[_nms(boxes[:, :4], boxes[:, 4], 0.5)])
            scale *= _FACTOR
        if not found:
            return none
        boxes = torch.cat(found)
        boxes = boxes[_nms(boxes[:, :4], boxes[:, 4], 0.7)]
        bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        boxes = torch.stack([
            boxes[:, 0] + boxes[:, 5] * bw, boxes[:, 1] + boxes[:, 6] * bh,
            boxes[:, 2] + boxes[:, 7] * bw, boxes[:, 3] + boxes[:, 8] * bh, boxes[:, 4],
        ], dim=1)
        boxes = _square(boxes)

        # stage 2: RNet
        reg, prob = self._rnet(_crops(img, boxes, 24))
        keep = prob > self.thresholds[1]
        boxes = torch.cat([boxes[keep, :4], prob[keep, None]], dim=1)
        reg = reg[keep]
        if not len(boxes):
            return none
        pick = _nms(boxes[:, :4], boxes[:, 4], 0.7)
        boxes = _square(_regress(boxes[pick], reg[pick]))

        # stage 3: ONet
        reg, pts, prob = self._onet(_crops(img, boxes, 48))
        keep = prob > self.thresholds[2]
        boxes = torch.cat([boxes[keep, :4], prob[keep, None]], dim=1)
        reg, pts = reg[keep], pts[keep]
        if not len(boxes):
            return none
        bw = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        bh = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        points = torch.stack([bw * pts[:, :5] + boxes[:, :1] - 1, bh * pts[:, 5:] + boxes[:, 1:2] - 1], dim=2)
        boxes = _regress(boxes, reg)
        pick = _nms(boxes[:, :4], boxes[:, 4], 0.7, over_min=True)
        boxes, points = boxes[pick].double().numpy(), points[pick].double().numpy()
        order = np.argsort(-boxes[:, 4], kind="stable")
        return MtcnnFaces(boxes[order, :4].copy(), boxes[order, 4].copy(), points[order].copy())


def _pnet_boxes(reg: torch.Tensor, prob: torch.Tensor, scale: float, threshold: float) -> torch.Tensor:
    """PNet's map → (N, 9) [x0, y0, x1, y1, score, 4 regressions] in image pixels."""
    ys, xs = torch.nonzero(prob >= threshold, as_tuple=True)
    if not len(ys):
        return torch.zeros((0, 9))
    xy = torch.stack([xs, ys], dim=1).float()
    q1 = ((2 * xy + 1) / scale).floor()
    q2 = ((2 * xy + 12) / scale).floor()
    return torch.cat([q1, q2, prob[ys, xs, None], reg[:, ys, xs].T], dim=1)


def _square(boxes: torch.Tensor) -> torch.Tensor:
    out = boxes.clone()
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(bw, bh)
    out[:, 0] = boxes[:, 0] + bw * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + bh * 0.5 - side * 0.5
    out[:, 2:4] = out[:, :2] + side[:, None]
    return out


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    out = boxes.clone()
    bw = boxes[:, 2] - boxes[:, 0] + 1
    bh = boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0] += reg[:, 0] * bw
    out[:, 1] += reg[:, 1] * bh
    out[:, 2] += reg[:, 2] * bw
    out[:, 3] += reg[:, 3] * bh
    return out


def _crops(img: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each box cut from ``img`` (zero outside, i.e. mid-grey after scaling), resampled to
    size × size. Boxes are truncated to integers the way facenet-pytorch's ``pad`` does."""
    h, w = img.shape[2:]
    out = []
    for x0, y0, x1, y1 in boxes[:, :4].trunc().int().tolist():
        bw, bh = max(x1 - x0 + 1, 1), max(y1 - y0 + 1, 1)
        patch = torch.zeros((1, 3, bh, bw))
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1 + 1, w), min(y1 + 1, h)
        if sx1 > sx0 and sy1 > sy0:
            patch[:, :, sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = img[:, :, sy0:sy1, sx0:sx1]
        out.append(F.interpolate(patch, size=(size, size), mode="area"))
    return torch.cat(out)


def _nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float, *, over_min: bool = False) -> torch.Tensor:
    """Greedy non-maximum suppression; indices kept, best score first. Overlap is intersection
    over union, or over the smaller box's area with ``over_min``."""
    x0, y0, x1, y1 = boxes.double().unbind(1)
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = torch.argsort(scores, descending=True)
    keep = []
    while len(order):
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        iw = (torch.minimum(x1[i], x1[rest]) - torch.maximum(x0[i], x0[rest]) + 1).clamp(min=0)
        ih = (torch.minimum(y1[i], y1[rest]) - torch.maximum(y0[i], y0[rest]) + 1).clamp(min=0)
        inter = iw * ih
        denom = torch.minimum(area[i], area[rest]) if over_min else area[i] + area[rest] - inter
        order = rest[inter / denom <= threshold]
    return torch.tensor(keep, dtype=torch.long)
