"""The ONet Gram distance (facetex.evaluation.onet) on real face crops."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from facetex.errors import EmptyMaskError, ShapeMismatchError
from facetex.evaluation import onet as O


@pytest.fixture(scope="module")
def net():
    return O.ONetGrams()


def _blur(rgb, sigma):
    return np.stack([gaussian_filter(rgb[..., c], sigma) for c in range(3)], axis=-1)


def test_same_texture_is_at_zero_and_blur_or_another_face_is_far(net, face_crops):
    region = np.ones(face_crops[0].shape[:2], bool)
    truth = net.region_grams(face_crops[0], region)
    assert set(truth.grams) == set(O.LAYERS)
    assert [truth.grams[layer].shape for layer in O.LAYERS] == [(32, 32), (64, 64), (64, 64)]
    assert O.gram_distance(truth, truth) == 0.0
    blurred = O.gram_distance(net.region_grams(_blur(face_crops[0], 2.0), region), truth)
    others = [O.gram_distance(net.region_grams(c, region), truth) for c in face_crops[1:]]
    # measured: blurred 0.37; the other persons 0.09–0.15
    assert blurred > 0.25  # its detail is gone
    assert max(others) < 0.6 * blurred and min(others) > 0.02  # other faces hold detail, not this one


def test_colour_and_low_frequencies_do_not_count(net, face_crops):
    # ONet sees the luminance high-pass only: a shift of skin tone changes nothing
    region = np.ones(face_crops[1].shape[:2], bool)
    face = face_crops[1]
    shifted = np.clip(face * np.array([0.8, 0.9, 1.0], np.float32) + 0.05, 0, 1)
    d = O.gram_distance(net.region_grams(shifted, region), net.region_grams(face, region))
    assert d < 0.05 < O.gram_distance(net.region_grams(_blur(face, 1.0), region), net.region_grams(face, region))


def test_outside_the_region_is_ignored(net, face_crops):
    face = face_crops[2]
    region = np.zeros(face.shape[:2], bool)
    region[40:200, 60:220] = True
    noisy = face.copy()
    noisy[~region] = np.random.default_rng(0).random((np.count_nonzero(~region), 3))
    a, b = net.region_grams(face, region), net.region_grams(noisy, region)
    assert O.gram_distance(a, b) == pytest.approx(0.0, abs=1e-9)
    # positions whose receptive field leaves the region are dropped: fewer at deeper layers
    counts = [a.positions[layer] for layer in O.LAYERS]
    assert counts[0] > counts[1] > counts[2] > 0


def test_bad_input(net, face_crops):
    with pytest.raises(EmptyMaskError):
        net.region_grams(face_crops[0], np.zeros((256, 256), bool))
    with pytest.raises(ShapeMismatchError):
        net.region_grams(face_crops[0], np.ones((128, 128), bool))
    with pytest.raises(ShapeMismatchError):
        net.region_grams(face_crops[0][..., 0], np.ones((256, 256), bool))
    tiny = np.zeros((256, 256), bool)
    tiny[100:102, 100:102] = True  # no position of any layer fits inside
    grams = net.region_grams(face_crops[0], tiny)
    assert grams.grams == {} and np.isnan(O.gram_distance(grams, grams))


def test_missing_or_damaged_weights_say_how_to_install(monkeypatch, tmp_path):
    from facetex.errors import MissingDependencyError

    broken = tmp_path / "onet.pt"
    broken.write_bytes(b"not a torch file")
    monkeypatch.setattr(O, "_weights_file", lambda: broken)
    with pytest.raises(MissingDependencyError, match="damaged.*facenet-pytorch"):
        O.ONetGrams()
    monkeypatch.undo()
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match="pip install --no-deps facenet-pytorch"):
        O.ONetGrams()
