"""One face width is mediapipe's chart width on every UV layout: the texels per face width of the
two layouts, and the band metrics following it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facetex.evaluation import fidelity as F
from facetex.evaluation import metrics as M
from facetex.evaluation.config import ProtocolConfig
from facetex.evaluation.onet import ONetGrams
from facetex.evaluation.prepare import PreparedSubject
from facetex.evaluation.scoring import ground_truth_reference, score_texture
from facetex.fitting import load_face_model
from facetex.types import PartialAlbedo

R = 256


@pytest.fixture(scope="module")
def ict_width(shared_data) -> float:
    """Texels per face width of the ICT face tile at R."""
    return M.face_width_texels(load_face_model("ict").topology, R)


def test_face_width_of_the_two_layouts(ict_width):
    assert M.mediapipe_eye_span() == pytest.approx(0.4398, abs=1e-4)
    mediapipe = load_face_model("mediapipe").topology
    for size in (64, 256, 512):
        assert M.face_width_texels(mediapipe, size) == float(size)  # exactly: every number as before
    # the ICT tile spans ear to ear: the face gets fewer texels (measured 0.8429 R)
    assert 0.80 * R <= ict_width <= 0.88 * R
    assert M.face_width_texels(load_face_model("ict").topology, 512) == pytest.approx(2 * ict_width)
    with pytest.raises(ValueError):
        M.face_width_texels(mediapipe, 0)


def _stripes(width: float, components: dict[float, float]) -> np.ndarray:
    """(R, R) luminance: vertical sinusoids of the given cycles per face width → amplitude,
    drawn at ``width`` texels per face width."""
    x = (np.arange(R) + 0.5) / width
    row = 0.5 + sum(a * np.sin(2 * np.pi * f * x + 0.3 * k) for k, (f, a) in enumerate(components.items()))
    return np.repeat(row[None, :], R, axis=0)


def test_a_frequency_changes_band_with_the_face_width(ict_width):
    # 46 cycles across R texels: 46 c/fw on mediapipe's chart (upper side of the 16-32 / 32-64
    # crossover, ~42 c/fw), 38.8 c/fw on the ICT tile (lower side)
    image = _stripes(R, {46.0: 0.1})

    def strongest(width: float) -> str:
        inner = (slice(8, -8), slice(8, -8))
        power = {F.band_label(b): float(np.mean(F.bandpass(image, b, resolution=width)[inner] ** 2))
                 for b in F.bands_at(width)}
        return max(power, key=power.get)

    assert strongest(R) == "32-64"
    assert strongest(ict_width) == "16-32"
    # the Nyquist limit is W / 2: at 256² the ICT tile resolves no 64-128 c/fw band
    assert F.bands_at(R) == ((16.0, 32.0), (32.0, 64.0), (64.0, 128.0))
    assert F.bands_at(ict_width) == ((16.0, 32.0), (32.0, 64.0))
    assert M.lowpass_sigma(ict_width) == pytest.approx(M.lowpass_sigma(R) * ict_width / R)


def test_the_same_physical_detail_scores_the_same_on_both_layouts(ict_width):
    # truth: detail at 20 and 45 c/fw; estimate: the 45 c/fw detail lost. Drawn at each
    # layout's scale and scored with its texels per face width, the fidelity is the layout's
    # no matter; scored with R on the ICT tile (the old definition), it is not.
    scores = {}
    for name, drawn, scored in (("mediapipe", R, R), ("ict", ict_width, ict_width), ("ict at R", ict_width, R)):
        truth = _stripes(drawn, {20.0: 0.05, 45.0: 0.05})
        estimate = _stripes(drawn, {20.0: 0.05, 45.0: 0.0})
        scores[name] = F.band_fidelity(estimate, truth, resolution=scored)
    for band in ("16-32", "32-64"):
        assert scores["ict"][band].log_ratio == pytest.approx(scores["mediapipe"][band].log_ratio, abs=0.03)
        assert scores["ict"][band].correlation == pytest.approx(scores["mediapipe"][band].correlation, abs=0.03)
        assert abs(scores["ict at R"][band].log_ratio - scores["mediapipe"][band].log_ratio) > 0.1
    assert "64-128" not in scores["ict"]


def _prepared(truth: np.ndarray, face_width: float | None) -> PreparedSubject:
    size = truth.shape[0]
    chart = np.ones((size, size), bool)
    mask = chart.copy()
    mask[:, : size // 3] = False
    low = np.full_like(truth, 0.5)
    partial = PartialAlbedo(albedo=np.where(mask[..., None], truth, 0.5).astype(np.float32), mask=mask,
                            lowfreq=low, shading=np.ones_like(truth), chart=chart)
    regions = {"truth": chart, "observed": mask, "hidden": chart & ~mask}
    return PreparedSubject(person="001", subject_id="001_03", sharp=None, degraded=None, detection=None,
                           fit=None, model=None, partial=partial, truth=truth, regions=regions,
                           exemplar_ids=(), seconds=0.0, face_width=face_width)


def test_scoring_uses_the_subjects_face_width(face_crops, ict_width):
    from scipy.ndimage import gaussian_filter

    truth = face_crops[0]
    estimate = np.stack([gaussian_filter(truth[..., c], 1.0) for c in range(3)], axis=-1).astype(np.float32)
    config = ProtocolConfig(size=R)
    onet = ONetGrams()

    def score(face_width):
        prepared = _prepared(truth, face_width)
        return score_texture(estimate, prepared, config, ground_truth_reference(prepared, config, onet=onet),
                             onet=onet)

    legacy, mediapipe, ict = score(None), score(float(R)), score(ict_width)
    # mediapipe's chart: W = R, every number exactly as with the old definition
    assert all(a == b or (math.isnan(a) and math.isnan(b)) for a, b in zip(legacy.values(), mediapipe.values()))
    assert math.isfinite(mediapipe["corr_observed_64-128"]) and math.isnan(ict["corr_observed_64-128"])
    for metric in ("spectrum_ratio", "ssim_lowpass", "hp_rmse_observed", "onet_gram_observed", "corr_observed_32-64"):
        assert math.isfinite(ict[metric]) and ict[metric] != mediapipe[metric], metric
